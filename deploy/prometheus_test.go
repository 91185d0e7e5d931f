package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/studiohq/studio/alert/config"
	"github.com/studiohq/studio/internal/promtool"
)

// The Prometheus rules and their promtool unit tests.
const (
	promRulesFile     = "deploy/prometheus/studio-rules.yml"
	promRulesTestFile = "deploy/prometheus/studio-rules_test.yml"
	// runbookBase is what the rules' runbook_url start with: the runbooks
	// of docs/runbooks on GitHub.
	runbookBase = "https://github.com/studiohq/studio/blob/main/"
)

// prometheusOnly are the Prometheus rules with no rule of Studio's own
// engine, each with the reason.
var prometheusOnly = map[string]string{
	"StudioAlertNotificationsFailing": "Studio cannot page about its own pager failing",
}

// promRuleFile is a Prometheus rule file, decoded strictly: a field
// outside these is an error.
type promRuleFile struct {
	Groups []struct {
		Name     string     `yaml:"name"`
		Interval string     `yaml:"interval"`
		Rules    []promRule `yaml:"rules"`
	} `yaml:"groups"`
}

type promRule struct {
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// decodePromRules decodes a Prometheus rule file strictly and returns its
// alerting rules by name; a rule without a name or a name used twice is an
// error.
func decodePromRules(b []byte) (map[string]promRule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f promRuleFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	rules := map[string]promRule{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				return nil, fmt.Errorf("group %s: a rule without alert", g.Name)
			}
			if _, dup := rules[r.Alert]; dup {
				return nil, fmt.Errorf("alert %s twice", r.Alert)
			}
			rules[r.Alert] = r
		}
	}
	return rules, nil
}

// promDuration parses a rule's for or keep_firing_for; "" is 0.
func promDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// TestPrometheusRulesMatchEmbedded: deploy/prometheus/studio-rules.yml and
// the embedded default rules cannot drift apart. Every embedded rule has
// a Prometheus rule of its name with its severity, for, keep_firing_for
// and runbook; a sample rule's expression compares with the same operator
// and number, an event rule's looks back over its hold. Every Prometheus
// rule is an embedded one or listed in prometheusOnly.
func TestPrometheusRulesMatchEmbedded(t *testing.T) {
	prom, err := decodePromRules(repoFile(t, promRulesFile))
	if err != nil {
		t.Fatalf("%s: %v", promRulesFile, err)
	}
	embedded := config.Default().Rules
	if len(embedded) < 10 {
		t.Fatalf("only %d embedded rules", len(embedded))
	}
	for _, r := range embedded {
		p, ok := prom[r.Name]
		if !ok {
			t.Errorf("%s: embedded rule %s has no Prometheus rule", promRulesFile, r.Name)
			continue
		}
		if got := p.Labels["severity"]; got != string(r.Severity) {
			t.Errorf("%s: severity %q, embedded %q", r.Name, got, r.Severity)
		}
		for _, d := range []struct {
			field string
			prom  string
			want  time.Duration
		}{{"for", p.For, r.For}, {"keep_firing_for", p.KeepFiringFor, r.KeepFiringFor}} {
			if got, err := promDuration(d.prom); err != nil || got != d.want {
				t.Errorf("%s: %s %q (%v), embedded %v", r.Name, d.field, d.prom, err, d.want)
			}
		}
		if got, want := p.Annotations["runbook_url"], runbookBase+r.RunbookURL; got != want {
			t.Errorf("%s: runbook_url %q, want %q (the embedded rule's)", r.Name, got, want)
		}
		switch {
		case r.Expr != nil:
			th := strconv.FormatFloat(r.Expr.Threshold, 'g', -1, 64)
			if !comparesWith(p.Expr, string(r.Expr.Op), th) {
				t.Errorf("%s: expression %q does not compare with %s %s as the embedded %s does", r.Name, p.Expr, r.Expr.Op, th, r.Expr)
			}
		case r.Event != nil:
			hold := "[" + model.Duration(r.Hold).String() + "]"
			if !strings.Contains(p.Expr, hold) || !comparesWith(p.Expr, ">", "0") {
				t.Errorf("%s: expression %q does not count events over the hold %s (> 0)", r.Name, p.Expr, hold)
			}
		}
	}
	for name := range prom {
		if !slices.ContainsFunc(embedded, func(r *config.Rule) bool { return r.Name == name }) && prometheusOnly[name] == "" {
			t.Errorf("%s: %s is no embedded rule and not in prometheusOnly", promRulesFile, name)
		}
	}
}

// comparesWith reports whether expr has the comparison op number, with no
// other operator character before op and no digit or dot after number.
func comparesWith(expr, op, number string) bool {
	re := regexp.MustCompile(`(^|[^<>=!])` + regexp.QuoteMeta(op) + `\s*` + regexp.QuoteMeta(number) + `([^0-9.]|$)`)
	return re.MatchString(expr)
}

func TestComparesWith(t *testing.T) {
	for _, tc := range []struct {
		expr, op, number string
		want             bool
	}{
		{"redis_up == 0", "==", "0", true},
		{"a / (b > 0) > 0.9", ">", "0.9", true},
		{"a / (b > 0) > 0.95", ">", "0.9", false},
		{"a > 0.9", ">", "0", false},
		{"a >= 14", ">", "14", false},
		{"a <= 14", "<", "14", false},
		{"a < 14 or b < 14", "<", "14", true},
		{"a < 140", "<", "14", false},
		{"a != 1", "==", "1", false},
		{"a\n  > 50\nand b", ">", "50", true},
	} {
		if got := comparesWith(tc.expr, tc.op, tc.number); got != tc.want {
			t.Errorf("comparesWith(%q, %s, %s) = %v", tc.expr, tc.op, tc.number, got)
		}
	}
}

// TestPrometheusRulesDecodeBadInput: the strict decoding refuses what
// Prometheus would not load or what the drift check cannot read.
func TestPrometheusRulesDecodeBadInput(t *testing.T) {
	for _, tc := range []struct{ name, yaml, err string }{
		{"unknown field", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severty: x\n", "field severty not found"},
		{"no alert name", "groups:\n  - name: g\n    rules:\n      - expr: up\n", "a rule without alert"},
		{"alert twice", "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up}\n      - {alert: A, expr: up}\n", "alert A twice"},
		{"not a list", "groups: {name: g}\n", "cannot unmarshal"},
	} {
		if _, err := decodePromRules([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
		}
	}
	for _, s := range []string{"1h", "nonsense", "-5m"} {
		if s == "1h" {
			if d, err := promDuration(s); err != nil || d != time.Hour {
				t.Errorf("promDuration(%q) = %v, %v", s, d, err)
			}
			continue
		}
		if _, err := promDuration(s); err == nil {
			t.Errorf("promDuration(%q): no error", s)
		}
	}
}

// TestPrometheusRulesRunbooks: every rule links its runbook, a file of
// docs/runbooks (the ones Studio serves), with a severity Alertmanager
// routes on and a summary.
func TestPrometheusRulesRunbooks(t *testing.T) {
	prom, err := decodePromRules(repoFile(t, promRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range prom {
		page, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase+"docs/runbooks/")
		if !ok || page == "" || strings.Contains(page, "/") {
			t.Errorf("%s: runbook_url %q is not %sdocs/runbooks/<page>", name, r.Annotations["runbook_url"], runbookBase)
			continue
		}
		if _, err := os.Stat(filepath.Join("..", "docs", "runbooks", page)); err != nil {
			t.Errorf("%s: runbook %s: %v", name, page, err)
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) || r.Annotations["summary"] == "" {
			t.Errorf("%s: severity %q, summary %q", name, r.Labels["severity"], r.Annotations["summary"])
		}
	}
}

// TestPrometheusRulesPromtool: promtool accepts the rule file (check
// rules) and its unit tests pass (test rules), among them the first
// failed notification.
func TestPrometheusRulesPromtool(t *testing.T) {
	if _, err := promtool.Path(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", filepath.Dir(promRulesFile))
	if out, err := promtool.Run(t.Context(), dir, nil, "check", "rules", filepath.Base(promRulesFile)); err != nil {
		t.Error(err)
	} else if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	test := repoFile(t, promRulesTestFile)
	if !strings.Contains(string(test), "StudioAlertNotificationsFailing") {
		t.Errorf("%s does not test the first failed notification", promRulesTestFile)
	}
	if out, err := promtool.Run(t.Context(), dir, nil, "test", "rules", filepath.Base(promRulesTestFile)); err != nil {
		t.Error(err)
	} else if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}
