package loadgen

import (
	"context"
	"time"
)

// pacer puts an open-loop worker to sleep until its next operation's
// intended start. One per worker; not safe for concurrent use.
type pacer interface {
	// sleepUntil returns at t or soon after (at once if t has passed), or
	// with the context's error once it is cancelled.
	sleepUntil(t time.Time) error
	close()
}

// timerPacer is the portable pacer: a Go timer.
type timerPacer struct {
	ctx   context.Context
	timer *time.Timer
}

func newTimerPacer(ctx context.Context) *timerPacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timerPacer{ctx: ctx, timer: t}
}

func (p *timerPacer) sleepUntil(t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return p.ctx.Err()
	}
	p.timer.Reset(d)
	select {
	case <-p.timer.C:
		return nil
	case <-p.ctx.Done():
		p.timer.Stop()
		return p.ctx.Err()
	}
}

func (p *timerPacer) close() { p.timer.Stop() }
