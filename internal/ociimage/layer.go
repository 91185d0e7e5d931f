package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file or directory of a layer.
type entry struct {
	name     string // absolute path in the image, without a trailing slash
	dir      bool
	mode     int64 // permission bits, with the sticky bit for /tmp
	uid, gid int
	data     []byte // a file's contents
}

// baseEntries are the first layer: the accounts, name-service order and
// CA bundle under /etc, /tmp, the user's home and the work directory.
func baseEntries(caCerts []byte) []entry {
	return []entry{
		{name: "/etc/passwd", mode: 0o644, data: []byte(passwd())},
		{name: "/etc/group", mode: 0o644, data: []byte(group())},
		{name: "/etc/nsswitch.conf", mode: 0o644, data: []byte(nsswitch)},
		{name: CACertsPath, mode: 0o644, data: caCerts},
		{name: "/tmp", dir: true, mode: 0o1777},
		{name: HomeDir, dir: true, mode: 0o700, uid: UID, gid: GID},
		{name: WorkDir, dir: true, mode: 0o755, uid: UID, gid: GID},
	}
}

// binaryEntries are the second layer: the Studio executable, kept apart
// so that a new build changes only this layer.
func binaryEntries(binary []byte) []entry {
	return []entry{{name: BinaryPath, mode: 0o755, data: binary}}
}

// layerTar writes entries as a tar stream, sorted by path, with the
// parent directories not listed added as root-owned 0755 directories.
// Every header has mtime as its modification time and no user or group
// names, so the same entries always give the same bytes.
func layerTar(entries []entry, mtime time.Time) ([]byte, error) {
	all := withParents(entries)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range all {
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.name, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// withParents returns entries and every missing parent directory, sorted
// by path so that a directory comes before what it holds.
func withParents(entries []entry) []entry {
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.name] = true
	}
	all := slices.Clone(entries)
	for _, e := range entries {
		for d := path.Dir(e.name); d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			all = append(all, entry{name: d, dir: true, mode: 0o755})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return all
}

// newLayer makes a gzip-compressed OCI layer of entries. The layer keeps
// its tar stream and, once computed, its compressed form in memory.
func newLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	b, err := layerTar(entries, mtime)
	if err != nil {
		return nil, err
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	l, err := tarball.LayerFromOpener(open,
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return l, nil
}
