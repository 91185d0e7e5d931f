package helm

import (
	"github.com/studiohq/studio/internal/charttest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// studioSettings are the environment variables Studio reads, gathered
// from the source rather than listed by hand.
type studioSettings struct {
	config map[string]bool // {env: "NAME", …} specs in cmd/studio/config.go
	secret []string        // those declared secret (the add's last argument)
	files  map[string]bool // NAME_FILE of each secret setting
	readme map[string]bool // the first column of README.md's Settings table
	prefix []string        // README wildcards such as OTEL_*
	otel   map[string]bool // OTEL_* names telemetry/ reads
}

var (
	specLine  = regexp.MustCompile(`(?m)^\s*\{env: "([A-Z][A-Z0-9_]*)", flag: "[^"]*"(?:, def: "[^"]*")?(, secret: true)?`)
	otelName  = regexp.MustCompile(`"(OTEL_[A-Z0-9_]+[A-Z0-9])"`)
	tableName = regexp.MustCompile("`([A-Z][A-Z0-9_]*)(\\*?)`")
)

func readStudioSettings(t *testing.T) studioSettings {
	t.Helper()
	s := studioSettings{config: map[string]bool{}, files: map[string]bool{}, readme: map[string]bool{}, otel: map[string]bool{}}
	src, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "studio", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range specLine.FindAllStringSubmatch(string(src), -1) {
		s.config[m[1]] = true
		if m[2] != "" {
			s.secret = append(s.secret, m[1])
		}
	}
	// A change in how config.go declares settings must fail here, not
	// make every name look unknown or every check pass.
	if len(s.config) < 30 || !s.config["STUDIO_ADDR"] || len(s.secret) < 5 {
		t.Fatalf("found %d settings (%d secret) in cmd/studio/config.go's setting specs; the pattern no longer matches how settings are declared", len(s.config), len(s.secret))
	}

	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Settings\n")
	if !ok {
		t.Fatal("README.md has no Settings section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range tableName.FindAllStringSubmatch(cells[1], -1) {
			if m[2] == "*" {
				s.prefix = append(s.prefix, m[1])
			} else {
				s.readme[m[1]] = true
			}
		}
	}
	if len(s.readme) < 30 {
		t.Fatalf("found only %d names in README.md's Settings table", len(s.readme))
	}

	files, _ := filepath.Glob(filepath.Join(repoRoot, "telemetry", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range otelName.FindAllStringSubmatch(string(b), -1) {
			s.otel[m[1]] = true
		}
	}
	if !s.otel["OTEL_TRACES_EXPORTER"] {
		t.Fatal("telemetry/ no longer names OTEL_TRACES_EXPORTER; the pattern needs updating")
	}

	// Every secret setting is also read from the file NAME_FILE names.
	reader, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "studio", "settings.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reader), `s.env+"_FILE")`) {
		t.Fatal(`cmd/studio/settings.go no longer reads NAME_FILE for secret settings (s.env+"_FILE"); the chart passes secrets that way`)
	}
	for _, name := range s.secret {
		s.files[name+"_FILE"] = true
	}
	return s
}

// known reports whether Studio reads name.
func (s studioSettings) known(name string) bool {
	if strings.HasPrefix(name, "OTEL_") {
		return s.otel[name] && slices.Contains(s.prefix, "OTEL_")
	}
	return s.config[name] || s.files[name] || s.readme[name]
}

// chartSecretSettings are the settings the chart takes from Secrets.
var chartSecretSettings = []string{"STUDIO_ADMIN_TOKEN", "REDIS_URL", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD",
	"DATABASE_URL", "PAGERDUTY_ROUTING_KEY", "SLACK_WEBHOOK_URL"}

// TestChartCoversStudioSecrets: every setting Studio declares secret has
// a Secret reference in the chart; a new one must be added to the chart
// (values, secretRefs in _helpers.tpl) before it can be deployed safely.
func TestChartCoversStudioSecrets(t *testing.T) {
	s := readStudioSettings(t)
	for _, name := range s.secret {
		if !slices.Contains(chartSecretSettings, name) {
			t.Errorf("cmd/studio/config.go declares %s secret, and the chart has no Secret reference for it", name)
		}
	}
	for _, name := range chartSecretSettings {
		if !slices.Contains(s.secret, name) {
			t.Errorf("the chart treats %s as a secret; cmd/studio/config.go no longer declares it secret", name)
		}
	}
}

// chartLeavesToExtraEnv are the settings the chart has no value for, each
// with the reason; extraEnv sets them when a deployment needs one.
var chartLeavesToExtraEnv = map[string]string{
	"STUDIO_TLS_CERT_FILE":           "TLS to clients terminates at the Service's load balancer or the Ingress; native HTTPS needs a mounted Secret (extraEnv and your own volume)",
	"STUDIO_TLS_KEY_FILE":            "as STUDIO_TLS_CERT_FILE",
	"REDIS_TLS_INSECURE_SKIP_VERIFY": "turning certificate checks off is not offered as a value on purpose",
}

// TestChartSetsEveryStudioSetting: every setting Studio reads is either
// set by the chart in one of the example values files (from a value or
// from the chart's own wiring) or listed in chartLeavesToExtraEnv with the
// reason, so a new setting cannot be forgotten by the chart silently.
func TestChartSetsEveryStudioSetting(t *testing.T) {
	s := readStudioSettings(t)
	set := map[string]bool{}
	for _, tc := range modeCases {
		objs, _ := render(t, charttest.Options{ValuesFiles: []string{ciFile(tc.file)}})
		for _, e := range objs.Container("studio").Env {
			set[e.Name] = true
			if s.files[e.Name] { // NAME_FILE of a secret setting
				set[strings.TrimSuffix(e.Name, "_FILE")] = true
			}
		}
	}
	for name := range s.config {
		_, left := chartLeavesToExtraEnv[name]
		switch {
		case set[name] && left:
			t.Errorf("%s is set by the chart and also listed in chartLeavesToExtraEnv; drop it from the list", name)
		case !set[name] && !left:
			t.Errorf("Studio reads %s and no example values file makes the chart set it: add a value (values.yaml, values.schema.json, _helpers.tpl, README, ci/all-values.yaml) or list it in chartLeavesToExtraEnv with the reason", name)
		}
	}
	for name := range chartLeavesToExtraEnv {
		if !s.config[name] {
			t.Errorf("chartLeavesToExtraEnv lists %s, which Studio no longer reads", name)
		}
	}
}
