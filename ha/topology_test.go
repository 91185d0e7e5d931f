package ha

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/studiohq/studio/monitor"
)

// These tests drive the watcher's state with the events and poll answers
// real Sentinels gave (see events_test.go); the integration tests in
// watcher_sentinel_test.go run it against real processes.

var testSentinels = []string{"127.0.0.1:27380", "127.0.0.1:27381", "127.0.0.1:27382"}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type stateFixture struct {
	st    *state
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *bytes.Buffer
}

func newFixture(t *testing.T) *stateFixture {
	t.Helper()
	f := &stateFixture{clock: &fakeClock{t: time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)},
		reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f.st = newState("mymaster", testSentinels, newMetrics(f.reg, testSentinels), log, f.clock.now)
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// event feeds one event from Sentinel i.
func (f *stateFixture) event(t *testing.T, i int, kind, payload string) {
	t.Helper()
	ev, err := ParseEvent(kind, payload)
	if err != nil {
		t.Fatal(err)
	}
	ev.Time, ev.Sentinel = f.clock.now(), testSentinels[i]
	f.st.applyEvent(ev)
}

// healthyPoll is what Sentinel i answers with master at addr.
func healthyPoll(started time.Time, master string, epoch int64, replicas ...string) sentinelPoll {
	p := sentinelPoll{started: started, master: master, epoch: epoch, flags: []string{},
		quorum: 2, otherSentinels: 2, quorumOK: true, quorumDetail: "OK 3 usable Sentinels. Quorum and failover authorization can be reached"}
	for _, r := range replicas {
		p.replicas = append(p.replicas, sentinelReplica{addr: r, flags: []string{}, linkOK: true, offset: 100})
	}
	return p
}

func (f *stateFixture) pollAll(master string, epoch int64, replicas ...string) {
	for _, a := range testSentinels {
		f.st.applySentinelPoll(a, healthyPoll(f.clock.now(), master, epoch, replicas...))
	}
}

// The failover a kill -9 of the master causes, as three Sentinels report
// it: counted once, timed from the first +sdown to the first
// +switch-master, the master follows at once.
func TestFailoverCountedOnce(t *testing.T) {
	f := newFixture(t)
	events, cancel := f.st.subscribe(100)
	defer cancel()
	f.pollAll("127.0.0.1:17379", 0, "127.0.0.1:17380", "127.0.0.1:17381")
	if got := f.st.topology().Master; got != "127.0.0.1:17379" {
		t.Fatalf("master %q", got)
	}

	f.clock.advance(time.Second)
	detected := f.clock.now()
	for i := range 3 {
		f.event(t, i, "+sdown", "master mymaster 127.0.0.1 17379")
	}
	f.clock.advance(50 * time.Millisecond)
	f.event(t, 2, "+odown", "master mymaster 127.0.0.1 17379 #quorum 2/2")
	f.event(t, 0, "+odown", "master mymaster 127.0.0.1 17379 #quorum 3/2")
	f.event(t, 2, "+new-epoch", "1")
	f.event(t, 2, "+try-failover", "master mymaster 127.0.0.1 17379")
	f.event(t, 0, "+new-epoch", "1")
	f.event(t, 2, "+elected-leader", "master mymaster 127.0.0.1 17379")
	f.event(t, 2, "+selected-slave", "slave 127.0.0.1:17380 127.0.0.1 17380 @ mymaster 127.0.0.1 17379")
	f.event(t, 2, "+promoted-slave", "slave 127.0.0.1:17380 127.0.0.1 17380 @ mymaster 127.0.0.1 17379")

	// A poll that started before the switch and answers after it must not
	// undo it.
	stale := healthyPoll(f.clock.now(), "127.0.0.1:17379", 0)
	f.clock.advance(900 * time.Millisecond)
	f.event(t, 2, "+failover-end", "master mymaster 127.0.0.1 17379")
	switched := f.clock.now()
	f.event(t, 2, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	f.st.applySentinelPoll(testSentinels[2], stale)
	f.st.applySentinelPoll(testSentinels[0], stale)
	f.clock.advance(300 * time.Millisecond)
	// Sentinels that have not learnt of the switch yet keep the old view.
	f.st.applySentinelPoll(testSentinels[0], healthyPoll(f.clock.now(), "127.0.0.1:17379", 0))
	f.st.applySentinelPoll(testSentinels[1], healthyPoll(f.clock.now(), "127.0.0.1:17379", 0))
	if got := f.st.topology().Master; got != "127.0.0.1:17380" {
		t.Fatalf("master after the leader's switch and stale polls: %q", got)
	}
	f.event(t, 0, "+config-update-from", "sentinel a4af48ba6b96afd8c46b3ddec4bbcf774d5f3bee 127.0.0.1 27382 @ mymaster 127.0.0.1 17379")
	f.event(t, 0, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	f.event(t, 1, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	f.clock.advance(time.Second)
	f.pollAll("127.0.0.1:17380", 1, "127.0.0.1:17381", "127.0.0.1:17379")
	// A Sentinel that learns of it much later (it was paused) is still a copy.
	f.clock.advance(5 * time.Minute)
	f.event(t, 1, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")

	top := f.st.topology()
	if top.Master != "127.0.0.1:17380" || !top.MasterSince.Equal(switched) {
		t.Errorf("master %q since %v, want 127.0.0.1:17380 since %v", top.Master, top.MasterSince, switched)
	}
	if top.FailoversTotal != 1 || top.MasterChangesTotal != 1 {
		t.Errorf("failovers %d, master changes %d, want 1 and 1", top.FailoversTotal, top.MasterChangesTotal)
	}
	lf := top.LastFailover
	if lf == nil {
		t.Fatal("no last failover")
	}
	want := Failover{From: "127.0.0.1:17379", To: "127.0.0.1:17380",
		DetectedAt: detected, ODownAt: detected.Add(50 * time.Millisecond), StartedAt: detected.Add(50 * time.Millisecond),
		SwitchedAt: switched, EndedAt: switched, DurationSeconds: 0.95, Leader: testSentinels[2],
		Sentinels: []string{testSentinels[2], testSentinels[0], testSentinels[1]}}
	if lf.DurationSeconds < 0.949 || lf.DurationSeconds > 0.951 {
		t.Errorf("duration %v, want 0.95", lf.DurationSeconds)
	}
	lf.DurationSeconds = want.DurationSeconds
	if !equalJSON(t, *lf, want) {
		t.Errorf("last failover\n got %+v\nwant %+v", *lf, want)
	}
	if got := testutil.ToFloat64(f.st.m.failovers); got != 1 {
		t.Errorf("studio_redis_failovers_total %v", got)
	}
	if got := testutil.ToFloat64(f.st.m.masterChanges); got != 1 {
		t.Errorf("studio_redis_master_changes_total %v", got)
	}
	if got := testutil.ToFloat64(f.st.m.failoverSeconds); got < 0.949 || got > 0.951 {
		t.Errorf("studio_redis_last_failover_duration_seconds %v", got)
	}
	if got := testutil.ToFloat64(f.st.m.events.WithLabelValues("+switch-master")); got != 4 {
		t.Errorf(`studio_sentinel_events_total{event="+switch-master"} %v, want 4 (every copy)`, got)
	}
	if got := testutil.ToFloat64(f.st.m.events.WithLabelValues("+sdown")); got != 3 {
		t.Errorf(`studio_sentinel_events_total{event="+sdown"} %v, want 3`, got)
	}

	// The event stream has every copy, the later ones marked.
	cancel()
	var switches, dups int
	for ev := range events {
		if ev.Kind == KindSwitchMaster {
			switches++
			if ev.Duplicate {
				dups++
			}
		}
	}
	if switches != 4 || dups != 2 {
		// The one 5 minutes later is past the dedup window: not marked.
		t.Errorf("+switch-master on the stream: %d, %d marked duplicate; want 4 and 2", switches, dups)
	}

	// The events list: one record for the three +sdown, newest first.
	var sdown []EventRecord
	for _, r := range top.Events {
		if r.Kind == KindSDown {
			sdown = append(sdown, r)
		}
	}
	if len(sdown) != 1 || len(sdown[0].Sentinels) != 3 {
		t.Errorf("+sdown records %+v, want one from 3 Sentinels", sdown)
	}
	if top.Events[0].Kind != KindSwitchMaster || !top.Events[0].Time.After(top.Events[len(top.Events)-1].Time) {
		t.Errorf("events not newest first: %+v", top.Events)
	}

	// One warn line per failover, one per first +sdown; copies not at warn.
	logs := f.logs.String()
	if n := strings.Count(logs, `"msg":"redis failover"`); n != 1 {
		t.Errorf("%d 'redis failover' lines, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"event":"+sdown"`); n != 1 {
		t.Errorf("%d +sdown lines at info or above, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"level":"WARN","msg":"redis failover","master_name":"mymaster","from":"127.0.0.1:17379","to":"127.0.0.1:17380"`) {
		t.Errorf("no failover warn line:\n%s", logs)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// Failing back and forth: each switch is a failover of its own.
func TestFailoverPingPong(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 0)
	for i, sw := range []string{"10.0.0.1 6379 10.0.0.2 6379", "10.0.0.2 6379 10.0.0.1 6379", "10.0.0.1 6379 10.0.0.2 6379"} {
		f.clock.advance(time.Second)
		for s := range 3 {
			f.event(t, s, "+switch-master", "mymaster "+sw)
		}
		if got := f.st.topology().FailoversTotal; got != uint64(i+1) {
			t.Fatalf("after switch %d: %d failovers", i+1, got)
		}
	}
	top := f.st.topology()
	if top.Master != "10.0.0.2:6379" || top.MasterChangesTotal != 3 {
		t.Errorf("master %q, %d changes", top.Master, top.MasterChangesTotal)
	}
	// No +sdown seen: no detection, no duration.
	if top.LastFailover.DurationSeconds != 0 || !top.LastFailover.DetectedAt.IsZero() {
		t.Errorf("last failover %+v", top.LastFailover)
	}
}

// A master that comes back before a failover leaves no pending detection
// behind to stretch the next failover's duration.
func TestSDownRecoveredWithoutFailover(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 0)
	f.event(t, 0, "+sdown", "master mymaster 10.0.0.1 6379")
	f.event(t, 1, "+sdown", "master mymaster 10.0.0.1 6379")
	if v := f.st.topology().Sentinels[0]; v.Status != "sdown" || !slices.Contains(v.Flags, "s_down") {
		t.Errorf("sentinel 0 after +sdown: %+v", v)
	}
	f.clock.advance(time.Second)
	f.event(t, 0, "-sdown", "master mymaster 10.0.0.1 6379")
	f.event(t, 1, "-sdown", "master mymaster 10.0.0.1 6379")
	if v := f.st.topology().Sentinels[0]; v.Status != "ok" || len(v.Flags) != 0 {
		t.Errorf("sentinel 0 after -sdown: %+v", v)
	}
	f.clock.advance(time.Hour)
	f.event(t, 2, "+sdown", "master mymaster 10.0.0.1 6379")
	f.clock.advance(2 * time.Second)
	f.event(t, 2, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	if d := f.st.topology().LastFailover.DurationSeconds; d != 2 {
		t.Errorf("duration %v, want 2", d)
	}
	if !strings.Contains(f.logs.String(), `"level":"INFO","msg":"sentinel event","sentinel":"127.0.0.1:27380","event":"-sdown"`) {
		t.Errorf("no info line for the recovery:\n%s", f.logs)
	}
}

// A master that answers again after a leader has begun its failover is
// still failed over (Sentinel does not stop it): the switch keeps the
// detection. Sequence as three Sentinels reported a promoted replica that
// missed pings for 1 s on a loaded machine.
func TestSDownClearedDuringFailover(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 1)
	detected := f.clock.now()
	for i := range 3 {
		f.event(t, i, "+sdown", "master mymaster 10.0.0.1 6379")
	}
	f.event(t, 1, "+odown", "master mymaster 10.0.0.1 6379 #quorum 3/2")
	f.event(t, 1, "+try-failover", "master mymaster 10.0.0.1 6379")
	f.clock.advance(60 * time.Millisecond)
	for i := range 3 {
		f.event(t, i, "-sdown", "master mymaster 10.0.0.1 6379")
	}
	f.event(t, 1, "-odown", "master mymaster 10.0.0.1 6379")
	f.event(t, 1, "+elected-leader", "master mymaster 10.0.0.1 6379")
	f.clock.advance(1100 * time.Millisecond)
	f.event(t, 1, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	lf := f.st.topology().LastFailover
	if !lf.DetectedAt.Equal(detected) || lf.DurationSeconds != 1.16 || lf.Leader != testSentinels[1] {
		t.Errorf("last failover %+v; want detected at %v, 1.16 s, led by %s", lf, detected, testSentinels[1])
	}
	if len(f.st.pending) != 0 {
		t.Errorf("pending detections left: %v", f.st.pending)
	}
}

// An aborted failover attempt of a master that is back leaves no
// detection behind; one whose master is still down keeps it.
func TestAbortedFailover(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 1)
	f.event(t, 0, "+sdown", "master mymaster 10.0.0.1 6379")
	f.event(t, 0, "+try-failover", "master mymaster 10.0.0.1 6379")
	f.event(t, 0, "-sdown", "master mymaster 10.0.0.1 6379")
	if len(f.st.pending) != 1 {
		t.Fatalf("a started failover's detection was dropped on -sdown: %v", f.st.pending)
	}
	f.event(t, 0, "-failover-abort-not-elected", "master mymaster 10.0.0.1 6379")
	if len(f.st.pending) != 0 {
		t.Fatalf("an aborted failover of a master that is back left a detection: %v", f.st.pending)
	}

	f.clock.advance(time.Hour)
	detected := f.clock.now()
	f.event(t, 2, "+sdown", "master mymaster 10.0.0.1 6379")
	f.event(t, 2, "+try-failover", "master mymaster 10.0.0.1 6379")
	f.event(t, 2, "-failover-abort-not-elected", "master mymaster 10.0.0.1 6379")
	f.clock.advance(3 * time.Second)
	f.event(t, 2, "+try-failover", "master mymaster 10.0.0.1 6379")
	started := f.clock.now()
	f.clock.advance(time.Second)
	f.event(t, 2, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	lf := f.st.topology().LastFailover
	if !lf.DetectedAt.Equal(detected) || !lf.StartedAt.Equal(started) || lf.DurationSeconds != 4 {
		t.Errorf("last failover %+v; want detected at %v, started at %v, 4 s", lf, detected, started)
	}
}

// A Sentinel's +sdown of the old master arriving after the switch leaves
// no detection behind: failing back later is timed from its own +sdown.
func TestLateSDownAfterSwitch(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 0)
	f.event(t, 0, "+sdown", "master mymaster 10.0.0.1 6379")
	f.clock.advance(time.Second)
	f.event(t, 0, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	f.event(t, 1, "+sdown", "master mymaster 10.0.0.1 6379") // late
	f.event(t, 1, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	f.clock.advance(time.Hour)
	f.event(t, 0, "+sdown", "master mymaster 10.0.0.2 6379")
	f.clock.advance(1500 * time.Millisecond)
	f.event(t, 0, "+switch-master", "mymaster 10.0.0.2 6379 10.0.0.1 6379")
	f.clock.advance(time.Hour)
	f.event(t, 0, "+switch-master", "mymaster 10.0.0.1 6379 10.0.0.2 6379")
	top := f.st.topology()
	if top.FailoversTotal != 3 || top.LastFailover.DurationSeconds != 0 {
		t.Errorf("%d failovers, last %+v; want 3, the last without detection", top.FailoversTotal, top.LastFailover)
	}
	if len(f.st.pending) != 0 {
		t.Errorf("pending detections left: %v", f.st.pending)
	}
}

// Without events (all subscriptions down) a master change is learnt from
// the polls: the newest config epoch wins even against a majority.
func TestMasterFromPolls(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 3)
	f.clock.advance(time.Second)
	f.st.applySentinelPoll(testSentinels[0], healthyPoll(f.clock.now(), "10.0.0.2:6379", 4))
	top := f.st.topology()
	if top.Master != "10.0.0.2:6379" || top.MasterChangesTotal != 1 || top.FailoversTotal != 0 {
		t.Errorf("master %q, %d changes, %d failovers; want 10.0.0.2:6379, 1, 0", top.Master, top.MasterChangesTotal, top.FailoversTotal)
	}
	f.st.applySentinelPoll(testSentinels[1], healthyPoll(f.clock.now(), "10.0.0.1:6379", 3))
	if got := f.st.topology().Master; got != "10.0.0.2:6379" {
		t.Errorf("a stale Sentinel switched the master back to %q", got)
	}
	// Unreachable Sentinels do not count.
	f.st.applySentinelPoll(testSentinels[0], sentinelPoll{started: f.clock.now(), err: errors.New("i/o timeout")})
	top = f.st.topology()
	if top.Sentinels[0].Reachable || top.Sentinels[0].Status != "unreachable" || top.Sentinels[0].LastError != "i/o timeout" {
		t.Errorf("sentinel 0: %+v", top.Sentinels[0])
	}
	if top.Sentinels[1].Status != "stale" {
		t.Errorf("sentinel 1 status %q, want stale", top.Sentinels[1].Status)
	}
	if got := testutil.ToFloat64(f.st.m.reachable.WithLabelValues(testSentinels[0])); got != 0 {
		t.Errorf("studio_sentinel_reachable of sentinel 0: %v", got)
	}
	if got := testutil.ToFloat64(f.st.m.reachable.WithLabelValues(testSentinels[1])); got != 1 {
		t.Errorf("studio_sentinel_reachable of sentinel 1: %v", got)
	}
	want := []monitor.Sentinel{{Addr: testSentinels[0], Status: "unreachable"}, {Addr: testSentinels[1], Status: "stale"}, {Addr: testSentinels[2], Status: "stale"}}
	if got := f.st.monitorSentinels(); !slices.Equal(got, want) {
		t.Errorf("monitor sentinels %+v, want %+v", got, want)
	}
	// One warn line for the loss, none for the following failed polls.
	f.st.applySentinelPoll(testSentinels[0], sentinelPoll{started: f.clock.now(), err: errors.New("i/o timeout")})
	if n := strings.Count(f.logs.String(), `"msg":"sentinel unreachable"`); n != 1 {
		t.Errorf("%d 'sentinel unreachable' lines, want 1", n)
	}
}

func TestSentinelStatus(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 0)
	p := healthyPoll(f.clock.now(), "10.0.0.1:6379", 0)
	p.tilt = true
	f.st.applySentinelPoll(testSentinels[0], p)
	p = healthyPoll(f.clock.now(), "10.0.0.1:6379", 0)
	p.quorumOK, p.quorumDetail = false, "NOQUORUM 1 usable Sentinels"
	f.st.applySentinelPoll(testSentinels[1], p)
	f.st.applySentinelPoll(testSentinels[2], sentinelPoll{started: f.clock.now(), noMaster: "sentinel master mymaster: ERR No such master with that name"})
	top := f.st.topology()
	for i, want := range []string{"tilt", "no-quorum", "unknown-master"} {
		if got := top.Sentinels[i].Status; got != want {
			t.Errorf("sentinel %d status %q, want %q", i, got, want)
		}
	}
	if !slices.Equal(top.Sentinels[0].Flags, []string{"tilt"}) {
		t.Errorf("flags %v", top.Sentinels[0].Flags)
	}
	// Events move flags between polls.
	f.clock.advance(time.Second)
	f.event(t, 0, "-tilt", "#tilt mode exited")
	f.event(t, 1, "+odown", "master mymaster 10.0.0.1 6379 #quorum 2/2")
	top = f.st.topology()
	if top.Sentinels[0].Status != "ok" || top.Sentinels[1].Status != "odown" {
		t.Errorf("statuses %q %q, want ok odown", top.Sentinels[0].Status, top.Sentinels[1].Status)
	}
	// Tilt is about the Sentinel itself: never merged across Sentinels.
	f.event(t, 1, "+tilt", "#tilt mode entered")
	f.event(t, 2, "+tilt", "#tilt mode entered")
	n := 0
	for _, r := range f.st.topology().Events {
		if r.Kind == KindTilt {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d +tilt records, want 2", n)
	}
}

func TestReplicas(t *testing.T) {
	f := newFixture(t)
	f.pollAll("10.0.0.1:6379", 0, "10.0.0.2:6379", "10.0.0.3:6379")
	// Without the master's INFO: the Sentinels' view, lag unknown.
	top := f.st.topology()
	want := []ReplicaView{
		{Addr: "10.0.0.2:6379", Link: "ok", LagBytes: -1, LagSeconds: -1, Offset: 100, Flags: []string{}},
		{Addr: "10.0.0.3:6379", Link: "ok", LagBytes: -1, LagSeconds: -1, Offset: 100, Flags: []string{}},
	}
	if !equalJSON(t, top.Replicas, want) {
		t.Errorf("replicas from Sentinels\n got %+v\nwant %+v", top.Replicas, want)
	}
	// With it: lag from the offsets; a replica a Sentinel flags down is down.
	p := healthyPoll(f.clock.now(), "10.0.0.1:6379", 0, "10.0.0.2:6379")
	p.replicas = append(p.replicas, sentinelReplica{addr: "10.0.0.3:6379", flags: []string{"s_down", "disconnected"}})
	f.st.applySentinelPoll(testSentinels[1], p)
	f.st.applyNodePoll("10.0.0.1:6379", nodeState{role: "master", offset: 5000, replicas: []monitor.Replica{
		{Addr: "10.0.0.2:6379", State: "online", Offset: 4900, LagSeconds: 0},
		{Addr: "10.0.0.4:6379", State: "wait_bgsave", Offset: 0, LagSeconds: 1},
	}}, nil)
	top = f.st.topology()
	want = []ReplicaView{
		{Addr: "10.0.0.2:6379", Link: "ok", LagBytes: 100, LagSeconds: 0, Offset: 4900, Flags: []string{}},
		{Addr: "10.0.0.3:6379", Link: "down", LagBytes: -1, LagSeconds: -1, Offset: 0, Flags: []string{"disconnected", "s_down"}},
		{Addr: "10.0.0.4:6379", Link: "down", LagBytes: 5000, LagSeconds: 1, Offset: 0, Flags: []string{}},
	}
	if !equalJSON(t, top.Replicas, want) {
		t.Errorf("replicas with INFO\n got %+v\nwant %+v", top.Replicas, want)
	}
	if !top.MasterReachable || top.MasterRole != "master" || top.MasterReplOffset != 5000 {
		t.Errorf("master fields %+v", top)
	}
	if got := testutil.ToFloat64(f.st.m.replicaLagBytes.WithLabelValues("10.0.0.2:6379")); got != 100 {
		t.Errorf("lag gauge %v", got)
	}
	// A replica that leaves loses its series.
	f.st.applyNodePoll("10.0.0.1:6379", nodeState{role: "master", offset: 5000, replicas: []monitor.Replica{
		{Addr: "10.0.0.2:6379", State: "online", Offset: 5000},
	}}, nil)
	if n := testutil.CollectAndCount(f.st.m.replicaLagBytes); n != 1 {
		t.Errorf("%d lag series, want 1", n)
	}
	// An unreachable master: no lag figures.
	f.st.applyNodePoll("10.0.0.1:6379", nodeState{}, errors.New("dial tcp 10.0.0.1:6379: connection refused"))
	top = f.st.topology()
	if top.MasterReachable || top.MasterError == "" || top.Replicas[0].LagBytes != -1 {
		t.Errorf("after a failed master poll: %+v", top)
	}
	// An answer from a former master is ignored.
	f.st.applyNodePoll("10.0.0.9:6379", nodeState{role: "master"}, nil)
	if f.st.topology().MasterReachable {
		t.Error("a poll of another node counted for the master")
	}
}

// Slow subscribers lose events (counted) and never block; closing works
// from both ends.
func TestSubscribers(t *testing.T) {
	f := newFixture(t)
	slow, cancelSlow := f.st.subscribe(1)
	fast, cancelFast := f.st.subscribe(100)
	for range 10 {
		f.event(t, 0, "+new-epoch", "1")
		f.clock.advance(time.Minute)
	}
	if got := len(fast); got != 10 {
		t.Errorf("fast subscriber got %d", got)
	}
	if got := len(slow); got != 1 {
		t.Errorf("slow subscriber holds %d", got)
	}
	top := f.st.topology()
	if top.EventsDropped != 9 || testutil.ToFloat64(f.st.m.eventsDropped) != 9 {
		t.Errorf("dropped %d (metric %v), want 9", top.EventsDropped, testutil.ToFloat64(f.st.m.eventsDropped))
	}
	cancelSlow()
	cancelSlow() // idempotent
	<-slow
	if _, ok := <-slow; ok {
		t.Error("slow channel not closed")
	}
	f.st.closeSubscribers()
	cancelFast() // after close: no double close
	n := 0
	for range fast {
		n++
	}
	if n != 10 {
		t.Errorf("drained %d", n)
	}
	late, cancelLate := f.st.subscribe(1)
	defer cancelLate()
	if _, ok := <-late; ok {
		t.Error("subscribing after close gave an open channel")
	}
}

// The events list keeps the last 50 records.
func TestEventsRing(t *testing.T) {
	f := newFixture(t)
	for i := range 180 {
		f.event(t, i%3, "+sdown", "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379")
		if i%3 == 2 {
			f.clock.advance(time.Minute)
		}
	}
	top := f.st.topology()
	if len(top.Events) != maxEvents {
		t.Fatalf("%d events, want %d", len(top.Events), maxEvents)
	}
	for _, r := range top.Events[:len(top.Events)-1] {
		if len(r.Sentinels) != 3 {
			t.Fatalf("record %+v not merged over the 3 Sentinels", r)
		}
	}
	// Events about another master the Sentinels watch are left out.
	f.event(t, 0, "+sdown", "master other 10.0.0.7 6379")
	if got := f.st.topology().Events[0]; got.Master == "other" {
		t.Errorf("recorded %+v", got)
	}
}

func TestTopologyJSON(t *testing.T) {
	f := newFixture(t)
	b, err := json.Marshal(f.st.topology())
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"replicas":[]`, `"events":[]`, `"last_failover":null`, `"flags":[]`, `"master":""`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
}
