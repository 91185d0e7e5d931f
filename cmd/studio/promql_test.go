package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promqlWords are the PromQL keywords, modifiers and aggregations that look
// like identifiers but name no metric.
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "start": true, "end": true,
	"inf": true, "nan": true, "atan2": true,
	// Aggregations, which a by/without clause may separate from their "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListWords are followed by a parenthesised list of label names.
var labelListWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlMetricNames returns the metric names a PromQL expression selects,
// sorted, each once: the identifiers that are not functions (followed by
// "("), keywords, label names (inside {…} or a by/without/on/ignoring/
// group_* list), strings, numbers, durations ([…]) or Grafana variables
// ($name, ${name}). Unbalanced brackets or an unterminated string are an
// error. It is a tokenizer for the expressions of Studio's rule file and
// dashboard, not a PromQL parser.
func promqlMetricNames(expr string) ([]string, error) {
	var names, stack []string
	closer := map[byte]byte{'(': ')', '{': '}', '[': ']'}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	inside := func(b byte) bool { return len(stack) > 0 && stack[len(stack)-1] == string(b) }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			i = j + 1
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, string(closer[c]))
			i++
		case c == ')' || c == '}' || c == ']':
			if !inside(c) {
				return nil, fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				end := strings.IndexByte(expr[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("unterminated ${ at offset %d", i-1)
				}
				i += end + 1
				continue
			}
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.' || expr[i] == '+' && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word, next := expr[i:j], skipSpace(j)
			i = j
			switch {
			case inside('}') || inside(']'):
				// a label name, or a duration's unit
			case labelListWords[word] && next < len(expr) && expr[next] == '(':
				end := strings.IndexByte(expr[next:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unterminated %s( at offset %d", word, next)
				}
				i = next + end + 1
			case promqlWords[strings.ToLower(word)], next < len(expr) && expr[next] == '(':
				// a keyword, or a function or aggregation
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		default:
			i++
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unclosed: missing %s", strings.Join(stack, ""))
	}
	if len(names) == 0 {
		return nil, errors.New("no metric name")
	}
	slices.Sort(names)
	return names, nil
}

func TestPromqlMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string // comma-separated
	}{
		{`redis_up == 0`, "redis_up"},
		{`increase(studio_alert_notifications_total{result=~"failed|dropped"}[15m]) > 0`, "studio_alert_notifications_total"},
		{`sum without (result, tier) (rate(a_total{tier=~"l1|redis"}[5m])) / sum by (instance) (rate(b_total[5m])) < 0.8 and c >= 100`, "a_total,b_total,c"},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket{outcome!~"x|y"}[$__rate_interval]))) * 1e3`, "h_bucket"},
		{`label_replace(x{conn="data"}, "cert", "client", "", "") / 86400 < 14 or y offset 5m`, "x,y"},
		{`a / on (addr) group_left (role) b{instance=~"$instance"} * ignoring(x) c`, "a,b,c"},
		{`max(m{instance=~"${instance}"}) by (addr)`, "m"},
		{`sum(rate(s{route="GET /{unmatched}"}[1m]))`, "s"},
		{"a\n  and\n  b unless c", "a,b,c"},
		{`x:recorded:rate5m > bool 0.5`, "x:recorded:rate5m"},
	} {
		got, err := promqlMetricNames(tc.expr)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("promqlMetricNames(%q) = %v, %v; want %s", tc.expr, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ expr, err string }{
		{`a{b="c}`, "unterminated string"},
		{`rate(a[5m]`, "unclosed: missing )"},
		{`a)`, "unbalanced ')'"},
		{`a{b="c"]`, "unbalanced ']'"},
		{`sum by (x`, "unterminated by("},
		{`a{instance="${x"}`, ""},
		{`rate(x{a="${inst"}[5m]) + ${y`, "unterminated ${"},
		{`1 + 2`, "no metric name"},
		{``, "no metric name"},
	} {
		_, err := promqlMetricNames(tc.expr)
		if tc.err == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("promqlMetricNames(%q): error %v, want one containing %q", tc.expr, err, tc.err)
		}
	}
}

// TestPrometheusRuleMetricsExported: every metric the Prometheus rules of
// deploy/prometheus name is one /metrics exports.
func TestPrometheusRuleMetricsExported(t *testing.T) {
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(mustRead(t, "../../deploy/prometheus/studio-rules.yml"), &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			ns, err := promqlMetricNames(r.Expr)
			if err != nil {
				t.Fatalf("rule %s: %v", r.Alert, err)
			}
			names = append(names, ns...)
		}
	}
	if len(names) < 15 {
		t.Fatalf("only %d metric names in the rules", len(names))
	}
	checkExported(t, "deploy/prometheus/studio-rules.yml", names, families(t, metricsOfStudio(t).text))
}
