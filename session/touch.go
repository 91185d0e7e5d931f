package session

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// touch records a use of the session, cheaply skipping sessions whose use
// was recorded within the interval. It never waits for the flusher: it
// takes one shard's mutex for a map lookup, a map insert and an append,
// and the flusher holds that mutex only to swap slices and maps.
func (s *Service) touch(h TokenHash, e *l1Entry, now time.Time) {
	if s.noTouch {
		return
	}
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

// toucherShards spreads the toucher's lock over this many shards.
const toucherShards = 64

// maxPendingTouches bounds the uses recorded and not yet written (40
// bytes each): past it, a use is dropped (Stats.TouchesDropped), which
// only leaves last_seen_at one TouchInterval behind for that session. At
// one use per session per TouchInterval it is reached only when the store
// has refused writes for several intervals at a million active sessions.
const maxPendingTouches = 1 << 20

// toucher records session uses and hands them to the store in batches, at
// most one per session per TouchInterval on this instance. Safe for
// concurrent use.
//
// Which sessions were recorded within the interval is kept compactly: a
// map from the first 8 bytes of the token hash to the low 32 bits of the
// use's unix-millisecond time (compared with wrap-around arithmetic,
// exact while TouchInterval is under 24 days), in two generations swapped
// every TouchInterval, so that forgetting old uses costs a pointer swap,
// not a walk over every entry under the lock. Two sessions whose hashes
// share 8 bytes (about one pair in 3·10⁷ at a million active sessions)
// share an entry: one of their uses may go unrecorded for an interval,
// leaving its last_seen_at at most one TouchInterval behind.
type toucher struct {
	shards  [toucherShards]touchShard
	dropped atomic.Uint64
}

// pendingTouch is a recorded use not yet written.
type pendingTouch struct {
	h  TokenHash
	ms int64
}

type touchShard struct {
	mu sync.Mutex
	// cur and prev hold the uses recorded in this generation and the one
	// before (see toucher); rotated is when cur started (unix ms).
	cur, prev map[uint64]uint32
	rotated   int64
	pending   []pendingTouch
	_         [8]byte // keep shards on separate cache lines
}

func (t *toucher) init() {
	for i := range t.shards {
		t.shards[i].cur = make(map[uint64]uint32)
		t.shards[i].prev = make(map[uint64]uint32)
	}
}

func (t *toucher) shard(h TokenHash) *touchShard { return &t.shards[h[1]%toucherShards] }

func dedupKey(h TokenHash) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// since returns the last use recorded for key in sh within interval of
// nowMs (unix ms), or 0. The caller holds sh.mu.
func (sh *touchShard) since(key uint64, nowMs, interval int64) int64 {
	for _, m := range [2]map[uint64]uint32{sh.cur, sh.prev} {
		if l, ok := m[key]; ok {
			if age := int64(uint32(nowMs) - l); age < interval {
				return nowMs - age
			}
		}
	}
	return 0
}

// record notes a use at nowMs unless one was recorded less than interval
// before, and returns the last recorded use.
func (t *toucher) record(h TokenHash, nowMs, interval int64) int64 {
	sh := t.shard(h)
	key := dedupKey(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l := sh.since(key, nowMs, interval); l != 0 {
		return l
	}
	sh.cur[key] = uint32(nowMs)
	delete(sh.prev, key) // each session in one generation: at most one entry
	t.enqueue(sh, pendingTouch{h: h, ms: nowMs})
	return nowMs
}

// enqueue adds p to sh's uses waiting to be written, within the bound
// (maxPendingTouches over the shards); past it p is dropped and counted.
// The caller holds sh.mu.
func (t *toucher) enqueue(sh *touchShard, p pendingTouch) {
	if len(sh.pending) >= maxPendingTouches/toucherShards {
		t.dropped.Add(1)
		return
	}
	sh.pending = append(sh.pending, p)
}

// last returns the last use recorded for h within interval of nowMs, or
// 0.
func (t *toucher) last(h TokenHash, nowMs, interval int64) int64 {
	sh := t.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.since(dedupKey(h), nowMs, interval)
}

// drain takes every shard's pending uses, swapping each slice out under
// the lock, and starts a new generation of recorded uses in the shards
// whose current one is interval old.
func (t *toucher) drain(nowMs, interval int64) [][]pendingTouch {
	out := make([][]pendingTouch, 0, len(t.shards))
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		p := sh.pending
		sh.pending = nil
		if nowMs-sh.rotated >= interval {
			sh.prev, sh.cur = sh.cur, make(map[uint64]uint32)
			sh.rotated = nowMs
		}
		sh.mu.Unlock()
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// requeue puts back uses whose write failed, within the bound; the
// store keeps the latest of duplicates.
func (t *toucher) requeue(ps []pendingTouch) {
	for _, p := range ps {
		sh := t.shard(p.h)
		sh.mu.Lock()
		t.enqueue(sh, p)
		sh.mu.Unlock()
	}
}

// touchBatch bounds one Store.Touch call: one statement on PostgreSQL,
// two on SQLite, in one transaction, which on SQLite holds the write lock
// that Create and Revoke wait for (about 0.1 s at a million sessions on
// the machine of docs/PERFORMANCE.md).
const touchBatch = 2000

func (s *Service) flushLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.flushTouches(ctx); err != nil {
				s.log.Warn("writing last_seen_at failed; will retry", "error", err)
			}
		}
	}
}

// flushTouches writes pending uses to the store in batches of
// touchBatch, each within StoreTimeout (a backlog of many batches is
// written whole, however long it takes, while ctx lasts), and extends the
// Redis copies of the sessions each batch found live (extend.go); what
// fails to be written is requeued.
func (s *Service) flushTouches(ctx context.Context) error {
	parts := s.touches.drain(s.now().UnixMilli(), s.opts.TouchInterval.Milliseconds())
	batch := make([]Touch, 0, touchBatch)
	for pi, part := range parts {
		for i, p := range part {
			batch = append(batch, Touch{Hash: p.h, At: time.UnixMilli(p.ms).UTC()})
			if len(batch) < touchBatch && (i < len(part)-1 || pi < len(parts)-1) {
				continue
			}
			bctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
			err := s.writeTouches(bctx, batch)
			cancel()
			if err != nil {
				// The failed batch is the len(batch) uses up to and
				// including part[i] (carried over from earlier parts
				// when they were shorter than a batch): requeue it and
				// every use after it.
				failed := make([]pendingTouch, len(batch))
				for j, tc := range batch {
					failed[j] = pendingTouch{h: tc.Hash, ms: tc.At.UnixMilli()}
				}
				s.touches.requeue(failed)
				s.touches.requeue(part[i+1:])
				for _, rest := range parts[pi+1:] {
					s.touches.requeue(rest)
				}
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// writeTouches writes one batch and extends the Redis copies of the
// sessions it found live.
func (s *Service) writeTouches(ctx context.Context, batch []Touch) error {
	// Taken before the statement runs: a session it finds live was live
	// at this time or later, so a copy extended to CacheTTL past it keeps
	// the revocation index's bound.
	read := s.now()
	live, err := s.store.Touch(ctx, batch, read)
	if err != nil {
		return err
	}
	s.stats.touchesWritten.Add(uint64(len(batch)))
	s.extendCopies(ctx, live, read)
	return nil
}
