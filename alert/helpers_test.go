package alert

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock shared by engines under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Notifier that records every call. fail, if set, decides
// the outcome of call n (from 0).
type recorder struct {
	mu    sync.Mutex
	calls [][]*Alert
	fail  func(n int) (bool, error)
}

func (r *recorder) Notify(ctx context.Context, alerts ...*Alert) (bool, error) {
	r.mu.Lock()
	n := len(r.calls)
	cp := make([]*Alert, len(alerts))
	for i, a := range alerts {
		cp[i] = cloneAlert(a)
	}
	r.calls = append(r.calls, cp)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail(n)
	}
	return false, nil
}

var _ Notifier = (*recorder)(nil)

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// sent returns the alerts of every call, in order, with the given state
// (firing: triggers and repeats; resolved: resolve notices).
func (r *recorder) sent(state State) []*Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Alert
	for _, c := range r.calls {
		for _, a := range c {
			if a.State == state {
				out = append(out, a)
			}
		}
	}
	return out
}

// harness runs an Engine's background goroutines and drives its
// evaluations by hand.
type harness struct {
	t     testing.TB
	e     *Engine
	clock *fakeClock
	recs  map[string]*recorder
	waits *waitLog
}

type waitLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *waitLog) add(d time.Duration) {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
}

func (w *waitLog) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.waits...)
}

// newHarness builds an Engine from the rule file src with a recorder for
// each receiver name given, a fake clock (shared when clock is not nil),
// and retry waits recorded instead of slept.
func newHarness(t testing.TB, src string, clock *fakeClock, o EngineOptions, receivers ...string) *harness {
	t.Helper()
	cfg, err := Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if clock == nil {
		clock = newFakeClock()
	}
	h := &harness{t: t, clock: clock, recs: map[string]*recorder{}, waits: &waitLog{}}
	o.Config = cfg
	o.Now = clock.Now
	if o.Receivers == nil {
		o.Receivers = map[string]Notifier{}
	}
	for _, name := range receivers {
		r := &recorder{}
		h.recs[name] = r
		o.Receivers[name] = r
	}
	e, err := NewEngine(o)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	e.disp.sleep = func(ctx context.Context, d time.Duration) error {
		h.waits.add(d)
		return ctx.Err()
	}
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	e.start(ctx, &wg)
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

// tick evaluates once and waits for the deliveries it started.
func (h *harness) tick() {
	h.t.Helper()
	h.e.tick()
	h.settle()
}

// settle waits until the coordinator's queue is drained and no delivery is
// queued or running.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(h.e.disp.coordOps) > 0 {
		if ctx.Err() != nil {
			h.t.Fatalf("coordinator queue not drained")
		}
		time.Sleep(time.Millisecond)
	}
	if err := h.e.disp.waitIdle(ctx); err != nil {
		h.t.Fatalf("deliveries did not finish: %v", err)
	}
}

// run ticks n times, advancing the clock by step after each tick.
func (h *harness) run(n int, step time.Duration) {
	h.t.Helper()
	for range n {
		h.tick()
		h.clock.Advance(step)
	}
}

// samples is a mutable sample source.
type samples struct {
	mu  sync.Mutex
	set map[string]Sample
}

func newSamples() *samples { return &samples{set: map[string]Sample{}} }

func (s *samples) put(name string, v float64, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	s.set[seriesKey(name, l)] = Sample{Name: name, Labels: l, Value: v}
}

func (s *samples) del(name string, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	delete(s.set, seriesKey(name, l))
}

func (s *samples) get() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, len(s.set))
	for _, v := range s.set {
		out = append(out, v)
	}
	return out
}

var errBoom = errors.New("boom")

func alertByRule(as []*Alert, rule string) *Alert {
	for _, a := range as {
		if a.Rule == rule {
			return a
		}
	}
	return nil
}
