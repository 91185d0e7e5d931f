package monitor

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeClock is an injectable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(t)
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// t0 is a whole second, so that offsets from it land in known buckets.
var t0 = time.Unix(1_800_000_000, 0)

// offlineMonitor returns a Monitor whose client points at a closed port:
// enough for everything that does no I/O (New, RecordCommand, Snapshot).
func offlineMonitor(t testing.TB, o Options) *Monitor {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	o.Redis = c
	return New(o)
}

func near(got, want, relTol float64) bool {
	if want == 0 {
		return math.Abs(got) < 1e-9
	}
	return math.Abs(got-want) <= relTol*math.Abs(want)
}

func TestWindowsOverCompleteSeconds(t *testing.T) {
	clk := newFakeClock(t0)
	m := offlineMonitor(t, Options{Now: clk.Now})

	clk.Set(t0.Add(200 * time.Millisecond)) // second t0
	for i := 1; i <= 100; i++ {
		m.RecordCommand(time.Duration(i)*time.Millisecond, "ok")
	}
	for range 10 {
		m.RecordCommand(time.Millisecond, "error_reply")
	}
	for range 5 {
		m.RecordCommand(time.Hour, "canceled") // counted, not an error, not timed
	}
	for range 5 {
		m.RecordCommand(0, "breaker_open") // an error, not timed
	}
	clk.Set(t0.Add(1500 * time.Millisecond)) // second t0+1
	for range 50 {
		m.RecordCommand(200*time.Millisecond, "miss")
	}

	// Still in t0+1: only t0 is complete.
	clk.Set(t0.Add(1900 * time.Millisecond))
	s := m.Snapshot()
	if s.ThroughputOps != 120 {
		t.Errorf("throughput in t0+1 = %v, want 120 (t0's commands over 1 s)", s.ThroughputOps)
	}
	if !near(s.Errors.Rate, 15.0/120, 1e-9) {
		t.Errorf("error rate = %v, want 15/120", s.Errors.Rate)
	}
	if s.LatencyMS.Count != 110 || s.LatencyMS.Window != "1m" {
		t.Errorf("latency count = %d window %q, want 110 timed commands over 1m", s.LatencyMS.Count, s.LatencyMS.Window)
	}
	if !near(s.LatencyMS.P50, 46, 0.03) { // 110 values: ten 1 ms, then 1..100 ms; median ≈ 45-46 ms
		t.Errorf("p50 = %v ms, want ≈46", s.LatencyMS.P50)
	}
	if s.Errors.Total != 15 || s.Errors.Commands != 170 {
		t.Errorf("errors total %d of %d commands, want 15 of 170 (current second included)", s.Errors.Total, s.Errors.Commands)
	}
	if s.Errors.ByType["error_reply"] != 10 || s.Errors.ByType["breaker_open"] != 5 || len(s.Errors.ByType) != 2 {
		t.Errorf("by type = %v", s.Errors.ByType)
	}

	// At t0+2 both seconds are complete.
	clk.Set(t0.Add(2 * time.Second))
	s = m.Snapshot()
	if s.ThroughputOps != 85 || s.LatencyMS.Count != 160 {
		t.Errorf("at t0+2: throughput %v (want 170/2), latency count %d (want 160)", s.ThroughputOps, s.LatencyMS.Count)
	}
	if s.LatencyMS.P99 < 198 || s.LatencyMS.P99 > 202 {
		t.Errorf("p99 = %v, want ≈200", s.LatencyMS.P99)
	}

	// 70 s later the 1-minute window is empty, the 5-minute one is not.
	clk.Set(t0.Add(70 * time.Second))
	s = m.Snapshot()
	if s.ThroughputOps != 0 || s.LatencyMS.Count != 0 || s.LatencyMS.P99 != 0 || s.Errors.Rate != 0 {
		t.Errorf("1m window after 70 s: throughput %v, latency %+v, error rate %v", s.ThroughputOps, s.LatencyMS, s.Errors.Rate)
	}
	if s.Latency5mMS.Count != 160 || s.Latency5mMS.Window != "5m" {
		t.Errorf("5m window after 70 s: %+v", s.Latency5mMS)
	}
	if s.Errors.Total != 15 {
		t.Errorf("total errors = %d, want 15 since start", s.Errors.Total)
	}
	// After 6 minutes everything has left the windows, not the totals.
	clk.Set(t0.Add(6 * time.Minute))
	if s = m.Snapshot(); s.Latency5mMS.Count != 0 || s.Errors.Commands != 170 {
		t.Errorf("after 6 min: 5m latency %+v, commands %d", s.Latency5mMS, s.Errors.Commands)
	}
}

// The sketch keeps its 1 % relative accuracy through the per-second
// buckets and their merging.
func TestQuantileAccuracy(t *testing.T) {
	clk := newFakeClock(t0)
	m := offlineMonitor(t, Options{Now: clk.Now})
	// 1..10000 µs spread over 50 seconds, 200 per second.
	for i := 1; i <= 10000; i++ {
		clk.Set(t0.Add(time.Duration(i/200) * time.Second))
		m.RecordCommand(time.Duration(i)*time.Microsecond, "ok")
	}
	clk.Set(t0.Add(59 * time.Second))
	s := m.Snapshot()
	for _, q := range []struct {
		name      string
		got, want float64
	}{{"p50", s.LatencyMS.P50, 5.0}, {"p95", s.LatencyMS.P95, 9.5}, {"p99", s.LatencyMS.P99, 9.9}} {
		if !near(q.got, q.want, 0.011) {
			t.Errorf("%s = %v ms, want %v ±1%%", q.name, q.got, q.want)
		}
	}
	if s.LatencyMS != (Latency{P50: s.Latency5mMS.P50, P95: s.Latency5mMS.P95, P99: s.Latency5mMS.P99, Count: 10000, Window: "1m"}) {
		t.Errorf("1m %+v and 5m %+v differ over the same data", s.LatencyMS, s.Latency5mMS)
	}
}

// Throughput divides by the seconds the monitor has been running while it
// is younger than a minute, then by 60.
func TestThroughputDivisor(t *testing.T) {
	clk := newFakeClock(t0)
	m := offlineMonitor(t, Options{Now: clk.Now})
	for sec := range 120 {
		clk.Set(t0.Add(time.Duration(sec)*time.Second + 10*time.Millisecond))
		for range 10 {
			m.RecordCommand(time.Millisecond, "ok")
		}
	}
	for _, at := range []int{1, 5, 59, 60, 61, 120} {
		clk.Set(t0.Add(time.Duration(at) * time.Second))
		if got := m.Snapshot().ThroughputOps; got != 10 {
			t.Errorf("at t0+%ds throughput = %v, want 10", at, got)
		}
	}
	clk.Set(t0)
	if got := m.Snapshot().ThroughputOps; got != 0 {
		t.Errorf("in the first second throughput = %v, want 0", got)
	}
}

func TestClockSteppingBack(t *testing.T) {
	clk := newFakeClock(t0.Add(5 * time.Second))
	m := offlineMonitor(t, Options{Now: clk.Now})
	m.RecordCommand(time.Millisecond, "ok")
	clk.Set(t0.Add(3 * time.Second)) // back 2 s
	m.RecordCommand(time.Millisecond, "ok")
	clk.Set(t0.Add(10 * time.Second))
	if s := m.Snapshot(); s.Errors.Commands != 2 || s.LatencyMS.Count != 2 {
		t.Errorf("commands %d, timed %d; want 2 and 2", s.Errors.Commands, s.LatencyMS.Count)
	}
}

// Concurrent writers across second boundaries lose nothing (run with -race).
func TestRecordConcurrent(t *testing.T) {
	clk := newFakeClock(t0)
	m := offlineMonitor(t, Options{Now: clk.Now})
	const writers, each = 8, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if w == 0 && i%1000 == 0 {
					clk.Add(100 * time.Millisecond) // 2 s over the run
				}
				outcome := "ok"
				if i%10 == 0 {
					outcome = "timeout"
				}
				m.RecordCommand(time.Duration(i%500)*time.Microsecond, outcome)
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = m.Snapshot()
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	clk.Add(2 * time.Second)
	s := m.Snapshot()
	if s.Errors.Commands != writers*each || s.Errors.Total != writers*each/10 {
		t.Errorf("commands %d errors %d, want %d and %d", s.Errors.Commands, s.Errors.Total, writers*each, writers*each/10)
	}
	if s.LatencyMS.Count != writers*each {
		t.Errorf("timed %d, want %d", s.LatencyMS.Count, writers*each)
	}
}

func TestStatusRules(t *testing.T) {
	clk := newFakeClock(t0)
	breaker := atomic.Value{}
	breaker.Store("closed")
	m := offlineMonitor(t, Options{Now: clk.Now, Breaker: func() string { return breaker.Load().(string) }})
	// Pretend a poll succeeded.
	m.mu.Lock()
	m.polled = true
	m.mu.Unlock()
	if s := m.Snapshot(); s.Status != StatusOK || len(s.Reasons) != 0 || s.CircuitBreaker != "closed" {
		t.Fatalf("fresh monitor: %s %v breaker %s", s.Status, s.Reasons, s.CircuitBreaker)
	}
	breaker.Store("half-open")
	if s := m.Snapshot(); s.Status != StatusDegraded || !hasReason(s, "circuit breaker half-open") {
		t.Errorf("breaker half-open: %s %v", s.Status, s.Reasons)
	}
	breaker.Store("closed")

	// 1 error in 10 commands: above 5 %, but too few commands to judge.
	clk.Set(t0.Add(100 * time.Millisecond))
	for i := range 10 {
		m.RecordCommand(time.Millisecond, map[bool]string{true: "network", false: "ok"}[i == 0])
	}
	clk.Set(t0.Add(time.Second))
	if s := m.Snapshot(); s.Status != StatusOK {
		t.Errorf("1 of 10 failing: %s %v", s.Status, s.Reasons)
	}
	// 2 errors in 30: 6.7 %.
	clk.Set(t0.Add(1100 * time.Millisecond))
	for i := range 20 {
		m.RecordCommand(time.Millisecond, map[bool]string{true: "timeout", false: "miss"}[i == 0])
	}
	clk.Set(t0.Add(2 * time.Second))
	if s := m.Snapshot(); s.Status != StatusDegraded || !hasReason(s, "client error rate 6.7%") {
		t.Errorf("2 of 30 failing: %s %v", s.Status, s.Reasons)
	}
	// Cancellations are not errors.
	clk.Set(t0.Add(2100 * time.Millisecond))
	for range 100 {
		m.RecordCommand(time.Millisecond, "canceled")
	}
	clk.Set(t0.Add(3 * time.Second))
	if s := m.Snapshot(); s.Status != StatusOK {
		t.Errorf("2 of 130 failing, 100 canceled: %s %v", s.Status, s.Reasons)
	}

	// Failed polls: degraded, then down after DownAfter.
	for i := 1; i <= 3; i++ {
		m.mu.Lock()
		m.failures, m.lastErr = i, "dial tcp: connection refused"
		m.mu.Unlock()
		s := m.Snapshot()
		want := StatusDegraded
		if i == 3 {
			want = StatusDown
		}
		if s.Status != want || !hasReason(s, "connection refused") || s.Redis.ConsecutiveFailures != i {
			t.Errorf("after %d failed polls: %s %v", i, s.Status, s.Reasons)
		}
	}
}

func hasReason(s Snapshot, sub string) bool {
	for _, r := range s.Reasons {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

// Optional dependencies left nil read as empty or unknown, and every list
// is non-nil.
func TestSnapshotEmptyDependencies(t *testing.T) {
	m := offlineMonitor(t, Options{})
	s := m.Snapshot()
	if s.Status != StatusDegraded || !hasReason(s, "no poll") {
		t.Errorf("before any poll: %s %v", s.Status, s.Reasons)
	}
	if s.CircuitBreaker != "unknown" || s.Cache.Available || s.Redis.Mode != "standalone" {
		t.Errorf("breaker %q cache %+v mode %q", s.CircuitBreaker, s.Cache, s.Redis.Mode)
	}
	if s.HotKeys == nil || s.Alerts == nil || s.Reasons == nil || s.Redis.Replicas == nil || s.Redis.Sentinels == nil ||
		s.Redis.LatencyEvents == nil || s.Redis.ErrorStats == nil || s.Errors.ByType == nil {
		t.Errorf("a nil list or map: %+v", s)
	}
	// The hot-key list is cut to 10.
	hk := make([]HotKey, 15)
	m = offlineMonitor(t, Options{HotKeys: func() []HotKey { return hk }, Alerts: func() []Alert { return []Alert{{Name: "x"}} }})
	if s := m.Snapshot(); len(s.HotKeys) != 10 || len(s.Alerts) != 1 {
		t.Errorf("hotkeys %d alerts %d", len(s.HotKeys), len(s.Alerts))
	}
}

func TestCacheStats(t *testing.T) {
	c := CacheStatsFromAnswers(70, 20, 9, 1)
	if c.L1 != (TierStats{70, 30}) || c.Redis != (TierStats{20, 10}) || c.Store != (TierStats{9, 1}) {
		t.Errorf("CacheStatsFromAnswers = %+v", c)
	}
	if r, n := c.hitRate(); r != 0.9 || n != 100 {
		t.Errorf("hit rate %v of %d, want 0.9 of 100", r, n)
	}
	// Without L1 counts, the Redis tier's lookups are the base.
	if r, n := (CacheStats{Redis: TierStats{3, 1}}).hitRate(); r != 0.75 || n != 4 {
		t.Errorf("redis-only hit rate %v of %d", r, n)
	}
	// A counter going backwards is a restart.
	if d := c.since(CacheStatsFromAnswers(80, 0, 0, 0)); d != c {
		t.Errorf("since a larger base = %+v", d)
	}
}

func BenchmarkRecordCommand(b *testing.B) {
	m := offlineMonitor(b, Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m.RecordCommand(time.Duration(i&1023)*time.Microsecond, "ok")
	}
}

// BenchmarkMonotonicClock is RecordCommand's floor: the one clock read it
// makes (the baseline to report its figures beside).
func BenchmarkMonotonicClock(b *testing.B) {
	clock := monotonicSeconds()
	for b.Loop() {
		_ = clock()
	}
}

func BenchmarkRecordCommandParallel(b *testing.B) {
	m := offlineMonitor(b, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			m.RecordCommand(time.Duration(i&1023)*time.Microsecond, "ok")
		}
	})
}

// BenchmarkSnapshot reads a snapshot with five minutes of buckets, each
// of a spread of latencies: the once-a-second merge plus the copies, and
// the cached path within one second.
func BenchmarkSnapshot(b *testing.B) {
	clk := newFakeClock(t0)
	m := offlineMonitor(b, Options{Now: clk.Now, Cache: func() CacheStats { return CacheStatsFromAnswers(90, 9, 1, 0) }})
	for sec := range 300 {
		clk.Set(t0.Add(time.Duration(sec) * time.Second))
		for i := range 1000 {
			m.RecordCommand(time.Duration(50+i*i)*time.Microsecond, "ok")
		}
	}
	b.Run("new-second", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			clk.Set(t0.Add(time.Duration(300+i%2) * time.Second)) // full windows, recomputed every time
			_ = m.Snapshot()
		}
	})
	b.Run("same-second", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Snapshot()
		}
	})
}
