// Command mkimage builds Studio's container image with no Docker engine
// (internal/ociimage) and writes it as a docker-save tarball, which
// `docker load -i` reads, tagged studio:VERSION.
//
// Usage:
//
//	go run ./scripts/mkimage -binary bin/studio-static -version V -out bin/studio-image.tar \
//	  [-revision COMMIT] [-created TIME] [-ca-certs FILE] [-source URL] [-licenses SPDX]
//
// -binary is a statically linked Linux build of ./cmd/studio (make image
// builds it with CGO_ENABLED=0). -created is the image's creation time, in
// RFC 3339 or Unix seconds; it defaults to SOURCE_DATE_EPOCH and is
// required, so that the same commit always gives the same digest (make
// image passes the commit time). The output is written to a temporary
// file beside -out and renamed, so a failed run leaves no partial image.
//
// It prints the tag, the digest and the compressed and uncompressed sizes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/studiohq/studio/internal/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status: 0 on success, 1
// when the build fails, 2 on bad usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o ociimage.Options
	fs.StringVar(&o.Binary, "binary", "", "statically linked Linux build of ./cmd/studio (required)")
	fs.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to put in the image")
	fs.StringVar(&o.Version, "version", "", "version: the image's tag and version label (required)")
	fs.StringVar(&o.Revision, "revision", "", "commit id for the revision label")
	fs.StringVar(&o.Source, "source", "", "source URL label (default "+ociimage.DefaultSource+")")
	fs.StringVar(&o.Licenses, "licenses", "", "SPDX licence expression label")
	created := fs.String("created", getenv("SOURCE_DATE_EPOCH"), "creation time, RFC 3339 or Unix seconds (env SOURCE_DATE_EPOCH; required)")
	out := fs.String("out", "", "docker-save tarball to write (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case *out == "":
		err = errors.New("-out is required")
	case *created == "":
		err = errors.New("no creation time: set -created or SOURCE_DATE_EPOCH (make image uses the commit time)")
	default:
		o.Created, err = parseTime(*created)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 2
	}
	if err := write(ctx, o, *out, stdout); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	return 0
}

// parseTime reads a creation time: Unix seconds (SOURCE_DATE_EPOCH's
// form) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("creation time %q: want Unix seconds or RFC 3339", s)
	}
	return t, nil
}

// write builds the image and writes it to out as a docker-save tarball.
func write(ctx context.Context, o ociimage.Options, out string, stdout io.Writer) error {
	img, err := ociimage.Build(ctx, o)
	if err != nil {
		return err
	}
	tag, err := ociimage.Tag(o.Version)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	if err := tarball.Write(tag, img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("image digest: %w", err)
	}
	size, err := ociimage.Size(img)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n  %s\n  compressed %.1f MB, uncompressed %.1f MB\n  load it with: docker load -i %s\n",
		tag, digest, out, mb(size.Compressed), mb(size.Uncompressed), out)
	return nil
}

func mb(n int64) float64 { return float64(n) / 1e6 }
