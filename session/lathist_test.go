package session

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/studiohq/studio/internal/redistest"
)

// TestLatBucketEdges: every duration falls in a bucket whose upper edge is
// at or above it and at most 1/16 (or 1 µs) above its bucket's lower edge.
func TestLatBucketEdges(t *testing.T) {
	prev := -1
	for us := range 1 << 20 {
		d := time.Duration(us) * time.Microsecond
		i := latBucket(d)
		if i < prev {
			t.Fatalf("bucket of %v is %d, below %d for a shorter one", d, i, prev)
		}
		prev = i
		up := latUpper(i)
		if up <= d {
			t.Fatalf("%v in bucket %d whose upper edge is %v", d, i, up)
		}
		if float64(up-d) > max(float64(d)/16, float64(time.Microsecond))+1 {
			t.Fatalf("%v in bucket %d: upper edge %v is too far above", d, i, up)
		}
	}
	if latBucket(-time.Second) != 0 || latBucket(1000*time.Hour) != latBuckets-1 {
		t.Fatal("out-of-range durations not clamped")
	}
}

// TestQuantileBetween: the p99 of an interval's counts is within a bucket
// of the exact one, and only that interval counts.
func TestQuantileBetween(t *testing.T) {
	var h latHist
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 { // before the interval: slow, must not count
		h.add(50 * time.Millisecond)
	}
	var from, to latCounts
	h.snapshot(&from)
	var exact []time.Duration
	for range 10000 {
		d := time.Duration(rng.ExpFloat64() * float64(200*time.Microsecond))
		exact = append(exact, d)
		h.add(d)
	}
	h.snapshot(&to)
	slices.Sort(exact)
	want := exact[len(exact)*99/100]
	got, n := quantileBetween(&from, &to, 0.99)
	if n != 10000 {
		t.Fatalf("counted %d", n)
	}
	if got < want || float64(got) > float64(want)*(1+1.0/16)+float64(time.Microsecond) {
		t.Fatalf("p99 %v, exact %v", got, want)
	}
	if p, n := quantileBetween(&to, &to, 0.99); p != 0 || n != 0 {
		t.Fatalf("empty interval: %v, %d", p, n)
	}
}

// TestWarmControllerFollowsTraffic: the back-off reacts to the Service's
// own validation latency even when its probe reads stay fast, and climbs
// back when that latency returns to the baseline.
func TestWarmControllerFollowsTraffic(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	var h latHist
	var slow atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Traffic: 100 round trips of 100 µs per ms, or of 2 ms while slow.
	traffic := make(chan struct{})
	go func() {
		defer close(traffic)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for ctx.Err() == nil {
			<-tk.C
			d := 100 * time.Microsecond
			if slow.Load() {
				d = 2 * time.Millisecond
			}
			for range 100 {
				h.add(d)
			}
		}
	}()
	defer func() { cancel(); <-traffic }()

	const full = 1000.0
	opts := WarmBackoff{MinRate: 10}
	opts.setDefaults(full)
	c := &warmController{rdb: rdb, key: "studio:warm:probe", lat: &h, opts: opts, maxRate: full, lim: rate.NewLimiter(full, 1)}
	base, ok := c.baseline(ctx)
	if !ok || base.traffic == 0 || base.traffic > 200*time.Microsecond {
		t.Fatalf("baseline %+v, %v", base, ok)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx, base) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: rate %d, %d back-offs", what, c.rateNow.Load(), c.backoffs.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("full rate", func() bool { return c.rateNow.Load() == full })
	slow.Store(true)
	wait("back-off to the floor", func() bool { return c.rateNow.Load() == 10 })
	slow.Store(false)
	wait("climb back", func() bool { return c.rateNow.Load() >= full/2 })
}

// TestWarmControllerWindowOne: with a one-probe window and probes that
// fail (Redis gone), the controller keeps running instead of judging an
// empty window (it used to panic).
func TestWarmControllerWindowOne(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	opts := WarmBackoff{Window: 1, ProbeInterval: 5 * time.Millisecond}
	opts.setDefaults(1000)
	c := &warmController{rdb: rdb, key: "studio:warm:probe", lat: &latHist{}, opts: opts, maxRate: 1000, lim: rate.NewLimiter(1000, 1)}
	base, ok := c.baseline(context.Background())
	if !ok {
		t.Fatal("no baseline")
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c.run(ctx, base) // returns when ctx ends; a panic fails the test
}
