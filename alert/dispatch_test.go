package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// route1 sends everything to pagerduty with the given timings.
func route1(wait, interval, repeat string) string {
	return fmt.Sprintf("route:\n  receiver: pagerduty\n  group_by: [alertname]\n  group_wait: %s\n  group_interval: %s\n  repeat_interval: %s\n", wait, interval, repeat)
}

const hitRateRule = "rules:\n  - name: HitRate\n    expr: cache_hit_rate < 0.8\n    severity: critical\n    summary: 'hit rate {{ humanizePercentage $value }}'\n"

func TestDispatchGroupWaitTriggerResolve(t *testing.T) {
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("5s", "10s", "1h"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	pd := h.recs["pagerduty"]
	s.put("cache_hit_rate", 0.5)
	h.run(5, time.Second) // t0..t4: firing, group waiting
	if n := pd.callCount(); n != 0 {
		t.Fatalf("%d calls before group_wait", n)
	}
	h.run(1, time.Second) // t5: flush
	trig := pd.sent(StateFiring)
	if len(trig) != 1 || pd.callCount() != 1 {
		t.Fatalf("after group_wait: %d calls, %d triggers", pd.callCount(), len(trig))
	}
	a := trig[0]
	if a.DedupKey != a.Fingerprint || a.Summary() != "hit rate 50%" || a.StartsAt != h.clock.Now().Add(-6*time.Second) {
		t.Errorf("trigger %+v", a)
	}
	if got := alertByRule(h.e.Alerts(), "HitRate"); got.DedupKey != a.DedupKey {
		t.Errorf("Alerts() dedup key %q, sent %q", got.DedupKey, a.DedupKey)
	}
	s.put("cache_hit_rate", 0.95)
	h.run(30, time.Second)
	res := pd.sent(StateResolved)
	if len(res) != 1 || res[0].DedupKey != a.DedupKey || res[0].EndsAt.IsZero() || len(pd.sent(StateFiring)) != 1 {
		t.Fatalf("resolves %d, triggers %d", len(res), len(pd.sent(StateFiring)))
	}
}

func TestDispatchGroupsAlerts(t *testing.T) {
	s := newSamples()
	h := newHarness(t, "rules:\n  - name: Hot\n    expr: hotkey_per_min > 1000\n    severity: warning\n"+route1("2s", "10s", "1h"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	s.put("hotkey_per_min", 5000, "key", "a")
	h.tick()
	h.clock.Advance(time.Second)
	s.put("hotkey_per_min", 5000, "key", "b") // joins within group_wait
	h.run(3, time.Second)
	pd := h.recs["pagerduty"]
	if pd.callCount() != 1 || len(pd.sent(StateFiring)) != 2 {
		t.Fatalf("%d calls, %d alerts: want both alerts in one notification", pd.callCount(), len(pd.sent(StateFiring)))
	}
	// A third joins the existing group: sent at the next group_interval.
	s.put("hotkey_per_min", 5000, "key", "c") // t4; the group flushed at t2
	h.run(8, time.Second)                     // t4 … t11
	if pd.callCount() != 1 {
		t.Fatalf("sent before group_interval")
	}
	h.run(2, time.Second)
	if pd.callCount() != 2 || len(pd.sent(StateFiring)) != 3 {
		t.Fatalf("%d calls, %d alerts", pd.callCount(), len(pd.sent(StateFiring)))
	}
}

func TestDispatchRepeat(t *testing.T) {
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("0s", "10s", "1m"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	s.put("cache_hit_rate", 0.5)
	h.run(186, time.Second) // t0 … t185: trigger at 0, repeats at 60, 120, 180
	trig := h.recs["pagerduty"].sent(StateFiring)
	if len(trig) != 4 {
		t.Fatalf("%d triggers and repeats, want 4", len(trig))
	}
	for _, a := range trig {
		if a.DedupKey != trig[0].DedupKey {
			t.Error("a repeat changed the dedup key")
		}
	}
}

// resender is a recorder whose receiver forgets alerts not resent within
// a minute (an Alertmanager).
type resender struct{ recorder }

func (*resender) ResendInterval() time.Duration { return time.Minute }

// TestDispatchResendsToAResender: an Alertmanager receiver gets its firing
// alerts again about every minute — well within the endsAt it was sent —
// although the route repeats every 4 hours and flushes every 5 minutes;
// PagerDuty on the same route tree is told once.
func TestDispatchResendsToAResender(t *testing.T) {
	s := newSamples()
	am := &resender{}
	src := hitRateRule + `route:
  receiver: ""
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: am
      continue: true
    - matchers: ['severity="critical"']
      receiver: pagerduty
receivers:
  - name: am
    kind: alertmanager
    url: http://alertmanager.example:9093
`
	h := newHarness(t, src, nil, EngineOptions{Samples: s.get, Receivers: map[string]Notifier{"am": am}}, "pagerduty")
	s.put("cache_hit_rate", 0.5)
	start := h.clock.Now()
	var sends []time.Duration
	for range 301 {
		before := am.callCount()
		h.tick()
		if am.callCount() > before {
			sends = append(sends, h.clock.Now().Sub(start))
		}
		h.clock.Advance(time.Second)
	}
	if len(sends) < 5 {
		t.Fatalf("the Alertmanager was told at %v, want about every minute", sends)
	}
	for i := 1; i < len(sends); i++ {
		if gap := sends[i] - sends[i-1]; gap < time.Minute || gap > 75*time.Second {
			t.Errorf("resends at %v: gap %v, want 60-75s", sends, gap)
		}
	}
	if n := h.recs["pagerduty"].callCount(); n != 1 {
		t.Errorf("pagerduty told %d times in 5 minutes, want 1 (repeat 4h)", n)
	}
}

func TestDispatchNoResolveWithoutTrigger(t *testing.T) {
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("10s", "10s", "1h"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	s.put("cache_hit_rate", 0.5)
	h.run(3, time.Second)
	s.put("cache_hit_rate", 0.9) // resolved within group_wait
	h.run(30, time.Second)
	if n := h.recs["pagerduty"].callCount(); n != 0 {
		t.Fatalf("%d calls for an alert resolved before its group was sent", n)
	}
}

// TestDispatchResolveOnlyWhereTriggered: one receiver refuses the trigger
// (not retryable), the other takes it; the resolve goes to the second only.
func TestDispatchResolveOnlyWhereTriggered(t *testing.T) {
	s := newSamples()
	src := hitRateRule + `route:
  receiver: pagerduty
  group_wait: 0s
  group_interval: 1m
  routes:
    - matchers: [severity=critical]
      receiver: pagerduty
      continue: true
    - matchers: [severity=critical]
      receiver: slack
`
	h := newHarness(t, src, nil, EngineOptions{Samples: s.get}, "pagerduty", "slack")
	slack := h.recs["slack"]
	slack.fail = func(int) (bool, error) { return false, errors.New("400 bad request") }
	s.put("cache_hit_rate", 0.5)
	h.run(1, time.Second)
	s.put("cache_hit_rate", 0.9)
	h.run(61, time.Second)
	pd := h.recs["pagerduty"]
	if len(pd.sent(StateFiring)) != 1 || len(pd.sent(StateResolved)) != 1 {
		t.Errorf("pagerduty: %d triggers, %d resolves", len(pd.sent(StateFiring)), len(pd.sent(StateResolved)))
	}
	if len(slack.sent(StateResolved)) != 0 || slack.callCount() != 1 {
		t.Errorf("slack: %d calls, %d resolves: want only the refused trigger", slack.callCount(), len(slack.sent(StateResolved)))
	}
}

func TestDispatchSendResolvedFalse(t *testing.T) {
	s := newSamples()
	src := hitRateRule + route1("0s", "1s", "1h") + "receivers:\n  - name: pagerduty\n    kind: pagerduty\n    send_resolved: false\n"
	h := newHarness(t, src, nil, EngineOptions{Samples: s.get}, "pagerduty")
	s.put("cache_hit_rate", 0.5)
	h.run(2, time.Second)
	s.put("cache_hit_rate", 0.9)
	h.run(5, time.Second)
	pd := h.recs["pagerduty"]
	if len(pd.sent(StateFiring)) != 1 || len(pd.sent(StateResolved)) != 0 {
		t.Errorf("%d triggers, %d resolves", len(pd.sent(StateFiring)), len(pd.sent(StateResolved)))
	}
}

func TestDispatchRetries(t *testing.T) {
	noJitter := RetryPolicy{Initial: time.Second, Max: 4 * time.Second, MaxElapsed: time.Minute, Jitter: -1}
	for _, tc := range []struct {
		name      string
		policy    RetryPolicy
		fail      func(n int) (bool, error)
		calls     int
		waits     []time.Duration
		delivered bool
	}{
		{"retryable failures are retried with backoff", noJitter,
			func(n int) (bool, error) {
				if n < 4 {
					return true, errBoom
				}
				return false, nil
			}, 5, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}, true},
		{"a non-retryable failure is not retried", noJitter,
			func(int) (bool, error) { return false, errors.New("401 unauthorized") }, 1, nil, false},
		{"Retry-After is honoured", noJitter,
			func(n int) (bool, error) {
				if n == 0 {
					return true, fmt.Errorf("429: %w", &RetryAfterError{After: 7 * time.Second, Err: errBoom})
				}
				return false, nil
			}, 2, []time.Duration{7 * time.Second}, true},
		{"gives up after MaxElapsed", RetryPolicy{Initial: time.Second, Max: time.Second, MaxElapsed: 3 * time.Second, Jitter: -1},
			func(int) (bool, error) { return true, errBoom }, 4, []time.Duration{time.Second, time.Second, time.Second}, false},
		{"a Retry-After beyond MaxElapsed gives up", noJitter,
			func(int) (bool, error) { return true, &RetryAfterError{After: time.Hour, Err: errBoom} }, 1, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSamples()
			reg := prometheus.NewRegistry()
			h := newHarness(t, hitRateRule+route1("0s", "1h", "1h"), nil, EngineOptions{Samples: s.get, Retry: tc.policy, Registerer: reg}, "pagerduty")
			pd := h.recs["pagerduty"]
			pd.fail = tc.fail
			s.put("cache_hit_rate", 0.5)
			h.tick()
			if pd.callCount() != tc.calls {
				t.Errorf("%d calls, want %d", pd.callCount(), tc.calls)
			}
			waits := h.waits.all()
			if fmt.Sprint(waits) != fmt.Sprint(tc.waits) {
				t.Errorf("waits %v, want %v", waits, tc.waits)
			}
			sent := testutil.ToFloat64(h.e.m.notifications.WithLabelValues("pagerduty", resultSent))
			failed := testutil.ToFloat64(h.e.m.notifications.WithLabelValues("pagerduty", resultFailed))
			if tc.delivered != (sent == 1) || tc.delivered == (failed == 1) {
				t.Errorf("sent %v, failed %v; delivered %v", sent, failed, tc.delivered)
			}
			if n := testutil.ToFloat64(h.e.m.retries.WithLabelValues("pagerduty")); int(n) != len(tc.waits) {
				t.Errorf("retries metric %v", n)
			}
		})
	}
}

// TestDispatchRetryJitter: the waits grow exponentially, each within the
// jitter of its nominal value.
func TestDispatchRetryJitter(t *testing.T) {
	p := RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}.withDefaults()
	for n, nominal := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		nominal *= time.Millisecond
		for range 50 {
			if d := p.backoff(n); d < nominal*8/10 || d > nominal*12/10 {
				t.Fatalf("backoff(%d) = %v, want %v ± 20%%", n, d, nominal)
			}
		}
	}
}

// TestDispatchFailedDeliveryIsRetriedNextFlush: a delivery that gave up is
// tried again at the group's next flush.
func TestDispatchFailedDeliveryIsRetriedNextFlush(t *testing.T) {
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("0s", "10s", "1h"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	pd := h.recs["pagerduty"]
	pd.fail = func(n int) (bool, error) {
		if n == 0 {
			return false, errors.New("403")
		}
		return false, nil
	}
	s.put("cache_hit_rate", 0.5)
	h.run(11, time.Second)
	if pd.callCount() != 2 || len(pd.sent(StateFiring)) != 2 {
		t.Fatalf("%d calls", pd.callCount())
	}
	h.run(30, time.Second)
	if pd.callCount() != 2 {
		t.Errorf("sent again after success: %d calls", pd.callCount())
	}
}

// httpNotifier is a minimal HTTP receiver client shaped like the real
// ones: 5xx and 429 are retryable, 429's Retry-After is passed on, other
// 4xx are not.
type httpNotifier struct{ url string }

func (n httpNotifier) Notify(ctx context.Context, alerts ...*Alert) (bool, error) {
	body, _ := json.Marshal(alerts)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url, strings.NewReader(string(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return true, errors.New("post alerts: network error")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == 429:
		err := fmt.Errorf("post alerts: %s", resp.Status)
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
			return true, &RetryAfterError{After: time.Duration(s) * time.Second, Err: err}
		}
		return true, err
	case resp.StatusCode >= 500:
		return true, fmt.Errorf("post alerts: %s", resp.Status)
	}
	return false, fmt.Errorf("post alerts: %s", resp.Status)
}

func TestDispatchHTTPReceiver(t *testing.T) {
	var hits atomic.Int32
	statuses := []int{503, 429, 200, 400}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1) - 1
		var got []*Alert
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil || len(got) != 1 || got[0].Rule != "HitRate" || got[0].DedupKey == "" {
			t.Errorf("request %d: %v %+v", n, err, got)
		}
		if statuses[n] == 429 {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(statuses[n])
	}))
	defer srv.Close()
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("0s", "1m", "1h"), nil, EngineOptions{Samples: s.get,
		Receivers: map[string]Notifier{"pagerduty": httpNotifier{srv.URL}}, Retry: RetryPolicy{Initial: 100 * time.Millisecond, Jitter: -1}})
	s.put("cache_hit_rate", 0.5)
	h.tick()
	if hits.Load() != 3 {
		t.Fatalf("%d requests, want 3 (503, 429, 200)", hits.Load())
	}
	if w := h.waits.all(); len(w) != 2 || w[0] != 100*time.Millisecond || w[1] != 3*time.Second {
		t.Errorf("waits %v: want the backoff, then Retry-After's 3s", w)
	}
	s.put("cache_hit_rate", 0.9)
	h.run(61, time.Second) // the resolve is refused with 400: not retried
	if hits.Load() != 4 || len(h.waits.all()) != 2 {
		t.Errorf("%d requests, %d waits", hits.Load(), len(h.waits.all()))
	}
}

func TestSilences(t *testing.T) {
	s := newSamples()
	h := newHarness(t, hitRateRule+route1("0s", "1s", "1h"), nil, EngineOptions{Samples: s.get}, "pagerduty")
	ctx := context.Background()
	m, _ := ParseMatcher(`alertname="HitRate"`)
	sil, err := h.e.AddSilence(ctx, Silence{Matchers: Matchers{m}, EndsAt: h.clock.Now().Add(time.Hour), CreatedBy: "ops", Comment: "maintenance"})
	if err != nil || sil.ID == "" || sil.Status != SilenceActive {
		t.Fatalf("AddSilence: %+v %v", sil, err)
	}
	s.put("cache_hit_rate", 0.5)
	h.run(3, time.Second)
	if n := h.recs["pagerduty"].callCount(); n != 0 {
		t.Fatalf("silenced alert sent (%d calls)", n)
	}
	st := h.e.AlertStatuses()
	if len(st) != 1 || st[0].State != StateFiring || len(st[0].SilencedBy) != 1 || st[0].SilencedBy[0] != sil.ID {
		t.Fatalf("statuses %+v", st)
	}
	b, _ := json.Marshal(st[0])
	if !strings.Contains(string(b), `"silenced_by":["`+sil.ID+`"]`) || !strings.Contains(string(b), `"rule":"HitRate"`) {
		t.Errorf("JSON %s", b)
	}
	if _, err := h.e.ExpireSilence(ctx, sil.ID); err != nil {
		t.Fatal(err)
	}
	h.run(2, time.Second)
	if n := len(h.recs["pagerduty"].sent(StateFiring)); n != 1 {
		t.Fatalf("%d triggers after the silence expired", n)
	}
	list, err := h.e.Silences(ctx)
	if err != nil || len(list) != 1 || list[0].Status != SilenceExpired {
		t.Errorf("list %+v %v", list, err)
	}
	// Errors callers branch on.
	for _, bad := range []Silence{
		{EndsAt: h.clock.Now().Add(time.Hour), CreatedBy: "x"},
		{Matchers: Matchers{m}, CreatedBy: "x"},
		{Matchers: Matchers{m}, EndsAt: h.clock.Now().Add(-time.Hour), CreatedBy: "x"},
		{Matchers: Matchers{m}, EndsAt: h.clock.Now().Add(time.Hour)},
	} {
		if _, err := h.e.AddSilence(ctx, bad); !errors.Is(err, ErrInvalidSilence) {
			t.Errorf("AddSilence(%+v) = %v", bad, err)
		}
	}
	if _, err := h.e.ExpireSilence(ctx, "nope"); !errors.Is(err, ErrSilenceNotFound) {
		t.Errorf("ExpireSilence: %v", err)
	}
}

func TestSilenceJSON(t *testing.T) {
	var s Silence
	body := `{"matchers":["severity=\"critical\"","alertname=~\"Redis.*\""],"ends_at":"2030-01-01T00:00:00Z","created_by":"ann","comment":"upgrade"}`
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Matchers) != 2 || !s.Matchers.Matches(map[string]string{"severity": "critical", "alertname": "RedisDown"}) {
		t.Fatalf("%+v", s)
	}
	out, _ := json.Marshal(s)
	if !strings.Contains(string(out), `"matchers":["severity=\"critical\"","alertname=~\"Redis.*\""]`) {
		t.Errorf("%s", out)
	}
	if err := json.Unmarshal([]byte(`{"matchers":["severity"]}`), &s); err == nil {
		t.Error("bad matcher accepted")
	}
}

func TestSnapshotAlertsAndMetrics(t *testing.T) {
	s := newSamples()
	reg := prometheus.NewRegistry()
	src := "rules:\n  - name: Down\n    expr: redis_up == 0\n    severity: critical\n    summary: Redis is down\n  - name: Slow\n    expr: latency_p99_ms > 50\n    for: 1m\n    severity: warning\n"
	h := newHarness(t, src+route1("0s", "1s", "1h"), nil, EngineOptions{Samples: s.get, Registerer: reg}, "pagerduty")
	s.put("redis_up", 0)
	s.put("latency_p99_ms", 100)
	h.run(2, time.Second)
	snap := h.e.SnapshotAlerts()
	if len(snap) != 1 || snap[0].Name != "Down" || snap[0].State != "firing" || snap[0].Summary != "Redis is down" || snap[0].Severity != "critical" {
		t.Fatalf("snapshot alerts %+v (pending ones are left out)", snap)
	}
	if n := len(h.e.Alerts()); n != 2 {
		t.Errorf("Alerts() has %d, want firing and pending", n)
	}
	s.put("redis_up", 1)
	h.run(2, time.Second)
	snap = h.e.SnapshotAlerts()
	if len(snap) != 1 || snap[0].State != "resolved" || snap[0].Since.IsZero() {
		t.Fatalf("resolved: %+v", snap)
	}
	if v := testutil.ToFloat64(h.e.m.alerts.WithLabelValues("pending")); v != 1 {
		t.Errorf("pending gauge %v", v)
	}
	if v := testutil.ToFloat64(h.e.m.alerts.WithLabelValues("resolved")); v != 1 {
		t.Errorf("resolved gauge %v", v)
	}
	if v := testutil.ToFloat64(h.e.m.notifications.WithLabelValues("pagerduty", resultSent)); v != 2 {
		t.Errorf("sent %v, want a trigger and a resolve", v)
	}
	if n, err := testutil.GatherAndCount(reg, "studio_alert_notification_duration_seconds"); err != nil || n != 1 {
		t.Errorf("latency histogram: %d series, %v", n, err)
	}
}

// TestEngineRun: Run evaluates on its own ticker and stops with its context.
func TestEngineRun(t *testing.T) {
	c := mustLoad(t, "rules:\n  - name: Failover\n    event: switch-master\n    hold: 1m\n    severity: critical\n"+route1("0s", "1s", "1h"))
	rec := &recorder{}
	e, err := NewEngine(EngineOptions{Config: c, Receivers: map[string]Notifier{"pagerduty": rec}, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	e.Event(Event{Kind: "switch-master", Labels: map[string]string{"master": "mymaster"}})
	deadline := time.Now().Add(10 * time.Second)
	for rec.callCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := rec.sent(StateFiring); len(got) != 1 || got[0].Labels["master"] != "mymaster" {
		t.Fatalf("triggers %+v", got)
	}
	if err := e.Run(ctx); err == nil {
		t.Error("a second Run was accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestEnginesShareConfig: Engines built concurrently from one loaded Config
// do not race (run with -race), and a panicking Notifier is contained.
func TestEnginesShareConfig(t *testing.T) {
	c := mustLoad(t, hitRateRule+route1("0s", "1s", "1h"))
	s := newSamples()
	s.put("cache_hit_rate", 0.5)
	var calls atomic.Int32
	panicky := notifierFunc(func(context.Context, ...*Alert) (bool, error) {
		calls.Add(1)
		panic("receiver bug")
	})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			e, err := NewEngine(EngineOptions{Config: c, Samples: s.get, Receivers: map[string]Notifier{"pagerduty": panicky}})
			if err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var bg sync.WaitGroup
			e.start(ctx, &bg)
			e.tick()
			if err := e.disp.waitIdle(ctx); err != nil {
				t.Error(err)
			}
			if n := testutil.ToFloat64(e.m.notifications.WithLabelValues("pagerduty", resultFailed)); n != 1 {
				t.Errorf("failed %v", n)
			}
			cancel()
			bg.Wait()
		})
	}
	wg.Wait()
	if calls.Load() != 3 {
		t.Errorf("%d calls", calls.Load())
	}
}

type notifierFunc func(context.Context, ...*Alert) (bool, error)

func (f notifierFunc) Notify(ctx context.Context, alerts ...*Alert) (bool, error) {
	return f(ctx, alerts...)
}

// TestSilencesMemoryRetention: without Redis, expired silences are listed
// for a day, then forgotten.
func TestSilencesMemoryRetention(t *testing.T) {
	clock := newFakeClock()
	ss := newSilences(nil, "p:", time.Second, clock.Now, nil)
	m, _ := ParseMatcher("a=b")
	ctx := context.Background()
	s, err := ss.add(ctx, Silence{Matchers: Matchers{m}, StartsAt: clock.Now().Add(time.Hour), EndsAt: clock.Now().Add(2 * time.Hour), CreatedBy: "x"})
	if err != nil || s.Status != SilencePending {
		t.Fatalf("%+v %v", s, err)
	}
	if ids := ss.matching(map[string]string{"a": "b"}, clock.Now()); ids != nil {
		t.Errorf("a pending silence matched: %v", ids)
	}
	clock.Advance(90 * time.Minute)
	if ids := ss.matching(map[string]string{"a": "b"}, clock.Now()); len(ids) != 1 {
		t.Errorf("active silence did not match: %v", ids)
	}
	clock.Advance(time.Hour)
	if l, _ := ss.list(ctx); len(l) != 1 || l[0].Status != SilenceExpired {
		t.Errorf("%+v", l)
	}
	clock.Advance(25 * time.Hour)
	if l, _ := ss.list(ctx); len(l) != 0 {
		t.Errorf("kept past the retention: %+v", l)
	}
}
