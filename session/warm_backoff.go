package session

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/studiohq/studio/internal/sleep"
)

// WarmBackoff configures how a rate-limited warm yields to request load.
// While a run with a Rate is in progress, a controller compares, every
// ProbeInterval, the p99 of the Redis round trips of the Service's own
// validations over the last Window intervals with the same p99 taken just
// before the run (with too little traffic, timed probe reads instead).
// Above the baseline by more than Tolerance, it halves the rate, down to
// MinRate; otherwise it raises it by a fiftieth of Rate per interval, up
// to Rate. The zero value is the controller on, with the defaults below.
// docs/CACHE-WARMING.md ("Adaptive back-off") gives the thresholds and
// the reasons.
type WarmBackoff struct {
	// Off turns the controller off: the run writes at Rate throughout.
	Off bool
	// ProbeInterval is the controller's period. Default 25ms.
	ProbeInterval time.Duration
	// Window is how many recent intervals (or probes) are compared.
	// Default 8.
	Window int
	// Tolerance is the allowed rise of the latency over the baseline, as
	// a fraction. Default 0.1.
	Tolerance float64
	// MinRate is the floor in sessions per second. Default Rate/100, at
	// least 10.
	MinRate float64
}

func (b *WarmBackoff) setDefaults(maxRate float64) {
	if b.ProbeInterval <= 0 {
		b.ProbeInterval = 25 * time.Millisecond
	}
	if b.Window <= 0 {
		b.Window = 8
	}
	if b.Tolerance <= 0 {
		b.Tolerance = 0.1
	}
	if b.MinRate <= 0 {
		b.MinRate = max(10, maxRate/100)
	}
	b.MinRate = min(b.MinRate, maxRate)
}

// warmController adjusts a run's limiter (see WarmBackoff).
type warmController struct {
	rdb      redis.UniversalClient
	key      string
	lat      *latHist // the Service's validation round trips; nil: probes only
	opts     WarmBackoff
	maxRate  float64
	lim      *rate.Limiter
	rateNow  atomic.Uint64 // sessions/s, rounded down
	backoffs atomic.Int64

	cancel context.CancelFunc // set by start: ends run
	done   chan struct{}      // set by start: closed when run has returned
}

// startBackoff returns a run's rate limiter (nil without a Rate) and,
// unless Backoff is off or Redis did not answer the baseline's probes,
// the controller it started to steer that limiter (else nil).
func (w *Warmer) startBackoff(ctx context.Context) (*rate.Limiter, *warmController) {
	if w.opts.Rate <= 0 {
		return nil, nil
	}
	lim := rate.NewLimiter(rate.Limit(w.opts.Rate), w.opts.BatchSize)
	if w.opts.Backoff.Off {
		return lim, nil
	}
	ctl := &warmController{rdb: w.rdb, key: w.markerKey() + ":probe", lat: w.svc.validationLatency(), opts: w.opts.Backoff, maxRate: w.opts.Rate, lim: lim}
	ctl.rateNow.Store(uint64(w.opts.Rate))
	base, ok := ctl.baseline(ctx)
	if !ok {
		return lim, nil
	}
	ctl.start(ctx, base)
	w.mu.Lock()
	w.ctl = ctl
	w.mu.Unlock()
	return lim, ctl
}

// stopBackoff records ctl's back-offs in Progress, clears the current
// rate (no run is in progress) and stops ctl. A nil ctl is a no-op.
func (w *Warmer) stopBackoff(ctl *warmController) {
	if ctl == nil {
		return
	}
	w.mu.Lock()
	w.prog.Backoffs = ctl.backoffs.Load()
	w.prog.RateNow = 0 // no run in progress
	w.ctl = nil
	w.mu.Unlock()
	ctl.stop()
}

// start runs the controller in a goroutine until stop.
func (c *warmController) start(ctx context.Context, base warmBase) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go func() { defer close(c.done); c.run(ctx, base) }()
}

// stop ends the goroutine start began and waits for it to return.
func (c *warmController) stop() {
	c.cancel()
	<-c.done
}

const (
	probeNoise   = 50 * time.Microsecond
	trafficNoise = 20 * time.Microsecond
	// minTraffic is the fewest validation round trips a p99 is taken of.
	minTraffic = 200
)

// warmBase is the latency before a run: the p99 of the validations'
// round trips (0 when there were too few) and the probes' third quartile.
type warmBase struct {
	traffic, probe time.Duration
}

// probe times one read of a key that does not exist.
func (c *warmController) probe(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	t0 := time.Now()
	err := c.rdb.Get(ctx, c.key).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	return time.Since(t0), nil
}

// trafficP99 is the p99 of the round trips counted between two snapshots,
// or 0 when there were fewer than minTraffic.
func trafficP99(from, to *latCounts) time.Duration {
	p, n := quantileBetween(from, to, 0.99)
	if n < minTraffic {
		return 0
	}
	return p
}

// baseline measures warmBase over Window intervals before any batch is
// sent (2·Window probes); ok is false if Redis did not answer the probes.
func (c *warmController) baseline(ctx context.Context) (warmBase, bool) {
	var first, last latCounts
	if c.lat != nil {
		c.lat.snapshot(&first)
	}
	var v []time.Duration
	for range 2 * c.opts.Window {
		d, err := c.probe(ctx)
		if err != nil {
			return warmBase{}, false
		}
		v = append(v, d)
		if !sleep.Ctx(ctx, c.opts.ProbeInterval/2) {
			return warmBase{}, false
		}
	}
	b := warmBase{probe: upper(v)}
	if c.lat != nil {
		c.lat.snapshot(&last)
		b.traffic = trafficP99(&first, &last)
	}
	return b, true
}

// run adjusts the limiter until ctx ends.
func (c *warmController) run(ctx context.Context, base warmBase) {
	tol := func(d, noise time.Duration) time.Duration {
		return d + time.Duration(float64(d)*c.opts.Tolerance) + noise
	}
	probeLimit := tol(base.probe, probeNoise)
	trafficLimit := tol(base.traffic, trafficNoise)
	cur := c.maxRate
	recent := make([]time.Duration, 0, c.opts.Window)
	// snaps is a ring of the histogram's last Window+1 snapshots; held of
	// them count since the last decrease.
	snaps := make([]latCounts, c.opts.Window+1)
	next, held := 0, 0
	cool := 0 // intervals to wait after a decrease before judging again
	t := time.NewTicker(c.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d, err := c.probe(ctx); err == nil { // else the batches see the error too
			if len(recent) == c.opts.Window {
				recent = recent[1:]
			}
			recent = append(recent, d)
		}
		var latest *latCounts
		if c.lat != nil {
			latest = &snaps[next]
			c.lat.snapshot(latest)
			next = (next + 1) % len(snaps)
			held = min(held+1, len(snaps))
		}
		if cool > 0 {
			cool--
			continue
		}
		judged, over := false, false
		if base.traffic > 0 && held >= 2 {
			oldest := &snaps[(next-held+len(snaps))%len(snaps)]
			if p := trafficP99(oldest, latest); p > 0 {
				judged, over = true, p > trafficLimit
			}
		}
		if !judged && len(recent) > 0 && len(recent) >= c.opts.Window/2 {
			judged, over = true, upper(recent) > probeLimit
		}
		if !judged {
			continue
		}
		if over {
			lower := max(c.opts.MinRate, cur/2)
			if lower < cur {
				c.backoffs.Add(1)
			}
			cur = lower
			cool = c.opts.Window / 2
			recent = recent[:0]
			held = min(held, 1) // judge only what follows the decrease
		} else {
			cur = min(c.maxRate, cur+c.maxRate/50)
		}
		c.set(cur)
	}
}

func (c *warmController) set(r float64) {
	c.lim.SetLimit(rate.Limit(r))
	c.rateNow.Store(uint64(r))
}

// upper is the third quartile of v: tail latency is what a warm costs
// callers first, and the median hides it.
func upper(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)*3/4]
}
