package session

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/studiohq/studio/hotkey"
)

// revokeRetrier re-applies revocations whose Redis steps failed until they
// succeed or the sessions expire. Safe for concurrent use.
type revokeRetrier struct {
	s       *Service
	mu      sync.Mutex
	pending map[TokenHash]Revocation
	wake    chan struct{}
	queued  atomic.Int64
}

func (r *revokeRetrier) init(s *Service) {
	r.s = s
	r.pending = make(map[TokenHash]Revocation)
	r.wake = make(chan struct{}, 1)
}

func (r *revokeRetrier) add(revs []Revocation) {
	r.mu.Lock()
	for _, rv := range revs {
		r.pending[rv.Hash] = rv
	}
	r.queued.Store(int64(len(r.pending)))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// queueRevocations hands revocations whose Redis steps failed to the
// retrier. It copies revs.
func (s *Service) queueRevocations(revs []Revocation) { s.retry.add(revs) }

// kick asks for an attempt now, e.g. because Redis just answered.
func (r *revokeRetrier) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// kickRetrier wakes the revocation retrier, at most once per 100 ms
// however many validations see Redis answer.
func (s *Service) kickRetrier(now time.Time) {
	n := now.UnixNano()
	last := s.lastKick.Load()
	if n-last < int64(100*time.Millisecond) || !s.lastKick.CompareAndSwap(last, n) {
		return
	}
	s.retry.kick()
}

// pendingFor reports whether h's revocation is still waiting to reach
// Redis. Lock-free while nothing is queued.
func (r *revokeRetrier) pendingFor(h TokenHash) bool {
	if r.queued.Load() == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[h]
	return ok
}

func (r *revokeRetrier) loop(ctx context.Context) {
	defer r.s.wg.Done()
	b := newBackoff(100*time.Millisecond, 2*time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		for ctx.Err() == nil && r.attempt(ctx) {
			b.sleepOr(ctx, r.wake) // at once when kicked: Redis answered
		}
		b.reset()
	}
}

// attempt tries every pending revocation once, in batches of
// invalidationBatch each with its own RedisTimeout (a long queue, say from
// a warm's final sweep, is not one step that can never finish in time),
// stopping at the first batch Redis refuses, and reports whether some are
// still pending.
func (r *revokeRetrier) attempt(ctx context.Context) bool {
	now := r.s.now()
	r.mu.Lock()
	revs := make([]Revocation, 0, len(r.pending))
	for h, rv := range r.pending {
		if !rv.ExpiresAt.After(now) {
			delete(r.pending, h) // expired: nothing left to protect
			continue
		}
		revs = append(revs, rv)
	}
	// Only ever stored with r.mu held, so pendingFor's lock-free read
	// can never see 0 while something is queued.
	r.queued.Store(int64(len(r.pending)))
	r.mu.Unlock()
	if len(revs) == 0 {
		return false
	}
	sent := 0
	for start := 0; start < len(revs) && ctx.Err() == nil; start += invalidationBatch {
		batch := revs[start:min(start+invalidationBatch, len(revs))]
		actx, cancel := context.WithTimeout(ctx, r.s.opts.RedisTimeout)
		err := r.s.applyRevocations(actx, batch)
		cancel()
		if err != nil {
			break
		}
		r.delivered(batch, now)
		sent += len(batch)
	}
	if sent > 0 {
		r.s.log.Info("queued revocations reached redis", "sessions", sent)
	}
	return r.queued.Load() > 0
}

// delivered takes revocations Redis accepted off the queue (unless one was
// queued again meanwhile with other values).
func (r *revokeRetrier) delivered(revs []Revocation, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rv := range revs {
		if cur, ok := r.pending[rv.Hash]; ok && cur == rv {
			// Replicas may not have the tombstone yet: read the key from
			// the master for the grace period from now, not from the
			// revocation, which may be long past.
			if r.s.recent != nil {
				r.s.recent.add(rv.Hash, now)
			}
			delete(r.pending, rv.Hash)
		}
	}
	r.queued.Store(int64(len(r.pending)))
}

// lastRetry makes one last attempt, at Close, to write the revocation
// tombstones still queued for retry; what Redis still refuses is logged
// as one error naming the sessions (closeLogSessions of them, in their
// display form: session id and hotkey.DisplayKey of the key) and how many
// there are. Those sessions stay refused: the store has their
// revocations and every instance's revocation index reads them from it;
// only other readers of Redis may still find live copies until those
// expire (CacheTTL at most).
func (s *Service) lastRetry() {
	if s.retry.queued.Load() == 0 {
		return
	}
	// One RedisTimeout per batch; at most 5 s in all (a long queue while
	// Redis answers), far less when it does not (the first batch fails).
	ctx, cancel := context.WithTimeout(context.Background(), max(5*time.Second, s.opts.RedisTimeout))
	defer cancel()
	if !s.retry.attempt(ctx) {
		return
	}
	names, n := s.retry.pendingNames(s, closeLogSessions)
	s.log.Error("revocations not written to redis before close; the store has them and every instance's revocation index refuses those sessions, but Redis may hold live copies until they expire",
		"count", n, "sessions", names, "unnamed", n-len(names), "cache_ttl", s.opts.CacheTTL)
}

// closeLogSessions bounds the sessions lastRetry's log line names.
const closeLogSessions = 20

// pendingNames returns the display forms of at most limit of the queued
// revocations, in the order their sessions expire (then by id, so the
// line is stable), and how many are queued.
func (r *revokeRetrier) pendingNames(s *Service, limit int) ([]string, int) {
	r.mu.Lock()
	revs := make([]Revocation, 0, len(r.pending))
	for _, rv := range r.pending {
		revs = append(revs, rv)
	}
	r.mu.Unlock()
	slices.SortFunc(revs, func(a, b Revocation) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.SessionID, b.SessionID))
	})
	names := make([]string, 0, min(limit, len(revs)))
	for _, rv := range revs[:min(limit, len(revs))] {
		names = append(names, s.displaySession(rv))
	}
	return names, len(revs)
}

// displaySession names a session in logs without its token or token hash:
// its id (random, not secret) and the display form of its Redis key
// (hotkey.DisplayKey: the prefix and a 32-bit tag, as the hot-key views
// show it).
func (s *Service) displaySession(rv Revocation) string {
	return rv.SessionID + " " + hotkey.DisplayKey(s.Key(rv.Hash))
}

// backoff is a capped exponential delay. Not safe for concurrent use.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, cur: min} }

func (b *backoff) reset() { b.cur = b.min }

// sleep waits the current delay (or until ctx ends) and doubles it.
func (b *backoff) sleep(ctx context.Context) { b.sleepOr(ctx, nil) }

// sleepOr is sleep that also ends early when wake delivers.
func (b *backoff) sleepOr(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	}
	b.cur = min(2*b.cur, b.max)
}
