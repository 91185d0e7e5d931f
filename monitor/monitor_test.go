package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
)

var _ redisconn.CommandRecorder = (*Monitor)(nil)

// fastFail makes a client give up quickly on a dead or hung server.
func fastFail(o *redis.Options) {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	o.MaxRetries = -1
	o.DialerRetries = 1
}

// runMonitor runs m.Run until the test ends and waits for it to return.
func runMonitor(t *testing.T, m *Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serverInt(t *testing.T, c *redis.Client, section, key string) int64 {
	t.Helper()
	text, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	v, ok := ParseInfo(text).Int(section, key)
	if !ok {
		t.Fatalf("INFO %s has no integer %s", section, key)
	}
	return v
}

func TestSnapshotAfterPolls(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs(
		"--latency-monitor-threshold", "1", "--enable-debug-command", "local",
		"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"))
	ctx := context.Background()
	c := srv.Client(t)
	for i := range 25 {
		if err := c.Set(ctx, fmt.Sprintf("k%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Incr(ctx, "k0").Err(); err == nil {
		t.Fatal("INCR of a string succeeded")
	}
	if err := c.Do(ctx, "DEBUG", "SLEEP", "0.03").Err(); err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}

	m := New(Options{Redis: c, Interval: 50 * time.Millisecond, Breaker: func() string { return "closed" },
		Cache: func() CacheStats { return CacheStatsFromAnswers(80, 15, 5, 0) }})
	runMonitor(t, m)
	waitFor(t, 5*time.Second, "4 points", func() bool { return len(m.History(time.Time{})) >= 4 })

	s := m.Snapshot()
	if s.Status != StatusOK || len(s.Reasons) != 0 {
		t.Errorf("status %s %v", s.Status, s.Reasons)
	}
	r := s.Redis
	if r.Mode != "standalone" || r.Master != srv.Addr() || r.Role != "master" || !strings.HasPrefix(r.Version, "7.") {
		t.Errorf("mode %q master %q (want %s) role %q version %q", r.Mode, r.Master, srv.Addr(), r.Role, r.Version)
	}
	if r.UsedMemoryBytes <= 0 || r.MaxmemoryBytes != 64<<20 || r.MaxmemoryPolicy != "allkeys-lru" {
		t.Errorf("memory %d of %d, policy %q", r.UsedMemoryBytes, r.MaxmemoryBytes, r.MaxmemoryPolicy)
	}
	if r.ConnectedClients < 1 || r.MaxClients <= 0 || r.KeyspaceKeys != 25 || r.UptimeSeconds < 0 || r.PolledAt.IsZero() {
		t.Errorf("clients %d/%d keys %d uptime %d polled %v", r.ConnectedClients, r.MaxClients, r.KeyspaceKeys, r.UptimeSeconds, r.PolledAt)
	}
	// The polls themselves are commands: INFO and LATENCY LATEST every 50 ms.
	if r.OpsPerSec <= 0 || r.TotalCommands <= 0 {
		t.Errorf("ops/s %v, total %d", r.OpsPerSec, r.TotalCommands)
	}
	if r.ErrorStats["ERR"] < 1 {
		t.Errorf("error stats %v, want ERR ≥ 1", r.ErrorStats)
	}
	var cmdEvent *LatencyEvent
	for i, e := range r.LatencyEvents {
		if e.Event == "command" {
			cmdEvent = &r.LatencyEvents[i]
		}
	}
	if cmdEvent == nil || cmdEvent.MaxMS < 30 || cmdEvent.At.IsZero() {
		t.Errorf("latency events %+v, want a command event ≥ 30 ms", r.LatencyEvents)
	}
	if s.Pool.TotalConns < 1 || s.CircuitBreaker != "closed" {
		t.Errorf("pool %+v breaker %q", s.Pool, s.CircuitBreaker)
	}
	if !s.Cache.Available || s.Cache.HitRate != 0.95 || s.Cache.L1Hits != 80 || s.Cache.L1Misses != 20 || s.Cache.StoreHits != 5 {
		t.Errorf("cache %+v", s.Cache)
	}

	// History: every point is up, later ones carry the server-side rate.
	h := m.History(time.Time{})
	for _, p := range h {
		if !p.Up || p.UsedMemory <= 0 || p.MaxMemory != 64<<20 || p.ConnectedClients < 1 {
			t.Errorf("point %+v", p)
		}
	}
	if last := h[len(h)-1]; last.ServerOps <= 0 {
		t.Errorf("last point's server ops %v", last.ServerOps)
	}
	if got := m.History(h[len(h)-2].Time); len(got) < 1 || !got[0].Time.Equal(h[len(h)-1].Time) {
		t.Errorf("History(second to last) = %d points", len(got))
	}

	// The JSON shape: documented names, lists as [].
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "reasons", "time", "redis", "cache", "latency_ms", "latency_5m_ms", "throughput_ops", "errors", "pool", "circuit_breaker", "hotkeys", "alerts"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("snapshot JSON lacks %q", k)
		}
	}
	for _, k := range []string{"hotkeys", "alerts", "reasons"} {
		if _, ok := doc[k].([]any); !ok {
			t.Errorf("%q is %v, want a list", k, doc[k])
		}
	}
	red := doc["redis"].(map[string]any)
	for _, k := range []string{"mode", "master", "role", "version", "uptime_seconds", "used_memory_bytes", "maxmemory_bytes", "maxmemory_policy",
		"evicted_keys", "connected_clients", "maxclients", "ops_per_sec", "keyspace_keys", "replicas", "sentinels", "latency_events"} {
		if _, ok := red[k]; !ok {
			t.Errorf("redis JSON lacks %q", k)
		}
	}
	for _, k := range []string{"replicas", "sentinels"} {
		if _, ok := red[k].([]any); !ok {
			t.Errorf("redis.%s is %v, want a list", k, red[k])
		}
	}
	for obj, keys := range map[string][]string{
		"cache":      {"hit_rate", "l1_hits", "l1_misses", "redis_hits", "redis_misses", "store_hits", "store_misses"},
		"latency_ms": {"p50", "p95", "p99", "window"},
		"errors":     {"rate", "total"},
		"pool":       {"total_conns", "idle_conns", "stale_conns", "hits", "misses", "timeouts"},
	} {
		o, _ := doc[obj].(map[string]any)
		for _, k := range keys {
			if _, ok := o[k]; !ok {
				t.Errorf("%s JSON lacks %q", obj, k)
			}
		}
	}
}

// TestAccuracy checks the Snapshot against what the test itself sent and
// against Redis's own counter: throughput, error count and hit rate within
// 2 %, and the server-side rate against the delta of
// total_commands_processed read independently.
func TestAccuracy(t *testing.T) {
	srv := redistest.Start(t)
	dead := redistest.Start(t)
	deadAddr := dead.Addr()
	if err := dead.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	clk := newFakeClock(t0)
	var l1, l2, l3 atomic.Uint64
	m := New(Options{
		Redis: srv.Client(t), // the monitor's own polls are not instrumented here
		Now:   clk.Now,
		Cache: func() CacheStats { return CacheStatsFromAnswers(l1.Load(), l2.Load(), l3.Load(), 0) },
	})
	hook := redisconn.NewInstrumentation(redisconn.InstrumentOptions{Recorder: m})
	app := srv.Client(t)
	app.AddHook(hook)
	badOpts := &redis.Options{Addr: deadAddr}
	fastFail(badOpts)
	bad := redis.NewClient(badOpts)
	t.Cleanup(func() { _ = bad.Close() })
	bad.AddHook(hook)
	observer := srv.Client(t) // reads total_commands_processed independently

	clk.Set(t0.Add(100 * time.Millisecond))
	m.pollOnce(ctx)
	before := serverInt(t, observer, "stats", "total_commands_processed")

	// What the test sends, all within second t0.
	const (
		nSet, nGet = 2000, 2000 // ok
		nMiss      = 500        // GET of a missing key: a miss, not an error
		nErrReply  = 150        // INCR of a non-integer: ERR reply
		nNetwork   = 100        // against the stopped server
	)
	var wg sync.WaitGroup
	for w := range 4 { // four connections' worth of concurrency
		wg.Go(func() {
			for i := w; i < nSet; i += 4 {
				if err := app.Set(ctx, "key:"+strconv.Itoa(i), "x", 0).Err(); err != nil {
					t.Error(err)
					return
				}
				if err := app.Get(ctx, "key:"+strconv.Itoa(i)).Err(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range nMiss {
		if err := app.Get(ctx, "missing:"+strconv.Itoa(i)).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing: %v", err)
		}
	}
	for range nErrReply {
		if err := app.Incr(ctx, "key:0").Err(); err == nil || redisconn.Outcome(err) != "error_reply" {
			t.Fatalf("INCR of a string: %v", err)
		}
	}
	for range nNetwork {
		if err := bad.Get(ctx, "k").Err(); redisconn.Outcome(err) != "network" {
			t.Fatalf("GET from a stopped server: %v (outcome %s)", err, redisconn.Outcome(err))
		}
	}
	l1.Store(7000)
	l2.Store(2200)
	l3.Store(800) // hit rate 0.92

	after := serverInt(t, observer, "stats", "total_commands_processed")
	clk.Set(t0.Add(10 * time.Second))
	m.pollOnce(ctx)
	s := m.Snapshot()

	sent := float64(nSet + nGet + nMiss + nErrReply + nNetwork)
	wantErrors := float64(nErrReply + nNetwork)
	t.Logf("sent %v commands (%v errors); snapshot: %d commands (%d errors), throughput %.1f/s, error rate %.4f, by type %v",
		sent, wantErrors, s.Errors.Commands, s.Errors.Total, s.ThroughputOps, s.Errors.Rate, s.Errors.ByType)
	within := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.02*want {
			t.Errorf("%s = %v, want %v ±2%%", name, got, want)
		}
	}
	// Commands were recorded in second t0; at t0+10 the monitor is 10 s old.
	within("throughput", s.ThroughputOps, sent/10)
	within("error total", float64(s.Errors.Total), wantErrors)
	within("error rate", s.Errors.Rate, wantErrors/sent)
	within("commands", float64(s.Errors.Commands), sent)
	within("error_reply", float64(s.Errors.ByType["error_reply"]), nErrReply)
	within("network", float64(s.Errors.ByType["network"]), nNetwork)
	within("hit rate", s.Cache.HitRate, 0.92)
	if s.Cache.Window != "total" || s.Cache.Lookups != 10000 {
		t.Errorf("cache window %q lookups %d", s.Cache.Window, s.Cache.Lookups)
	}
	// Server side: the monitor's delta between its polls (9.9 s apart on its
	// clock) against the test's own delta, which lacks only the monitor's
	// first INFO and LATENCY and the test's first INFO.
	serverDelta := float64(after - before)
	t.Logf("server: total_commands_processed delta %v (test), %v (monitor)", serverDelta, s.Redis.OpsPerSec*9.9)
	within("server ops/s", s.Redis.OpsPerSec, serverDelta/9.9)
	if serverDelta < nSet+nGet+nMiss+nErrReply {
		t.Errorf("server counted %v commands, fewer than the %d that reached it", serverDelta, nSet+nGet+nMiss+nErrReply)
	}
	if l := s.LatencyMS; l.P50 <= 0 || l.P95 < l.P50 || l.P99 < l.P95 || l.Count == 0 {
		t.Errorf("latency %+v", l)
	}
	// The same figures reach the history point of the second poll, whose
	// client-side figures cover second t0+9 only (empty).
	h := m.History(time.Time{})
	if len(h) != 2 || !h[1].Up || h[1].ServerOps != s.Redis.OpsPerSec || h[1].HitRate != 0.92 || h[1].ClientOps != 0 {
		t.Errorf("history %+v", h)
	}
	// By tier: the L1 answered 7000 of 10000; Redis 2200 of the 3000 that
	// reached it.
	if len(h) == 2 && (math.Abs(h[1].L1HitRate-0.7) > 1e-9 || math.Abs(h[1].RedisHitRate-2200.0/3000) > 1e-9) {
		t.Errorf("history tier hit rates L1 %v Redis %v, want 0.7 and %v", h[1].L1HitRate, h[1].RedisHitRate, 2200.0/3000)
	}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}

func TestDownAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	logs := &logRecorder{}
	m := New(Options{Redis: srv.Client(t, fastFail), Interval: 50 * time.Millisecond, DownAfter: 3, Logger: slog.New(logs)})
	runMonitor(t, m)
	waitFor(t, 5*time.Second, "status ok", func() bool { return m.Snapshot().Status == StatusOK })

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "status down", func() bool { return m.Snapshot().Status == StatusDown })
	s := m.Snapshot()
	if !hasReason(s, "redis unreachable") || s.Redis.ConsecutiveFailures < 3 || s.Redis.LastError == "" || s.Redis.Version == "" {
		t.Errorf("down snapshot: reasons %v, redis %+v", s.Reasons, s.Redis)
	}
	// Many more failed polls: still one warning per transition.
	n := len(m.History(time.Time{}))
	waitFor(t, 10*time.Second, "10 more polls", func() bool { return len(m.History(time.Time{})) >= n+10 })
	for _, msg := range []string{"redis poll failed", "redis health degraded", "redis health down"} {
		if got := logs.count(slog.LevelWarn, msg); got != 1 {
			t.Errorf("%d warnings %q, want 1", got, msg)
		}
	}
	h := m.History(time.Time{})
	if last := h[len(h)-1]; last.Up || last.UsedMemory != 0 {
		t.Errorf("point of a failed poll: %+v", last)
	}

	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "status ok again", func() bool { return m.Snapshot().Status == StatusOK })
	if logs.count(slog.LevelInfo, "redis poll recovered") != 1 || logs.count(slog.LevelInfo, "redis health ok") != 1 {
		t.Errorf("recovery logs: %d recovered, %d ok", logs.count(slog.LevelInfo, "redis poll recovered"), logs.count(slog.LevelInfo, "redis health ok"))
	}
}

func TestReplication(t *testing.T) {
	master := redistest.Start(t, redistest.WithArgs("--repl-diskless-sync-delay", "0"))
	host, port, _ := net.SplitHostPort(master.Addr())
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", host, port))
	ctx := context.Background()
	rc := replica.Client(t, fastFail)
	waitFor(t, 10*time.Second, "replica link up", func() bool {
		text, err := rc.Info(ctx, "replication").Result()
		v, _ := ParseInfo(text).Get("replication", "master_link_status")
		return err == nil && v == "up"
	})

	onMaster := New(Options{Redis: master.Client(t)})
	waitFor(t, 10*time.Second, "master lists the replica online", func() bool {
		onMaster.pollOnce(ctx)
		r := onMaster.Snapshot().Redis.Replicas
		return len(r) == 1 && r[0].State == "online"
	})
	if r := onMaster.Snapshot().Redis.Replicas[0]; r.Addr != replica.Addr() || r.LagSeconds < 0 {
		t.Errorf("replica %+v, want addr %s", r, replica.Addr())
	}

	onReplica := New(Options{Redis: rc})
	onReplica.pollOnce(ctx)
	s := onReplica.Snapshot()
	if s.Status != StatusOK || s.Redis.Role != "replica" || s.Redis.Master != master.Addr() || s.Redis.MasterLinkStatus != "up" {
		t.Errorf("on the replica: %s %v role %q master %q link %q", s.Status, s.Reasons, s.Redis.Role, s.Redis.Master, s.Redis.MasterLinkStatus)
	}

	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "degraded for the replication link", func() bool {
		onReplica.pollOnce(ctx)
		s = onReplica.Snapshot()
		return s.Status == StatusDegraded && hasReason(s, "replication link")
	})
	t.Logf("reasons: %v", s.Reasons)
}

func TestMemoryDegraded(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory", "3mb", "--maxmemory-policy", "noeviction"))
	ctx := context.Background()
	c := srv.Client(t)
	m := New(Options{Redis: c})
	m.pollOnce(ctx)
	if s := m.Snapshot(); s.Status != StatusOK {
		t.Fatalf("before filling: %s %v", s.Status, s.Reasons)
	}
	val := strings.Repeat("x", 1024)
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("3 MB never filled up")
		}
		err := c.Set(ctx, "fill:"+strconv.Itoa(i), val, 0).Err()
		if err != nil && strings.HasPrefix(err.Error(), "OOM") {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	m.pollOnce(ctx)
	if s := m.Snapshot(); s.Status != StatusDegraded || !hasReason(s, "of maxmemory") {
		t.Errorf("full: %s %v (used %d of %d)", s.Status, s.Reasons, s.Redis.UsedMemoryBytes, s.Redis.MaxmemoryBytes)
	}
}

// A second concurrent Run returns at once; Run returns when its context ends.
func TestRunOnce(t *testing.T) {
	srv := redistest.Start(t)
	logs := &logRecorder{}
	m := New(Options{Redis: srv.Client(t), Interval: 20 * time.Millisecond, Logger: slog.New(logs)})
	runMonitor(t, m)
	waitFor(t, 5*time.Second, "Run to start", func() bool { return len(m.History(time.Time{})) > 0 })
	done := make(chan struct{})
	go func() { m.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a concurrent Run did not return")
	}
	if logs.count(slog.LevelError, "monitor: Run called while already running") != 1 {
		t.Error("no error logged for a concurrent Run")
	}
}
