package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// warmBatch is one pipeline's worth of encoded sessions.
type warmBatch struct {
	keys  []string
	vals  [][]byte
	until []int64 // unix ms
}

func (b *warmBatch) len() int { return len(b.keys) }

// writeSnapshot reads the Source as of snap and writes what it reads in
// batches, Concurrency pipelines at a time (send). It returns when every
// batch has been answered or on the first error: the store's, a
// pipeline's, ErrRedisChanged, or ctx's.
func (w *Warmer) writeSnapshot(ctx context.Context, snap time.Time, slots *slotSet, lim *rate.Limiter, runID string, c *warmRun) error {
	// Without a Rate the store is read ahead of the writes into a queue
	// that can hold the whole run (at most Limit encoded sessions, about
	// 20 MB for 100 000), so the store's read is as short as it can be.
	// With a Rate the read is paced with the writes instead (a few batches
	// ahead), so its CPU is spread over the run like the writes': the
	// read then stays open for the whole run.
	depth := w.opts.Limit/w.opts.BatchSize + 2
	if lim != nil {
		depth = 2 * w.opts.Concurrency
	}
	queue := make(chan *warmBatch, depth)
	g, gctx := errgroup.WithContext(ctx)
	for range w.opts.Concurrency {
		g.Go(func() error {
			for b := range queue {
				if err := w.send(gctx, b, lim, runID, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(queue)
		if err := w.readSnapshot(gctx, snap, slots, queue, c); err != nil {
			if gctx.Err() != nil && ctx.Err() == nil {
				return nil // a writer failed; its error is the one to report
			}
			return fmt.Errorf("session warm: read sessions: %w", err)
		}
		return nil
	})
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// readSnapshot streams the sessions live at snap from the Source into
// batches of BatchSize on queue, encoded with their keys and deadlines.
// Sessions outside slots (when not nil) are counted as done, and those
// already revoked or past their deadline as expired; neither is queued.
func (w *Warmer) readSnapshot(ctx context.Context, snap time.Time, slots *slotSet, queue chan<- *warmBatch, c *warmRun) error {
	bs := w.opts.BatchSize
	cur := &warmBatch{}
	err := w.opts.Source.Recent(ctx, snap, w.opts.Limit, func(r Record) error {
		c.read.Add(1)
		key := w.svc.Key(r.Hash)
		if slots != nil && !slots.has(key) {
			c.done.Add(1) // another master's: it kept its copy
			return nil
		}
		until := w.svc.redisDeadline(&r.Session, snap)
		if r.Session.Revoked() || !until.After(snap) {
			c.expired.Add(1)
			c.done.Add(1)
			return nil
		}
		val, err := encodeSession(&r.Session)
		if err != nil {
			return err
		}
		cur.keys = append(cur.keys, key)
		cur.vals = append(cur.vals, val)
		cur.until = append(cur.until, until.UnixMilli())
		if cur.len() >= bs {
			select {
			case queue <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			cur = &warmBatch{keys: make([]string, 0, bs), vals: make([][]byte, 0, bs), until: make([]int64, 0, bs)}
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.prog.Total = int(c.read.Load()) // the store has been read to the end
	w.mu.Unlock()
	if cur.len() > 0 {
		select {
		case queue <- cur:
		case <-ctx.Done():
		}
	}
	return nil
}

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
	ctx, span := w.svc.startBackgroundSpan(ctx, "session.warm.batch")
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
