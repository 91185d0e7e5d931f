package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The revocation sweep of a warm run (see "Warming" in the package
// documentation).
//
// A run writes sessions from a snapshot of the store with SET NX. A session
// revoked after the snapshot is kept out of Redis by its tombstone, unless
// the tombstone is missing (its write failed and waits in the revoking
// instance's retrier, or that instance died). The sweep writes those
// tombstones from the store's own record of the revocations: every
// warmSweepInterval while the run writes (intermediate sweeps, to keep the
// window short) and once after it (the final sweep, the guarantee).
//
// Every revocation the sweep writes may already have its tombstone from
// Revoke; writing it again is harmless (the same value and deadline) and
// costs one more invalidation message per batch of 256 while a run goes.
//
// Studio itself never accepts such a copy: every Service's revocation
// index refuses it (revindex.go). The sweep keeps Redis's content right
// for other readers, and saves the store reads those refusals cost.

const (
	// warmRevocationSkew is how far before the run's snapshot the final
	// sweep reaches back. revoked_at is the revoking instance's clock,
	// taken before its transaction commits, so clock skew between
	// instances and commit delay must stay below it.
	warmRevocationSkew = time.Minute
	// warmSweepOverlap is how far each intermediate sweep reaches back
	// before the previous one started, for the same reasons at a smaller
	// scale: an intermediate sweep only shortens the window, the final one
	// reaches back the whole warmRevocationSkew.
	warmSweepOverlap = 5 * time.Second
	// warmSweepInterval is how often a run sweeps while it writes.
	warmSweepInterval = time.Second
)

// revocationSweep is the state of one run's sweeps. One sweep runs at a
// time: sweepEvery's loop, then finalSweep after that loop has ended.
type revocationSweep struct {
	start time.Time              // the final sweep's lower bound
	from  time.Time              // the next intermediate sweep's lower bound
	swept map[TokenHash]struct{} // tombstoned by this run, to count each once
	// failing is set while intermediate sweeps fail, so that a failure is
	// logged once and its end once.
	failing bool
}

// newSweep returns the sweep state of a run whose snapshot is taken at
// snap: from a minute before it, or from the lower bound of an earlier
// run's final sweep that failed, whichever is older.
func (w *Warmer) newSweep(snap time.Time) *revocationSweep {
	start := snap.Add(-warmRevocationSkew)
	w.mu.Lock()
	if b := w.sweepBacklog; !b.IsZero() && b.Before(start) {
		start = b
	}
	w.mu.Unlock()
	return &revocationSweep{start: start, from: start, swept: make(map[TokenHash]struct{})}
}

// startSweeps runs the intermediate sweeps (sweepEvery) in a goroutine
// until the returned function is called; that function returns once the
// goroutine has stopped, so finalSweep can follow.
func (w *Warmer) startSweeps(ctx context.Context, sw *revocationSweep, c *warmRun) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.sweepEvery(ctx, sw, c) }()
	return func() { cancel(); <-done }
}

// sweepEvery runs an intermediate sweep every warmSweepInterval until ctx
// ends. A failed sweep is logged (once until one succeeds again); the next
// one covers the same revocations, as its lower bound did not move.
func (w *Warmer) sweepEvery(ctx context.Context, sw *revocationSweep, c *warmRun) {
	t := time.NewTicker(warmSweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
		started := w.now()
		readErr, writeErr := w.sweep(sctx, sw.from, started, sw, c, nil)
		cancel()
		err := readErr
		if err == nil {
			err = writeErr
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !sw.failing {
				w.log.Warn("cache warm: revocation sweep failed; retrying every second", "error", err)
			}
			sw.failing = true
		default:
			if sw.failing {
				w.log.Info("cache warm: revocation sweep works again")
			}
			sw.failing = false
			sw.from = started.Add(-warmSweepOverlap)
		}
	}
}

// finalSweep writes the tombstone of every session revoked since sw.start,
// whether an intermediate sweep wrote it or not (a Redis restart during the
// run may have lost it). It runs even when ctx is done, for at most a
// minute (BatchTimeout when ctx is done already). Tombstones Redis refuses
// go to the Service's retrier; if the store cannot be read, this Warmer's
// next run sweeps from sw.start (the backlog is kept in memory only: a new
// process reaches back a minute). Either way the error is logged and
// returned.
func (w *Warmer) finalSweep(ctx context.Context, sw *revocationSweep, c *warmRun) error {
	limit := time.Minute
	if ctx.Err() != nil {
		limit = w.opts.BatchTimeout // cancelled, e.g. a shutdown: be brief
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	var queued int
	readErr, writeErr := w.sweep(ctx, sw.start, w.now(), sw, c, func(revs []Revocation) {
		w.svc.queueRevocations(revs) // copies them
		queued += len(revs)
	})
	// sw.start is at or before any earlier backlog (newSweep), so this run
	// either covered it or leaves its own, older or equal, bound.
	w.mu.Lock()
	if readErr != nil {
		w.sweepBacklog = sw.start // the next run reaches back here
	} else {
		w.sweepBacklog = time.Time{}
	}
	w.mu.Unlock()
	if writeErr != nil {
		w.svc.countRedisError()
	}
	var errs []error
	if readErr != nil {
		errs = append(errs, fmt.Errorf("%w (the next run sweeps from %s again)", readErr, sw.start.UTC().Format(time.RFC3339)))
	}
	if writeErr != nil {
		errs = append(errs, fmt.Errorf("%d tombstones queued for retry: %w", queued, writeErr))
	} else if queued > 0 {
		errs = append(errs, fmt.Errorf("%d tombstones read before the store failed queued for retry", queued))
	}
	if len(errs) == 0 {
		return nil
	}
	err := fmt.Errorf("revocation sweep: %w", errors.Join(errs...))
	w.log.Warn("cache warm: final revocation sweep failed", "error", err)
	return err
}

// sweep streams the sessions revoked at or after since that expire after
// now and writes their tombstones, in batches of invalidationBatch with one
// invalidation message each (Service.applyRevocations), and drops them from
// this instance's L1. An intermediate sweep (queue nil) skips what this run
// swept already and stops at the first error. The final sweep (queue set)
// writes every one until Redis refuses a batch, then hands that batch and
// every later one to queue without trying Redis again (so a Redis outage
// does not hold a shutdown up batch after batch); on a read error it queues
// what it read but did not write yet. readErr is the store's error,
// writeErr Redis's first.
func (w *Warmer) sweep(ctx context.Context, since, now time.Time, sw *revocationSweep, c *warmRun, queue func([]Revocation)) (readErr, writeErr error) {
	var (
		batch   []Revocation
		stopped bool // an intermediate sweep's write failed: stop the read
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch = batch[:0] }() // nothing keeps the slice
		for _, r := range batch {
			w.svc.invalidateLocal(r.Hash)
		}
		if writeErr != nil && queue != nil { // final sweep, Redis already refused one
			queue(batch)
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
		err := w.svc.applyRevocations(bctx, batch)
		cancel()
		if err != nil {
			writeErr = err // "write tombstones: …"
			if queue == nil {
				stopped = true
				return err
			}
			queue(batch)
			return nil
		}
		for _, r := range batch {
			if _, ok := sw.swept[r.Hash]; !ok {
				sw.swept[r.Hash] = struct{}{}
				c.revoked.Add(1)
			}
		}
		return nil
	}
	err := w.opts.Source.RevokedSince(ctx, since, now, func(r Revocation) error {
		if _, done := sw.swept[r.Hash]; done && queue == nil {
			return nil
		}
		batch = append(batch, r)
		if len(batch) < invalidationBatch {
			return nil
		}
		return flush()
	})
	switch {
	case err == nil:
		_ = flush() // sets writeErr
	case stopped:
		// flush stopped the read: writeErr says why.
	default:
		readErr = fmt.Errorf("read revocations since %s: %w", since.UTC().Format(time.RFC3339Nano), err)
		if queue != nil && len(batch) > 0 {
			queue(batch) // read but not written: not lost with the read
		}
	}
	return readErr, writeErr
}
