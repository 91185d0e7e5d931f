package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/internal/charttest"
)

// TestOptionalObjects renders all-values.yaml, which turns every optional
// object on, and checks each against the Deployment and Service.
func TestOptionalObjects(t *testing.T) {
	objs, _ := render(t, charttest.Options{ValuesFiles: []string{ciFile("all-values.yaml")}})
	d := objs.Deployment

	h := objs.HPA
	if h == nil {
		t.Fatal("no HorizontalPodAutoscaler")
	}
	if r := h.Spec.ScaleTargetRef; r.APIVersion != "apps/v1" || r.Kind != "Deployment" || r.Name != d.Name {
		t.Errorf("HPA scales %+v, not the Deployment %s", r, d.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 10 {
		t.Errorf("HPA replicas %v–%d, want 3–10", fmtPtr(h.Spec.MinReplicas), h.Spec.MaxReplicas)
	}
	cpu := slices.IndexFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Resource != nil && m.Resource.Name == "cpu" && m.Resource.Target.AverageUtilization != nil && *m.Resource.Target.AverageUtilization == 65
	})
	if cpu < 0 || h.Spec.Behavior == nil || h.Spec.Behavior.ScaleDown == nil {
		t.Errorf("HPA metrics %+v behavior %+v: want CPU at 65 %% and the scale-down behaviour", h.Spec.Metrics, h.Spec.Behavior)
	}

	sa := objs.ServiceAccount
	if sa == nil || d.Spec.Template.Spec.ServiceAccountName != sa.Name || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %+v: want one the pods use, without a mounted token", sa)
	}

	sm := objs.ServiceMonitor
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(objs.Service.Labels)) || sm.Metadata.Namespace != objs.Service.Namespace {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v): %v", sm.Spec.Selector, objs.Service.Labels, err)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != objs.Service.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want /metrics on the Service's port", sm.Spec.Endpoints)
	}
	// /metrics is behind the admin token here: Prometheus must send it.
	if a := sm.Spec.Endpoints[0].Authorization; a == nil || a.Type != "Bearer" || a.Credentials == nil ||
		a.Credentials.Name+"/"+a.Credentials.Key != secretOf(objs, "STUDIO_ADMIN_TOKEN") {
		t.Errorf("ServiceMonitor authorization %+v: want the admin token's Secret (%s)", a, secretOf(objs, "STUDIO_ADMIN_TOKEN"))
	}
	if sm.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v: want the extra label release=prometheus", sm.Metadata.Labels)
	}

	checkPrometheusRule(t, objs)

	// The rule file: a ConfigMap mounted read-only, that Studio's own
	// parser accepts, whose receiver secret comes from extraEnv.
	rules := envVar(objs, "STUDIO_ALERT_RULES")
	kind, name, key := fileSource(objs, rules.Value)
	cm := objs.ConfigMap(name)
	if kind != "configmap" || cm == nil {
		t.Fatalf("STUDIO_ALERT_RULES=%s is not a file of a rendered ConfigMap (%s %s)", rules.Value, kind, name)
	}
	cfg, err := alert.Load("rules.yaml", []byte(cm.Data[key]))
	if err != nil {
		t.Fatalf("Studio refuses the rendered rule file: %v\n%s", err, cm.Data[key])
	}
	i := slices.IndexFunc(cfg.Receivers, func(r *alert.ReceiverConfig) bool { return r.Name == "incident-log" })
	if i < 0 || cfg.Receivers[i].SecretEnv != "INCIDENT_LOG_AUTHORIZATION" || envVar(objs, "INCIDENT_LOG_AUTHORIZATION") == nil ||
		envVar(objs, "INCIDENT_LOG_AUTHORIZATION").ValueFrom.SecretKeyRef == nil {
		t.Errorf("the incident-log receiver's secret_env is not set from a Secret by extraEnv")
	}

	// TLS material: whole Secret volumes, read-only.
	for env, want := range map[string]string{
		"REDIS_TLS_CA_FILE": "studio-redis-client/ca.crt", "REDIS_TLS_CERT_FILE": "studio-redis-client/tls.crt", "REDIS_TLS_KEY_FILE": "studio-redis-client/tls.key",
		"REDIS_TLS_SENTINEL_CA_FILE": "studio-sentinel-client/ca.crt", "REDIS_TLS_SENTINEL_CERT_FILE": "studio-sentinel-client/tls.crt", "REDIS_TLS_SENTINEL_KEY_FILE": "studio-sentinel-client/tls.key",
	} {
		if kind, secret, key := fileSource(objs, envVar(objs, env).Value); kind != "secret" || secret+"/"+key != want {
			t.Errorf("%s comes from %s %s/%s, want Secret %s", env, kind, secret, key, want)
		}
	}
	if p := objs.PDB; p == nil || p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 2 || p.Spec.MaxUnavailable != nil {
		t.Errorf("PDB %+v, want minAvailable 2", p)
	}
}

// checkPrometheusRule checks the chart's own group (what Studio cannot
// report about itself, on the ServiceMonitor's series) and, rendered with
// metrics.prometheusRule.defaultRules, the groups of
// deploy/prometheus/studio-rules.yml, unchanged.
func checkPrometheusRule(t *testing.T, objs *charttest.Objects) {
	t.Helper()
	pr := objs.PrometheusRule
	if pr == nil {
		t.Fatal("no PrometheusRule")
	}
	if len(pr.Spec.Groups) == 0 || pr.Spec.Groups[0].Name != "studio" {
		t.Fatalf("PrometheusRule groups %v: want the chart's group studio first", pr.Spec.Groups)
	}
	var names []string
	for _, r := range pr.Spec.Groups[0].Rules {
		names = append(names, r.Alert)
		if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || (r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning") || r.Annotations["summary"] == "" {
			t.Errorf("rule %+v: want an alert name, an expression, severity critical or warning, and a summary", r)
		}
		if r.Alert != "StudioSlowValidations" && !strings.Contains(r.Expr, `job="`+objs.Service.Name+`",namespace="`+objs.Service.Namespace+`"`) {
			t.Errorf("rule %s does not select the ServiceMonitor's series: %s", r.Alert, r.Expr)
		}
		if u := r.Annotations["runbook_url"]; u != "" {
			page, ok := strings.CutPrefix(u, "https://studio.example.com/docs/runbooks/")
			if _, err := os.Stat(filepath.Join(repoRoot, "docs", "runbooks", page)); !ok || err != nil {
				t.Errorf("rule %s: runbook %s is not a page Studio serves (docs/runbooks/%s): %v", r.Alert, u, page, err)
			}
		}
	}
	// RedisCircuitBreakerOpen of the default rules replaces StudioRedisCircuitOpen.
	for _, want := range []string{"StudioDown", "StudioInstanceDown", "StudioStoreErrors", "StudioHTTPErrors", "StudioSlowValidations"} {
		if !slices.Contains(names, want) {
			t.Errorf("PrometheusRule has no %s (has %v)", want, names)
		}
	}
	if slices.Contains(names, "StudioRedisCircuitOpen") {
		t.Error("StudioRedisCircuitOpen rendered beside the default rules' RedisCircuitBreakerOpen")
	}

	var file struct {
		Groups []charttest.RuleGroup `json:"groups"`
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "studio-rules.yml"))
	if err == nil {
		err = yaml.UnmarshalStrict(b, &file)
	}
	if err != nil || len(file.Groups) == 0 {
		t.Fatalf("deploy/prometheus/studio-rules.yml: %v", err)
	}
	if got := pr.Spec.Groups[1:]; !reflect.DeepEqual(got, file.Groups) {
		t.Errorf("the PrometheusRule's default groups differ from deploy/prometheus/studio-rules.yml:\n got %+v\nwant %+v", got, file.Groups)
	}
}

// TestChartCopiesItsSources: the chart's files/ hold copies of the
// Prometheus rules and the Grafana dashboard (a chart can read no file
// outside its directory), equal to their sources.
func TestChartCopiesItsSources(t *testing.T) {
	for copyOf, src := range map[string]string{
		"files/studio-rules.yml":      "deploy/prometheus/studio-rules.yml",
		"files/studio-dashboard.json": "deploy/grafana/studio.json",
	} {
		a, err1 := os.ReadFile(filepath.Join(charttest.ChartDir(), copyOf))
		b, err2 := os.ReadFile(filepath.Join(repoRoot, src))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("deploy/helm/studio/%s differs from %s: cp %s deploy/helm/studio/%s", copyOf, src, src, copyOf)
		}
	}
}

// TestGrafanaDashboardConfigMap: with metrics.grafanaDashboard.enabled the
// dashboard is a ConfigMap the Grafana sidecar loads (grafana_dashboard:
// "1"), holding deploy/grafana/studio.json as it is.
func TestGrafanaDashboardConfigMap(t *testing.T) {
	objs, _ := render(t, charttest.Options{ValuesFiles: []string{ciFile("all-values.yaml")}})
	cm := objs.ConfigMap("studio-grafana-dashboard")
	if cm == nil {
		t.Fatalf("no studio-grafana-dashboard ConfigMap: %v", objs.Kinds)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "Studio" || cm.Labels["app.kubernetes.io/name"] != "studio" {
		t.Errorf("labels %v, annotations %v: want grafana_dashboard=1, the chart's labels and the folder annotation", cm.Labels, cm.Annotations)
	}
	want, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "studio.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["studio.json"] + "\n"; got != string(want) {
		t.Errorf("the ConfigMap's studio.json (%d bytes) is not deploy/grafana/studio.json (%d bytes)", len(got), len(want))
	}
	if !json.Valid([]byte(cm.Data["studio.json"])) {
		t.Error("studio.json is not JSON")
	}
}

// TestDefaultsRenderNoOptionalObjects: without the options, only the
// Deployment, Service and PodDisruptionBudget are rendered.
func TestDefaultsRenderNoOptionalObjects(t *testing.T) {
	objs, _ := render(t, charttest.Options{ValuesFiles: []string{ciFile("standalone-values.yaml")}})
	if !slices.Equal(objs.Kinds, []string{"PodDisruptionBudget", "Service", "Deployment"}) {
		t.Errorf("rendered %v, want a PodDisruptionBudget, a Service and a Deployment", objs.Kinds)
	}
	if sa := objs.Deployment.Spec.Template.Spec.ServiceAccountName; sa != "default" {
		t.Errorf("serviceAccountName %q, want default", sa)
	}
}

// TestOperatorObjectsNeedTheirAPI: a ServiceMonitor or PrometheusRule is
// rendered when the cluster serves its API (or assumeOperatorCRDs says
// so), and refused with a clear message otherwise.
func TestOperatorObjectsNeedTheirAPI(t *testing.T) {
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		key := map[string]string{"ServiceMonitor": "serviceMonitor", "PrometheusRule": "prometheusRule"}[kind]
		o := charttest.Options{ValuesFiles: []string{ciFile("sentinel-values.yaml")}, Set: []string{"metrics." + key + ".enabled=true"}}
		err := renderErr(t, o)
		if want := "the cluster does not serve monitoring.coreos.com/v1 " + kind; !strings.Contains(err.Error(), want) {
			t.Errorf("%s without its API: %v; want %q", kind, err, want)
		}
		o.APIVersions = []string{"monitoring.coreos.com/v1/" + kind}
		objs, _ := render(t, o)
		if (kind == "ServiceMonitor") != (objs.ServiceMonitor != nil) || (kind == "PrometheusRule") != (objs.PrometheusRule != nil) {
			t.Errorf("with the API served, rendered %v", objs.Kinds)
		}
	}
}

// TestAlertRules: inline rules (text or mapping) become a ConfigMap Studio
// accepts, and a change of them changes the pods' checksum annotation, so
// a rollout restarts Studio to read them; an existing ConfigMap is mounted
// as is; without either Studio uses its built-in rules.
func TestAlertRules(t *testing.T) {
	base := []string{ciFile("sentinel-values.yaml")}
	checksum := func(objs *charttest.Objects) string {
		return objs.Deployment.Spec.Template.Annotations["checksum/alert-rules"]
	}
	text := func(threshold string) string {
		return "alerting:\n  rules: |\n    rules:\n      - name: Slow\n        expr: latency_p99_ms > " + threshold + "\n        for: 1m\n        severity: warning\n        summary: slow\n"
	}
	a, _ := render(t, charttest.Options{ValuesFiles: base, Values: []string{text("20")}})
	b, _ := render(t, charttest.Options{ValuesFiles: base, Values: []string{text("30")}})
	mapping, _ := render(t, charttest.Options{ValuesFiles: base, Values: []string{
		"alerting:\n  rules:\n    rules:\n      - {name: Slow, expr: latency_p99_ms > 20, for: 1m, severity: warning, summary: slow}\n"}})
	for _, objs := range []*charttest.Objects{a, b, mapping} {
		cm := objs.ConfigMap("studio-alert-rules")
		if cm == nil {
			t.Fatalf("no alert-rules ConfigMap: %v", objs.Kinds)
		}
		if _, err := alert.Load("rules.yaml", []byte(cm.Data["rules.yaml"])); err != nil {
			t.Errorf("Studio refuses the rule file: %v\n%s", err, cm.Data["rules.yaml"])
		}
	}
	if checksum(a) == "" || checksum(a) == checksum(b) {
		t.Errorf("checksums %q and %q: a change of rules must change the pod template", checksum(a), checksum(b))
	}

	ext, _ := render(t, charttest.Options{ValuesFiles: base, Values: []string{"alerting:\n  existingConfigMap:\n    name: team-rules\n    key: studio.yaml\n"}})
	if kind, name, key := fileSource(ext, envVar(ext, "STUDIO_ALERT_RULES").Value); kind != "configmap" || name != "team-rules" || key != "studio.yaml" || len(ext.ConfigMaps) != 0 {
		t.Errorf("existing ConfigMap: STUDIO_ALERT_RULES from %s %s/%s, %d ConfigMaps rendered", kind, name, key, len(ext.ConfigMaps))
	}

	none, _ := render(t, charttest.Options{ValuesFiles: base})
	if envVar(none, "STUDIO_ALERT_RULES") != nil || volume(none, "alert-rules") != nil || len(none.ConfigMaps) != 0 {
		t.Error("without rules, STUDIO_ALERT_RULES, a volume or a ConfigMap is rendered")
	}
}
