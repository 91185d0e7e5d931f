package alert

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

const okRule = "rules:\n  - name: X\n    expr: redis_up == 0\n    severity: critical\n"

func mustLoad(t testing.TB, src string) *Config {
	t.Helper()
	c, err := Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// evalHarness runs an Evaluator with a fake clock, one tick a second.
type evalHarness struct {
	t     *testing.T
	e     *Evaluator
	clock *fakeClock
	s     *samples
}

func newEvalHarness(t *testing.T, src string, o EvaluatorOptions) *evalHarness {
	c := mustLoad(t, src)
	clock := newFakeClock()
	o.Now = clock.Now
	return &evalHarness{t: t, e: NewEvaluator(c.Rules, o), clock: clock, s: newSamples()}
}

// step evaluates, returns the only alert of rule (or nil), then advances
// the clock by one second.
func (h *evalHarness) step(rule string) *Alert {
	h.t.Helper()
	as := h.e.Eval(h.s.get())
	h.clock.Advance(time.Second)
	return alertByRule(as, rule)
}

func state(a *Alert) State {
	if a == nil {
		return "none"
	}
	return a.State
}

func TestEvalForZeroFiresAtOnce(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Down\n    expr: redis_up == 0\n    severity: critical\n    summary: 'Redis down ({{ $value }})'\n", EvaluatorOptions{})
	h.s.put("redis_up", 1)
	if a := h.step("Down"); a != nil {
		t.Fatalf("alert while up: %+v", a)
	}
	h.s.put("redis_up", 0)
	start := h.clock.Now()
	a := h.step("Down")
	if state(a) != StateFiring || !a.StartsAt.Equal(start) || !a.EndsAt.IsZero() {
		t.Fatalf("first tick: %+v", a)
	}
	if a.Labels["alertname"] != "Down" || a.Labels["severity"] != "critical" || a.Summary() != "Redis down (0)" || a.Fingerprint != Fingerprint("Down", a.Labels) {
		t.Errorf("alert: %+v", a)
	}
	h.s.put("redis_up", 1)
	end := h.clock.Now()
	a = h.step("Down")
	if state(a) != StateResolved || !a.EndsAt.Equal(end) || !a.StartsAt.Equal(start) || a.Value != 1 {
		t.Fatalf("resolve: %+v", a)
	}
}

func TestEvalForDuration(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Slow\n    expr: latency_p99_ms > 50\n    for: 30s\n    severity: warning\n", EvaluatorOptions{})
	h.s.put("latency_p99_ms", 80)
	began := h.clock.Now()
	for i := 0; i < 30; i++ {
		a := h.step("Slow")
		if state(a) != StatePending || !a.StartsAt.Equal(began) {
			t.Fatalf("tick %d: %+v", i, a)
		}
	}
	fired := h.clock.Now()
	a := h.step("Slow")
	if state(a) != StateFiring || !a.StartsAt.Equal(fired) || fired.Sub(began) != 30*time.Second {
		t.Fatalf("after 30s: %+v", a)
	}

	// A pending alert whose condition clears is dropped, not resolved.
	h2 := newEvalHarness(t, "rules:\n  - name: Slow\n    expr: latency_p99_ms > 50\n    for: 30s\n    severity: warning\n", EvaluatorOptions{})
	h2.s.put("latency_p99_ms", 80)
	for range 10 {
		h2.step("Slow")
	}
	h2.s.put("latency_p99_ms", 10)
	if a := h2.step("Slow"); a != nil {
		t.Fatalf("pending alert kept: %+v", a)
	}
	h2.s.put("latency_p99_ms", 80)
	if a := h2.step("Slow"); state(a) != StatePending {
		t.Fatalf("restart: %+v", a)
	}
}

func TestEvalMissingSampleResolves(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Low\n    expr: cache_hit_rate < 0.8\n    severity: warning\n", EvaluatorOptions{})
	h.s.put("cache_hit_rate", 0.5)
	if a := h.step("Low"); state(a) != StateFiring {
		t.Fatal(a)
	}
	h.s.del("cache_hit_rate")
	if a := h.step("Low"); state(a) != StateResolved || a.Value != 0.5 {
		t.Fatalf("%+v", a)
	}
}

// TestEvalFlapping: with keep_firing_for, a condition that clears and
// returns within it keeps one episode; one that stays clear resolves.
func TestEvalFlapping(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Low\n    expr: cache_hit_rate < 0.8\n    keep_firing_for: 30s\n    severity: warning\n", EvaluatorOptions{})
	h.s.put("cache_hit_rate", 0.5)
	start := h.clock.Now()
	h.step("Low")
	for i := range 5 { // flap: 5 × (10s clear, 1s bad)
		h.s.put("cache_hit_rate", 0.95)
		for range 10 {
			if a := h.step("Low"); state(a) != StateFiring || !a.StartsAt.Equal(start) {
				t.Fatalf("flap %d: %+v", i, a)
			}
		}
		h.s.put("cache_hit_rate", 0.5)
		h.step("Low")
	}
	h.s.put("cache_hit_rate", 0.95)
	for range 30 {
		if a := h.step("Low"); state(a) != StateFiring {
			t.Fatalf("resolved before keep_firing_for: %+v", a)
		}
	}
	if a := h.step("Low"); state(a) != StateResolved || !a.StartsAt.Equal(start) {
		t.Fatalf("after keep_firing_for: %+v", a)
	}
}

// TestEvalHysteresis: resolve_threshold moves the bar while firing.
func TestEvalHysteresis(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Low\n    expr: cache_hit_rate < 0.8\n    resolve_threshold: 0.85\n    severity: warning\n    summary: '{{ $value }} vs {{ $threshold }}'\n", EvaluatorOptions{})
	h.s.put("cache_hit_rate", 0.82)
	if a := h.step("Low"); a != nil {
		t.Fatal("fired above the threshold")
	}
	h.s.put("cache_hit_rate", 0.79)
	if a := h.step("Low"); state(a) != StateFiring {
		t.Fatal(a)
	}
	h.s.put("cache_hit_rate", 0.82) // above 0.8, below 0.85: still firing
	if a := h.step("Low"); state(a) != StateFiring || a.Summary() != "0.82 vs 0.85" {
		t.Fatalf("%+v", a)
	}
	h.s.put("cache_hit_rate", 0.86)
	if a := h.step("Low"); state(a) != StateResolved {
		t.Fatalf("%+v", a)
	}
}

func TestEvalRecentlyResolvedExpires(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Down\n    expr: redis_up == 0\n    severity: critical\n", EvaluatorOptions{ResolvedRetention: time.Minute})
	h.s.put("redis_up", 0)
	first := h.step("Down")
	h.s.put("redis_up", 1)
	h.step("Down")
	for range 59 {
		if a := h.step("Down"); state(a) != StateResolved {
			t.Fatalf("resolved alert gone early: %+v", a)
		}
	}
	if a := h.step("Down"); a != nil {
		t.Fatalf("resolved alert kept past the retention: %+v", a)
	}
	// A new episode after a resolve starts over.
	h.s.put("redis_up", 0)
	h.step("Down")
	h.s.put("redis_up", 1)
	h.step("Down")
	h.s.put("redis_up", 0)
	a := h.step("Down")
	if state(a) != StateFiring || !a.StartsAt.After(first.StartsAt) || !a.EndsAt.IsZero() {
		t.Fatalf("new episode: %+v", a)
	}
}

func TestEvalLabelsAndTemplates(t *testing.T) {
	src := `rules:
  - name: HotKey
    expr: hotkey_per_min{key=~"session:.*"} > 1000
    severity: warning
    summary: 'Hot key {{ $labels.key }}: {{ humanize $value }}/min'
    description: '{{ .Labels.nope }}|{{ .Rule }}|{{ .Severity }}'
    labels: {team: platform}
    annotations: {dashboard: 'https://dash/{{ .Labels.key }}'}
    runbook_url: docs/runbooks/hot-key.md
`
	h := newEvalHarness(t, src, EvaluatorOptions{RunbookBase: "https://github.com/studiohq/studio/blob/main/", ExternalURL: "https://studio.example.com/"})
	h.s.put("hotkey_per_min", 5000, "key", "session:ab")
	h.s.put("hotkey_per_min", 6000, "key", "rate:xy")  // not matched
	h.s.put("hotkey_per_min", 10, "key", "session:cd") // below
	as := h.e.Eval(h.s.get())
	if len(as) != 1 {
		t.Fatalf("%d alerts", len(as))
	}
	a := as[0]
	want := map[string]string{"alertname": "HotKey", "severity": "warning", "key": "session:ab", "team": "platform"}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v", a.Labels)
	}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Summary() != "Hot key session:ab: 5k/min" || a.Description() != "|HotKey|warning" || a.Annotations["dashboard"] != "https://dash/session:ab" {
		t.Errorf("annotations %v", a.Annotations)
	}
	if a.RunbookURL() != "https://github.com/studiohq/studio/blob/main/docs/runbooks/hot-key.md" || a.GeneratorURL != "https://studio.example.com/studio/redis" {
		t.Errorf("urls %q %q", a.RunbookURL(), a.GeneratorURL)
	}
	// Two label sets are two alerts with different fingerprints.
	h.s.put("hotkey_per_min", 2000, "key", "session:cd")
	as = h.e.Eval(h.s.get())
	if len(as) != 2 || as[0].Fingerprint == as[1].Fingerprint {
		t.Fatalf("%+v", as)
	}
}

func TestFingerprint(t *testing.T) {
	l := map[string]string{"alertname": "A", "severity": "warning", "key": "x"}
	fp := Fingerprint("A", l)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	if fp != Fingerprint("A", map[string]string{"key": "x", "severity": "warning", "alertname": "A"}) {
		t.Error("depends on map order")
	}
	if fp == Fingerprint("B", l) || fp == Fingerprint("A", map[string]string{"alertname": "A", "severity": "warning", "key": "y"}) {
		t.Error("collision")
	}
	// Separators keep "ab"+"c" apart from "a"+"bc".
	if Fingerprint("A", map[string]string{"ab": "c"}) == Fingerprint("A", map[string]string{"a": "bc"}) {
		t.Error("label boundary collision")
	}
	// Stable across releases: a stored dedup key must keep matching.
	if got := Fingerprint("RedisDown", map[string]string{"alertname": "RedisDown", "severity": "critical"}); got != Fingerprint("RedisDown", map[string]string{"severity": "critical", "alertname": "RedisDown"}) {
		t.Error(got)
	}
}

func TestEvalEventRule(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Failover\n    event: switch-master\n    hold: 1m\n    severity: warning\n    summary: '{{ $value }} failover(s) of {{ $labels.master }}'\n", EvaluatorOptions{})
	if a := h.step("Failover"); a != nil {
		t.Fatal(a)
	}
	h.e.Event(Event{Kind: "sdown", Labels: map[string]string{"master": "m"}}) // other kind
	h.e.Event(Event{Kind: "switch-master", Labels: map[string]string{"master": "m"}})
	start := h.clock.Now()
	a := h.step("Failover")
	if state(a) != StateFiring || a.Labels["master"] != "m" || a.Value != 1 || a.Summary() != "1 failover(s) of m" {
		t.Fatalf("%+v", a)
	}
	h.clock.Advance(30 * time.Second)
	h.e.Event(Event{Time: h.clock.Now(), Kind: "switch-master", Labels: map[string]string{"master": "m"}})
	if a := h.step("Failover"); state(a) != StateFiring || a.Value != 2 || !a.StartsAt.Equal(start) {
		t.Fatalf("second event: %+v", a)
	}
	// The hold runs from the last event.
	h.clock.Advance(58 * time.Second)
	if a := h.step("Failover"); state(a) != StateFiring || a.Value != 1 {
		t.Fatalf("within the hold of the second event: %+v", a)
	}
	if a := h.step("Failover"); state(a) != StateResolved {
		t.Fatalf("after the hold: %+v", a)
	}
}

func TestEvalEventsWithoutEventRulesAreNotKept(t *testing.T) {
	h := newEvalHarness(t, okRule, EvaluatorOptions{MaxEvents: 3})
	h.e.Event(Event{Kind: "switch-master"})
	if len(h.e.events) != 0 {
		t.Error("event kept without event rules")
	}
	h2 := newEvalHarness(t, "rules:\n  - name: F\n    event: x\n    severity: info\n", EvaluatorOptions{MaxEvents: 3})
	for range 5 {
		h2.e.Event(Event{Kind: "x"})
	}
	if len(h2.e.events) != 3 {
		t.Errorf("%d events kept, want the bound 3", len(h2.e.events))
	}
}

// TestEvalCounterRate: NAME_total counters give NAME_per_min.
func TestEvalCounterRate(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Evicting\n    expr: evicted_keys_per_min > 0\n    severity: warning\n    summary: '{{ $value }}'\n", EvaluatorOptions{})
	h.s.put("evicted_keys_total", 100)
	for i := range 10 {
		if a := h.step("Evicting"); a != nil {
			t.Fatalf("tick %d: %+v", i, a)
		}
	}
	for i := range 70 { // 6 evictions every 10 s: 36 a minute
		if i%10 == 0 {
			h.s.put("evicted_keys_total", 100+float64(6*(i/10+1)))
		}
		h.step("Evicting")
	}
	a := h.step("Evicting")
	if state(a) != StateFiring || a.Value < 30 || a.Value > 42 {
		t.Fatalf("%+v", a)
	}
	// A counter reset (Redis restarted) is no negative rate.
	h.s.put("evicted_keys_total", 0)
	for range 70 {
		if a := h.step("Evicting"); a != nil && a.State == StateFiring && a.Value < 0 {
			t.Fatalf("negative rate %v", a.Value)
		}
	}
	if a := h.step("Evicting"); state(a) != StateResolved {
		t.Fatalf("flat counter: %+v", a)
	}
}

// TestEvalTemplateRuntimeError: a template that fails on real data shows
// the error in the annotation; one that renders too much is refused at load.
func TestEvalTemplateRuntimeError(t *testing.T) {
	h := newEvalHarness(t, "rules:\n  - name: Hot\n    expr: hotkey_per_min > 1\n    severity: info\n    summary: '{{ humanize .Labels.key }}'\n", EvaluatorOptions{})
	h.s.put("hotkey_per_min", 5, "key", "not-a-number")
	a := h.step("Hot")
	if state(a) != StateFiring || !strings.HasPrefix(a.Summary(), "template error: ") {
		t.Fatalf("%+v", a)
	}
	_, err := Load("t.yaml", []byte(okRule+"    summary: '{{ range $k, $v := .Labels }}{{ printf \"%99999d\" 1 }}{{ end }}'\n"))
	if err == nil || !strings.Contains(err.Error(), "output longer than") {
		t.Errorf("long output: %v", err)
	}
}

func TestConfigJSON(t *testing.T) {
	b, err := json.Marshal(mustLoad(t, "rules:\n  - name: F\n    event: switch-master{master=\"m\"}\n    severity: info\n"+strings.TrimPrefix(okRule, "rules:\n")+"receivers:\n  - {name: hook, kind: webhook, url: 'https://user:pw@hook'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"expr":"redis_up == 0"`, `"event":"switch-master{master=\"m\"}"`, `"default_route":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "user:pw") {
		t.Errorf("a receiver URL reached the JSON: %s", b)
	}
}

// TestEvalValueAtResolve: an alert carries its rule's unit; once resolved,
// its value is the one at resolve, its firing value the last that met the
// condition, and its summary is rendered with the value at resolve — or,
// when the sample disappeared, it says there was no sample.
func TestEvalValueAtResolve(t *testing.T) {
	src := "rules:\n  - name: Errors\n    expr: error_rate > 0.05\n    severity: warning\n    summary: 'error rate {{ humanizePercentage $value }}'\n"
	h := newEvalHarness(t, src, EvaluatorOptions{})
	h.s.put("error_rate", 1)
	a := h.step("Errors")
	if state(a) != StateFiring || a.Unit != "ratio" || a.Value != 1 || a.FiringValue != 1 || a.Summary() != "error rate 100%" {
		t.Fatalf("firing: %+v", a)
	}
	h.s.put("error_rate", 0.01)
	a = h.step("Errors")
	if state(a) != StateResolved || a.Value != 0.01 || a.FiringValue != 1 || a.NoSample || a.Summary() != "error rate 1%" {
		t.Fatalf("resolved: value %v, firing value %v, no sample %v, summary %q", a.Value, a.FiringValue, a.NoSample, a.Summary())
	}

	h.clock.Advance(time.Hour) // a new episode
	h.s.put("error_rate", 0.5)
	if a = h.step("Errors"); state(a) != StateFiring {
		t.Fatalf("second episode: %+v", a)
	}
	h.s.del("error_rate") // too little traffic: the sample is left out
	a = h.step("Errors")
	if state(a) != StateResolved || !a.NoSample || a.FiringValue != 0.5 || a.Summary() != "error rate 50%" {
		t.Fatalf("resolved without a sample: %+v", a)
	}
}
