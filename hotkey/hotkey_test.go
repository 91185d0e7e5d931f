package hotkey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
)

// clock is an injectable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	// 10 s-aligned, so a test's minute fills six whole buckets.
	c.ns.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func sessionKey(i uint64) string {
	sum := sha256.Sum256([]byte(fmt.Sprint("token-", i)))
	return "studio:s:" + hex.EncodeToString(sum[:])
}

var hex64 = regexp.MustCompile(`[0-9a-fA-F]{64}`)

// TestSummaryBounds checks Space-Saving's invariants against exact counts
// on a small summary that is constantly full.
func TestSummaryBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	s := newSummary(16)
	s.reset(0)
	exact := map[string]uint64{}
	for range 20000 {
		k := fmt.Sprint("k", r.IntN(200)*r.IntN(3))
		exact[k]++
		s.add(k, hashOf(k))
	}
	mon := map[string]bool{}
	for i := int32(0); i < s.n; i++ {
		e := s.ent[i]
		k := string(s.stored(i))
		mon[k] = true
		c := uint64(s.heap[e.hpos].count)
		if c < exact[k] || c-uint64(e.err) > exact[k] {
			t.Errorf("%s: count %d err %d, exact %d", k, c, e.err, exact[k])
		}
		if s.ent[s.heap[e.hpos].idx].hash != e.hash {
			t.Fatalf("heap index broken")
		}
	}
	for k, c := range exact {
		if !mon[k] && c > s.floor() {
			t.Errorf("unmonitored %s has %d > floor %d", k, c, s.floor())
		}
	}
	if s.floor() > s.total/16 {
		t.Errorf("floor %d above N/m %d", s.floor(), s.total/16)
	}
}

func hashOf(k string) uint64 { return xxhashString(k) }

// TestAccuracyZipf: 1M accesses over 100k keys (Zipf s=1.1) plus planted
// keys at 1.05× the threshold, spread over one minute, against exact counts.
func TestAccuracyZipf(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	n := 1_000_000
	if testing.Short() {
		seeds, n = seeds[:1], 300_000
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			clk := newClock()
			d := New(Options{Now: clk.Now})
			r := rand.New(rand.NewPCG(seed, 99))
			z := rand.NewZipf(r, 1.1, 1, 100_000-1)
			keys := make([]string, 100_000)
			for i := range keys {
				keys[i] = sessionKey(uint64(i) + seed*1_000_000)
			}
			planted := []string{"studio:s:" + "planted-a", "user:planted-b", "cfg:planted-c"}
			per := 1050 // 1.05 × threshold in the minute
			exact := map[string]uint64{}
			total := n + per*len(planted)
			stream := make([]string, 0, total)
			for range n {
				stream = append(stream, keys[z.Uint64()])
			}
			// Plant evenly, shuffled into the stream.
			for _, p := range planted {
				for range per {
					stream = append(stream, p)
				}
			}
			r.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
			step := time.Minute / time.Duration(total)
			for _, k := range stream {
				exact[k]++
				d.Observe(k)
				clk.Add(step)
			}
			clk.ns.Add(-1) // stay inside the sixth bucket
			top := d.Top(0)
			byDisplay := map[string]Entry{}
			for _, e := range top {
				byDisplay[e.Key] = e
			}
			type kc struct {
				k string
				c uint64
			}
			var ex []kc
			for k, c := range exact {
				ex = append(ex, kc{k, c})
			}
			slices.SortFunc(ex, func(a, b kc) int { return int(b.c) - int(a.c) })
			// Top-10 precision.
			want := map[string]bool{}
			for _, e := range ex[:10] {
				want[DisplayKey(e.k)] = true
			}
			for _, e := range top[:10] {
				if !want[e.Key] {
					t.Errorf("top-10 holds %s (count %d) which is not in the exact top 10", e.Key, e.Count)
				}
			}
			// Bounds and no miss above the threshold.
			var maxErr, sumErr, maxBound uint64
			var m int
			for _, e := range ex {
				got, ok := byDisplay[DisplayKey(e.k)]
				if e.c >= 1000 && (!ok || got.Count < 1000) {
					t.Errorf("key %s with exact count %d missed (entry %+v)", DisplayKey(e.k), e.c, got)
				}
				if !ok {
					continue
				}
				if got.Count < e.c || got.Count-got.Error > e.c {
					t.Errorf("%s: count %d error %d, exact %d", got.Key, got.Count, got.Error, e.c)
				}
				if m < 1000 {
					diff := got.Count - e.c
					maxErr, sumErr = max(maxErr, diff), sumErr+diff
					maxBound = max(maxBound, got.Error)
					m++
				}
			}
			evs := d.Check()
			fired := map[string]bool{}
			for _, ev := range evs {
				fired[ev.Key] = true
			}
			for _, p := range planted {
				if !fired[DisplayKey(p)] {
					t.Errorf("planted %s at 1.05× threshold: no event", DisplayKey(p))
				}
			}
			t.Logf("seed %d: %d accesses, top-1000 overcount mean %.1f max %d (reported error bound max %d), events %d, detector %d bytes",
				seed, total, float64(sumErr)/float64(m), maxErr, maxBound, len(evs), d.MemoryBytes())
		})
	}
}

func TestSlidingWindow(t *testing.T) {
	clk := newClock()
	d := New(Options{Now: clk.Now, Threshold: 100})
	for range 150 {
		d.Observe("k")
	}
	if top := d.Top(1); len(top) != 1 || top[0].Count != 150 || top[0].Error != 0 {
		t.Fatalf("top %+v", top)
	}
	if evs := d.Check(); len(evs) != 1 || evs[0].Key != "k" {
		t.Fatalf("events %+v", evs)
	}
	if evs := d.Check(); len(evs) != 0 {
		t.Fatalf("fired twice: %+v", evs)
	}
	clk.Add(35 * time.Second)
	for range 50 {
		d.Observe("k")
	}
	if top := d.Top(1); top[0].Count != 200 {
		t.Fatalf("after 35s: %+v", top)
	}
	clk.Add(40 * time.Second) // first 150 are 75 s old: aged out
	if top := d.Top(1); len(top) != 1 || top[0].Count != 50 {
		t.Fatalf("after 75s: %+v", top)
	}
	if evs := d.Check(); len(evs) != 0 {
		t.Fatalf("events %+v", evs)
	}
	clk.Add(time.Minute)
	if top := d.Top(1); len(top) != 0 {
		t.Fatalf("after 135s: %+v", top)
	}
	// Re-armed: crossing again fires again.
	for range 100 {
		d.Observe("k")
	}
	if evs := d.Check(); len(evs) != 1 {
		t.Fatalf("re-armed crossing: %+v", evs)
	}
}

func TestDisplayKey(t *testing.T) {
	sk := sessionKey(1)
	cases := map[string]string{
		"user:42":                    "user:42",
		sk:                           "studio:s:#" + tag(xxhashString(sk)),
		"bad\x00\xffkey":             "bad??key",
		"studio:tombstone:" + sk[9:]: "studio:tombstone:#" + tag(xxhashString("studio:tombstone:"+sk[9:])),
	}
	long := "a:" + string(bytes.Repeat([]byte("x"), 200))
	cases[long] = long[:64] + "…#" + tag(xxhashString(long))
	tok := "st_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf"
	cases["tok:"+tok] = "tok:#" + tag(xxhashString("tok:"+tok))
	for in, want := range cases {
		if got := DisplayKey(in); got != want {
			t.Errorf("DisplayKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoFullHashAnywhere(t *testing.T) {
	var logs bytes.Buffer
	clk := newClock()
	var evs []Event
	d := New(Options{Now: clk.Now, Threshold: 10, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), OnHot: func(e Event) { evs = append(evs, e) }})
	for i := range 50 {
		d.Observe(sessionKey(uint64(i % 3)))
	}
	d.Check()
	p := NewPublisher(d, nil, PublisherOptions{})
	p.Tick(context.Background())
	payload, _ := json.Marshal(d.bucket(d.bucketNow(), 10))
	out, _ := json.Marshal([]any{d.Top(0), evs, p.View()})
	for name, b := range map[string][]byte{"logs": logs.Bytes(), "output": out, "payload": payload} {
		if hex64.Match(b) || bytes.Contains(b, []byte(sessionKey(0)[9:17])) {
			t.Errorf("%s shows a session hash: %s", name, b)
		}
	}
	if len(evs) != 3 || !bytes.Contains(logs.Bytes(), []byte("studio:s:#")) {
		t.Errorf("events %d, logs %s", len(evs), logs.Bytes())
	}
}

func TestTwoInstancesAggregate(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var evs []Event
	onHot := func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }
	da := New(Options{Now: clk.Now, OnHot: onHot, Registerer: reg})
	db := New(Options{Now: clk.Now, OnHot: onHot})
	pa := NewPublisher(da, srv.Client(t), PublisherOptions{Instance: "a"})
	pb := NewPublisher(db, srv.Client(t), PublisherOptions{Instance: "b"})
	key := sessionKey(42)
	ctx := context.Background()
	// 1200 accesses in a minute, half on each instance, plus noise; a
	// round every 5 s as Run would do.
	for i := range 1200 {
		if i%100 == 0 {
			pa.Tick(ctx)
			pb.Tick(ctx)
		}
		if i%2 == 0 {
			da.Observe(key)
			da.Observe(fmt.Sprint("noise:", i))
		} else {
			db.Observe(key)
		}
		clk.Add(50 * time.Millisecond)
	}
	clk.Add(-time.Second)
	if e := da.Check(); len(e) != 0 {
		t.Fatalf("local check fired on half the traffic: %+v", e)
	}
	pa.Tick(ctx)
	pb.Tick(ctx)
	pa.Tick(ctx)
	for _, p := range []*Publisher{pa, pb} {
		v := p.View()
		if v.Scope != ScopeGlobal || !slices.Equal(v.Instances, []string{"a", "b"}) || len(v.Entries) == 0 {
			t.Fatalf("%s view %+v", p.Instance(), v)
		}
		e := v.Entries[0]
		if e.Key != DisplayKey(key) || e.Count != 1200 || e.Error != 0 || len(e.Instances) != 2 ||
			e.Instances[0].Count != 600 || e.Instances[1].Count != 600 {
			t.Fatalf("%s top %+v", p.Instance(), e)
		}
		t.Logf("instance %s global top: %+v (unseen bound %d)", p.Instance(), e, v.UnseenBound)
	}
	mu.Lock()
	defer mu.Unlock()
	// One event per instance, when the global count first reached 1000.
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	for _, e := range evs {
		if e.Scope != ScopeGlobal || e.Key != DisplayKey(key) || e.Count < 1000 || len(e.Instances) != 2 {
			t.Errorf("event %+v", e)
		}
	}
	if got := testutil.ToFloat64(da.hot.events.WithLabelValues(ScopeGlobal)); got != 1 {
		t.Errorf("counter %v", got)
	}
	// Nothing in Redis shows a full hash.
	rdb := srv.Client(t)
	keys, _ := rdb.Keys(ctx, "studio:hotkeys:*").Result()
	if len(keys) == 0 {
		t.Fatal("nothing published")
	}
	for _, k := range keys {
		vals, _ := rdb.HGetAll(ctx, k).Result()
		b, _ := json.Marshal(vals)
		if hex64.Match(b) {
			t.Errorf("%s holds a session hash: %s", k, b)
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 || ttl > 90*time.Second {
			t.Errorf("%s ttl %v", k, ttl)
		}
	}
}

func TestRedisDownDropsWithoutBlocking(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t, func(o *redis.Options) { o.DialTimeout = 100 * time.Millisecond; o.MaxRetries = -1 })
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	d := New(Options{Threshold: 50})
	p := NewPublisher(d, rdb, PublisherOptions{Timeout: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 100 {
		d.Observe(fmt.Sprint("k", i%7))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range 10 {
		p.Tick(ctx)
		// Observe is never held up by a round in flight.
		done := make(chan struct{})
		go func() { d.Observe("k0"); close(done) }()
		<-done
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := testutil.ToFloat64(p.outcomes.WithLabelValues("dropped")); got != 10 {
		t.Errorf("dropped %v, want 10", got)
	}
	if v := p.View(); v.Scope != ScopeLocal || len(v.Entries) != 7 {
		t.Errorf("fallback view %+v", v)
	}
	grow := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grow > 1<<20 {
		t.Errorf("heap grew %d bytes over 10 dropped rounds", grow)
	}
	t.Logf("10 dropped rounds in %v, heap change %d bytes", time.Since(start), grow)
	// Run stops with its context.
	rc, rcancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(rc) }()
	time.Sleep(50 * time.Millisecond)
	rcancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestNativeUnavailableOnRedis7(t *testing.T) {
	srv := redistest.Start(t)
	v, err := Native(context.Background(), srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Available || v.Reason == "" {
		t.Fatalf("%+v", v)
	}
	t.Logf("native view: %+v", v)
}

// countingRecorder counts the commands the instrumentation hook records.
type countingRecorder struct{ total, failed atomic.Int64 }

func (r *countingRecorder) RecordCommand(_ time.Duration, outcome string) {
	r.total.Add(1)
	if outcome != "ok" && outcome != "miss" {
		r.failed.Add(1)
	}
}

// TestNativeProbeAsksOncePerServer: against Redis 7 (no HOTKEYS) the probe
// asks COMMAND INFO once, never sends HOTKEYS GET, and makes no error, span
// or observation through the instrumentation hook, over many rounds; after
// a restart (a new run_id) it asks again.
func TestNativeProbeAsksOncePerServer(t *testing.T) {
	srv := redistest.Start(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	rec := &countingRecorder{}
	rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL(), Instrumentation: redisconn.NewInstrumentation(redisconn.InstrumentOptions{
		Tracer: tp.Tracer("test"), Recorder: rec, TraceBackground: true,
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	p := NewNativeProbe(rdb, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitView := func() *NativeView {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if v := p.View(); v != nil {
				return v
			}
		}
		t.Fatal("no view")
		return nil
	}
	v := waitView()
	if v.Available || !strings.Contains(v.Reason, "unavailable on this server") {
		t.Fatalf("view %+v", v)
	}
	time.Sleep(200 * time.Millisecond) // ~20 rounds
	if n := p.probes.Load(); n != 1 {
		t.Errorf("%d COMMAND INFO probes of one server, want 1", n)
	}
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); p.probes.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := p.probes.Load(); n != 2 {
		t.Errorf("%d probes after a restart, want 2", n)
	}
	if v := p.View(); v == nil || v.Available {
		t.Errorf("view after restart %+v", v)
	}
	if n, f := rec.total.Load(), rec.failed.Load(); n != 0 || f != 0 {
		t.Errorf("the hook recorded %d commands (%d failed); the probe must pass it untouched", n, f)
	}
	if n := len(sr.Ended()); n != 0 {
		t.Errorf("%d spans from the probe", n)
	}
	// What the restarted server saw: one COMMAND INFO, never HOTKEYS.
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(info, "cmdstat_hotkeys") || !strings.Contains(info, "cmdstat_command|info:calls=1,") {
		t.Errorf("the server's command counts:\n%s", info)
	}
}

func TestNativeParsesReply(t *testing.T) {
	var got []NativeItem
	reply := []any{"tracking-active", int64(1), "by-cpu-time-us", []any{sessionKey(3), int64(104), "y", int64(98)}}
	m := map[string]int64{}
	pairs(reply, func(k string, v any) {
		if i, ok := v.(int64); ok {
			m[k] = i
			return
		}
		pairs(v, func(k string, n any) { got = append(got, NativeItem{Key: DisplayKey(k), Value: n.(int64)}) })
	})
	if m["tracking-active"] != 1 || len(got) != 2 || hex64.MatchString(got[0].Key) || got[1].Key != "y" {
		t.Fatalf("%v %+v", m, got)
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	d := New(Options{Capacity: 4, Shards: 1})
	keys := []string{sessionKey(1), sessionKey(2), "a", "b", "c", "d", "e", "f"}
	if n := testing.AllocsPerRun(1000, func() {
		for _, k := range keys {
			d.Observe(k)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestConcurrentObserveAndRead(t *testing.T) {
	d := New(Options{Capacity: 8, Shards: 2})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				d.Observe(fmt.Sprint("k", (i*(g+1))%50))
			}
		})
	}
	for range 20 {
		_ = d.Top(5)
		_ = d.Check()
	}
	wg.Wait()
	if top := d.Top(0); len(top) == 0 {
		t.Fatal("no entries")
	}
}
