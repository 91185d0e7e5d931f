package ha

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/monitor"
)

// These tests run the watcher against real Sentinels: 1 master, 2
// replicas, 3 Sentinels (quorum 2, down-after 1s) from internal/redistest.

type running struct {
	w      *Watcher
	reg    *prometheus.Registry
	logs   *lockedWriter
	events <-chan Event
	cancel context.CancelFunc
	done   chan error
}

// startWatcher runs a Watcher on topo until the test ends (or stop).
func startWatcher(t *testing.T, topo *redistest.Topology) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), logs: &lockedWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	w, err := NewWatcher(WatcherOptions{
		Sentinels:  topo.SentinelAddrs(),
		MasterName: topo.MasterName(),
		Registerer: r.reg,
		Logger:     slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	r.events, _ = w.Subscribe(1000)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("watcher log:\n%s", r.logs.String())
		}
	})
	return r
}

// stop cancels Run and returns how long it took to return.
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil // for a second stop
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	return time.Since(start)
}

// waitFor polls cond every 50ms until it holds or timeout passes; the
// failure names what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not %s: %s", timeout, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthy(top Topology, master string) (bool, string) {
	switch {
	case top.Master != master:
		return false, fmt.Sprintf("master %q, want %q", top.Master, master)
	case !top.MasterReachable || top.MasterRole != "master":
		return false, fmt.Sprintf("master reachable %v role %q (%s)", top.MasterReachable, top.MasterRole, top.MasterError)
	case len(top.Replicas) != 2:
		return false, fmt.Sprintf("replicas %+v", top.Replicas)
	}
	for _, r := range top.Replicas {
		if r.Link != "ok" || r.LagBytes < 0 || r.LagSeconds < 0 {
			return false, fmt.Sprintf("replica %+v", r)
		}
	}
	for _, s := range top.Sentinels {
		if !s.Reachable || !s.Subscribed || s.Status != "ok" || s.MasterSeen != master || !s.QuorumOK || s.Quorum != 2 || s.OtherSentinels != 2 {
			return false, fmt.Sprintf("sentinel %+v", s)
		}
	}
	return true, ""
}

func TestWatcherSeesTopology(t *testing.T) {
	topo := redistest.StartSentinel(t)
	master := topo.DataNodes()[0]
	// Some writes, so that there are offsets to compare.
	c := master.Client(t)
	for i := range 100 {
		if err := c.Set(t.Context(), fmt.Sprint("k", i), strings.Repeat("v", 100), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := startWatcher(t, topo)
	waitFor(t, 15*time.Second, "healthy", func() (bool, string) { return healthy(r.w.Topology(), master.Addr()) })
	// Replicas acknowledge every second; right after their full sync the
	// offset they acknowledged is 0, so wait for the lag to settle.
	waitFor(t, 10*time.Second, "replica lag settled", func() (bool, string) {
		top := r.w.Topology()
		for _, rv := range top.Replicas {
			if rv.LagBytes > 1000 {
				return false, fmt.Sprintf("%+v (master offset %d)", rv, top.MasterReplOffset)
			}
		}
		return true, ""
	})
	top := r.w.Topology()
	if len(top.Sentinels) != 3 || top.FailoversTotal != 0 || top.MasterChangesTotal != 0 || top.LastFailover != nil {
		t.Errorf("topology %+v", top)
	}
	var addrs []string
	for _, n := range topo.DataNodes()[1:] {
		addrs = append(addrs, n.Addr())
	}
	slices.Sort(addrs)
	for i, rv := range top.Replicas {
		if rv.Addr != addrs[i] {
			t.Errorf("replica %d is %s, want %s", i, rv.Addr, addrs[i])
		}
		t.Logf("replica %s: link %s, lag %d bytes, %d s, offset %d (master offset %d)", rv.Addr, rv.Link, rv.LagBytes, rv.LagSeconds, rv.Offset, top.MasterReplOffset)
	}
	want := []monitor.Sentinel{}
	for _, a := range topo.SentinelAddrs() {
		want = append(want, monitor.Sentinel{Addr: a, Status: "ok"})
	}
	if got := r.w.Sentinels(); !slices.Equal(got, want) {
		t.Errorf("Sentinels() = %+v, want %+v", got, want)
	}
	for _, a := range topo.SentinelAddrs() {
		if v := testutil.ToFloat64(r.w.m.reachable.WithLabelValues(a)); v != 1 {
			t.Errorf("studio_sentinel_reachable{sentinel=%q} = %v", a, v)
		}
	}
	if n, err := testutil.GatherAndCount(r.reg, "studio_redis_replica_lag_bytes"); err != nil || n != 2 {
		t.Errorf("studio_redis_replica_lag_bytes: %d series, %v", n, err)
	}
	// Each Sentinel's view, as redis_exporter's redis_sentinel_* gauges.
	var wantOK strings.Builder
	wantOK.WriteString("# HELP redis_sentinel_master_ok_sentinels Sentinels the Sentinel counts usable for the master, itself included (SENTINEL CKQUORUM).\n# TYPE redis_sentinel_master_ok_sentinels gauge\n")
	for _, a := range topo.SentinelAddrs() {
		fmt.Fprintf(&wantOK, "redis_sentinel_master_ok_sentinels{master_address=%q,master_name=%q,sentinel=%q} 3\n", master.Addr(), topo.MasterName(), a)
	}
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(wantOK.String()), "redis_sentinel_master_ok_sentinels"); err != nil {
		t.Error(err)
	}
	for _, name := range []string{"redis_sentinel_master_status", "redis_sentinel_master_ok_slaves", "redis_sentinel_master_ckquorum_status", "redis_sentinel_tilt"} {
		if n, err := testutil.GatherAndCount(r.reg, name); err != nil || n != 3 {
			t.Errorf("%s: %d series, %v; want one per Sentinel", name, n, err)
		}
	}
	if d := r.stop(t); d > 2*time.Second {
		t.Errorf("Run took %v to return", d)
	}
	// Run closed the subscribers' channels.
	drained := make(chan struct{})
	go func() {
		for range r.events {
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(time.Second):
		t.Error("subscriber channel still open after Run returned")
	}
	if err := r.w.Run(context.Background()); err != ErrRunTwice {
		t.Errorf("second Run: %v", err)
	}
}

func TestWatcherFailover(t *testing.T) {
	topo := redistest.StartSentinel(t)
	old := topo.DataNodes()[0]
	r := startWatcher(t, topo)
	waitFor(t, 15*time.Second, "healthy", func() (bool, string) { return healthy(r.w.Topology(), old.Addr()) })

	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	newMaster, err := topo.WaitMasterChange(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	sentinelsAgree := time.Since(killed)

	// The stream has +switch-master old→new.
	var switches []Event
	timeout := time.After(15 * time.Second)
	for len(switches) < 3 {
		select {
		case ev := <-r.events:
			if ev.Kind == KindSwitchMaster {
				switches = append(switches, ev)
			}
		case <-timeout:
			t.Fatalf("%d +switch-master events in 15s: %+v", len(switches), switches)
		}
	}
	for i, ev := range switches {
		if ev.OldAddr != old.Addr() || ev.Addr != newMaster.Addr() || ev.Master != topo.MasterName() {
			t.Errorf("+switch-master %+v, want %s → %s", ev, old.Addr(), newMaster.Addr())
		}
		if ev.Duplicate != (i > 0) {
			t.Errorf("+switch-master %d from %s: duplicate %v", i, ev.Sentinel, ev.Duplicate)
		}
	}
	waitFor(t, 15*time.Second, "settled on the new master", func() (bool, string) {
		top := r.w.Topology()
		if top.Master != newMaster.Addr() || !top.MasterReachable || top.MasterRole != "master" {
			return false, fmt.Sprintf("master %q reachable %v role %q", top.Master, top.MasterReachable, top.MasterRole)
		}
		for _, s := range top.Sentinels {
			if s.MasterSeen != newMaster.Addr() {
				return false, fmt.Sprintf("sentinel %s sees %s", s.Addr, s.MasterSeen)
			}
		}
		return true, ""
	})

	top := r.w.Topology()
	if top.FailoversTotal != 1 || top.MasterChangesTotal != 1 {
		t.Errorf("failovers %d, master changes %d; want 1 and 1", top.FailoversTotal, top.MasterChangesTotal)
	}
	for name, c := range map[string]prometheus.Collector{
		"studio_redis_failovers_total": r.w.m.failovers, "studio_redis_master_changes_total": r.w.m.masterChanges,
	} {
		if v := testutil.ToFloat64(c); v != 1 {
			t.Errorf("%s = %v, want 1", name, v)
		}
	}
	if v := testutil.ToFloat64(r.w.m.events.WithLabelValues(KindSwitchMaster)); v != 3 {
		t.Errorf(`studio_sentinel_events_total{event="+switch-master"} = %v, want 3 (one per Sentinel)`, v)
	}
	lf := top.LastFailover
	if lf == nil {
		t.Fatal("no last failover")
	}
	if lf.From != old.Addr() || lf.To != newMaster.Addr() || len(lf.Sentinels) != 3 || lf.Leader == "" {
		t.Errorf("last failover %+v", lf)
	}
	if lf.DetectedAt.IsZero() || lf.StartedAt.IsZero() || lf.ODownAt.IsZero() || lf.EndedAt.IsZero() {
		t.Errorf("failover timeline incomplete: %+v", lf)
	}
	if lf.DurationSeconds <= 0 || lf.DurationSeconds > 20 {
		t.Errorf("failover duration %v s, want (0, 20]", lf.DurationSeconds)
	}
	if g := testutil.ToFloat64(r.w.m.failoverSeconds); g != lf.DurationSeconds {
		t.Errorf("studio_redis_last_failover_duration_seconds %v, topology %v", g, lf.DurationSeconds)
	}
	t.Logf("failover %s → %s: kill → detection (+sdown) %v, detection → +switch-master %.3f s (odown +%v, try-failover +%v, failover-end +%v); kill → majority of Sentinels agree %v; leader %s",
		lf.From, lf.To, lf.DetectedAt.Sub(killed).Round(time.Millisecond), lf.DurationSeconds,
		lf.ODownAt.Sub(lf.DetectedAt).Round(time.Millisecond), lf.StartedAt.Sub(lf.DetectedAt).Round(time.Millisecond),
		lf.EndedAt.Sub(lf.DetectedAt).Round(time.Millisecond), sentinelsAgree.Round(time.Millisecond), lf.Leader)

	// The old master is now a replica that is down.
	waitFor(t, 15*time.Second, "old master listed as a down replica", func() (bool, string) {
		top := r.w.Topology()
		for _, rv := range top.Replicas {
			if rv.Addr == old.Addr() {
				return rv.Link == "down", fmt.Sprintf("%+v", rv)
			}
		}
		return false, fmt.Sprintf("replicas %+v", top.Replicas)
	})
	logs := r.logs.String()
	if n := strings.Count(logs, `"msg":"redis failover"`); n != 1 {
		t.Errorf("%d 'redis failover' log lines, want 1", n)
	}
	if !strings.Contains(logs, `"level":"WARN","msg":"sentinel event"`) || !strings.Contains(logs, `"event":"+sdown"`) {
		t.Errorf("no warn line for +sdown")
	}
}

// A master that stops answering for just long enough for a failover to
// begin, and answers again before the switch (a paused process, a long
// fork, a starved machine), is still failed over: Sentinel goes on once a
// leader has begun. The failover keeps its detection and duration.
func TestWatcherFailoverOfAMasterThatCameBack(t *testing.T) {
	topo := redistest.StartSentinel(t)
	old := topo.DataNodes()[0]
	r := startWatcher(t, topo)
	waitFor(t, 15*time.Second, "healthy", func() (bool, string) { return healthy(r.w.Topology(), old.Addr()) })
	for len(r.events) > 0 {
		<-r.events
	}

	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Resume() }) // a no-op once resumed
	paused := time.Now()
	var seen []string
	timeout := time.After(20 * time.Second)
	for started := false; !started; {
		select {
		case ev := <-r.events:
			seen = append(seen, ev.Kind)
			started = ev.Kind == KindTryFailover && ev.Addr == old.Addr()
		case <-timeout:
			t.Fatalf("no +try-failover of the paused master in 20 s; events %v", seen)
		}
	}
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("master paused for %v, until a leader began the failover", time.Since(paused).Round(time.Millisecond))

	// The master answers again (-sdown), and the failover goes on to its
	// switch.
	backBeforeSwitch := false
	timeout = time.After(20 * time.Second)
	for switched := false; !switched; {
		select {
		case ev := <-r.events:
			seen = append(seen, ev.Kind)
			if ev.Kind == KindSDownEnd && ev.Addr == old.Addr() {
				backBeforeSwitch = true
			}
			switched = ev.Kind == KindSwitchMaster && ev.OldAddr == old.Addr()
		case <-timeout:
			t.Fatalf("no +switch-master from the resumed master in 20 s; events %v", seen)
		}
	}
	t.Logf("-sdown of the master before the switch: %v; events %v", backBeforeSwitch, seen)
	lf := r.w.Topology().LastFailover
	if lf == nil || lf.From != old.Addr() {
		t.Fatalf("last failover %+v, want one from %s", lf, old.Addr())
	}
	if lf.DetectedAt.IsZero() || lf.StartedAt.IsZero() || lf.DurationSeconds <= 0 || lf.DurationSeconds > 20 {
		t.Errorf("the failover of a master that came back lost its detection: %+v", lf)
	}
	if g := testutil.ToFloat64(r.w.m.failoverSeconds); g != lf.DurationSeconds {
		t.Errorf("studio_redis_last_failover_duration_seconds %v, topology %v", g, lf.DurationSeconds)
	}
	t.Logf("failover %s → %s: pause → detection %v, detection → switch %.3f s",
		lf.From, lf.To, lf.DetectedAt.Sub(paused).Round(time.Millisecond), lf.DurationSeconds)
}

func TestWatcherPausedSentinel(t *testing.T) {
	topo := redistest.StartSentinel(t)
	r := startWatcher(t, topo)
	master := topo.DataNodes()[0]
	waitFor(t, 15*time.Second, "healthy", func() (bool, string) { return healthy(r.w.Topology(), master.Addr()) })
	paused := topo.Sentinels()[0]
	pa := paused.Addr()
	if err := paused.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = paused.Resume()
		}
	}()
	start := time.Now()
	waitFor(t, 10*time.Second, "paused Sentinel unreachable and unsubscribed", func() (bool, string) {
		v := r.w.Topology().Sentinels[0]
		return !v.Reachable && !v.Subscribed && v.Status == "unreachable", fmt.Sprintf("%+v", v)
	})
	t.Logf("paused Sentinel seen unreachable and unsubscribed after %v", time.Since(start).Round(time.Millisecond))
	if v := testutil.ToFloat64(r.w.m.reachable.WithLabelValues(pa)); v != 0 {
		t.Errorf("studio_sentinel_reachable{sentinel=%q} = %v", pa, v)
	}
	if v := testutil.ToFloat64(r.w.m.subscribed.WithLabelValues(pa)); v != 0 {
		t.Errorf("studio_sentinel_subscribed{sentinel=%q} = %v", pa, v)
	}

	// The others keep delivering: kill a replica, they report +sdown.
	for len(r.events) > 0 {
		<-r.events
	}
	replica := topo.DataNodes()[2]
	if err := replica.Kill(); err != nil {
		t.Fatal(err)
	}
	from := map[string]bool{}
	timeout := time.After(15 * time.Second)
	for len(from) < 2 {
		select {
		case ev := <-r.events:
			if ev.Kind == KindSDown && ev.Addr == replica.Addr() {
				from[ev.Sentinel] = true
			}
		case <-timeout:
			t.Fatalf("+sdown of the killed replica from %v only", from)
		}
	}
	if from[pa] {
		t.Errorf("an event from the paused Sentinel")
	}
	// Their polls go on.
	before := r.w.Topology().Sentinels[1].LastSeen
	waitFor(t, 5*time.Second, "polls of the other Sentinels going on", func() (bool, string) {
		top := r.w.Topology()
		return top.Sentinels[1].LastSeen.After(before) && top.Sentinels[2].Reachable, fmt.Sprintf("%+v", top.Sentinels[1:])
	})
	waitFor(t, 10*time.Second, "killed replica down", func() (bool, string) {
		for _, rv := range r.w.Topology().Replicas {
			if rv.Addr == replica.Addr() {
				return rv.Link == "down", fmt.Sprintf("%+v", rv)
			}
		}
		return false, "not listed"
	})

	// A second watcher started while the Sentinel hangs returns promptly.
	r2 := startWatcher(t, topo)
	time.Sleep(2 * time.Second)
	if d := r2.stop(t); d > 2*time.Second {
		t.Errorf("Run took %v to return with a paused Sentinel", d)
	} else {
		t.Logf("Run returned %v after cancel with a paused Sentinel", d.Round(time.Millisecond))
	}

	if err := paused.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	start = time.Now()
	waitFor(t, 15*time.Second, "resumed Sentinel reachable and subscribed", func() (bool, string) {
		v := r.w.Topology().Sentinels[0]
		return v.Reachable && v.Subscribed, fmt.Sprintf("%+v", v)
	})
	t.Logf("resumed Sentinel reachable and subscribed again after %v (status %q)", time.Since(start).Round(time.Millisecond), r.w.Topology().Sentinels[0].Status)
	if v := testutil.ToFloat64(r.w.m.reachable.WithLabelValues(pa)); v != 1 {
		t.Errorf("studio_sentinel_reachable{sentinel=%q} = %v after resume", pa, v)
	}
	logs := r.logs.String()
	for _, want := range []string{`"msg":"sentinel unreachable","sentinel":"` + pa, `"msg":"sentinel reachable again","sentinel":"` + pa,
		`"msg":"sentinel events subscription lost","sentinel":"` + pa} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
