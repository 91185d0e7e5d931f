package loadgen

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// pacers are the pacers under test: the one the open loop uses on this
// platform and the portable one it falls back to.
var pacers = []struct {
	name string
	make func(context.Context) pacer
}{
	{"platform", newPacer},
	{"timer", func(ctx context.Context) pacer { return newTimerPacer(ctx) }},
}

func TestPacerNeverWakesEarly(t *testing.T) {
	for _, pc := range pacers {
		t.Run(pc.name, func(t *testing.T) {
			p := pc.make(t.Context())
			defer p.close()
			for _, d := range []time.Duration{-time.Millisecond, 0, time.Microsecond, 50 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond, 15 * time.Millisecond} {
				for range 5 {
					until := time.Now().Add(d)
					if err := p.sleepUntil(until); err != nil {
						t.Fatalf("sleepUntil(now%+v): %v", d, err)
					}
					if early := time.Until(until); early > 0 {
						t.Fatalf("sleepUntil(now%+v) returned %v early", d, early)
					}
				}
			}
		})
	}
}

func TestPacerStopsOnCancel(t *testing.T) {
	for _, pc := range pacers {
		t.Run(pc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			p := pc.make(ctx)
			defer p.close()
			done := make(chan error, 1)
			go func() { done <- p.sleepUntil(time.Now().Add(time.Hour)) }()
			time.Sleep(20 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("sleepUntil after cancel: %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("sleepUntil did not return after its context was cancelled")
			}
			// A cancelled pacer does not sleep again.
			if err := p.sleepUntil(time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
				t.Fatalf("sleepUntil on a cancelled pacer: %v", err)
			}
		})
	}
}

// TestPacerCloseReleasesItsFile: a run makes one pacer per worker; close
// must give back what it opened (the timerfd on Linux).
func TestPacerCloseReleasesItsFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := count()
	for range 200 {
		p := newPacer(t.Context())
		if err := p.sleepUntil(time.Now().Add(10 * time.Microsecond)); err != nil {
			t.Fatal(err)
		}
		p.close()
	}
	if after := count(); after > before+2 {
		t.Fatalf("open files %d → %d after 200 pacers were closed", before, after)
	}
}

// BenchmarkPacerLateness reports how late each pacer wakes a worker that
// sleeps 200 µs on an otherwise idle process (p50 and p99, µs): the
// open loop's sending precision, the portable pacer as the baseline.
func BenchmarkPacerLateness(b *testing.B) {
	for _, pc := range pacers {
		b.Run(pc.name, func(b *testing.B) {
			p := pc.make(b.Context())
			defer p.close()
			late := make([]time.Duration, 0, b.N)
			for b.Loop() {
				until := time.Now().Add(200 * time.Microsecond)
				if err := p.sleepUntil(until); err != nil {
					b.Fatal(err)
				}
				late = append(late, time.Since(until))
			}
			slices.Sort(late)
			b.ReportMetric(float64(late[len(late)/2].Nanoseconds())/1e3, "p50-late-us")
			b.ReportMetric(float64(late[len(late)*99/100].Nanoseconds())/1e3, "p99-late-us")
		})
	}
}

// brokenPacer fails every sleep, as a timerfd the kernel stopped serving
// would.
type brokenPacer struct{}

func (brokenPacer) sleepUntil(time.Time) error { return errors.New("read timerfd: broken") }
func (brokenPacer) close()                     {}

type quietTarget struct{ n atomic.Int64 }

func (*quietTarget) String() string                         { return "quiet" }
func (*quietTarget) Validate(context.Context, string) error { return nil }
func (t *quietTarget) Create(context.Context) (string, error) {
	return "t" + strconv.FormatInt(t.n.Add(1), 10), nil
}
func (*quietTarget) Revoke(context.Context, string) error { return nil }

// TestOpenLoopSurvivesABrokenPacer: a worker whose pacer fails finishes
// the run on a Go timer instead of dropping its share of the schedule.
func TestOpenLoopSurvivesABrokenPacer(t *testing.T) {
	orig := makePacer
	makePacer = func(context.Context) pacer { return brokenPacer{} }
	defer func() { makePacer = orig }()
	res, err := Run(t.Context(), Options{Target: &quietTarget{}, Concurrency: 4, Rate: 400, Duration: 500 * time.Millisecond, Sessions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Schedule; s == nil || s.NotSent > s.Intended/10 || s.Sent == 0 {
		t.Fatalf("schedule %+v: the workers stopped when their pacer failed", s)
	}
}
