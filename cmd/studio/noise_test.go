package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/syncbuf"

	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
)

// openTestApp opens Studio as serve wires it, on redis-server rs and a
// SQLite file, with env on top, logging to logOut; mod adjusts the
// Config (intervals a test shortens). The app is closed when the test
// ends, or before by calling closeApp.
func openTestApp(t *testing.T, rs *redistest.Server, env map[string]string, logOut io.Writer, mod func(*Config)) *app {
	t.Helper()
	all := map[string]string{
		"REDIS_URL":    rs.URL(),
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := configOf(t, "serve", all)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := openApp(t.Context(), cfg, logOut)
	if err != nil {
		t.Fatal(err)
	}
	closeOnce := sync.OnceFunc(a.close)
	testClosers.Store(a, closeOnce)
	t.Cleanup(closeOnce)
	return a
}

// testClosers holds the close of each app openTestApp opened.
var testClosers sync.Map

// closeApp closes an app openTestApp opened (its spans are flushed).
func closeApp(a *app) { f, _ := testClosers.Load(a); f.(func())() }

// TestHotKeyCountsCallerAccessesOnly: a session validated N times, with
// refresh-ahead refreshing its L1 entry from Redis all along (a 100 ms
// L1), counts N accesses — not N plus the refreshes, nor a validation
// that reached Redis twice (the session layer's count and the Redis
// hook's). One key in an otherwise empty detector is counted exactly
// (Space-Saving's error is 0 below its capacity).
func TestHotKeyCountsCallerAccessesOnly(t *testing.T) {
	rs := redistest.Start(t)
	a := openTestApp(t, rs, map[string]string{"STUDIO_L1_TTL": "100ms", "STUDIO_WARM_ON_START": "false"}, io.Discard, nil)
	ctx := context.Background()
	tok, _, err := a.sessions.Create(ctx, session.CreateParams{UserID: "hot"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := session.ParseToken(tok.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	display := hotkey.DisplayKey(a.sessions.Key(h))
	count := func() uint64 {
		for _, e := range a.detector.Top(0) {
			if e.Key == display {
				return e.Count
			}
		}
		return 0
	}
	base := count() // the create is not a validation
	before := a.sessions.Stats()
	const n = 300 // every 10 ms for 3 s: ~30 L1 lifetimes
	for range n {
		if _, err := a.sessions.Validate(ctx, tok.Reveal()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := a.sessions.Stats()
	refreshes := after.L1Refreshes - before.L1Refreshes
	got := count() - base
	t.Logf("%d validations, %d refresh-ahead reads from Redis meanwhile; hot-key count %d", n, refreshes, got)
	if refreshes == 0 {
		t.Fatal("no refresh-ahead happened: the test does not exercise it")
	}
	if got != n {
		t.Fatalf("hot-key count %d for %d validations (%d refreshes)", got, n, refreshes)
	}
}

// idleAdmin is the admin token of the idle and outage tests.
const idleAdmin = "noise-admin-7dcd8594a0da26826c87d42e51369c5f9d1ef87b7e9a35a8"

// get answers GET path on a Studio app's handler with the admin token.
func get(t *testing.T, base, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+idleAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b.String())
	}
	return b.String()
}

// failedCommands sums, from /metrics, the Redis commands whose outcome is
// an error (not ok, miss or canceled), by outcome.
func failedCommands(metrics string) map[string]float64 {
	re := regexp.MustCompile(`(?m)^studio_redis_command_duration_seconds_count\{command="[^"]*",outcome="([^"]+)"\} (\S+)$`)
	out := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(metrics, -1) {
		if m[1] == "ok" || m[1] == "miss" || m[1] == "canceled" {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] += v
	}
	return out
}

// consoleSpans decodes the console exporter's output: the names of the
// root spans and of the others, leaving out the server spans of the
// test's own requests (GET /health/redis, GET /metrics).
func consoleSpans(t *testing.T, out string) (roots, children []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var s struct {
			Name   string
			Parent struct{ SpanID string }
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("console exporter line: %v: %.200s", err, line)
		}
		switch {
		case strings.HasPrefix(s.Name, "GET /"):
		case strings.Trim(s.Parent.SpanID, "0") == "":
			roots = append(roots, s.Name)
		default:
			children = append(children, s.Name)
		}
	}
	return roots, children
}

// TestIdleServeMakesNoNoise is the acceptance test of an idle Studio on
// the machine's Redis (7.0, without HOTKEYS) with every background
// interval shortened: the monitor polls every 100 ms (ten times its
// default) and the HOTKEYS probe runs every 200 ms (150 times), so 6 s
// cover a minute of polls and 15 minutes of probes. Every span is
// exported to the console exporter with a sampler that keeps all. Over
// that time Studio counts no Redis error (errors.total, and no error
// outcome in studio_redis_command_duration_seconds), the snapshot still
// says HOTKEYS is unavailable on this server, and no span at all is
// made; with STUDIO_TRACE_BACKGROUND the background work is traced.
func TestIdleServeMakesNoNoise(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{
		"STUDIO_ADMIN_TOKEN": idleAdmin, "STUDIO_MONITOR_INTERVAL": "100ms",
		"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_on",
	}
	run := func(background bool, d time.Duration) (snapshot, metrics, spans string) {
		env["STUDIO_TRACE_BACKGROUND"] = strconv.FormatBool(background)
		out := &syncbuf.Buffer{}
		a := openTestApp(t, rs, env, io.Discard, func(c *Config) {
			c.HotKeyProbeInterval = 200 * time.Millisecond
			c.Trace.Console = out
		})
		ts := httptest.NewServer(a.handler)
		defer ts.Close()
		time.Sleep(d)
		snapshot, metrics = get(t, ts.URL, "/health/redis"), get(t, ts.URL, "/metrics")
		closeApp(a) // flushes the spans
		return snapshot, metrics, out.String()
	}

	snapshot, metrics, spans := run(false, 6*time.Second)
	var snap struct {
		Errors struct {
			Total    uint64 `json:"total"`
			Commands uint64 `json:"commands_total"`
		} `json:"errors"`
		Native *struct {
			Available bool   `json:"available"`
			Reason    string `json:"reason"`
		} `json:"hotkeys_native"`
	}
	if err := json.Unmarshal([]byte(snapshot), &snap); err != nil {
		t.Fatal(err)
	}
	roots, children := consoleSpans(t, spans)
	t.Logf("idle for 6 s: %d Redis commands, %d errors, failed outcomes in /metrics %v; %d root spans, %d child spans; native view %+v",
		snap.Errors.Commands, snap.Errors.Total, failedCommands(metrics), len(roots), len(children), snap.Native)
	if snap.Errors.Commands < 50 {
		t.Fatalf("only %d Redis commands: the monitor did not poll", snap.Errors.Commands)
	}
	if snap.Errors.Total != 0 {
		t.Errorf("errors.total %d on an idle Studio", snap.Errors.Total)
	}
	if f := failedCommands(metrics); len(f) != 0 {
		t.Errorf("failed outcomes in /metrics on an idle Studio: %v", f)
	}
	if snap.Native == nil || snap.Native.Available || !strings.Contains(snap.Native.Reason, "unavailable on this server") {
		t.Errorf("native HOTKEYS view %+v, want unavailable on this server", snap.Native)
	}
	if len(roots)+len(children) != 0 {
		t.Errorf("an idle Studio made spans: roots %v", roots)
	}
	// Nor does the server count errors of Studio's making (a refused
	// CLIENT SETINFO on each new connection, before Redis 7.2).
	if st, err := rs.Client(t).Info(context.Background(), "errorstats").Result(); err != nil || strings.Contains(st, "errorstat_") {
		t.Errorf("the server counted errors from an idle Studio: %q %v", st, err)
	}

	_, _, spans = run(true, time.Second)
	if roots, _ := consoleSpans(t, spans); len(roots) == 0 || !slices.Contains(roots, "info") {
		t.Errorf("with STUDIO_TRACE_BACKGROUND=true, background root spans %v, want the monitor's polls among them", roots)
	}
}

// TestRedisOutageLogsAFewBreakerLines: Redis stopped for 6.5 s with the
// breaker's summary every 3 s (a tenth of 30 s, so this stands for a
// 65 s outage) while the monitor polls every 100 ms: the breaker logs a
// line when it opens, a summary every 3 s and one when it closes — fewer
// than 10 lines — however often it went open → half-open → open.
func TestRedisOutageLogsAFewBreakerLines(t *testing.T) {
	rs := redistest.Start(t)
	logs := &syncbuf.Buffer{}
	a := openTestApp(t, rs, map[string]string{"STUDIO_ADMIN_TOKEN": idleAdmin, "STUDIO_MONITOR_INTERVAL": "100ms"}, logs,
		func(c *Config) { c.BreakerSummaryInterval = 3 * time.Second })
	ts := httptest.NewServer(a.handler)
	defer ts.Close()
	transitions := func() float64 {
		m := regexp.MustCompile(`(?m)^studio_redis_circuit_breaker_transitions_total\{to="[^"]+"\} (\S+)$`).FindAllStringSubmatch(get(t, ts.URL, "/metrics"), -1)
		sum := 0.0
		for _, x := range m {
			v, _ := strconv.ParseFloat(x[1], 64)
			sum += v
		}
		return sum
	}
	time.Sleep(500 * time.Millisecond)
	before := transitions()
	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6500 * time.Millisecond)
	if err := rs.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); a.redis.Breaker.State() != "closed"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close after Redis came back")
		}
	}
	changes := transitions() - before
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"redis circuit breaker`) {
			lines = append(lines, l)
		}
	}
	t.Logf("a 6.5 s outage: %.0f breaker state changes (one line each before), %d breaker lines:\n%s", changes, len(lines), strings.Join(lines, "\n"))
	if len(lines) >= 10 || len(lines) < 3 {
		t.Fatalf("%d breaker lines, want an opening, a summary or two and a closing (fewer than 10)", len(lines))
	}
	if !strings.Contains(lines[0], `"msg":"redis circuit breaker opened`) || !strings.Contains(lines[0], "connection refused") ||
		!strings.Contains(lines[len(lines)-1], `"msg":"redis circuit breaker closed"`) {
		t.Errorf("first and last lines:\n%s\n%s", lines[0], lines[len(lines)-1])
	}
}
