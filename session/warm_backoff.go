package session

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// WarmBackoff configures how a rate-limited warm yields to request load.
//
// While a run with a Rate is in progress, a controller times a probe read
// (a GET of a key that never exists, the same round trip a Redis-tier
// validation makes) every ProbeInterval. Before the first batch it takes
// the third quartile of a few probes as the baseline: what a read costs
// under the load already there. Whenever the third quartile of the last
// Window probes exceeds the baseline by more than Tolerance (plus 50 µs of
// noise), the rate is halved, down to MinRate; otherwise it grows by a
// twentieth of
// Rate per probe, up to Rate (additive increase, multiplicative decrease,
// as TCP does). So an idle system warms at Rate, and a busy one slows the
// warm until it no longer shows in the latency callers see.
type WarmBackoff struct {
	// Off turns the controller off: the run writes at Rate throughout.
	Off bool
	// ProbeInterval is the time between probes. Default 25ms.
	ProbeInterval time.Duration
	// Window is how many recent probes are compared. Default 8.
	Window int
	// Tolerance is the allowed rise of the probes' third quartile over the
	// baseline, as a fraction. Default 0.15.
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
		b.Tolerance = 0.15
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
	opts     WarmBackoff
	maxRate  float64
	lim      *rate.Limiter
	rateNow  atomic.Uint64 // sessions/s, rounded down
	backoffs atomic.Int64
}

const probeNoise = 50 * time.Microsecond

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

// baseline is the third quartile of a few probes taken before any batch
// is sent;
// ok is false if Redis did not answer them.
func (c *warmController) baseline(ctx context.Context) (time.Duration, bool) {
	var v []time.Duration
	for range 2 * c.opts.Window {
		d, err := c.probe(ctx)
		if err != nil {
			return 0, false
		}
		v = append(v, d)
		if !sleepCtx(ctx, c.opts.ProbeInterval/5) {
			return 0, false
		}
	}
	return upper(v), true
}

// run adjusts the limiter until ctx ends.
func (c *warmController) run(ctx context.Context, base time.Duration) {
	limit := base + time.Duration(float64(base)*c.opts.Tolerance) + probeNoise
	cur := c.maxRate
	recent := make([]time.Duration, 0, c.opts.Window)
	cool := 0 // probes to wait after a decrease before judging again
	t := time.NewTicker(c.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := c.probe(ctx)
		if err != nil {
			continue // the batches see the error too
		}
		if len(recent) == c.opts.Window {
			recent = recent[1:]
		}
		recent = append(recent, d)
		if cool > 0 {
			cool--
			continue
		}
		if len(recent) < c.opts.Window/2 {
			continue
		}
		if upper(recent) > limit {
			next := max(c.opts.MinRate, cur/2)
			if next < cur {
				c.backoffs.Add(1)
			}
			cur = next
			cool = c.opts.Window / 2
			recent = recent[:0]
		} else {
			cur = min(c.maxRate, cur+c.maxRate/20)
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

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
