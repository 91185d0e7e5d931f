package session

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

type l1Entry struct {
	sess  Session
	err   error // non-nil: a cached refusal (ErrRevoked, ErrNotFound, …)
	until int64 // unix nanoseconds; the entry is not used at or after it
	ttl   time.Duration
	// touched is the unix-millisecond time of the last use recorded for
	// this session, so most hits skip the toucher entirely.
	touched atomic.Int64
	// refreshing is set once a refresh of this entry is queued.
	refreshing atomic.Bool
}

// l1RefreshShare: an entry used when less than 1/l1RefreshShare of its
// life is left is refreshed in the background.
const l1RefreshShare = 5

// l1RefreshWorkers refresh entries from a queue of l1RefreshQueue; a
// refresh that does not fit is dropped, and the entry then expires and is
// filled again on its next use, as without refresh-ahead.
const (
	l1RefreshWorkers = 2
	l1RefreshQueue   = 1024
)

// l1Put caches an answer unless an invalidation of the key happened since
// gen was read. It returns the entry (nil when nothing is cached).
func (s *Service) l1Put(h TokenHash, gen uint64, sess Session, err error, now time.Time) *l1Entry {
	if s.l1 == nil {
		return nil
	}
	ttl := s.opts.L1TTL
	if err == nil {
		if left := sess.deadline().Sub(now); left < ttl {
			ttl = left
		}
		if ttl <= 0 {
			return nil
		}
	}
	e := &l1Entry{sess: sess, err: err, until: now.Add(ttl).UnixNano(), ttl: ttl}
	e.touched.Store(sess.LastSeenAt.UnixMilli())
	if s.gens[h[0]].Load() != gen {
		return e
	}
	s.l1.Set(h, e)
	// An invalidation that bumped the generation after the check above
	// either removes this entry itself or is seen here.
	if s.gens[h[0]].Load() != gen {
		s.l1.Invalidate(h)
	}
	return e
}

// maybeRefresh queues a background refresh of e when less than a fifth of
// its life is left and it lives the full L1TTL (an entry cut short by its
// session's own deadline would not live longer refreshed). One refresh per
// entry; when the queue is full the entry simply expires.
func (s *Service) maybeRefresh(h TokenHash, e *l1Entry, now time.Time) {
	if e.ttl != s.opts.L1TTL || now.UnixNano() < e.until-int64(e.ttl)/l1RefreshShare || !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	select {
	case s.refreshQ <- h:
	default:
		e.refreshing.Store(false)
	}
}

// refreshLoop refreshes queued L1 entries through the slow path, which
// reads Redis (or the store) and replaces the entry unless an invalidation
// came in meanwhile, exactly as a miss would, but while callers go on
// being answered from the entry they have.
func (s *Service) refreshLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-s.refreshQ:
			rctx, cancel := context.WithTimeout(ctx, s.opts.RedisTimeout)
			_, _, _ = s.validateSlow(rctx, h, s.Key(h), s.now())
			cancel()
			s.stats.l1Refreshes.Add(1)
		}
	}
}

// invalidateLocal drops one session from this instance's L1.
func (s *Service) invalidateLocal(h TokenHash) {
	s.gens[h[0]].Add(1)
	if s.recent != nil {
		s.recent.add(h, s.now())
	}
	if s.l1 != nil {
		s.l1.Invalidate(h)
	}
}

// flushL1 drops every L1 entry, as when invalidations may have been
// missed (counted in Stats.L1Flushes only when there is an L1), and
// sends every read to the master for ReplicaGrace.
func (s *Service) flushL1() {
	for i := range s.gens {
		s.gens[i].Add(1)
	}
	if s.recent != nil {
		s.recent.all(s.now())
	}
	if s.l1 != nil {
		s.l1.InvalidateAll()
		s.stats.l1Flushes.Add(1)
	}
}

// keyBufs holds the buffers observeKey builds keys in.
var keyBufs = sync.Pool{New: func() any { return new([]byte) }}

// observeKey tells Options.Keys of an access to h's Redis key. The key is
// built in a pooled buffer, not kept in the L1 entry (73 bytes an entry
// with the default prefix) nor allocated per hit: a KeyObserver must not
// retain the key beyond the call.
func (s *Service) observeKey(h TokenHash) {
	bp := keyBufs.Get().(*[]byte)
	b := appendSessionKey((*bp)[:0], s.opts.KeyPrefix, h)
	s.keys.ObserveKey(unsafe.String(unsafe.SliceData(b), len(b)))
	*bp = b
	keyBufs.Put(bp)
}
