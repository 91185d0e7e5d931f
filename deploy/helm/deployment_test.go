package helm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/studiohq/studio/internal/charttest"
)

// modeCase is one example values file and what its rendering must hold.
type modeCase struct {
	file string
	// replicas the Deployment asks for; 0: none (the HPA decides).
	replicas int32
	// env: plain values the container must get.
	env map[string]string
	// secrets: setting → "secret/key" it must come from.
	secrets map[string]string
	// secretsAs: "file" (SETTING_FILE and a read-only mount) or "env"
	// (SETTING from a secretKeyRef).
	secretsAs string
	// absent: variables that must not be set (nor their _FILE variants).
	absent []string
}

var redisModeVars = []string{"REDIS_URL", "REDIS_SENTINELS", "REDIS_MASTER_NAME", "REDIS_CLUSTER", "REDIS_READ_REPLICAS",
	"REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD",
	"REDIS_ALLOW_PLAINTEXT", "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME",
	"REDIS_TLS_SENTINEL_CA_FILE", "REDIS_TLS_SENTINEL_CERT_FILE", "REDIS_TLS_SENTINEL_KEY_FILE"}

// except returns redisModeVars without the given names.
func except(names ...string) []string {
	return slices.DeleteFunc(slices.Clone(redisModeVars), func(n string) bool { return slices.Contains(names, n) })
}

var modeCases = []modeCase{
	{
		file: "standalone-values.yaml", replicas: 2, secretsAs: "file",
		env: map[string]string{"REDIS_TLS_CA_FILE": "/etc/studio/redis-tls/ca.crt", "STUDIO_EXTERNAL_URL": "https://studio.example.com"},
		secrets: map[string]string{"STUDIO_ADMIN_TOKEN": "studio-admin/admin-token", "REDIS_URL": "studio-redis/redis-url",
			"DATABASE_URL": "studio-db/database-url", "SLACK_WEBHOOK_URL": "studio-slack/webhook-url"},
		absent: append(except("REDIS_URL", "REDIS_TLS_CA_FILE"), "PAGERDUTY_ROUTING_KEY", "STUDIO_ALERT_RULES"),
	},
	{
		file: "sentinel-values.yaml", replicas: 2, secretsAs: "file",
		env: map[string]string{
			"REDIS_SENTINELS":       "redis-sentinel-0.redis-sentinel.data.svc.cluster.local:26379,redis-sentinel-1.redis-sentinel.data.svc.cluster.local:26379,redis-sentinel-2.redis-sentinel.data.svc.cluster.local:26379",
			"REDIS_MASTER_NAME":     "studio",
			"REDIS_READ_REPLICAS":   "true",
			"REDIS_ALLOW_PLAINTEXT": "true",
		},
		secrets: map[string]string{"STUDIO_ADMIN_TOKEN": "studio-admin/admin-token", "DATABASE_URL": "studio-db/database-url",
			"REDIS_PASSWORD": "studio-redis-auth/password", "REDIS_SENTINEL_PASSWORD": "studio-redis-auth/sentinel-password"},
		absent: append(except("REDIS_SENTINELS", "REDIS_MASTER_NAME", "REDIS_READ_REPLICAS", "REDIS_ALLOW_PLAINTEXT", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"),
			"SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY"),
	},
	{
		file: "cluster-values.yaml", replicas: 2, secretsAs: "env",
		env: map[string]string{
			"REDIS_CLUSTER":         "redis-cluster-0.redis-cluster.data.svc:6379,redis-cluster-1.redis-cluster.data.svc:6379,redis-cluster-2.redis-cluster.data.svc:6379",
			"REDIS_READ_REPLICAS":   "true",
			"REDIS_TLS_CA_FILE":     "/etc/studio/redis-tls/ca.crt",
			"REDIS_TLS_CERT_FILE":   "/etc/studio/redis-tls/tls.crt",
			"REDIS_TLS_KEY_FILE":    "/etc/studio/redis-tls/tls.key",
			"REDIS_TLS_SERVER_NAME": "redis-cluster.data.svc",
			"REDIS_USERNAME":        "studio",
		},
		secrets: map[string]string{"STUDIO_ADMIN_TOKEN": "studio-admin/token", "DATABASE_URL": "studio-db/url", "REDIS_PASSWORD": "studio-redis-acl/password"},
		absent: except("REDIS_CLUSTER", "REDIS_READ_REPLICAS", "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME",
			"REDIS_USERNAME", "REDIS_PASSWORD"),
	},
	{
		file: "sqlite-dev-values.yaml", replicas: 1, secretsAs: "file",
		env: map[string]string{"DATABASE_URL": "sqlite:/var/lib/studio/studio.db", "REDIS_URL": "redis://redis.dev.svc:6379/0",
			"REDIS_ALLOW_PLAINTEXT": "true", "STUDIO_LOG_LEVEL": "debug", "STUDIO_WARM_ON_START": "false"},
		secrets: map[string]string{"STUDIO_ADMIN_TOKEN": "studio-admin/admin-token"},
		absent:  except("REDIS_URL", "REDIS_ALLOW_PLAINTEXT"),
	},
	{
		file: "all-values.yaml", replicas: 0, secretsAs: "file",
		env: map[string]string{
			"REDIS_SENTINELS":               "sentinel-0.data.svc:26380,sentinel-1.data.svc:26380,sentinel-2.data.svc:26380",
			"REDIS_MASTER_NAME":             "studio",
			"REDIS_READ_REPLICAS":           "true",
			"REDIS_USERNAME":                "studio",
			"REDIS_SENTINEL_USERNAME":       "studio-sentinel",
			"REDIS_TLS_CA_FILE":             "/etc/studio/redis-tls/ca.crt",
			"REDIS_TLS_CERT_FILE":           "/etc/studio/redis-tls/tls.crt",
			"REDIS_TLS_KEY_FILE":            "/etc/studio/redis-tls/tls.key",
			"REDIS_TLS_SERVER_NAME":         "redis.data.svc",
			"REDIS_TLS_SENTINEL_CA_FILE":    "/etc/studio/redis-sentinel-tls/ca.crt",
			"REDIS_TLS_SENTINEL_CERT_FILE":  "/etc/studio/redis-sentinel-tls/tls.crt",
			"REDIS_TLS_SENTINEL_KEY_FILE":   "/etc/studio/redis-sentinel-tls/tls.key",
			"STUDIO_ALERT_RULES":            "/etc/studio/alerting/rules.yaml",
			"STUDIO_SHUTDOWN_DRAIN":         "10s",
			"STUDIO_SHUTDOWN_TIMEOUT":       "30s",
			"STUDIO_LOG_LEVEL":              "warn",
			"STUDIO_METRICS_ADMIN_ONLY":     "true",
			"STUDIO_WARM_LIMIT":             "10000000",
			"STUDIO_STORE_TIMEOUT":          "2s",
			"STUDIO_SLOW_COMMAND_THRESHOLD": "20ms",
			"STUDIO_MONITOR_INTERVAL":       "2s",
			"PAGERDUTY_EVENTS_URL":          "https://events.eu.pagerduty.com/v2/enqueue",
			"STUDIO_CLOCK_SKEW":             "30s",
			"STUDIO_MAX_CONNS":              "8192",
			"STUDIO_IDLE_TIMEOUT":           "75s",
			"STUDIO_TRUSTED_PROXIES":        "10.0.0.0/8,fd00::/8",
			"STUDIO_ACCESS_LOG":             "errors",
			"STUDIO_ACCESS_LOG_SLOW":        "100ms",
			"STUDIO_TRACE_BACKGROUND":       "true",
			"GOMEMLIMIT":                    "600MiB",
			"OTEL_TRACES_EXPORTER":          "otlp",
			"OTEL_TRACES_SAMPLER_ARG":       "0.05",
		},
		secrets: map[string]string{"STUDIO_ADMIN_TOKEN": "studio-admin/admin-token", "DATABASE_URL": "studio-db/database-url",
			"PAGERDUTY_ROUTING_KEY": "studio-pagerduty/routing-key", "SLACK_WEBHOOK_URL": "studio-slack/webhook-url",
			"REDIS_PASSWORD": "studio-redis-acl/password", "REDIS_SENTINEL_PASSWORD": "studio-redis-acl/sentinel-password"},
		absent: []string{"REDIS_URL", "REDIS_CLUSTER", "REDIS_ALLOW_PLAINTEXT"},
	},
}

// TestModes renders every example values file and checks the Deployment,
// Service and PodDisruptionBudget it gives, and the environment for its
// Redis mode.
func TestModes(t *testing.T) {
	settings := readStudioSettings(t)
	for _, tc := range modeCases {
		t.Run(strings.TrimSuffix(tc.file, "-values.yaml"), func(t *testing.T) {
			objs, text := render(t, charttest.Options{ValuesFiles: []string{ciFile(tc.file)}})
			checkPod(t, objs)
			checkService(t, objs)
			checkEnvKnown(t, objs, settings)
			checkSecrets(t, objs, text, tc.secretsAs)
			checkModeEnv(t, objs, tc)
			d := objs.Deployment
			switch {
			case tc.replicas == 0 && (d.Spec.Replicas != nil || objs.HPA == nil):
				t.Errorf("with autoscaling the Deployment must leave replicas to the HPA: replicas %v, HPA %v", d.Spec.Replicas, objs.HPA != nil)
			case tc.replicas > 0 && (d.Spec.Replicas == nil || *d.Spec.Replicas != tc.replicas):
				t.Errorf("replicas %v, want %d", d.Spec.Replicas, tc.replicas)
			}
		})
	}
}

func selectorMatchesPods(t *testing.T, what string, sel *metav1.LabelSelector, objs *charttest.Objects) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(labels.Set(objs.Deployment.Spec.Template.Labels)) {
		t.Errorf("%s selector %v does not select the pods (labels %v): %v", what, sel, objs.Deployment.Spec.Template.Labels, err)
	}
}

// checkPod checks the pod template: the container, probes, resources,
// hardening, writable places, shutdown and spread.
func checkPod(t *testing.T, objs *charttest.Objects) {
	t.Helper()
	d := objs.Deployment
	pod := d.Spec.Template.Spec
	c := objs.Container("studio")
	selectorMatchesPods(t, "Deployment", d.Spec.Selector, objs)

	if len(pod.Containers) != 1 || len(c.Command) != 0 || !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("want one container running the image's entrypoint with args [serve]: command %q args %q", c.Command, c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v, want http 8080/TCP", c.Ports)
	}
	if e := envVar(objs, "STUDIO_ADDR"); e == nil || e.Value != ":8080" {
		t.Errorf("STUDIO_ADDR %+v, want :8080 (the container port)", e)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		switch {
		case p.probe == nil || p.probe.HTTPGet == nil:
			t.Errorf("%s probe: want an HTTP GET, got %+v", p.name, p.probe)
		case p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http":
			t.Errorf("%s probe: GET %s on port %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		case p.probe.TimeoutSeconds < 2 || p.probe.PeriodSeconds < 1 || p.probe.FailureThreshold < 1:
			// /readyz bounds its own checks at 1 s.
			t.Errorf("%s probe: timeout %ds, period %ds, threshold %d", p.name, p.probe.TimeoutSeconds, p.probe.PeriodSeconds, p.probe.FailureThreshold)
		}
	}
	if c.StartupProbe != nil && c.StartupProbe.PeriodSeconds*c.StartupProbe.FailureThreshold < 30 {
		t.Errorf("the startup probe allows only %ds for opening the store", c.StartupProbe.PeriodSeconds*c.StartupProbe.FailureThreshold)
	}

	r := c.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() || r.Limits.Memory().Cmp(*r.Requests.Memory()) < 0 {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit at least the request", r)
	}

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", psc)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Privileged != nil && *sc.Privileged ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod must not mount a service account token")
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("enableServiceLinks must be false: Service variables would land in Studio's STUDIO_* names")
	}

	// The root file system is read-only: the working directory and /tmp
	// are emptyDirs; every other mount is read-only; no subPath (a
	// renewed certificate would not reach it).
	for _, path := range []string{"/var/lib/studio", "/tmp"} {
		i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
		if i < 0 || volume(objs, c.VolumeMounts[i].Name) == nil || volume(objs, c.VolumeMounts[i].Name).EmptyDir == nil {
			t.Errorf("%s is not an emptyDir mount", path)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || (m.MountPath != "/var/lib/studio" && m.MountPath != "/tmp" && !m.ReadOnly) {
			t.Errorf("mount %s at %s: want read-only, without subPath", m.Name, m.MountPath)
		}
	}

	// Kubernetes must give Studio its drain and its shutdown timeout before
	// SIGKILL; Studio drains itself, so no preStop hook.
	drain, timeout := durationEnv(t, objs, "STUDIO_SHUTDOWN_DRAIN"), durationEnv(t, objs, "STUDIO_SHUTDOWN_TIMEOUT")
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain+timeout {
		t.Errorf("terminationGracePeriodSeconds %s, want more than drain %v + timeout %v", fmtPtr(g), drain, timeout)
	}
	if c.Lifecycle != nil {
		t.Errorf("lifecycle %+v: Studio drains on SIGTERM by itself", c.Lifecycle)
	}
	if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0", u)
	}
	if _, ok := d.Spec.Template.Annotations["checksum/alert-rules"]; !ok {
		t.Error("no checksum/alert-rules annotation")
	}

	spread := false
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.MaxSkew == 1 {
			selectorMatchesPods(t, "topology spread", tsc.LabelSelector, objs)
			spread = true
		}
	}
	if !spread {
		t.Error("no topology spread constraint across nodes (kubernetes.io/hostname)")
	}
}

func durationEnv(t *testing.T, objs *charttest.Objects, name string) time.Duration {
	t.Helper()
	e := envVar(objs, name)
	if e == nil {
		t.Errorf("%s is not set", name)
		return 0
	}
	d, err := time.ParseDuration(e.Value)
	if err != nil {
		t.Errorf("%s=%q: %v", name, e.Value, err)
	}
	return d
}

func checkService(t *testing.T, objs *charttest.Objects) {
	t.Helper()
	s := objs.Service
	if s == nil {
		t.Fatal("no Service")
	}
	if s.Spec.Type != corev1.ServiceTypeClusterIP || len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "http" || s.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service %+v: want ClusterIP with port http → http", s.Spec)
	}
	selectorMatchesPods(t, "Service", &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, objs)
	p := objs.PDB
	if p == nil {
		t.Fatal("no PodDisruptionBudget")
	}
	if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
		t.Errorf("PDB %+v: want exactly one of maxUnavailable and minAvailable", p.Spec)
	}
	selectorMatchesPods(t, "PodDisruptionBudget", p.Spec.Selector, objs)
}

// checkEnvKnown: every variable the chart sets (not extraEnv) is a
// setting Studio reads; the pod name is the instance id.
func checkEnvKnown(t *testing.T, objs *charttest.Objects, s studioSettings) {
	t.Helper()
	extra := map[string]bool{"INCIDENT_LOG_AUTHORIZATION": true} // all-values.yaml's extraEnv
	for _, e := range objs.Container("studio").Env {
		if !extra[e.Name] && !s.known(e.Name) {
			t.Errorf("the chart sets %s, which Studio does not read (not a setting in config.go or README.md's Settings)", e.Name)
		}
	}
	id := envVar(objs, "STUDIO_INSTANCE_ID")
	if id == nil || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("STUDIO_INSTANCE_ID %+v, want the pod's name from the downward API", id)
	}
}

var (
	// Credentials in a URL, private keys, Slack webhook paths, Studio tokens.
	secretLooking = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s"'@:]*:[^/\s"'@]+@|PRIVATE KEY|hooks\.slack\.com/services/T|stu_[A-Za-z0-9_-]{20,}`)
	userinfo      = regexp.MustCompile(`^[a-z]+://[^/]*@`)
)

// checkSecrets: secret settings come from Secret references only —
// SETTING_FILE pointing into a read-only Secret volume, or a
// secretKeyRef — and nothing in the rendering looks like a secret.
func checkSecrets(t *testing.T, objs *charttest.Objects, text, secretsAs string) {
	t.Helper()
	if m := secretLooking.FindString(text); m != "" {
		t.Errorf("the rendering holds something secret-looking: %q", m)
	}
	for _, name := range chartSecretSettings {
		e := envVar(objs, name)
		f := envVar(objs, name+"_FILE")
		switch {
		case e != nil && e.ValueFrom == nil:
			plainOK := name == "REDIS_URL" && !userinfo.MatchString(e.Value) || name == "DATABASE_URL" && strings.HasPrefix(e.Value, "sqlite:")
			if !plainOK {
				t.Errorf("%s is a plain value: %q", name, e.Value)
			}
		case e != nil && (e.ValueFrom.SecretKeyRef == nil || secretsAs != "env"):
			t.Errorf("%s: %+v, want a secretKeyRef with secretsAs env", name, e.ValueFrom)
		case f != nil && secretsAs != "file":
			t.Errorf("%s_FILE is set with secretsAs %s", name, secretsAs)
		case f != nil:
			if kind, _, _ := fileSource(objs, f.Value); kind != "secret" {
				t.Errorf("%s_FILE=%s is not a file from a Secret", name, f.Value)
			}
		}
	}
	if secretsAs == "env" && volume(objs, "secrets") != nil {
		t.Error("secretsAs env, yet a secrets volume is mounted")
	}
}

// secretOf returns "secret/key" for a secret setting, however delivered.
func secretOf(objs *charttest.Objects, name string) string {
	if e := envVar(objs, name); e != nil && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
		return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	if f := envVar(objs, name+"_FILE"); f != nil {
		if kind, secret, key := fileSource(objs, f.Value); kind == "secret" {
			return secret + "/" + key
		}
	}
	return ""
}

func checkModeEnv(t *testing.T, objs *charttest.Objects, tc modeCase) {
	t.Helper()
	for name, want := range tc.env {
		if e := envVar(objs, name); e == nil || e.ValueFrom != nil || e.Value != want {
			t.Errorf("%s = %+v, want %q", name, e, want)
		}
	}
	for name, want := range tc.secrets {
		if got := secretOf(objs, name); got != want {
			t.Errorf("%s comes from %q, want Secret %q", name, got, want)
		}
	}
	for _, name := range chartSecretSettings {
		if _, ok := tc.secrets[name]; !ok && secretOf(objs, name) != "" {
			t.Errorf("%s comes from a Secret; this example references none for it", name)
		}
	}
	for _, name := range tc.absent {
		if envVar(objs, name) != nil || envVar(objs, name+"_FILE") != nil {
			t.Errorf("%s is set; %s must not set it", name, tc.file)
		}
	}
	// Every file the environment names exists in a mounted volume.
	for _, e := range objs.Container("studio").Env {
		if strings.HasSuffix(e.Name, "_FILE") || e.Name == "STUDIO_ALERT_RULES" {
			if kind, why, _ := fileSource(objs, e.Value); kind == "" {
				t.Errorf("%s=%s: %s", e.Name, e.Value, why)
			}
		}
	}
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
