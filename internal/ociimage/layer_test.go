package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// header is what the tests check of one tar entry.
type header struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	size     int64
}

func readTar(t *testing.T, b []byte) []header {
	t.Helper()
	var hs []header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, header{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size})
		if h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: names %q/%q, mtime %s", h.Name, h.Uname, h.Gname, h.ModTime)
		}
	}
}

func TestBaseLayer(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	b, err := layerTar(baseEntries([]byte("PEM")), mtime)
	if err != nil {
		t.Fatal(err)
	}
	want := []header{
		{"etc/", tar.TypeDir, 0o755, 0, 0, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0, int64(len(group()))},
		{"etc/nsswitch.conf", tar.TypeReg, 0o644, 0, 0, int64(len(nsswitch))},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, int64(len(passwd()))},
		{"etc/ssl/", tar.TypeDir, 0o755, 0, 0, 0},
		{"etc/ssl/certs/", tar.TypeDir, 0o755, 0, 0, 0},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, 0, 3},
		{"home/", tar.TypeDir, 0o755, 0, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532, 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0, 0},
		{"var/", tar.TypeDir, 0o755, 0, 0, 0},
		{"var/lib/", tar.TypeDir, 0o755, 0, 0, 0},
		{"var/lib/studio/", tar.TypeDir, 0o755, 65532, 65532, 0},
	}
	got := readTar(t, b)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("base layer:\n got %v\nwant %v", got, want)
	}
	again, err := layerTar(baseEntries([]byte("PEM")), mtime)
	if err != nil || !bytes.Equal(b, again) {
		t.Fatalf("two base layers of the same inputs differ (%v)", err)
	}
}

func TestBinaryLayer(t *testing.T) {
	b, err := layerTar(binaryEntries([]byte("ELF…")), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []header{
		{"usr/", tar.TypeDir, 0o755, 0, 0, 0},
		{"usr/local/", tar.TypeDir, 0o755, 0, 0, 0},
		{"usr/local/bin/", tar.TypeDir, 0o755, 0, 0, 0},
		{"usr/local/bin/studio", tar.TypeReg, 0o755, 0, 0, int64(len("ELF…"))},
	}
	if got := readTar(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("binary layer:\n got %v\nwant %v", got, want)
	}
}

// TestAccounts checks that /etc/passwd and /etc/group name the user the
// config runs as, with the home directory the base layer makes.
func TestAccounts(t *testing.T) {
	wantUser := fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin", UserName, UID, GID, UserName, HomeDir)
	if !strings.Contains(passwd(), "\n"+wantUser+"\n") {
		t.Errorf("passwd lacks %q:\n%s", wantUser, passwd())
	}
	if wantGroup := fmt.Sprintf("\n%s:x:%d:\n", UserName, GID); !strings.Contains(group(), wantGroup) {
		t.Errorf("group lacks %q:\n%s", wantGroup, group())
	}
	if User() != "65532:65532" {
		t.Errorf("User() = %q", User())
	}
	for _, f := range []string{passwd(), group()} {
		if !strings.HasPrefix(f, "root:x:0:") {
			t.Errorf("root is not the first entry:\n%s", f)
		}
	}
}
