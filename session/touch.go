package session

import (
	"context"
	"sync"
	"time"
)

// touch records a use of the session, cheaply skipping sessions whose use
// was recorded within the interval.
func (s *Service) touch(h TokenHash, e *l1Entry, now time.Time) {
	ms := now.UnixMilli()
	interval := s.opts.TouchInterval.Milliseconds()
	if e != nil && ms-e.touched.Load() < interval {
		return
	}
	last := s.touches.record(h, ms, interval)
	if e != nil {
		e.touched.Store(last)
	}
}

// toucher records session uses and hands them to the store in batches, at
// most one per session per TouchInterval on this instance. Safe for
// concurrent use.
type toucher struct {
	shards [64]touchShard
}

type touchShard struct {
	mu      sync.Mutex
	last    map[TokenHash]int64 // unix ms of the last recorded use
	pending map[TokenHash]int64 // recorded, not yet written
	_       [40]byte            // keep shards on separate cache lines
}

func (t *toucher) init() {
	for i := range t.shards {
		t.shards[i].last = make(map[TokenHash]int64)
		t.shards[i].pending = make(map[TokenHash]int64)
	}
}

// record notes a use at nowMs unless one was recorded less than interval
// before, and returns the last recorded use.
func (t *toucher) record(h TokenHash, nowMs, interval int64) int64 {
	sh := &t.shards[h[1]&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l := sh.last[h]; nowMs-l < interval {
		return l
	}
	sh.last[h] = nowMs
	sh.pending[h] = nowMs
	return nowMs
}

// last returns the last use recorded for h, or 0.
func (t *toucher) last(h TokenHash) int64 {
	sh := &t.shards[h[1]&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.last[h]
}

// drain takes the pending uses and forgets recorded uses older than
// interval.
func (t *toucher) drain(nowMs, interval int64) []Touch {
	var out []Touch
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for h, at := range sh.pending {
			out = append(out, Touch{Hash: h, At: time.UnixMilli(at).UTC()})
		}
		clear(sh.pending)
		for h, at := range sh.last {
			if nowMs-at >= interval {
				delete(sh.last, h)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// requeue puts back uses whose write failed, unless a newer one is pending.
func (t *toucher) requeue(ts []Touch) {
	for _, tc := range ts {
		sh := &t.shards[tc.Hash[1]&63]
		sh.mu.Lock()
		if ms := tc.At.UnixMilli(); sh.pending[tc.Hash] < ms {
			sh.pending[tc.Hash] = ms
		}
		sh.mu.Unlock()
	}
}

// touchBatch bounds one Store.Touch call.
const touchBatch = 500

func (s *Service) flushLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
			if err := s.flushTouches(fctx); err != nil {
				s.log.Warn("writing last_seen_at failed; will retry", "error", err)
			}
			cancel()
		}
	}
}

// flushTouches writes pending uses to the store, batch by batch, and
// extends the Redis copies of the sessions each batch found live
// (extend.go); what fails to be written is requeued.
func (s *Service) flushTouches(ctx context.Context) error {
	all := s.touches.drain(s.now().UnixMilli(), s.opts.TouchInterval.Milliseconds())
	for start := 0; start < len(all); start += touchBatch {
		batch := all[start:min(start+touchBatch, len(all))]
		// Taken before the statement runs: a session it finds live was
		// live at this time or later, so a copy extended to CacheTTL past
		// it keeps the revocation index's bound.
		read := s.now()
		live, err := s.store.Touch(ctx, batch, read)
		if err != nil {
			s.touches.requeue(all[start:])
			return err
		}
		s.stats.touchesWritten.Add(uint64(len(batch)))
		s.extendCopies(ctx, live, read)
	}
	return nil
}
