package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/studiohq/studio/internal/ociimage"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

const (
	testVersion  = "0.0.0-imagetest"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	// maxCompressed is the goal for the image's compressed size.
	maxCompressed = 25_000_000
	// debianCACerts is the bundle `make image` puts in the image: Debian's
	// ca-certificates package (.ci/run installs it).
	debianCACerts = "/etc/ssl/certs/ca-certificates.crt"
)

// testCreated is the image's creation time (SOURCE_DATE_EPOCH).
var testCreated = time.Date(2026, 11, 28, 23, 11, 54, 0, time.UTC)

// goBuild builds pkg into dir with the extra environment and flags, and
// returns the executable's path. The Go build cache keeps the compiled
// packages, so after the first run only the link step remains.
func goBuild(t *testing.T, dir, pkg string, env []string, flags ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // `go test` puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	bin := filepath.Join(dir, path.Base(pkg))
	args := append(append([]string{"build"}, flags...), "-o", bin, pkg)
	cmd := exec.CommandContext(t.Context(), goBin, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	t.Logf("go build %s: %s", pkg, time.Since(start).Round(100*time.Millisecond))
	return bin
}

// mkimage runs the mkimage executable, as `make image` does, writing out.
func mkimage(t *testing.T, mkimage, studio, out string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), mkimage, "-binary", studio, "-ca-certs", debianCACerts,
		"-version", testVersion, "-revision", testRevision, "-out", out)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(testCreated.Unix(), 10))
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, b)
	}
	t.Logf("mkimage: %s", time.Since(start).Round(100*time.Millisecond))
}

// TestImage builds the image from the current tree as `make image` does
// (a static build of cmd/studio, then mkimage), twice, and checks that
// the two tarballs are the same bytes. It reads the tarball back as
// `docker load` would, checks the config, the size and the filesystem,
// and runs the binary taken from the layers.
//
// mkimage runs as a process of its own, built without the race detector:
// under -race, compressing the 38 MB binary takes ten times as long.
func TestImage(t *testing.T) {
	if _, err := os.Stat(debianCACerts); err != nil {
		t.Fatalf("the image takes the machine's CA bundle: %v (apt-get install ca-certificates; .ci/run installs it)", err)
	}
	bins := t.TempDir()
	studio := goBuild(t, bins, "github.com/studiohq/studio/cmd/studio",
		[]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH},
		"-trimpath", "-ldflags", "-s -w -X main.version="+testVersion)
	mk := goBuild(t, bins, "github.com/studiohq/studio/scripts/mkimage", nil)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "studio-image.tar")
	mkimage(t, mk, studio, tarPath)
	mkimage(t, mk, studio, filepath.Join(dir, "again.tar"))
	first, _ := os.ReadFile(tarPath)
	second, _ := os.ReadFile(filepath.Join(dir, "again.tar"))
	if len(first) == 0 || !bytes.Equal(first, second) {
		t.Errorf("two builds of the same inputs wrote different tarballs (%d and %d bytes)", len(first), len(second))
	}
	tag, err := ociimage.Tag(testVersion)
	if err != nil {
		t.Fatal(err)
	}
	loaded := loadTarball(t, tarPath, tag)

	t.Run("config", func(t *testing.T) { checkConfig(t, loaded) })
	t.Run("layers and size", func(t *testing.T) { checkLayers(t, loaded, tarPath) })
	root := t.TempDir()
	headers := extract(t, loaded, root)
	t.Run("filesystem", func(t *testing.T) { checkFilesystem(t, loaded, root, headers) })
	t.Run("runs", func(t *testing.T) { checkRuns(t, loaded, root) })
}

// loadTarball reads the docker-save tarball back as `docker load` would:
// manifest.json names one image, tagged studio:<version>, with two
// layers. It returns the image read back.
func loadTarball(t *testing.T, tarPath string, tag name.Tag) v1.Image {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	if err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"studio:" + testVersion}) || len(m[0].Layers) != 2 {
		t.Fatalf("manifest.json: %+v, want one image tagged studio:%s with two layers", m, testVersion)
	}
	loaded, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatalf("read the image back: %v", err)
	}
	return loaded
}

func checkConfig(t *testing.T, img v1.Image) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	uid, gid, ok := numericUser(c.User)
	if !ok || uid == 0 || gid == 0 {
		t.Errorf("User %q: want a numeric uid:gid, not root", c.User)
	}
	if uid != 65532 || gid != 65532 {
		t.Errorf("User %q, want 65532:65532 (distroless's nonroot)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/studio"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
	}
	if len(c.ExposedPorts) != 1 || c.ExposedPorts["8080/tcp"] != struct{}{} {
		t.Errorf("ExposedPorts %v, want 8080/tcp", c.ExposedPorts)
	}
	if c.WorkingDir != "/var/lib/studio" {
		t.Errorf("WorkingDir %q", c.WorkingDir)
	}
	env := strings.Join(c.Env, "\n")
	for _, want := range []string{"PATH=/usr/local/sbin:/usr/local/bin:", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %s: %q", want, c.Env)
		}
	}
	if strings.Contains(env, "STUDIO_ADDR") {
		t.Errorf("Env sets STUDIO_ADDR (it must stay unset, so serve listens on every interface): %q", c.Env)
	}
	created := testCreated.Format(time.RFC3339)
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "studio",
		"org.opencontainers.image.description": ociimage.Description,
		"org.opencontainers.image.source":      "https://github.com/studiohq/studio",
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    testRevision,
		"org.opencontainers.image.created":     created,
	}
	if fmt.Sprint(c.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("Labels\n got %v\nwant %v", c.Labels, wantLabels)
	}
	if cf.Created.Format(time.RFC3339) != created || cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("created %s, platform %s/%s", cf.Created, cf.OS, cf.Architecture)
	}
	if len(cf.History) != 2 || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("history %v, diff ids %v: want one entry per layer", cf.History, cf.RootFS.DiffIDs)
	}
}

func numericUser(s string) (uid, gid int, ok bool) {
	u, g, found := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	return uid, gid, found && err1 == nil && err2 == nil
}

// checkLayers reads every blob as `docker load` does: each compressed
// layer must hash to its digest and size in the manifest, and its tar
// stream to its diff id in the config. It then measures what a pull
// downloads (the config and the compressed layers) against the goal and
// the tarball's size.
func checkLayers(t *testing.T, img v1.Image, tarPath string) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != len(m.Layers) || len(layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%d layers (%v), %d in the manifest, %d diff ids", len(layers), err, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	compressed, uncompressed := m.Config.Size, int64(0)
	for i, l := range layers {
		digest, n := hashOf(t, l.Compressed)
		if digest != m.Layers[i].Digest || n != m.Layers[i].Size {
			t.Errorf("layer %d: %s, %d bytes; the manifest says %s, %d bytes", i, digest, n, m.Layers[i].Digest, m.Layers[i].Size)
		}
		diffID, u := hashOf(t, l.Uncompressed)
		if diffID != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: diff id %s, the config says %s", i, diffID, cf.RootFS.DiffIDs[i])
		}
		compressed += n
		uncompressed += u
	}
	fi, err := os.Stat(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image size: compressed %d bytes (%.1f MB), uncompressed %d bytes (%.1f MB); docker-save tarball %d bytes",
		compressed, float64(compressed)/1e6, uncompressed, float64(uncompressed)/1e6, fi.Size())
	if compressed > maxCompressed {
		t.Errorf("compressed size %d bytes is above the %d-byte goal", compressed, maxCompressed)
	}
	// The tarball holds the same blobs plus tar headers and manifest.json.
	if compressed > fi.Size() || fi.Size()-compressed > 16<<10 || uncompressed <= compressed {
		t.Errorf("sizes disagree: compressed %d, uncompressed %d, tarball %d", compressed, uncompressed, fi.Size())
	}
}

func hashOf(t *testing.T, open func() (io.ReadCloser, error)) (v1.Hash, int64) {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, n, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// extract writes the image's flattened filesystem (mutate.Extract) under
// root and returns every entry's header by absolute path, for the
// ownership and modes a container would see.
func extract(t *testing.T, img v1.Image, root string) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return headers
		}
		if err != nil {
			t.Fatalf("extract: %v", err)
		}
		clean := path.Clean("/" + h.Name)
		if strings.Contains(h.Name, "..") {
			t.Fatalf("extract: unsafe path %q", h.Name)
		}
		headers[clean] = h
		dst := filepath.Join(root, filepath.FromSlash(clean))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			err = writeExtracted(dst, tr, h.FileInfo().Mode().Perm())
		default:
			t.Fatalf("extract: %s has unexpected type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatalf("extract %s: %v", h.Name, err)
		}
	}
}

func writeExtracted(dst string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkFilesystem checks the accounts, the CA bundle and the directories.
func checkFilesystem(t *testing.T, img v1.Image, root string, headers map[string]*tar.Header) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := numericUser(cf.Config.User)
	passwdText, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	// The config's uid must have an account, with the group and a home.
	userLine := regexp.MustCompile(fmt.Sprintf(`(?m)^([a-z]+):x:%d:%d:[^:]*:([^:]+):`, uid, gid)).FindStringSubmatch(string(passwdText))
	if userLine == nil {
		t.Fatalf("/etc/passwd has no entry for the config's user %s:\n%s", cf.Config.User, passwdText)
	}
	groupText, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%s:x:%d:`, userLine[1], gid)).Match(groupText) {
		t.Errorf("/etc/group has no group %s %d:\n%s", userLine[1], gid, groupText)
	}
	if h := headers[userLine[2]]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != uid {
		t.Errorf("home %s of %s: %+v, want a directory the user owns", userLine[2], userLine[1], h)
	}
	ca, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	want, _ := os.ReadFile(debianCACerts)
	if err != nil || !bytes.Equal(ca, want) {
		t.Errorf("the image's CA bundle differs from %s (%v)", debianCACerts, err)
	}
	for p, want := range map[string]struct {
		mode     int64
		uid, gid int
	}{
		"/tmp":                  {0o1777, 0, 0},
		cf.Config.WorkingDir:    {0o755, uid, gid},
		"/usr/local/bin/studio": {0o755, 0, 0},
		"/etc/passwd":           {0o644, 0, 0},
	} {
		h := headers[p]
		if h == nil || h.Mode != want.mode || h.Uid != want.uid || h.Gid != want.gid {
			t.Errorf("%s: %+v, want mode %o owned by %d:%d", p, h, want.mode, want.uid, want.gid)
		}
	}
	for p, h := range headers {
		if !h.ModTime.Equal(cf.Created.Time) {
			t.Errorf("%s: mtime %s, want the created time %s", p, h.ModTime, cf.Created)
		}
	}
}

// checkRuns runs the extracted binary as the config says (entrypoint and
// cmd, working directory, environment), with SSL_CERT_FILE pointing into
// root: `version`, then `serve` against a local redis-server until
// /healthz answers 200, then stops it with SIGTERM.
func checkRuns(t *testing.T, img v1.Image, root string) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(root, cf.Config.Entrypoint[0])
	env := make([]string, 0, len(cf.Config.Env))
	for _, kv := range cf.Config.Env {
		if v, ok := strings.CutPrefix(kv, "SSL_CERT_FILE="); ok {
			kv = "SSL_CERT_FILE=" + filepath.Join(root, v)
		}
		env = append(env, kv)
	}
	version := exec.Command(entry, "version")
	version.Env = env
	out, err := version.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "studio "+testVersion+" (") {
		t.Fatalf("studio version: %v\n%s", err, out)
	}

	rs := redistest.Start(t)
	workDir := filepath.Join(root, cf.Config.WorkingDir)
	serve := exec.Command(entry, cf.Config.Cmd...)
	serve.Dir = workDir
	serve.Env = append(env, "STUDIO_ADDR=127.0.0.1:0", "REDIS_URL="+rs.URL())
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	serve.Stdout, serve.Stderr = stdout, stderr
	serve.WaitDelay = 5 * time.Second
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Kill() // a no-op once it has exited
		<-exited
		if t.Failed() {
			t.Logf("studio serve stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	}()
	base := "http://" + waitListening(t, stdout, exited)
	waitHealthy(t, base+"/healthz")
	if _, err := os.Stat(filepath.Join(workDir, "studio.db")); err != nil {
		t.Errorf("the default SQLite store was not created in the working directory: %v", err)
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("studio serve after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("studio serve did not stop within 20 s of SIGTERM")
	}
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// waitListening returns the address serve logs once it listens.
func waitListening(t *testing.T, stdout fmt.Stringer, exited chan error) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("studio serve exited before listening: %v", err)
		case <-deadline:
			t.Fatal("studio serve did not log its address within 60 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitHealthy polls url until it answers 200.
func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v %v, want 200 within 30 s", url, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
