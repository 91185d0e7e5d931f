package charttest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const deployment = `---
# Source: studio/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: studio
spec:
  selector:
    matchLabels: {app: studio}
  template:
    metadata:
      labels: {app: studio}
    spec:
      containers:
        - name: studio
          image: studio:1
`

func TestDecodeStrict(t *testing.T) {
	objs, err := Decode(deployment + "---\n# Source: x\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: studio}\n")
	if err != nil {
		t.Fatal(err)
	}
	if objs.Deployment == nil || objs.Service == nil || objs.Container("studio") == nil || !slices.Equal(objs.Kinds, []string{"Deployment", "Service"}) {
		t.Fatalf("decoded %+v", objs)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", strings.Replace(deployment, "image: studio:1", "image: studio:1\n          imagePolicy: Always", 1), `unknown field "spec.template.spec.containers[0].imagePolicy"`},
		{"misplaced field", strings.Replace(deployment, "  selector:", "  replica: 2\n  selector:", 1), `unknown field "spec.replica"`},
		{"field name in another case", strings.Replace(deployment, "  selector:", "  Replicas: 2\n  selector:", 1), `unknown field "spec.Replicas"`},
		{"duplicate key", strings.Replace(deployment, "name: studio\nspec", "name: studio\n  name: other\nspec", 1), `key "name" already set`},
		{"unknown kind", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", "not known to render"},
		{"twice", deployment + deployment, "rendered twice"},
		{"CRD field outside the allow-list", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: s}\nspec:\n  endpoints:\n    - port: http\n      bearerTokenFile: /var/run/token\n", `unknown field "spec.endpoints[0].bearerTokenFile"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func podSpec(t *testing.T, y string) corev1.PodSpec {
	t.Helper()
	var spec corev1.PodSpec
	if err := yaml.UnmarshalStrict([]byte(y), &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

const spec = `
containers:
  - name: app
    env:
      - {name: ID, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
      - {name: TOKEN, valueFrom: {secretKeyRef: {name: admin, key: token}}}
      - {name: TOKEN_FILE, value: /etc/app/secrets/token}
      - {name: DB, value: "sqlite:/var/lib/app/app.db"}
      - {name: RULES, value: /etc/app/rules/rules.yaml}
      - {name: URL, value: "redis://host:6379/0"}
      - {name: OPT, valueFrom: {secretKeyRef: {name: none, key: k, optional: true}}}
    volumeMounts:
      - {name: data, mountPath: /var/lib/app}
      - {name: secrets, mountPath: /etc/app/secrets, readOnly: true}
      - {name: rules, mountPath: /etc/app/rules/}
volumes:
  - {name: data, emptyDir: {}}
  - name: secrets
    projected:
      defaultMode: 0440
      sources:
        - secret: {name: admin, items: [{key: token, path: token}]}
  - {name: rules, configMap: {name: rules}}
`

func TestPodEnv(t *testing.T) {
	root := t.TempDir()
	p := Pod{
		Secrets:    map[string]map[string]string{"admin": {"token": "s3cret-token"}},
		ConfigMaps: map[string]map[string]string{"rules": {"rules.yaml": "rules: []\n"}},
		Fields:     map[string]string{"metadata.name": "app-0"},
		Root:       root,
	}
	env, err := p.Env(podSpec(t, spec), "app")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ID=app-0",
		"TOKEN=s3cret-token",
		"TOKEN_FILE=" + filepath.Join(root, "secrets", "token"),
		"DB=sqlite:" + filepath.Join(root, "data", "app.db"),
		"RULES=" + filepath.Join(root, "rules", "rules.yaml"),
		"URL=redis://host:6379/0",
	}
	if !slices.Equal(env, want) {
		t.Fatalf("env\n%q\nwant\n%q", env, want)
	}
	b, err := os.ReadFile(filepath.Join(root, "secrets", "token"))
	if err != nil || string(b) != "s3cret-token" {
		t.Fatalf("secret file: %q %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "secrets", "token")); fi.Mode().Perm() != 0o440 {
		t.Errorf("secret file mode %v, want the volume's defaultMode 0440", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "rules", "rules.yaml")); string(b) != "rules: []\n" {
		t.Errorf("configmap file: %q", b)
	}
}

func TestPodEnvRefusesWhatTheKubeletWould(t *testing.T) {
	full := Pod{
		Secrets:    map[string]map[string]string{"admin": {"token": "x"}},
		ConfigMaps: map[string]map[string]string{"rules": {"rules.yaml": ""}},
		Fields:     map[string]string{"metadata.name": "app-0"},
	}
	for _, tc := range []struct {
		name string
		pod  func(*Pod)
		spec func(string) string
		want string
	}{
		{"missing secret", func(p *Pod) { delete(p.Secrets, "admin") }, nil, `secret "admin" does not exist`},
		{"missing key", func(p *Pod) { p.Secrets["admin"] = map[string]string{"other": "x"} }, nil, `secret "admin" has no key "token"`},
		{"missing configmap", func(p *Pod) { p.ConfigMaps = nil }, nil, `configmap "rules" does not exist`},
		{"unknown field", func(p *Pod) { p.Fields = nil }, nil, "no value given for fieldRef metadata.name"},
		{"subPath", nil, func(s string) string {
			return strings.Replace(s, "{name: data, mountPath: /var/lib/app}", "{name: data, mountPath: /var/lib/app, subPath: x}", 1)
		}, "subPath is not supported"},
		{"set twice", nil, func(s string) string {
			return strings.Replace(s, "- {name: URL,", "- {name: ID, value: x}\n      - {name: URL,", 1)
		}, "env ID is set twice"},
		{"var reference", nil, func(s string) string { return strings.Replace(s, "redis://host", "redis://$(HOST)", 1) }, "$(VAR) references are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pod{Secrets: map[string]map[string]string{}, ConfigMaps: map[string]map[string]string{}, Fields: map[string]string{}, Root: t.TempDir()}
			for k, v := range full.Secrets {
				p.Secrets[k] = v
			}
			for k, v := range full.ConfigMaps {
				p.ConfigMaps[k] = v
			}
			for k, v := range full.Fields {
				p.Fields[k] = v
			}
			if tc.pod != nil {
				tc.pod(&p)
			}
			s := spec
			if tc.spec != nil {
				s = tc.spec(s)
			}
			_, err := p.Env(podSpec(t, s), "app")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
