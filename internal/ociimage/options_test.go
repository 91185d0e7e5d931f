package ociimage

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
)

// writeELF writes a minimal 64-bit little-endian ELF header of the given
// type and machine, with a PT_INTERP program header when dynamic, and
// returns its path: enough for the builder's checks without a Go build.
func writeELF(t *testing.T, typ elf.Type, machine elf.Machine, dynamic bool) string {
	t.Helper()
	h := elf.Header64{
		Type: uint16(typ), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var progs []elf.Prog64
	if dynamic {
		h.Phoff, h.Phnum = 64, 1
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 120, Filesz: 28, Memsz: 28})
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("/lib64/ld-linux-x86-64.so.2\x00")
	return writeFile(t, "elf", buf.Bytes())
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCABundle writes a PEM bundle with one self-signed CA certificate.
func writeCABundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ociimage test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// goodOptions are valid Options over a crafted static amd64 ELF file.
func goodOptions(t *testing.T) Options {
	return Options{
		Binary:   writeELF(t, elf.ET_EXEC, elf.EM_X86_64, false),
		CACerts:  writeCABundle(t),
		Version:  "1.2.3-rc.1",
		Revision: "ab1802b850a1faeeed6a7def350cda15b97c20f9",
		Created:  time.Date(2026, 11, 28, 23, 11, 54, 0, time.UTC),
		Source:   "https://example.com/studio",
		Licenses: "Apache-2.0",
		Labels:   map[string]string{"com.example.team": "sessions"},
	}
}

func TestOptionsBad(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, o *Options)
		want   string
	}{
		{"no binary", func(t *testing.T, o *Options) { o.Binary = "" }, "binary: no path given"},
		{"missing binary", func(t *testing.T, o *Options) { o.Binary = filepath.Join(t.TempDir(), "studio") }, "binary: open "},
		{"binary not ELF", func(t *testing.T, o *Options) { o.Binary = writeFile(t, "studio", []byte("#!/bin/sh\necho hi\n")) }, "not an ELF executable"},
		{"binary an object file", func(t *testing.T, o *Options) { o.Binary = writeELF(t, elf.ET_REL, elf.EM_X86_64, false) }, "ELF type ET_REL, not an executable"},
		{"binary dynamically linked", func(t *testing.T, o *Options) { o.Binary = writeELF(t, elf.ET_DYN, elf.EM_X86_64, true) }, "dynamically linked (it needs an interpreter the image does not have): build it with CGO_ENABLED=0"},
		{"binary for another machine", func(t *testing.T, o *Options) { o.Binary = writeELF(t, elf.ET_EXEC, elf.EM_RISCV, false) }, "machine EM_RISCV is not supported (amd64 or arm64)"},
		{"no CA file", func(t *testing.T, o *Options) { o.CACerts = "" }, "ca certificates: no path given"},
		{"missing CA file", func(t *testing.T, o *Options) { o.CACerts = filepath.Join(t.TempDir(), "ca.crt") }, "ca certificates: open "},
		{"CA file without certificates", func(t *testing.T, o *Options) { o.CACerts = writeFile(t, "ca.crt", []byte("not a certificate\n")) }, "no PEM certificate found"},
		{"no version", func(t *testing.T, o *Options) { o.Version = "" }, `version "": must be a valid image tag`},
		{"version with a space", func(t *testing.T, o *Options) { o.Version = "1.0 beta" }, `version "1.0 beta": must be a valid image tag`},
		{"version starting with a dot", func(t *testing.T, o *Options) { o.Version = ".1" }, `version ".1": must be a valid image tag`},
		{"version too long", func(t *testing.T, o *Options) { o.Version = strings.Repeat("v", 129) }, "must be a valid image tag"},
		{"revision not hex", func(t *testing.T, o *Options) { o.Revision = "main" }, `revision "main": must be a commit id of 7-64 hexadecimal digits`},
		{"revision too short", func(t *testing.T, o *Options) { o.Revision = "ab18" }, `revision "ab18": must be a commit id`},
		{"no created time", func(t *testing.T, o *Options) { o.Created = time.Time{} }, "created time is not set: pass the commit time or SOURCE_DATE_EPOCH"},
		{"created before 1970", func(t *testing.T, o *Options) { o.Created = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "created time 1969-12-31T00:00:00Z is before 1970"},
		{"source not a URL", func(t *testing.T, o *Options) { o.Source = "github.com/studiohq/studio" }, `source "github.com/studiohq/studio": must be an absolute http(s) URL`},
		{"source not http", func(t *testing.T, o *Options) { o.Source = "ftp://example.com/studio" }, `source "ftp://example.com/studio": must be an absolute http(s) URL`},
		{"licenses with a newline", func(t *testing.T, o *Options) { o.Licenses = "MIT\nEvil: yes" }, "licenses \"MIT\\nEvil: yes\": contains a control character"},
		{"label key empty", func(t *testing.T, o *Options) { o.Labels = map[string]string{"": "x"} }, `label "": key must be lower-case letters`},
		{"label key upper case", func(t *testing.T, o *Options) { o.Labels = map[string]string{"Com.Example": "x"} }, `label "Com.Example": key must be lower-case letters`},
		{"label key with a space", func(t *testing.T, o *Options) { o.Labels = map[string]string{"com.example team": "x"} }, `label "com.example team": key must be`},
		{"label reserved", func(t *testing.T, o *Options) { o.Labels = map[string]string{LabelVersion: "9"} }, `label "org.opencontainers.image.version": set by the builder from its own option`},
		{"label value with a newline", func(t *testing.T, o *Options) { o.Labels = map[string]string{"com.example.x": "a\nb"} }, `label "com.example.x": value contains a control character`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := goodOptions(t)
			tt.change(t, &o)
			img, err := Build(context.Background(), o)
			if err == nil {
				t.Fatalf("Build accepted the options (image %v)", img)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "image options: ") {
				t.Errorf("error %q does not say it is about the options", err)
			}
		})
	}
}

// TestOptionsAllProblems checks that one call reports every bad option.
func TestOptionsAllProblems(t *testing.T) {
	o := goodOptions(t)
	o.Binary, o.Version, o.Created = "", "", time.Time{}
	_, err := Build(context.Background(), o)
	if err == nil {
		t.Fatal("Build accepted the options")
	}
	for _, want := range []string{"binary: no path given", `version ""`, "created time is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOptionsGood(t *testing.T) {
	for _, tc := range []struct {
		machine elf.Machine
		typ     elf.Type
		arch    string
	}{
		{elf.EM_X86_64, elf.ET_EXEC, "amd64"},
		{elf.EM_AARCH64, elf.ET_EXEC, "arm64"},
		{elf.EM_X86_64, elf.ET_DYN, "amd64"}, // static PIE: ET_DYN without an interpreter
	} {
		o := goodOptions(t)
		o.Binary = writeELF(t, tc.typ, tc.machine, false)
		img, err := Build(context.Background(), o)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.machine, tc.typ, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != tc.arch || cf.OS != "linux" {
			t.Errorf("%s: platform %s/%s, want linux/%s", tc.machine, cf.OS, cf.Architecture, tc.arch)
		}
		if got := cf.Config.Labels["com.example.team"]; got != "sessions" {
			t.Errorf("extra label: %q", got)
		}
		if got := cf.Config.Labels[LabelSource]; got != "https://example.com/studio" {
			t.Errorf("source label %q, want the Source option", got)
		}
		if got := cf.Config.Labels[LabelLicenses]; got != "Apache-2.0" {
			t.Errorf("licenses label %q", got)
		}
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, goodOptions(t)); err != context.Canceled {
		t.Fatalf("Build with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestTag(t *testing.T) {
	tag, err := Tag("1.2.3")
	if err != nil || tag.String() != "studio:1.2.3" {
		t.Fatalf("Tag(1.2.3) = %v, %v", tag, err)
	}
	if _, err := Tag("bad tag"); err == nil || !strings.Contains(err.Error(), `image tag for version "bad tag"`) {
		t.Fatalf("Tag(bad tag): %v", err)
	}
}
