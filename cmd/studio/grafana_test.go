package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/studiohq/studio/internal/promtool"
)

// grafanaPanel is the part of a Grafana panel the tests read.
type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr     string `json:"expr"`
		Exemplar bool   `json:"exemplar"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a row's
}

// grafanaDashboard is the part of a dashboard model the tests read.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			IncludeAll bool            `json:"includeAll"`
			Multi      bool            `json:"multi"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValues reads Grafana's label_values(selector, label) query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// TestGrafanaDashboard: deploy/grafana/studio.json is a current-schema
// dashboard with a Prometheus data-source variable and an $instance
// variable, the panels the Studio page has, every query on the chosen data
// source and instances, and every metric its queries name exported by a
// running Studio's /metrics.
func TestGrafanaDashboard(t *testing.T) {
	raw := mustRead(t, "../../deploy/grafana/studio.json")
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("deploy/grafana/studio.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 39 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and schemaVersion 39 or later", d.UID, d.Title, d.SchemaVersion)
	}

	var names []string
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name != "instance" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil || !v.Multi || !v.IncludeAll {
			t.Errorf("$instance: query %s (%v), multi %v, includeAll %v", v.Query, err, v.Multi, v.IncludeAll)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil || m[2] != "instance" {
			t.Errorf("$instance: query %q is not label_values(…, instance)", q.Query)
			continue
		}
		ns, err := promqlMetricNames(m[1])
		if err != nil {
			t.Errorf("$instance: %v", err)
		}
		names = append(names, ns...)
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("variables %v: want datasource (a data-source variable) and instance (a query)", vars)
	}

	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	ids := map[int]bool{}
	var titles []string
	for _, p := range panels {
		if ids[p.ID] || p.ID == 0 || p.GridPos == nil || p.GridPos.W == 0 {
			t.Errorf("panel %q: id %d (unique, not 0) and a gridPos are needed", p.Title, p.ID)
		}
		ids[p.ID] = true
		titles = append(titles, strings.ToLower(p.Title))
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want queries on ${datasource}", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q is not limited to $instance", p.Title, q.Expr)
			}
			ns, err := promqlMetricNames(q.Expr)
			if err != nil {
				t.Errorf("panel %q: %q: %v", p.Title, q.Expr, err)
				continue
			}
			names = append(names, ns...)
			if strings.Contains(q.Expr, "_duration_seconds_bucket") && !q.Exemplar {
				t.Errorf("panel %q: latency query %q without exemplars", p.Title, q.Expr)
			}
		}
	}
	for _, want := range []string{"hit rate by tier", "p50 / p95 / p99", "throughput", "errors", "circuit breaker",
		"memory", "evictions", "clients", "pool", "hot keys", "alerts"} {
		if !slices.ContainsFunc(titles, func(title string) bool { return strings.Contains(title, want) }) {
			t.Errorf("no panel titled like %q; panels %q", want, titles)
		}
	}
	checkExported(t, "deploy/grafana/studio.json", names, families(t, metricsOfStudio(t).text))
}

// TestGrafanaDashboardPromQL: every query of the dashboard is PromQL that
// Prometheus parses, once Grafana's variables are replaced by values:
// promtool check rules on a rule file recording each query.
func TestGrafanaDashboardPromQL(t *testing.T) {
	if _, err := promtool.Path(); err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(mustRead(t, "../../deploy/grafana/studio.json"), &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, p := range append([]grafanaPanel{p}, p.Panels...) {
			for _, q := range p.Targets {
				n++
				expr, _ := json.Marshal(vars.Replace(q.Expr))
				fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", n, expr)
			}
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := promtool.Run(t.Context(), dir, nil, "check", "rules", "dashboard.yml"); err != nil {
		t.Fatalf("a dashboard query is not PromQL: %v", err)
	}
	if n < 20 {
		t.Fatalf("only %d queries", n)
	}
}
