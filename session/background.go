package session

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscribeLoop keeps the invalidation subscription alive until ctx ends.
// Every drop and every (re)subscribe flushes the whole L1: a message missed
// while the subscription was down can never keep a revoked session alive
// for longer than one L1 lifetime.
func (s *Service) subscribeLoop(ctx context.Context) {
	defer s.wg.Done()
	const (
		receiveTimeout = time.Second
		// With no message or pong for this long, the connection is taken
		// for dead even if the socket never errors (a frozen server).
		silenceLimit = 3 * receiveTimeout
	)
	backoff := newBackoff(50*time.Millisecond, time.Second)
	for ctx.Err() == nil {
		ps := s.rdb.Subscribe(ctx, s.channel)
		s.psMu.Lock()
		s.ps = ps // so Close can interrupt a blocked receive
		s.psMu.Unlock()
		if ctx.Err() != nil { // Close ran before s.ps was set
			_ = ps.Close()
			break
		}
		lastHeard := time.Now()
		pinged := false
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, receiveTimeout)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(lastHeard) < silenceLimit {
					if !pinged {
						pinged = ps.Ping(ctx) == nil
					}
					continue
				}
				s.subscriptionLost(err)
				break
			}
			lastHeard, pinged = time.Now(), false
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					s.flushL1()
					s.retry.kick() // Redis is back: queued revocations first
					if !s.subUp.Swap(true) {
						s.log.Info("invalidation subscription up; L1 flushed", "channel", s.channel)
					}
					backoff.reset()
				}
			case *redis.Message:
				s.handleInvalidation(m.Payload)
			}
		}
		_ = ps.Close()
		if ctx.Err() == nil {
			backoff.sleep(ctx)
		}
	}
	s.subUp.Store(false)
}

func (s *Service) subscriptionLost(err error) {
	s.flushL1()
	if s.subUp.Swap(false) {
		s.log.Warn("invalidation subscription lost; L1 flushed", "channel", s.channel, "error", err)
	}
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

// flushTouches writes pending uses to the store; what fails is requeued.
func (s *Service) flushTouches(ctx context.Context) error {
	all := s.touches.drain(s.now().UnixMilli(), s.opts.TouchInterval.Milliseconds())
	for start := 0; start < len(all); start += touchBatch {
		batch := all[start:min(start+touchBatch, len(all))]
		if err := s.store.Touch(ctx, batch); err != nil {
			s.touches.requeue(all[start:])
			return err
		}
		s.stats.touchesWritten.Add(uint64(len(batch)))
	}
	return nil
}

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

// kick asks for an attempt now, e.g. because Redis just answered.
func (r *revokeRetrier) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
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

// Result classifies a validation's outcome for counting.
type Result uint8

// Results of Validate. Malformed tokens are ResultMalformed with TierNone;
// ResultError means no tier could answer (store down, caller gave up).
const (
	ResultValid Result = iota
	ResultNotFound
	ResultRevoked
	ResultExpired
	ResultIdle
	ResultMalformed
	ResultError
	NumResults
)

var resultNames = [NumResults]string{"valid", "not_found", "revoked", "expired", "idle", "malformed", "error"}

func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "unknown"
}

// ResultOf classifies an error returned by Validate.
func ResultOf(err error) Result {
	switch {
	case err == nil:
		return ResultValid
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case errors.Is(err, ErrRevoked):
		return ResultRevoked
	case errors.Is(err, ErrExpired):
		return ResultExpired
	case errors.Is(err, ErrIdle):
		return ResultIdle
	case errors.Is(err, ErrMalformedToken):
		return ResultMalformed
	}
	return ResultError
}

// NumTiers is the number of Tier values.
const NumTiers = 4

// counters are the Service's running totals. All fields are updated
// atomically.
type counters struct {
	validations    [NumResults][NumTiers]atomic.Uint64
	redisErrors    atomic.Uint64
	storeErrors    atomic.Uint64
	l1Flushes      atomic.Uint64
	l1Refreshes    atomic.Uint64
	touchesWritten atomic.Uint64
	// replicaFallbacks counts ReadRedis reads that failed and were
	// retried on the master.
	replicaFallbacks atomic.Uint64
}

func (c *counters) count(t Tier, err error) {
	c.validations[ResultOf(err)][t].Add(1)
}

// Stats are running totals since the Service started.
type Stats struct {
	// Validations counts every Validate call by result and answering tier
	// (index with Result and Tier).
	Validations [NumResults][NumTiers]uint64
	// Hits counts validations that found a live session, by tier.
	Hits [NumTiers]uint64
	// Refused counts validations that found no live session (not found,
	// revoked, expired, idle), by tier.
	Refused [NumTiers]uint64
	// Failed counts validations that got no answer (store unreachable, or
	// the caller gave up).
	Failed      uint64
	Malformed   uint64
	RedisErrors uint64
	StoreErrors uint64
	L1Flushes   uint64
	// L1Refreshes counts L1 entries refreshed ahead of their expiry (see
	// Options.L1TTL).
	L1Refreshes    uint64
	TouchesWritten uint64
	// ReplicaFallbacks counts replica reads that failed and went to the
	// master instead (Options.ReadRedis).
	ReplicaFallbacks uint64
	// RevocationsQueued is the number of revocations waiting to reach Redis.
	RevocationsQueued int64
}

// Stats returns the running totals.
func (s *Service) Stats() Stats {
	var st Stats
	for r := range NumResults {
		for t := range NumTiers {
			n := s.stats.validations[r][t].Load()
			st.Validations[r][t] = n
			switch r {
			case ResultValid:
				st.Hits[t] += n
			case ResultNotFound, ResultRevoked, ResultExpired, ResultIdle:
				st.Refused[t] += n
			case ResultMalformed:
				st.Malformed += n
			case ResultError:
				st.Failed += n
			}
		}
	}
	st.RedisErrors = s.stats.redisErrors.Load()
	st.StoreErrors = s.stats.storeErrors.Load()
	st.L1Flushes = s.stats.l1Flushes.Load()
	st.L1Refreshes = s.stats.l1Refreshes.Load()
	st.TouchesWritten = s.stats.touchesWritten.Load()
	st.ReplicaFallbacks = s.stats.replicaFallbacks.Load()
	st.RevocationsQueued = s.retry.queued.Load()
	return st
}
