package ociimage

import (
	"strconv"
	"strings"
)

// The image's fixed layout. The Dockerfile at the repository root repeats
// these values for those who build with Docker; TestDockerfileMatchesRecipe
// fails when one recipe changes without the other.
const (
	// BinaryPath is where the Studio executable lives; it is the entrypoint.
	BinaryPath = "/usr/local/bin/studio"
	// CACertsPath is where the CA bundle lives, the path Debian (and
	// distroless) use; SSL_CERT_FILE names it too.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// WorkDir is the working directory, owned and writable by the user, so
	// that the default DATABASE_URL (sqlite:studio.db) can be created.
	WorkDir = "/var/lib/studio"
	// HomeDir is the user's home directory, as in distroless's nonroot user.
	HomeDir = "/home/nonroot"
	// UID and GID are the numeric user and group the process runs as:
	// distroless's nonroot, so both recipes agree and a Kubernetes
	// runAsNonRoot check can verify the numeric user.
	UID = 65532
	GID = 65532
	// UserName names UID and GID in /etc/passwd and /etc/group.
	UserName = "nonroot"
	// Port is the port `studio serve` listens on by default (STUDIO_ADDR
	// is left unset, so it listens on every interface).
	Port = "8080/tcp"
	// Title and Description are the OCI title and description labels.
	Title       = "studio"
	Description = "Studio: a session layer on Redis"
	// DefaultSource is the org.opencontainers.image.source label when
	// Options.Source is empty.
	DefaultSource = "https://github.com/studiohq/studio"
)

// OCI annotation keys the builder sets; Options.Labels may not set them.
const (
	LabelCreated     = "org.opencontainers.image.created"
	LabelDescription = "org.opencontainers.image.description"
	LabelLicenses    = "org.opencontainers.image.licenses"
	LabelRevision    = "org.opencontainers.image.revision"
	LabelSource      = "org.opencontainers.image.source"
	LabelTitle       = "org.opencontainers.image.title"
	LabelVersion     = "org.opencontainers.image.version"
)

// Entrypoint returns the image's entrypoint: the Studio executable alone,
// so that `docker run IMAGE version` runs `studio version`.
func Entrypoint() []string { return []string{BinaryPath} }

// Cmd returns the image's default arguments: `studio serve`.
func Cmd() []string { return []string{"serve"} }

// User returns the config's numeric "uid:gid", which needs no /etc/passwd
// lookup and lets a runtime see that the user is not root.
func User() string { return strconv.Itoa(UID) + ":" + strconv.Itoa(GID) }

// Env returns the image's environment: PATH and SSL_CERT_FILE. Studio's
// own settings (STUDIO_ADDR, REDIS_URL, …) are left to the operator.
func Env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=" + CACertsPath,
	}
}

// passwd returns /etc/passwd: root, nobody and the nonroot user, the same
// entries as distroless's.
func passwd() string {
	return strings.Join([]string{
		"root:x:0:0:root:/root:/sbin/nologin",
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
		UserName + ":x:" + strconv.Itoa(UID) + ":" + strconv.Itoa(GID) + ":" + UserName + ":" + HomeDir + ":/sbin/nologin",
	}, "\n") + "\n"
}

// group returns /etc/group, matching passwd.
func group() string {
	return strings.Join([]string{
		"root:x:0:",
		"nobody:x:65534:",
		UserName + ":x:" + strconv.Itoa(GID) + ":",
	}, "\n") + "\n"
}

// nsswitch makes Go's resolver read /etc/hosts (which runtimes mount)
// before asking DNS, as distroless's does.
const nsswitch = "hosts: files dns\n"
