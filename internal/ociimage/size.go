package ociimage

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sizes are an image's sizes in bytes.
type Sizes struct {
	// Compressed is what a pull downloads: the config and the compressed
	// layers (the manifest's descriptors), without the manifest itself.
	Compressed int64
	// Uncompressed is the layers' tar streams, about the space the image
	// takes once unpacked.
	Uncompressed int64
}

// Size measures img. It reads every layer's uncompressed stream.
func Size(img v1.Image) (Sizes, error) {
	m, err := img.Manifest()
	if err != nil {
		return Sizes{}, fmt.Errorf("image manifest: %w", err)
	}
	s := Sizes{Compressed: m.Config.Size}
	for _, l := range m.Layers {
		s.Compressed += l.Size
	}
	layers, err := img.Layers()
	if err != nil {
		return Sizes{}, fmt.Errorf("image layers: %w", err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return Sizes{}, fmt.Errorf("layer %d: %w", i, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return Sizes{}, fmt.Errorf("layer %d: %w", i, err)
		}
		s.Uncompressed += n
	}
	return s, nil
}
