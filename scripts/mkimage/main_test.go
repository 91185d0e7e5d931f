package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/studiohq/studio/internal/ociimage"
)

// inputs writes a minimal static amd64 ELF file (enough for the
// builder's checks) and a one-certificate CA bundle.
func inputs(t *testing.T) (binPath, caPath string) {
	t.Helper()
	dir := t.TempDir()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	binPath = filepath.Join(dir, "studio")
	if err := os.WriteFile(binPath, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mkimage test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caPath = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return binPath, caPath
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunWritesTheImage(t *testing.T) {
	bin, ca := inputs(t)
	dir := t.TempDir()
	env := envOf(map[string]string{"SOURCE_DATE_EPOCH": "1764371514"})
	write := func(out string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := []string{"-binary", bin, "-ca-certs", ca, "-version", "0.9.0", "-revision", "ab1802b", "-out", out}
		if code := run(context.Background(), args, env, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "studio:0.9.0 sha256:") || !strings.Contains(stdout.String(), "docker load -i "+out) {
			t.Errorf("output:\n%s", stdout.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := write(filepath.Join(dir, "a.tar"))
	if second := write(filepath.Join(dir, "b.tar")); !bytes.Equal(first, second) {
		t.Error("two runs with the same inputs wrote different tarballs")
	}
	if fi, err := os.Stat(filepath.Join(dir, "a.tar")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("tarball mode: %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	tag, err := name.NewTag("studio:0.9.0")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, "a.tar"), &tag)
	if err != nil {
		t.Fatalf("read the tarball back as studio:0.9.0: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1764371514, 0).UTC()
	if !cf.Created.Equal(created) || cf.Config.Labels[ociimage.LabelCreated] != created.Format(time.RFC3339) {
		t.Errorf("created %s, label %q: want SOURCE_DATE_EPOCH %s", cf.Created, cf.Config.Labels[ociimage.LabelCreated], created)
	}
	if cf.Config.Labels[ociimage.LabelRevision] != "ab1802b" || cf.Config.Labels[ociimage.LabelVersion] != "0.9.0" {
		t.Errorf("labels %v", cf.Config.Labels)
	}

	// -created wins over SOURCE_DATE_EPOCH, and gives another digest.
	var stdout, stderr bytes.Buffer
	args := []string{"-binary", bin, "-ca-certs", ca, "-version", "0.9.0", "-created", "2026-01-02T03:04:05Z", "-out", filepath.Join(dir, "c.tar")}
	if code := run(context.Background(), args, env, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if c, _ := os.ReadFile(filepath.Join(dir, "c.tar")); bytes.Equal(c, first) {
		t.Error("another creation time wrote the same tarball")
	}
}

func TestRunBadUsage(t *testing.T) {
	bin, ca := inputs(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	base := []string{"-binary", bin, "-ca-certs", ca, "-version", "1.0"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no output", base, map[string]string{"SOURCE_DATE_EPOCH": "1"}, 2, "mkimage: -out is required"},
		{"no creation time", append(base, "-out", out), nil, 2, "mkimage: no creation time: set -created or SOURCE_DATE_EPOCH"},
		{"bad creation time", append(base, "-out", out, "-created", "yesterday"), nil, 2, `mkimage: creation time "yesterday": want Unix seconds or RFC 3339`},
		{"bad SOURCE_DATE_EPOCH", append(base, "-out", out), map[string]string{"SOURCE_DATE_EPOCH": "1.5"}, 2, `creation time "1.5"`},
		{"extra argument", append(base, "-out", out, "-created", "1", "serve"), nil, 2, `mkimage: unexpected arguments ["serve"]`},
		{"unknown flag", append(base, "-push"), nil, 2, "flag provided but not defined: -push"},
		{"bad binary", []string{"-binary", ca, "-ca-certs", ca, "-version", "1.0", "-created", "1", "-out", out}, nil, 1, "mkimage: image options: binary " + ca + ": not an ELF executable"},
		{"no binary", []string{"-ca-certs", ca, "-version", "1.0", "-created", "1", "-out", out}, nil, 1, "mkimage: image options: binary: no path given"},
		{"bad version", []string{"-binary", bin, "-ca-certs", ca, "-version", "1 0", "-created", "1", "-out", out}, nil, 1, `version "1 0": must be a valid image tag`},
		{"output directory missing", []string{"-binary", bin, "-ca-certs", ca, "-version", "1.0", "-created", "1", "-out", filepath.Join(out, "x", "image.tar")}, nil, 1, "mkimage: write image: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q\nwant exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("an image was written")
			}
		})
	}
}
