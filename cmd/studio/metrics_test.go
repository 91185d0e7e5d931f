package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/studiohq/studio/internal/promtool"
	"github.com/studiohq/studio/internal/receivertest"
	"github.com/studiohq/studio/internal/redistest"
)

// studioScrapes are the /metrics answers of one `studio serve` in Sentinel
// mode (a master, two replicas, three Sentinels) with a Slack and a
// PagerDuty receiver and OTLP export, so that every metric family but the
// TLS ones and a polled replica's shows.
type studioScrapes struct {
	// fresh is the text format right after start-up, before any request.
	fresh string
	// text and openMetrics are the two formats after some traffic: a
	// create, validations (one traced), a malformed token, a revoke, a 404
	// and a 405.
	text, openMetrics string
	// traceID is the traced validation's trace id.
	traceID string
}

var (
	scrapesOnce sync.Once
	scrapes     *studioScrapes
)

// metricsOfStudio returns the scrapes, running Studio the first time a
// test asks (it is stopped before that test ends).
func metricsOfStudio(t *testing.T) *studioScrapes {
	t.Helper()
	scrapesOnce.Do(func() { scrapes = runForScrapes(t) })
	if scrapes == nil {
		t.Fatal("the studio serve run that the metrics tests scrape failed: see the first of them that ran")
	}
	return scrapes
}

// conditionalMetrics are the documented families a Sentinel-mode run does
// not export, each with the condition it needs.
var conditionalMetrics = map[string]string{
	"studio_redis_tls_rotations_total":             "TLS to Redis (REDIS_TLS_*)",
	"studio_redis_tls_client_cert_expiry_seconds":  "TLS to Redis with a client certificate",
	"studio_redis_tls_server_cert_expiry_seconds":  "TLS to Redis",
	"redis_master_link_up":                         "a polled replica (standalone mode, REDIS_URL naming a replica)",
	"studio_redis_last_failover_write_gap_seconds": "a failover seen",
}

func runForScrapes(t *testing.T) *studioScrapes {
	topo := redistest.StartSentinel(t)
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	pd, sl := receivertest.NewPagerDuty(t), receivertest.NewSlack(t)
	const admin = "metrics-admin-282b92eff722e716cdbb08c3ea955873aed09a7917595d97"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":          admin,
		"REDIS_SENTINELS":             strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME":           topo.MasterName(),
		"DATABASE_URL":                "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_MONITOR_INTERVAL":     "200ms",
		"PAGERDUTY_ROUTING_KEY":       "0123456789abcdef0123456789abcdef",
		"PAGERDUTY_EVENTS_URL":        pd.URL(),
		"SLACK_WEBHOOK_URL":           sl.URL(),
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
	})
	get := func(accept string) string {
		t.Helper()
		var hdr []string
		if accept != "" {
			hdr = []string{"Accept", accept}
		}
		code, body := send(t, "GET", srv.base+"/metrics", "", "", hdr...)
		if code != 200 {
			t.Fatalf("GET /metrics: %d %s", code, body)
		}
		return body
	}
	s := &studioScrapes{fresh: get(""), traceID: "4bf92f3577b34da6a3ce929d0e0e4736"}

	tok := createToken(t, srv.base, admin, "metrics-user")
	if code, body := send(t, "GET", srv.base+"/v1/session", tok, "", "traceparent", "00-"+s.traceID+"-00f067aa0ba902b7-01"); code != 200 {
		t.Fatalf("validate: %d %s", code, body)
	}
	send(t, "GET", srv.base+"/v1/session", "stu_garbage", "")
	send(t, "GET", srv.base+"/nope", "", "")
	send(t, "PATCH", srv.base+"/v1/session", tok, "")
	if code, _ := send(t, "DELETE", srv.base+"/v1/session", tok, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	// Wait for the figures that need a poll of each kind after the
	// traffic (the master's INFO with its replicas and keys, every
	// Sentinel's view) and the start-up warm run's end (its store reads).
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.text = get("")
		fams := families(t, s.text)
		warmed, _ := series(fams, "studio_cache_warm_finished_runs_total", "outcome=ok")
		if fams["redis_connected_slave_lag_seconds"] != nil && len(fams["redis_sentinel_master_ok_sentinels"].GetMetric()) == 3 &&
			fams["redis_db_keys"] != nil && warmed > 0 && strings.Contains(s.text, "\nredis_up 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Sentinel topology never showed in /metrics:\n%s", s.text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.openMetrics = get("application/openmetrics-text; version=1.0.0")
	cancel()
	select {
	case code := <-srv.done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, srv.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	return s
}

// families parses a text-format exposition.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	return fams
}

// series returns the value of the series of name whose labels include
// every pair of labels (name=value, …), and whether there is one.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := fams[name]
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
		return 0, true
	}
	return 0, false
}

// TestMetricsPromtoolClean: /metrics is clean in both formats. The text
// format passes `promtool check metrics` (its parser and lint). That
// command reads only the text format, so the OpenMetrics answer, with its
// exemplars, goes through Prometheus's own OpenMetrics parser, which
// `promtool tsdb create-blocks-from openmetrics` runs (it wants a
// timestamp on every sample: the test adds one), and its family names
// must be unique, as OpenMetrics requires.
func TestMetricsPromtoolClean(t *testing.T) {
	if _, err := promtool.Path(); err != nil {
		t.Fatal(err)
	}
	s := metricsOfStudio(t)
	if err := promtool.CheckMetrics(t.Context(), []byte(s.text)); err != nil {
		t.Errorf("text format: %v", err)
	}

	om := s.openMetrics
	if !strings.Contains(om, `trace_id="`+s.traceID+`"`) || !strings.HasSuffix(om, "# EOF\n") {
		t.Fatalf("the OpenMetrics scrape has no exemplar of the traced request:\n%s", om)
	}
	families := map[string]bool{}
	var stamped strings.Builder
	samples := 0
	for _, line := range strings.Split(strings.TrimSuffix(om, "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if families[name] {
				t.Errorf("OpenMetrics: family %s twice", name)
			}
			families[name] = true
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			sample, exemplar, _ := strings.Cut(line, " # {")
			line = sample + " 1700000000"
			if exemplar != "" {
				line += " # {" + exemplar
			}
			samples++
		}
		stamped.WriteString(line + "\n")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "metrics.om")
	if err := os.WriteFile(in, []byte(stamped.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool.Run(t.Context(), dir, nil, "tsdb", "create-blocks-from", "openmetrics", in, filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatalf("Prometheus's OpenMetrics parser refuses /metrics: %v", err)
	}
	if !strings.Contains(out, strconv.Itoa(samples)) {
		t.Errorf("promtool ingested other than the %d samples of the scrape:\n%s", samples, out)
	}
}

// TestCountersStartAtZero: right after start-up, before any request, the
// counters whose label values are known in advance already have every
// series, at 0, so that rate() and increase() see their first event.
func TestCountersStartAtZero(t *testing.T) {
	fams := families(t, metricsOfStudio(t).fresh)
	var want [][]string // name, label=value…
	for _, rcv := range []string{"pagerduty", "slack"} {
		for _, res := range []string{"sent", "failed", "dropped", "deduplicated"} {
			want = append(want, []string{"studio_alert_notifications_total", "receiver=" + rcv, "result=" + res})
		}
		want = append(want, []string{"studio_alert_notification_retries_total", "receiver=" + rcv})
	}
	for _, to := range []string{"closed", "open", "half-open"} {
		want = append(want, []string{"studio_redis_circuit_breaker_transitions_total", "to=" + to})
	}
	for _, o := range []string{"timeout", "network", "breaker_open", "canceled"} {
		want = append(want, []string{"studio_redis_commands_total", "outcome=" + o})
	}
	for _, r := range []string{"valid", "not_found", "revoked", "expired", "idle", "error"} {
		for _, tier := range []string{"l1", "redis", "store"} {
			want = append(want, []string{"studio_session_validations_total", "result=" + r, "tier=" + tier})
		}
	}
	want = append(want, []string{"studio_session_validations_total", "result=malformed", "tier=none"})
	for _, r := range []string{"error"} {
		want = append(want, []string{"studio_cache_warm_sessions_total", "result=" + r})
	}
	want = append(want, []string{"studio_cache_warm_finished_runs_total", "outcome=failed"},
		[]string{"studio_hotkey_threshold_events_total", "scope=local"}, []string{"studio_hotkey_threshold_events_total", "scope=global"},
		[]string{"studio_hotkey_publishes_total", "outcome=dropped"},
		[]string{"studio_sentinel_events_total", "event=+switch-master"}, []string{"studio_sentinel_events_total", "event=+tilt"},
		[]string{"studio_redis_failovers_total"})
	for _, w := range want {
		if v, ok := series(fams, w[0], w[1:]...); !ok || v != 0 {
			t.Errorf("%s%v = %v (present %v), want a series at 0 from start-up", w[0], w[1:], v, ok)
		}
	}
	if _, ok := series(fams, "studio_redis_commands_total", "outcome=ok"); !ok {
		t.Error(`studio_redis_commands_total{outcome="ok"} is missing`)
	}
}

// TestBuildInfo: studio_build_info names the build's version, VCS revision
// and Go version.
func TestBuildInfo(t *testing.T) {
	fams := families(t, metricsOfStudio(t).text)
	mf := fams["studio_build_info"]
	if len(mf.GetMetric()) != 1 {
		t.Fatalf("studio_build_info: %v", mf)
	}
	got := map[string]string{}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if _, ok := got["revision"]; !ok || got["revision"] != vcsRevision() || got["version"] != version || len(got) != 3 || got["goversion"] == "" {
		t.Errorf("studio_build_info labels %v, want version %q, revision %q and goversion", got, version, vcsRevision())
	}
}

// exportedNames returns the metric names a scrape exports: each family's
// name, and for histograms and summaries the series names
// (_bucket, _sum, _count).
func exportedNames(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, mf := range fams {
		out[name] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = true, true
		}
	}
	return out
}

// checkExported fails the test for each name of names that the scrape
// does not export and conditionalMetrics does not excuse.
func checkExported(t *testing.T, what string, names []string, fams map[string]*dto.MetricFamily) {
	t.Helper()
	exported := exportedNames(fams)
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if exported[n] || conditionalMetrics[n] != "" || conditionalMetrics[base] != "" {
			continue
		}
		t.Errorf("%s names %s, which /metrics does not export", what, n)
	}
}

var docMetricName = regexp.MustCompile("`([a-z_:][a-z0-9_:]*\\*?)`")

// TestMetricsDocumented: docs/METRICS.md has a row for every metric family
// /metrics exports, whose labels column names each of its labels, and
// whose row names each value of the labels with a fixed set of values;
// and every metric it documents is exported (or needs a condition this run
// does not meet, listed in conditionalMetrics).
func TestMetricsDocumented(t *testing.T) {
	rows := documentedMetrics(t)
	fams := families(t, metricsOfStudio(t).text)
	var documented []string
	for name := range rows {
		if !strings.HasSuffix(name, "*") {
			documented = append(documented, name)
		}
	}
	slices.Sort(documented)
	checkExported(t, "docs/METRICS.md", documented, fams)
	for name, mf := range fams {
		row, ok := rows[name]
		if !ok {
			for pattern, r := range rows {
				if p, glob := strings.CutSuffix(pattern, "*"); glob && strings.HasPrefix(name, p) {
					row, ok = r, true
				}
			}
			if ok {
				continue // go_*, process_*: the standard collectors
			}
			t.Errorf("docs/METRICS.md has no row for %s (%s)", name, mf.GetHelp())
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !strings.Contains(row.labels, "`"+l.GetName()+"`") {
					t.Errorf("docs/METRICS.md: %s: label %s is not in the labels column (%q)", name, l.GetName(), row.labels)
				}
				if enumeratedLabels[l.GetName()] && !strings.Contains(row.text, "`"+l.GetValue()+"`") {
					t.Errorf("docs/METRICS.md: %s: %s=%q is not in its row", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// enumeratedLabels are the labels whose values are a fixed set, each of
// which METRICS.md names in the metric's row.
var enumeratedLabels = map[string]bool{
	"outcome": true, "result": true, "tier": true, "state": true, "operation": true, "stage": true,
	"to": true, "scope": true, "role": true, "master_status": true, "redis_mode": true, "conn": true,
}

// docRow is a metric's row of docs/METRICS.md: its labels column and the
// whole row.
type docRow struct{ labels, text string }

// documentedMetrics reads the metric tables of docs/METRICS.md: every
// metric name in backquotes in a row's first column (a trailing * makes
// it a prefix).
func documentedMetrics(t *testing.T) map[string]docRow {
	t.Helper()
	text := string(mustRead(t, "../../docs/METRICS.md"))
	rows := map[string]docRow{}
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		if len(cells) < 6 { // | metric | type | labels | meaning |
			t.Errorf("docs/METRICS.md: a metric row without type, labels and meaning: %s", line)
			continue
		}
		labels := cells[3]
		for _, m := range docMetricName.FindAllStringSubmatch(cells[1], -1) {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("docs/METRICS.md documents %s twice", m[1])
			}
			rows[m[1]] = docRow{labels: labels, text: line}
		}
	}
	if len(rows) < 50 {
		t.Fatalf("docs/METRICS.md: only %d metrics found in its tables", len(rows))
	}
	return rows
}
