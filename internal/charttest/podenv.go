package charttest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod stands in for what the kubelet gives a container: the Secrets and
// ConfigMaps of the namespace (by name, then key) and the values of the
// downward API's fieldRefs (by fieldPath, e.g. "metadata.name").
type Pod struct {
	Secrets    map[string]map[string]string
	ConfigMaps map[string]map[string]string
	Fields     map[string]string
	// Root is the directory the container's volumes are written under,
	// one sub-directory per volume.
	Root string
}

// mount is a volume written under Pod.Root: the container sees dir at path.
type mount struct{ path, dir string }

// Env returns the environment of the container named container in spec,
// as NAME=value in the order Kubernetes sets it, after writing every
// volume the container mounts under p.Root: a path under a mount point in
// a value (also after a "scheme:" such as sqlite:) is rewritten to the
// written copy. Like the kubelet it refuses a reference to a Secret,
// ConfigMap or key that does not exist (unless marked optional); it
// refuses what it cannot reproduce faithfully (envFrom, subPath,
// resourceFieldRef, $(VAR) references, other volume types) and a name
// set twice.
func (p Pod) Env(spec corev1.PodSpec, container string) ([]string, error) {
	i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == container })
	if i < 0 {
		return nil, fmt.Errorf("no container %q", container)
	}
	c := spec.Containers[i]
	if len(c.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %q: envFrom is not supported", container)
	}
	mounts, err := p.writeVolumes(spec, c)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var env []string
	for _, e := range c.Env {
		if seen[e.Name] {
			return nil, fmt.Errorf("env %s is set twice", e.Name)
		}
		seen[e.Name] = true
		v, ok, err := p.value(e, mounts)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env = append(env, e.Name+"="+v)
		}
	}
	return env, nil
}

// value resolves one variable; ok is false for an optional reference to
// something missing (the variable is then unset).
func (p Pod) value(e corev1.EnvVar, mounts []mount) (v string, ok bool, err error) {
	src := e.ValueFrom
	switch {
	case src == nil:
		if strings.Contains(e.Value, "$(") {
			return "", false, fmt.Errorf("$(VAR) references are not supported")
		}
		return rewritePaths(e.Value, mounts), true, nil
	case src.FieldRef != nil:
		v, ok := p.Fields[src.FieldRef.FieldPath]
		if !ok {
			return "", false, fmt.Errorf("no value given for fieldRef %s", src.FieldRef.FieldPath)
		}
		return v, true, nil
	case src.SecretKeyRef != nil:
		return lookup("secret", p.Secrets, src.SecretKeyRef.Name, src.SecretKeyRef.Key, src.SecretKeyRef.Optional)
	case src.ConfigMapKeyRef != nil:
		return lookup("configmap", p.ConfigMaps, src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, src.ConfigMapKeyRef.Optional)
	}
	return "", false, fmt.Errorf("this valueFrom is not supported")
}

func lookup(kind string, m map[string]map[string]string, name, key string, optional *bool) (string, bool, error) {
	data, ok := m[name]
	if ok {
		if v, ok := data[key]; ok {
			return v, true, nil
		}
	}
	if optional != nil && *optional {
		return "", false, nil
	}
	if !ok {
		return "", false, fmt.Errorf("%s %q does not exist", kind, name)
	}
	return "", false, fmt.Errorf("%s %q has no key %q", kind, name, key)
}

// rewritePaths replaces a mount point at the start of v, or right after a
// ':', with the directory it was written to.
func rewritePaths(v string, mounts []mount) string {
	for _, m := range mounts {
		for _, prefix := range []string{"", v[:strings.IndexByte(v, ':')+1]} {
			rest, ok := strings.CutPrefix(v, prefix+m.path)
			if ok && (rest == "" || rest[0] == '/') {
				return prefix + m.dir + rest
			}
		}
	}
	return v
}

// writeVolumes writes the volumes c mounts and returns the mounts, the
// longest mount path first.
func (p Pod) writeVolumes(spec corev1.PodSpec, c corev1.Container) ([]mount, error) {
	var mounts []mount
	for _, vm := range c.VolumeMounts {
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			return nil, fmt.Errorf("volume mount %s: subPath is not supported", vm.Name)
		}
		vi := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			return nil, fmt.Errorf("volume mount %s: no such volume", vm.Name)
		}
		dir := filepath.Join(p.Root, vm.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := p.writeVolume(spec.Volumes[vi], dir); err != nil {
			return nil, fmt.Errorf("volume %s: %w", vm.Name, err)
		}
		mounts = append(mounts, mount{path: filepath.Clean(vm.MountPath), dir: dir})
	}
	slices.SortFunc(mounts, func(a, b mount) int { return cmp.Compare(len(b.path), len(a.path)) })
	return mounts, nil
}

func (p Pod) writeVolume(v corev1.Volume, dir string) error {
	switch s := v.VolumeSource; {
	case s.EmptyDir != nil:
		return nil
	case s.Secret != nil:
		return writeItems(dir, "secret", p.Secrets, s.Secret.SecretName, s.Secret.Items, s.Secret.DefaultMode, s.Secret.Optional)
	case s.ConfigMap != nil:
		return writeItems(dir, "configmap", p.ConfigMaps, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.DefaultMode, s.ConfigMap.Optional)
	case s.Projected != nil:
		for _, src := range s.Projected.Sources {
			var err error
			switch {
			case src.Secret != nil:
				err = writeItems(dir, "secret", p.Secrets, src.Secret.Name, src.Secret.Items, s.Projected.DefaultMode, src.Secret.Optional)
			case src.ConfigMap != nil:
				err = writeItems(dir, "configmap", p.ConfigMaps, src.ConfigMap.Name, src.ConfigMap.Items, s.Projected.DefaultMode, src.ConfigMap.Optional)
			default:
				err = fmt.Errorf("this projected source is not supported")
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("this volume type is not supported")
}

// writeItems writes the keys of a Secret or ConfigMap as files, as the
// kubelet does: the listed items to their paths, or every key.
func writeItems(dir, kind string, m map[string]map[string]string, name string, items []corev1.KeyToPath, defMode *int32, optional *bool) error {
	data, ok := m[name]
	if !ok {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("%s %q does not exist", kind, name)
	}
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		mode := os.FileMode(0o644)
		if it.Mode != nil {
			mode = os.FileMode(*it.Mode)
		} else if defMode != nil {
			mode = os.FileMode(*defMode)
		}
		path := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(v), mode); err != nil {
			return err
		}
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
	}
	return nil
}
