package ociimage

import (
	"bytes"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Options are the inputs of Build. Build reads the two files and nothing
// else: no environment, no network, no clock. The same Options (and the
// same file contents) give the same image digest.
type Options struct {
	// Binary is the path of the Studio executable: a statically linked
	// Linux ELF file (built with CGO_ENABLED=0). Its machine type sets the
	// image's architecture (amd64 or arm64).
	Binary string
	// CACerts is the path of a PEM CA bundle holding at least one
	// certificate, normally Debian's /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Version is the org.opencontainers.image.version label; it must be a
	// valid image tag (letters, digits, '_', '.', '-'; at most 128, not
	// starting with '.' or '-'), since Tag makes the image's tag from it.
	Version string
	// Revision is the source's commit (the org.opencontainers.image.revision
	// label): 7 to 64 hexadecimal digits, or empty to leave the label out.
	Revision string
	// Created is the image's creation time: the config's "created", every
	// history entry's and the org.opencontainers.image.created label; every
	// file in the layers has it as its modification time (whole seconds).
	// Use the commit time or SOURCE_DATE_EPOCH, never the clock, so that
	// a commit always gives the same digest. It must not be before 1970.
	Created time.Time
	// Source is the org.opencontainers.image.source label, an absolute
	// http(s) URL; empty means DefaultSource.
	Source string
	// Licenses is the org.opencontainers.image.licenses label (an SPDX
	// expression); empty leaves the label out.
	Licenses string
	// Labels are extra labels. Keys are lower-case reverse-DNS names
	// (letters, digits, '.', '-', '_'); values hold no control characters.
	// The labels above are set from their fields and may not appear here.
	Labels map[string]string
}

// inputs are the validated contents Build assembles.
type inputs struct {
	arch    string // image architecture of the binary
	binary  []byte
	caCerts []byte
}

// load reads and checks the two files and checks every other option. It
// returns all the problems found, joined, or the files' contents.
func (o Options) load() (inputs, error) {
	var in inputs
	var binErr, caErr error
	in.binary, in.arch, binErr = readBinary(o.Binary)
	in.caCerts, caErr = readCACerts(o.CACerts)
	errs := []error{binErr, caErr}
	if !tagPattern.MatchString(o.Version) {
		errs = append(errs, fmt.Errorf("version %q: must be a valid image tag (1-128 of [A-Za-z0-9_.-], not starting with '.' or '-')", o.Version))
	}
	if o.Revision != "" && !revisionPattern.MatchString(o.Revision) {
		errs = append(errs, fmt.Errorf("revision %q: must be a commit id of 7-64 hexadecimal digits", o.Revision))
	}
	switch {
	case o.Created.IsZero():
		errs = append(errs, errors.New("created time is not set: pass the commit time or SOURCE_DATE_EPOCH"))
	case o.Created.Before(time.Unix(0, 0)):
		errs = append(errs, fmt.Errorf("created time %s is before 1970", o.Created.UTC().Format(time.RFC3339)))
	}
	if o.Source != "" {
		if u, err := url.Parse(o.Source); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("source %q: must be an absolute http(s) URL", o.Source))
		}
	}
	if hasControl(o.Licenses) {
		errs = append(errs, fmt.Errorf("licenses %q: contains a control character", o.Licenses))
	}
	for _, k := range slices.Sorted(maps.Keys(o.Labels)) {
		errs = append(errs, checkLabel(k, o.Labels[k]))
	}
	return in, errors.Join(errs...)
}

var (
	tagPattern      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	revisionPattern = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
	labelKeyPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)
)

// reserved are the labels Build sets from Options fields.
var reserved = map[string]bool{
	LabelCreated: true, LabelDescription: true, LabelLicenses: true, LabelRevision: true,
	LabelSource: true, LabelTitle: true, LabelVersion: true,
}

func checkLabel(k, v string) error {
	switch {
	case !labelKeyPattern.MatchString(k):
		return fmt.Errorf("label %q: key must be lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit", k)
	case reserved[k]:
		return fmt.Errorf("label %q: set by the builder from its own option", k)
	case hasControl(v):
		return fmt.Errorf("label %q: value contains a control character", k)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// readBinary reads path and checks that it is a statically linked ELF
// executable for a supported machine. It returns the contents and the
// image architecture for that machine.
func readBinary(path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", errors.New("binary: no path given")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("binary: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, "", fmt.Errorf("binary %s: not an ELF executable: %w", path, err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, "", fmt.Errorf("binary %s: ELF type %s, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, "", fmt.Errorf("binary %s: dynamically linked (it needs an interpreter the image does not have): build it with CGO_ENABLED=0", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return b, "amd64", nil
	case elf.EM_AARCH64:
		return b, "arm64", nil
	}
	return nil, "", fmt.Errorf("binary %s: machine %s is not supported (amd64 or arm64)", path, f.Machine)
}

// readCACerts reads path and checks that it is a PEM bundle with a
// certificate in it.
func readCACerts(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("ca certificates: no path given")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca certificates: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca certificates %s: no PEM certificate found", path)
	}
	return b, nil
}
