package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/time/rate"
)

// warmBatch is one pipeline's worth of encoded sessions.
type warmBatch struct {
	keys  []string
	vals  [][]byte
	until []int64 // unix ms
}

func (b *warmBatch) len() int { return len(b.keys) }

// send writes one batch after waiting for the rate limit and checking
// that Redis is still the server the run started on.
func (w *Warmer) send(ctx context.Context, b *warmBatch, lim *rate.Limiter, runID string, c *warmRun) error {
	if lim != nil {
		if err := lim.WaitN(ctx, b.len()); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The limiter refuses at once a wait that would outlast the
			// context's deadline: report it as the deadline it is.
			return fmt.Errorf("session warm: %w (%v)", context.DeadlineExceeded, err)
		}
	}
	ctx, span := w.svc.startSpan(ctx, "session.warm.batch")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
	defer cancel()
	if runID != "" {
		id, _, err := w.identity(ctx)
		if err != nil {
			return fmt.Errorf("session warm: read redis identity: %w", err)
		}
		if id != runID {
			return ErrRedisChanged
		}
	}
	// Deadlines were computed when the store was read; drop what has
	// passed since (a PXAT in the past would only delete the key).
	nowMs := w.now().UnixMilli()
	cmds, perr := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range b.keys {
			if b.until[i] > nowMs {
				p.Do(ctx, "set", k, b.vals[i], "pxat", b.until[i], "nx")
			}
		}
		return nil
	})
	c.batches.Add(1)
	expired := b.len() - len(cmds)
	c.expired.Add(int64(expired))
	var written, skipped, failed int
	var lastErr error
	for _, cmd := range cmds {
		switch err := cmd.Err(); {
		case err == nil:
			written++
		case errors.Is(err, redis.Nil):
			skipped++
		default:
			failed++
			lastErr = err
		}
	}
	c.written.Add(int64(written))
	c.skipped.Add(int64(skipped))
	c.errors.Add(int64(failed))
	c.done.Add(int64(b.len()))
	if lastErr != nil {
		c.lastErr.Store(lastErr.Error())
	}
	if span.IsRecording() {
		span.SetAttributes(AttrCount.Int(b.len()), attrWarmWritten.Int(written), attrWarmSkipped.Int(skipped), attrWarmErrors.Int(failed))
		if failed > 0 {
			span.SetStatus(codes.Error, "writes failed")
		}
	}
	w.mu.Lock()
	w.fillProgress(c)
	if lastErr != nil {
		w.prog.LastError = lastErr.Error()
	}
	w.mu.Unlock()
	w.notify()
	if failed > 0 && failed == len(cmds) {
		// Nothing got through: Redis is unreachable, stop the run.
		if perr == nil {
			perr = lastErr
		}
		return fmt.Errorf("session warm: write batch: %w", perr)
	}
	return nil
}
