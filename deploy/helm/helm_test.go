// Package helm tests the Helm chart in studio/ without a cluster: each
// example values file in studio/ci is rendered with the helm binary, every
// object is decoded strictly into the official Kubernetes API types
// (internal/charttest), and the properties the chart promises are checked;
// bad values must fail with the message the chart gives for them, and
// `helm lint --strict` must pass with every example.
//
// helm must be on PATH (.ci/run installs it); without it these tests fail,
// except in -short mode, where they skip.
package helm

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/studiohq/studio/internal/charttest"
)

// repoRoot is the module's root, from this package's directory.
var repoRoot = filepath.Join("..", "..")

func needHelm(t *testing.T) {
	t.Helper()
	if _, err := charttest.Helm(); err != nil {
		if testing.Short() {
			t.Skipf("-short: %v", err)
		}
		t.Fatal(err)
	}
}

func ciFile(name string) string { return filepath.Join(charttest.ChartDir(), "ci", name) }

// render renders the chart, fails the test on an error, and decodes the
// output strictly.
func render(t *testing.T, o charttest.Options) (*charttest.Objects, string) {
	t.Helper()
	needHelm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := charttest.Template(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := charttest.Decode(out)
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	if objs.Deployment == nil || objs.Container("studio") == nil {
		t.Fatalf("no Deployment with a studio container; rendered %v", objs.Kinds)
	}
	return objs, out
}

// renderErr renders the chart and returns the error, failing the test if
// rendering succeeds.
func renderErr(t *testing.T, o charttest.Options) error {
	t.Helper()
	needHelm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := charttest.Template(ctx, o)
	if err == nil {
		t.Fatalf("rendering succeeded; it should have failed. Output:\n%s", out)
	}
	return err
}

// envVar returns the studio container's variable named name, or nil.
func envVar(objs *charttest.Objects, name string) *corev1.EnvVar {
	c := objs.Container("studio")
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Env[i]
}

// mountOf returns the volume mount whose path holds path, and the rest of
// the path inside it.
func mountOf(c *corev1.Container, path string) (*corev1.VolumeMount, string) {
	for i, m := range c.VolumeMounts {
		if rest, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
			return &c.VolumeMounts[i], rest
		}
	}
	return nil, ""
}

func volume(objs *charttest.Objects, name string) *corev1.Volume {
	vs := objs.Deployment.Spec.Template.Spec.Volumes
	i := slices.IndexFunc(vs, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		return nil
	}
	return &vs[i]
}

// fileSource follows a file path in the container to the Secret or
// ConfigMap key it comes from: kind is "secret" or "configmap", or "" with
// a reason in name when the path is not such a file.
func fileSource(objs *charttest.Objects, path string) (kind, name, key string) {
	m, rest := mountOf(objs.Container("studio"), path)
	if m == nil {
		return "", "no volume is mounted there", ""
	}
	if !m.ReadOnly || m.SubPath != "" {
		return "", "mount " + m.Name + " is writable or uses subPath", ""
	}
	v := volume(objs, m.Name)
	if v == nil {
		return "", "no volume " + m.Name, ""
	}
	find := func(items []corev1.KeyToPath) (string, bool) {
		for _, it := range items {
			if it.Path == rest {
				return it.Key, true
			}
		}
		return "", false
	}
	switch s := v.VolumeSource; {
	case s.Secret != nil:
		if k, ok := find(s.Secret.Items); ok {
			return "secret", s.Secret.SecretName, k
		}
	case s.ConfigMap != nil:
		if k, ok := find(s.ConfigMap.Items); ok {
			return "configmap", s.ConfigMap.Name, k
		}
	case s.Projected != nil:
		for _, src := range s.Projected.Sources {
			if src.Secret != nil {
				if k, ok := find(src.Secret.Items); ok {
					return "secret", src.Secret.Name, k
				}
			}
		}
	}
	return "", "volume " + m.Name + " has no item at " + rest, ""
}
