// Package ociimage assembles Studio's container image from nothing: no
// base image, no Docker engine, no registry. The image has two layers:
//
//  1. /etc/passwd and /etc/group (root, nobody, and the user nonroot,
//     65532:65532), /etc/nsswitch.conf, the CA bundle at CACertsPath,
//     /tmp (1777), the user's HomeDir and the WorkDir it owns;
//  2. the statically linked Studio executable at BinaryPath.
//
// The config runs `studio serve` as User (numeric, not root) in WorkDir,
// exposes Port, and carries the OCI labels. Everything in it comes from
// Options: the package reads no environment and no clock, so the same
// Options give the same digest. The Dockerfile at the repository root
// builds the same layout with Docker.
package ociimage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Repository is the image's repository name in the tag Tag makes.
const Repository = "studio"

// Build checks o and assembles the image. A bad option is reported with
// every other bad option, joined, each naming the option. ctx is checked
// between steps. The returned image holds its layers in memory (about the
// binary's size, plus the compressed layers) and does not depend on ctx
// or on the files after Build returns; it is safe for concurrent use.
func Build(ctx context.Context, o Options) (v1.Image, error) {
	in, err := o.load()
	if err != nil {
		return nil, fmt.Errorf("image options: %w", err)
	}
	created := o.Created.UTC().Truncate(time.Second)
	base, err := newLayer(baseEntries(in.caCerts), created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bin, err := newLayer(binaryEntries(in.binary), created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		addendum(base, created, "accounts (root, nobody, nonroot 65532), nsswitch.conf, CA certificates, /tmp, "+HomeDir+", "+WorkDir),
		addendum(bin, created, "studio executable at "+BinaryPath))
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", in.arch
	cf.Created = v1.Time{Time: created}
	cf.Config = config(o)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	// Compute the manifest now, so that a failure shows here rather than
	// in the caller's first use of the image.
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	return img, nil
}

func addendum(l v1.Layer, created time.Time, what string) mutate.Addendum {
	return mutate.Addendum{
		Layer:     l,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "ociimage: " + what},
	}
}

// config is the image's run configuration.
func config(o Options) v1.Config {
	return v1.Config{
		User:         User(),
		Entrypoint:   Entrypoint(),
		Cmd:          Cmd(),
		Env:          Env(),
		WorkingDir:   WorkDir,
		ExposedPorts: map[string]struct{}{Port: {}},
		Labels:       Labels(o),
	}
}

// Labels returns the image's labels for o: o.Labels plus the OCI title,
// description, source (DefaultSource when o.Source is empty), version,
// created (o.Created in RFC 3339, UTC, whole seconds) and, when set,
// revision and licenses. It does not validate o.
func Labels(o Options) map[string]string {
	l := map[string]string{
		LabelTitle:       Title,
		LabelDescription: Description,
		LabelSource:      DefaultSource,
		LabelVersion:     o.Version,
		LabelCreated:     o.Created.UTC().Truncate(time.Second).Format(time.RFC3339),
	}
	if o.Source != "" {
		l[LabelSource] = o.Source
	}
	if o.Revision != "" {
		l[LabelRevision] = o.Revision
	}
	if o.Licenses != "" {
		l[LabelLicenses] = o.Licenses
	}
	for k, v := range o.Labels {
		l[k] = v
	}
	return l
}

// Tag returns the image's tag, Repository:version (e.g. studio:1.4.0),
// the name `docker load` gives the image. version must be a valid tag.
func Tag(version string) (name.Tag, error) {
	t, err := name.NewTag(Repository + ":" + version)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image tag for version %q: %w", version, err)
	}
	return t, nil
}
