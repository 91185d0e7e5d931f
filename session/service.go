package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Options configures a Service. Store and Redis are required; every other
// field has a default.
type Options struct {
	// Store is the system of record. The Service does not close it.
	Store Store
	// Redis is the shared cache and invalidation bus. The Service does not
	// close it.
	Redis redis.UniversalClient
	// ReadRedis, if set, serves the Redis tier's reads of session keys,
	// typically a client that routes reads to replicas; writes, scripts
	// and the invalidation subscription always use Redis. Keys invalidated
	// in the last ReplicaGrace, and every key for ReplicaGrace after an L1
	// flush, are read from Redis instead, and so is a key whose ReadRedis
	// read fails (see replica.go). The Service does not close it.
	ReadRedis redis.UniversalClient
	// ReplicaGrace is how long reads of an invalidated key avoid ReadRedis.
	// It must exceed the replicas' normal lag. Default 5s.
	ReplicaGrace time.Duration

	// KeyPrefix starts every Redis key and channel name. Default "studio:".
	KeyPrefix string
	// L1TTL bounds how long an entry lives in the in-process cache; it is
	// also the longest a missed invalidation could keep a revoked session
	// alive on one instance. Default 5s; negative disables the L1. An
	// entry used in the last fifth of its life is refreshed from Redis in
	// the background (refresh-ahead), so a session in use does not wait for
	// Redis every L1TTL; the entry is still never used past its own life.
	L1TTL time.Duration
	// L1Size is the L1's maximum number of entries. Default 100 000.
	L1Size int
	// CacheTTL bounds how long a session lives in Redis (never past its
	// expiry). Default 10m.
	CacheTTL time.Duration
	// NegativeTTL is how long Redis remembers that a well-formed token has
	// no session. Default 30s.
	NegativeTTL time.Duration
	// TouchInterval is the finest granularity of last_seen_at: a session's
	// use is written back at most once per interval per instance.
	// Default 1m.
	TouchInterval time.Duration
	// FlushInterval is how often recorded uses are written to the store in
	// one batch. Default 10s.
	FlushInterval time.Duration
	// DefaultTTL is the lifetime of a session created without one.
	// Default 24h.
	DefaultTTL time.Duration
	// MaxTTL is the longest lifetime Create accepts. Default 366 days.
	MaxTTL time.Duration
	// RedisTimeout bounds each background Redis step (fills, tombstones).
	// Default 500ms.
	RedisTimeout time.Duration
	// StoreTimeout bounds each store lookup made on behalf of callers.
	// Default 2s.
	StoreTimeout time.Duration

	// Logger receives warnings and errors; nil discards them.
	Logger *slog.Logger
	// Tracer starts the session.validate/create/revoke spans; nil means
	// no tracing.
	Tracer trace.Tracer
	// Keys, if set, is told the Redis key of every L1 hit (Redis commands
	// are observed by the Redis hook), for hot-key detection.
	Keys KeyObserver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "studio:"
	}
	def(&o.L1TTL, 5*time.Second)
	if o.L1Size <= 0 {
		o.L1Size = 100_000
	}
	def(&o.CacheTTL, 10*time.Minute)
	def(&o.NegativeTTL, 30*time.Second)
	def(&o.TouchInterval, time.Minute)
	def(&o.FlushInterval, 10*time.Second)
	def(&o.DefaultTTL, 24*time.Hour)
	def(&o.MaxTTL, 366*24*time.Hour)
	def(&o.RedisTimeout, 500*time.Millisecond)
	def(&o.ReplicaGrace, 5*time.Second)
	def(&o.StoreTimeout, 2*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Tier names the layer that answered a validation.
type Tier uint8

// Tiers, fastest first.
const (
	TierNone  Tier = iota // refused before any lookup (malformed token)
	TierL1                // in-process cache
	TierRedis             // Redis
	TierStore             // SQL store
)

func (t Tier) String() string {
	switch t {
	case TierL1:
		return "l1"
	case TierRedis:
		return "redis"
	case TierStore:
		return "store"
	}
	return "none"
}

// KeyObserver counts accesses to a Redis key (hot-key detection). It must
// be fast, must not block and must not retain key beyond the call.
type KeyObserver interface {
	ObserveKey(key string)
}

// Service creates, validates and revokes sessions. It is safe for
// concurrent use. NewService starts background goroutines (the invalidation
// subscriber, the last-seen flusher and the revocation retrier); Close stops
// them.
type Service struct {
	opts   Options
	store  Store
	rdb    redis.UniversalClient
	read   redis.UniversalClient // nil: reads use rdb
	recent *recentInvalidations  // nil without read
	// lastKick is when a validation last woke the revocation retrier
	// (unix ns).
	lastKick atomic.Int64
	// redisLat counts the Redis round trips of validations (the warm
	// back-off's signal).
	redisLat latHist
	log      *slog.Logger
	now      func() time.Time
	tracer   trace.Tracer
	tracing  bool
	keys     KeyObserver

	l1 *otter.Cache[TokenHash, *l1Entry] // nil when disabled
	// refreshQ feeds refreshLoop (nil without an L1).
	refreshQ chan TokenHash
	// gens holds one invalidation generation per first hash byte. A fill
	// snapshots its key's generation before reading Redis or the store and
	// withdraws its L1 insert if the generation moved meanwhile, so a fill
	// that raced an invalidation never stays in the L1.
	gens [256]atomic.Uint64

	sf       singleflight.Group
	touches  toucher
	retry    revokeRetrier
	channel  string
	subUp    atomic.Bool
	psMu     sync.Mutex
	ps       *redis.PubSub // the live subscription, closed by Close
	stats    counters
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeOne sync.Once
}

type l1Entry struct {
	sess  Session
	err   error  // non-nil: a cached refusal (ErrRevoked, ErrNotFound, …)
	key   string // the Redis key, kept so an L1 hit can be counted as an access to it
	until int64  // unix nanoseconds; the entry is not used at or after it
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

// NewService checks opts, starts the background goroutines and returns a
// running Service.
func NewService(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("session: Options.Store is required")
	}
	if opts.Redis == nil {
		return nil, errors.New("session: Options.Redis is required")
	}
	opts.setDefaults()
	s := &Service{
		opts:    opts,
		store:   opts.Store,
		rdb:     opts.Redis,
		log:     opts.Logger,
		now:     opts.Now,
		tracer:  opts.Tracer,
		tracing: opts.Tracer != nil,
		keys:    opts.Keys,
		channel: opts.KeyPrefix + "invalidate",
	}
	if opts.ReadRedis != nil {
		s.read = opts.ReadRedis
		s.recent = newRecentInvalidations(opts.ReplicaGrace)
	}
	s.touches.init()
	if opts.L1TTL > 0 {
		c, err := otter.New(&otter.Options[TokenHash, *l1Entry]{
			MaximumSize: opts.L1Size,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[TokenHash, *l1Entry]) time.Duration {
				return e.Value.ttl
			}),
		})
		if err != nil {
			return nil, fmt.Errorf("session: create L1 cache: %w", err)
		}
		s.l1 = c
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.retry.init(s)
	s.wg.Add(3)
	go s.subscribeLoop(ctx)
	go s.flushLoop(ctx)
	go s.retry.loop(ctx)
	if s.l1 != nil {
		s.refreshQ = make(chan TokenHash, l1RefreshQueue)
		s.wg.Add(l1RefreshWorkers)
		for range l1RefreshWorkers {
			go s.refreshLoop(ctx)
		}
	}
	return s, nil
}

// Close stops the background goroutines, makes one last attempt to write
// the revocation tombstones still queued for retry (logging an error for
// those Redis refuses) and writes pending last-seen times to the store. It
// does not close the store or the Redis client. Calls after the first
// return nil.
func (s *Service) Close() error {
	var err error
	s.closeOne.Do(func() {
		s.cancel()
		s.psMu.Lock()
		if s.ps != nil {
			_ = s.ps.Close()
		}
		s.psMu.Unlock()
		s.wg.Wait()
		s.lastRetry()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.StoreTimeout)
		defer cancel()
		err = s.flushTouches(ctx)
		if s.l1 != nil {
			s.l1.StopAllGoroutines()
		}
	})
	return err
}

// lastRetry makes one last attempt, at Close, to write the revocation
// tombstones still queued for retry; what Redis still refuses is logged as
// an error: other instances may serve those sessions from Redis until
// their copies expire (CacheTTL at most).
func (s *Service) lastRetry() {
	if s.retry.queued.Load() == 0 {
		return
	}
	// One RedisTimeout per batch; at most 5 s in all (a long queue while
	// Redis answers), far less when it does not (the first batch fails).
	ctx, cancel := context.WithTimeout(context.Background(), max(5*time.Second, s.opts.RedisTimeout))
	defer cancel()
	if s.retry.attempt(ctx) {
		s.log.Error("revocations not written to redis before close; their sessions may still be served from redis until their copies expire",
			"sessions", s.retry.queued.Load(), "cache_ttl", s.opts.CacheTTL.String())
	}
}

// Key returns the Redis key of the session with this token hash.
func (s *Service) Key(h TokenHash) string {
	var hx [2 * len(h)]byte
	hex.Encode(hx[:], h[:])
	var b strings.Builder
	b.Grow(len(s.opts.KeyPrefix) + 2 + len(hx))
	b.WriteString(s.opts.KeyPrefix)
	b.WriteString("s:")
	b.Write(hx[:])
	return b.String()
}

// Channel returns the Redis pub/sub channel that carries invalidations.
func (s *Service) Channel() string { return s.channel }

// Subscribed reports whether the invalidation subscription is live.
func (s *Service) Subscribed() bool { return s.subUp.Load() }

// MaxTTL is the longest session lifetime Create accepts (Options.MaxTTL).
func (s *Service) MaxTTL() time.Duration { return s.opts.MaxTTL }

// Validate returns the live session the token names. It refuses a
// malformed token with ErrMalformedToken before any I/O, and a known but
// dead session with ErrRevoked, ErrExpired or ErrIdle; ErrNotFound means no
// session has the token. Any other error means the store could not be
// reached and Redis could not answer either.
//
// The returned Session's Metadata map is shared and must not be modified.
func (s *Service) Validate(ctx context.Context, token string) (Session, error) {
	sess, _, err := s.ValidateTier(ctx, token)
	return sess, err
}

// Span attribute keys set by the Service.
const (
	AttrTier   = attribute.Key("studio.session.tier")
	AttrResult = attribute.Key("studio.session.result")
	AttrCount  = attribute.Key("studio.session.count")
)

// ValidateTier is Validate that also reports which tier answered. It runs
// in a session.validate span whose attributes name the tier and the
// result; an L1 hit makes no other span.
func (s *Service) ValidateTier(ctx context.Context, token string) (Session, Tier, error) {
	ctx, span := s.startSpan(ctx, "session.validate")
	sess, tier, err := s.validate(ctx, token)
	if span.IsRecording() {
		res := ResultOf(err)
		span.SetAttributes(AttrTier.String(tier.String()), AttrResult.String(res.String()))
		if res == ResultError {
			span.SetStatus(codes.Error, "no tier could answer")
			span.RecordError(err)
		}
	}
	span.End()
	return sess, tier, err
}

// noSpan is a span that records nothing and belongs to nobody.
var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts a span unless nothing would record it: no tracer was
// given, or the caller's span was not sampled (Studio's samplers are
// parent-based, so no child would be). Skipping saves the context
// allocation on the L1 path.
func (s *Service) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !s.tracing {
		return ctx, noSpan
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsSampled() {
		return ctx, noSpan
	}
	return s.tracer.Start(ctx, name)
}

func (s *Service) validate(ctx context.Context, token string) (Session, Tier, error) {
	h, err := ParseToken(token)
	if err != nil {
		s.stats.count(TierNone, err)
		return Session{}, TierNone, err
	}
	now := s.now()
	if s.l1 != nil {
		if e, ok := s.l1.GetIfPresent(h); ok && now.UnixNano() < e.until {
			if s.keys != nil {
				// Hot sessions rarely reach Redis: count their L1 hits as
				// accesses to their key, or hot-key detection misses them.
				s.keys.ObserveKey(e.key)
			}
			if e.err != nil {
				s.stats.count(TierL1, e.err)
				return Session{}, TierL1, e.err
			}
			if err := e.sess.check(now); err == nil {
				s.touch(h, e, now)
				s.stats.count(TierL1, nil)
				s.maybeRefresh(h, e, now)
				return e.sess, TierL1, nil
			}
			// The cached copy looks idle or expired; the slow path
			// decides with fresher data.
		}
	}
	sess, tier, err := s.validateSlow(ctx, h, now)
	s.stats.count(tier, err)
	return sess, tier, err
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
			_, _, _ = s.validateSlow(rctx, h, s.now())
			cancel()
			s.stats.l1Refreshes.Add(1)
		}
	}
}

// fillMode says how a store result is written back to Redis.
type fillMode uint8

const (
	fillNone    fillMode = iota // Redis is failing: do not try
	fillNX                      // the key was absent: SET … NX
	fillReplace                 // the key held a stale copy: replace unless it is a tombstone
)

// redisGet reads key from ReadRedis when configured and safe (see
// replica.go), otherwise, or when that read fails, from Redis; master
// reports which answered.
func (s *Service) redisGet(ctx context.Context, h TokenHash, key string, now time.Time) (v string, master bool, err error) {
	if s.read != nil && !s.recent.master(h, now) {
		v, err := s.read.Get(ctx, key).Result()
		if err == nil || errors.Is(err, redis.Nil) || ctx.Err() != nil {
			return v, false, err
		}
		s.stats.replicaFallbacks.Add(1)
		s.log.Debug("replica read failed; reading the master", "error", err)
	}
	v, err = s.rdb.Get(ctx, key).Result()
	return v, true, err
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

func (s *Service) validateSlow(ctx context.Context, h TokenHash, now time.Time) (Session, Tier, error) {
	gen := s.gens[h[0]].Load()
	mode := fillNone
	key := s.Key(h)
	if s.retry.pendingFor(h) {
		// Revoked here, tombstone not yet in Redis: Redis (or a replica)
		// may still hold the live copy.
		s.l1Put(h, key, gen, Session{}, ErrRevoked, now)
		return Session{}, TierNone, ErrRevoked
	}
	t0 := time.Now()
	v, master, err := s.redisGet(ctx, h, key, now)
	s.redisLat.add(time.Since(t0))
	if master && err == nil && s.retry.queued.Load() > 0 {
		s.kickRetrier(now) // the master answers again: send the queued tombstones now
	}
	switch {
	case err == nil:
		sess, derr := decodeCached(v)
		switch {
		case derr == nil:
			cerr := s.checkLocal(h, &sess, now)
			if cerr == nil {
				e := s.l1Put(h, key, gen, sess, nil, now)
				s.touch(h, e, now)
				return sess, TierRedis, nil
			}
			if !errors.Is(cerr, ErrIdle) {
				s.l1Put(h, key, gen, Session{}, cerr, now)
				return Session{}, TierRedis, cerr
			}
			// Other instances' uses reach Redis only through the store:
			// ask it before calling the session idle.
			mode = fillReplace
		case errors.Is(derr, ErrRevoked), errors.Is(derr, ErrNotFound):
			s.l1Put(h, key, gen, Session{}, derr, now)
			return Session{}, TierRedis, derr
		default:
			s.log.Warn("unreadable session value in redis; reading the store", "session_key_hash", h.Hex()[:12], "error", derr)
			mode = fillReplace
		}
	case errors.Is(err, redis.Nil):
		mode = fillNX
	case ctx.Err() != nil:
		return Session{}, TierRedis, ctx.Err()
	default:
		s.stats.redisErrors.Add(1)
		s.log.Debug("redis get failed; reading the store", "error", err)
	}

	res, err := s.loadFromStore(ctx, h, mode, now)
	if err != nil {
		return Session{}, TierStore, err
	}
	if res.err != nil {
		s.l1Put(h, key, gen, Session{}, res.err, now)
		return Session{}, TierStore, res.err
	}
	sess := res.sess
	if cerr := s.checkLocal(h, &sess, now); cerr != nil {
		s.l1Put(h, key, gen, Session{}, cerr, now)
		return Session{}, TierStore, cerr
	}
	e := s.l1Put(h, key, gen, sess, nil, now)
	s.touch(h, e, now)
	return sess, TierStore, nil
}

type storeResult struct {
	sess Session
	err  error // ErrNotFound or ErrRevoked: a definite answer
}

// loadFromStore reads the store once per token however many callers ask at
// the same time, and fills Redis with the answer. A caller that gives up
// does not cancel the read for the others.
func (s *Service) loadFromStore(ctx context.Context, h TokenHash, mode fillMode, now time.Time) (storeResult, error) {
	ch := s.sf.DoChan(string(h[:]), func() (any, error) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.StoreTimeout)
		defer cancel()
		sess, err := s.store.Lookup(sctx, h)
		var res storeResult
		switch {
		case err == nil && sess.Revoked():
			res.err = ErrRevoked
		case err == nil:
			res.sess = sess
		case errors.Is(err, ErrNotFound):
			res.err = ErrNotFound
		default:
			s.stats.storeErrors.Add(1)
			return nil, fmt.Errorf("session lookup: %w", err)
		}
		if mode != fillNone {
			s.fill(sctx, h, res, mode, now)
		}
		return res, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return storeResult{}, r.Err
		}
		return r.Val.(storeResult), nil
	case <-ctx.Done():
		return storeResult{}, ctx.Err()
	}
}

// replaceUnlessTombstone sets KEYS[1] to ARGV[1] expiring at ARGV[2] (unix
// ms) unless it holds a revocation tombstone.
var replaceUnlessTombstone = redis.NewScript(`
if redis.call('GET', KEYS[1]) == '` + tombstone + `' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 1`)

// fill writes a store answer to Redis. Failures are logged and otherwise
// ignored: the answer is already correct, Redis only makes the next one
// faster.
func (s *Service) fill(ctx context.Context, h TokenHash, res storeResult, mode fillMode, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RedisTimeout)
	defer cancel()
	key := s.Key(h)
	var err error
	switch {
	case res.err == ErrNotFound:
		err = s.rdb.SetNX(ctx, key, absent, s.opts.NegativeTTL).Err()
	case res.err == ErrRevoked:
		// Revoke writes tombstones itself; a fill never needs to. The
		// session may have been revoked long ago, so remember it briefly.
		err = s.rdb.SetNX(ctx, key, tombstone, s.opts.NegativeTTL).Err()
	default:
		until := s.redisDeadline(&res.sess, now)
		if !until.After(now) {
			return
		}
		var val []byte
		if val, err = encodeSession(&res.sess); err != nil {
			break
		}
		if mode == fillReplace {
			err = replaceUnlessTombstone.Run(ctx, s.rdb, []string{key}, val, until.UnixMilli()).Err()
		} else {
			err = s.rdb.Do(ctx, "set", key, val, "pxat", until.UnixMilli(), "nx").Err()
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		s.stats.redisErrors.Add(1)
		s.log.Debug("redis fill failed", "error", err)
	}
}

// redisDeadline is when a cached copy of sess must leave Redis: CacheTTL
// from now, but never past the session's own deadline.
func (s *Service) redisDeadline(sess *Session, now time.Time) time.Time {
	until := now.Add(s.opts.CacheTTL)
	if d := sess.deadline(); d.Before(until) {
		until = d
	}
	return until
}

// checkLocal checks the session, counting uses this instance has recorded
// but not yet written to the store.
func (s *Service) checkLocal(h TokenHash, sess *Session, now time.Time) error {
	if sess.IdleTimeout > 0 {
		if ms := s.touches.last(h); ms > sess.LastSeenAt.UnixMilli() {
			sess.LastSeenAt = time.UnixMilli(ms).UTC()
		}
	}
	return sess.check(now)
}

// l1Put caches an answer unless an invalidation of the key happened since
// gen was read. It returns the entry (nil when nothing is cached).
func (s *Service) l1Put(h TokenHash, key string, gen uint64, sess Session, err error, now time.Time) *l1Entry {
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
	e := &l1Entry{sess: sess, err: err, key: key, until: now.Add(ttl).UnixNano(), ttl: ttl}
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

// flushL1 drops every L1 entry, as when invalidations may have been missed.
func (s *Service) flushL1() {
	for i := range s.gens {
		s.gens[i].Add(1)
	}
	if s.recent != nil {
		s.recent.all(s.now())
	}
	if s.l1 != nil {
		s.l1.InvalidateAll()
	}
	s.stats.l1Flushes.Add(1)
}

// CreateParams describes a session to create.
type CreateParams struct {
	UserID string
	// TTL is the session's lifetime; zero means Options.DefaultTTL.
	TTL time.Duration
	// IdleTimeout, when positive, ends the session after that long unused.
	// It must be at least twice Options.TouchInterval (the precision of
	// last_seen_at) and no longer than TTL.
	IdleTimeout time.Duration
	Metadata    map[string]string
}

// Limits on CreateParams.
const (
	MaxUserIDLen        = 256
	MaxMetadataEntries  = 64
	MaxMetadataKeyLen   = 128
	MaxMetadataValueLen = 1024
)

// CheckParams returns an error wrapping ErrInvalidInput that says what is
// wrong with p, or nil.
func (s *Service) CheckParams(p CreateParams) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
	}
	if p.UserID == "" {
		return bad("user_id is required")
	}
	if len(p.UserID) > MaxUserIDLen {
		return bad("user_id is longer than %d bytes", MaxUserIDLen)
	}
	if !printable(p.UserID) {
		return bad("user_id must be valid UTF-8 without control characters")
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = s.opts.DefaultTTL
	}
	if ttl < time.Second {
		return bad("ttl must be at least 1s")
	}
	if ttl > s.opts.MaxTTL {
		return bad("ttl must be at most %s", s.opts.MaxTTL)
	}
	if p.IdleTimeout < 0 {
		return bad("idle_timeout must not be negative")
	}
	if p.IdleTimeout > 0 && p.IdleTimeout < 2*s.opts.TouchInterval {
		return bad("idle_timeout must be 0 (none) or at least %s", 2*s.opts.TouchInterval)
	}
	if p.IdleTimeout > ttl {
		return bad("idle_timeout must not exceed ttl")
	}
	if len(p.Metadata) > MaxMetadataEntries {
		return bad("metadata has more than %d entries", MaxMetadataEntries)
	}
	for k, v := range p.Metadata {
		if k == "" || len(k) > MaxMetadataKeyLen || !printable(k) {
			return bad("metadata keys must be 1-%d printable bytes", MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValueLen || !printable(v) {
			return bad("metadata values must be at most %d printable bytes", MaxMetadataValueLen)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Create stores a new session and returns its token. The store is written
// first, then Redis, so the first validation anywhere is a Redis hit; a
// Redis failure is logged and never fails a create the store accepted.
// Invalid params return an error wrapping ErrInvalidInput and write nothing.
func (s *Service) Create(ctx context.Context, p CreateParams) (tok Token, sess Session, err error) {
	ctx, span := s.startSpan(ctx, "session.create")
	defer func() { endSpan(span, err, ErrInvalidInput) }()
	return s.create(ctx, p)
}

func (s *Service) create(ctx context.Context, p CreateParams) (Token, Session, error) {
	if err := s.CheckParams(p); err != nil {
		return "", Session{}, err
	}
	if p.TTL == 0 {
		p.TTL = s.opts.DefaultTTL
	}
	tok, err := NewToken()
	if err != nil {
		return "", Session{}, err
	}
	id, err := newSessionID()
	if err != nil {
		return "", Session{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	var md map[string]string
	if len(p.Metadata) > 0 {
		md = make(map[string]string, len(p.Metadata))
		for k, v := range p.Metadata {
			md[k] = v
		}
	}
	sess := Session{
		ID:          id,
		UserID:      p.UserID,
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(p.TTL),
		IdleTimeout: p.IdleTimeout,
		Metadata:    md,
	}
	h, _ := ParseToken(string(tok))
	if err := s.store.Create(ctx, Record{Hash: h, Session: sess}); err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	s.writeCreated(ctx, h, &sess, now)
	return tok, sess, nil
}

func (s *Service) writeCreated(ctx context.Context, h TokenHash, sess *Session, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RedisTimeout)
	defer cancel()
	val, err := encodeSession(sess)
	if err == nil {
		// A plain SET: it replaces an "absent" marker left by a guess.
		err = s.rdb.Do(ctx, "set", s.Key(h), val, "pxat", s.redisDeadline(sess, now).UnixMilli()).Err()
	}
	if err != nil {
		s.stats.redisErrors.Add(1)
		s.log.Warn("redis write after create failed; the session will be read from the store", "session_id", sess.ID, "error", err)
	}
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Revoke ends the session the token names, everywhere. It writes the store
// first (an error there is returned and nothing else happens), then a
// tombstone in Redis for the rest of the session's life, then publishes an
// invalidation to every instance. If the Redis steps fail they are retried
// in the background until they succeed; Revoke still returns nil. A
// malformed token gets ErrMalformedToken, an unknown one ErrNotFound.
func (s *Service) Revoke(ctx context.Context, token string) (err error) {
	ctx, span := s.startSpan(ctx, "session.revoke")
	defer func() { endSpan(span, err, ErrMalformedToken, ErrNotFound) }()
	h, err := ParseToken(token)
	if err != nil {
		return err
	}
	sess, err := s.store.Revoke(ctx, h, s.now().UTC())
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.propagate(ctx, []Revocation{{Hash: h, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt}})
	return nil
}

// RevokeUser revokes every live session of the user and returns how many
// it revoked, with the same ordering and retry guarantees as Revoke.
func (s *Service) RevokeUser(ctx context.Context, userID string) (n int, err error) {
	ctx, span := s.startSpan(ctx, "session.revoke_user")
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(AttrCount.Int(n))
		}
		endSpan(span, err, ErrInvalidInput)
	}()
	if userID == "" || len(userID) > MaxUserIDLen {
		return 0, fmt.Errorf("%w: user_id must be 1-%d bytes", ErrInvalidInput, MaxUserIDLen)
	}
	revs, err := s.store.RevokeUser(ctx, userID, s.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("revoke user sessions: %w", err)
	}
	if len(revs) > 0 {
		s.propagate(ctx, revs)
	}
	return len(revs), nil
}

// endSpan marks the span failed unless err is nil or one of the expected
// refusals, and ends it.
func endSpan(span trace.Span, err error, expected ...error) {
	if err != nil && span.IsRecording() {
		failed := true
		for _, e := range expected {
			if errors.Is(err, e) {
				failed = false
			}
		}
		if failed {
			span.SetStatus(codes.Error, "failed")
			span.RecordError(err)
		}
	}
	span.End()
}

// propagate applies revocations to Redis (tombstones, then one
// invalidation message) and to this instance's L1; what Redis refuses is
// queued for retry.
func (s *Service) propagate(ctx context.Context, revs []Revocation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RedisTimeout)
	defer cancel()
	if err := s.applyRevocations(ctx, revs); err != nil {
		s.stats.redisErrors.Add(1)
		s.log.Warn("revocation not yet in redis; retrying in the background", "sessions", len(revs), "error", err)
		s.retry.add(revs)
	}
	for _, r := range revs {
		s.invalidateLocal(r.Hash)
	}
}

// invalidationBatch bounds the hashes carried by one message.
const invalidationBatch = 256

func (s *Service) applyRevocations(ctx context.Context, revs []Revocation) error {
	now := s.now()
	for start := 0; start < len(revs); start += invalidationBatch {
		batch := revs[start:min(start+invalidationBatch, len(revs))]
		var msg strings.Builder
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, r := range batch {
				if r.ExpiresAt.After(now) {
					p.Do(ctx, "set", s.Key(r.Hash), tombstone, "pxat", r.ExpiresAt.UnixMilli())
				}
				if i > 0 {
					msg.WriteByte(',')
				}
				msg.WriteString(r.Hash.Hex())
			}
			p.Publish(ctx, s.channel, msg.String())
			return nil
		})
		if err != nil {
			return fmt.Errorf("write tombstones: %w", err)
		}
	}
	return nil
}

// handleInvalidation applies one invalidation message.
func (s *Service) handleInvalidation(payload string) {
	for part := range strings.SplitSeq(payload, ",") {
		h, err := ParseTokenHash(part)
		if err != nil {
			s.log.Warn("ignoring malformed invalidation message", "error", err)
			continue
		}
		s.invalidateLocal(h)
	}
}

// Health is a point-in-time view of the Service's dependencies.
type Health struct {
	Redis      error // nil when Redis answered PING
	Store      error // nil when the store answered
	Subscribed bool  // the invalidation subscription is live
}

// Health pings Redis and the store.
func (s *Service) Health(ctx context.Context) Health {
	var h Health
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.Redis = s.rdb.Ping(ctx).Err() }()
	go func() { defer wg.Done(); h.Store = s.store.Ping(ctx) }()
	wg.Wait()
	h.Subscribed = s.subUp.Load()
	return h
}
