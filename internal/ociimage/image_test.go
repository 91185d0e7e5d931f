package ociimage

import (
	"context"
	"debug/elf"
	"os"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func build(t *testing.T, o Options) v1.Image {
	t.Helper()
	img, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digests(t *testing.T, img v1.Image) (image v1.Hash, layers []v1.Hash) {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		ld, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, ld)
	}
	return d, layers
}

// TestBuildConfig checks the manifest and config Build makes. The
// end-to-end test of the real image is scripts/mkimage's TestImage.
func TestBuildConfig(t *testing.T) {
	o := goodOptions(t)
	img := build(t, o)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 {
		t.Fatalf("manifest %s, config %s, %d layers: want OCI media types and two layers", m.MediaType, m.Config.MediaType, len(m.Layers))
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/studio"}) || !slices.Equal(c.Cmd, []string{"serve"}) ||
		c.WorkingDir != "/var/lib/studio" || len(c.ExposedPorts) != 1 || c.ExposedPorts["8080/tcp"] != struct{}{} {
		t.Errorf("config %+v", c)
	}
	if !cf.Created.Equal(o.Created) || len(cf.History) != 2 || !cf.History[1].Created.Equal(o.Created) {
		t.Errorf("created %s, history %+v: want %s everywhere", cf.Created, cf.History, o.Created)
	}
	want := map[string]string{
		LabelTitle: "studio", LabelDescription: Description, LabelSource: o.Source, LabelVersion: o.Version,
		LabelRevision: o.Revision, LabelLicenses: o.Licenses, LabelCreated: "2026-11-28T23:11:54Z",
		"com.example.team": "sessions",
	}
	if len(c.Labels) != len(want) {
		t.Errorf("labels %v, want %v", c.Labels, want)
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	s, err := Size(img)
	if err != nil {
		t.Fatal(err)
	}
	var compressed int64 = m.Config.Size
	for _, l := range m.Layers {
		compressed += l.Size
	}
	if s.Compressed != compressed || s.Uncompressed < 10<<10 {
		t.Errorf("Size %+v, want compressed %d and the base layer's ≥ 10 KiB uncompressed", s, compressed)
	}
}

// TestBuildReproducible checks that the same inputs give the same digest
// and that the creation time and the binary are what change it.
func TestBuildReproducible(t *testing.T) {
	orig := goodOptions(t)
	o := orig
	first, firstLayers := digests(t, build(t, o))
	again, _ := digests(t, build(t, o))
	if first != again {
		t.Fatalf("two builds of the same inputs: %s and %s", first, again)
	}
	// Sub-second parts of the time are dropped, as tar keeps whole seconds.
	o.Created = o.Created.Add(400 * time.Millisecond)
	if d, _ := digests(t, build(t, o)); d != first {
		t.Errorf("a creation time 0.4 s later changed the digest")
	}
	o.Created = o.Created.Add(time.Second)
	if d, _ := digests(t, build(t, o)); d == first {
		t.Errorf("a creation time 1 s later kept the digest %s", d)
	}
	o = orig
	b, err := os.ReadFile(o.Binary)
	if err != nil {
		t.Fatal(err)
	}
	o.Binary = writeFile(t, "studio", append(b, 0))
	d, layers := digests(t, build(t, o))
	if d == first || layers[0] != firstLayers[0] || layers[1] == firstLayers[1] {
		t.Errorf("another binary: image %s (was %s), layers %v (were %v): want only the binary layer changed", d, first, layers, firstLayers)
	}
	o.Binary = writeELF(t, elf.ET_EXEC, elf.EM_AARCH64, false)
	if d, _ := digests(t, build(t, o)); d == first {
		t.Errorf("an arm64 binary kept the digest")
	}
}
