package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Options configures a Service. Store and Redis are required; every other
// field has a default. NewService copies it; the Service closes none of
// the clients and stores it is given.
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
	// read fails (see "Replica reads" in the package documentation). The
	// Service does not close it.
	ReadRedis redis.UniversalClient
	// ReplicaGrace is how long reads of an invalidated key avoid ReadRedis.
	// It must exceed the replicas' normal lag. Default 5s.
	ReplicaGrace time.Duration

	// KeyPrefix starts every Redis key and channel name. Default "studio:".
	KeyPrefix string
	// L1TTL bounds how long an entry lives in the in-process cache; it is
	// also the longest a missed invalidation could keep a revoked session
	// alive on one instance. Default 5s (zero means the default); negative
	// (L1Off) disables the L1: every validation then reads Redis, no
	// refresh-ahead workers run, and Stats counts no L1 hits, refreshes or
	// flushes. The invalidation subscription still runs without an L1: it
	// feeds the revocation index, the replica-read guard (ReadRedis) and
	// the revocation retrier. An entry used in the last fifth of its life
	// is refreshed from Redis in the background (refresh-ahead), so a
	// session in use does not wait for Redis every L1TTL; the entry is
	// still never used past its own life.
	L1TTL time.Duration
	// L1Size is the L1's maximum number of entries. Default 100 000.
	L1Size int
	// CacheTTL bounds how long a session lives in Redis (never past its
	// expiry): every copy expires at most CacheTTL after the store read it
	// was made from. Default 10m.
	CacheTTL time.Duration
	// ClockSkew is the skew allowance: how far apart the clocks of
	// Studio's hosts and Redis's may be, plus how late a revocation may
	// commit after its revoked_at. The revocation index keeps every
	// revocation for CacheTTL + ClockSkew after its revoked_at (see
	// "Revocation" in the package documentation). Default 1m.
	ClockSkew time.Duration
	// RevocationPoll is how often the revocation index reads from the
	// store the revocations recorded since its last read (reaching back
	// StoreTimeout + 5s before that read, for commits that land late).
	// The index is stale, and Redis copies are not trusted, once no read
	// has succeeded for five intervals. Default 1s.
	RevocationPoll time.Duration
	// RevocationIndexSize bounds the revocation index (about 57 bytes an
	// entry). A revocation that does not fit is not kept, and Redis
	// copies are not trusted until it has left the window (CacheTTL +
	// ClockSkew); Stats.RevocationsDropped counts them. Default 1 000 000.
	RevocationIndexSize int
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
	// StoreTimeout bounds every store operation: those made for a caller
	// (Create, Revoke, RevokeUser, the store read of a validation, the
	// store check of Health) and the background ones (last-seen writes,
	// the revocation index's reads; the index's first load gets at least
	// 30s). A caller's operation that fails or passes it returns an error
	// wrapping ErrStoreUnavailable. Default 3s.
	StoreTimeout time.Duration

	// Logger receives warnings and errors; nil discards them.
	Logger *slog.Logger
	// Tracer starts the session.validate/create/revoke spans; nil means
	// no tracing.
	Tracer trace.Tracer
	// TraceBackground also traces the Service's own work (warm runs) when
	// its context holds no span, each run then being a root trace. By
	// default such work starts no span; a run started inside a span is
	// traced as its child.
	TraceBackground bool
	// Keys, if set, is told the Redis key of the session of every
	// validation of a well-formed token, once, whichever tier answers it
	// (a token refused for want of the store's tag has no access counted),
	// for hot-key detection: the accesses of callers, and only those. The
	// Service's own reads and writes (refresh-ahead, the Redis fill after
	// a store read, warming, sweeps, tombstone retries) are not counted,
	// nor are creations and revocations (once per session). See
	// DefaultSessionKeyPrefix.
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
	def(&o.StoreTimeout, 3*time.Second)
	def(&o.ClockSkew, time.Minute)
	def(&o.RevocationPoll, time.Second)
	if o.RevocationIndexSize <= 0 {
		o.RevocationIndexSize = 1_000_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// L1Off, as Options.L1TTL, turns the in-process cache off.
const L1Off time.Duration = -1

// KeyObserver counts accesses to a Redis key (hot-key detection). The
// Service calls it from validating goroutines, concurrently: it must be
// safe for concurrent use, fast, must not block and must not retain key
// beyond the call (its bytes may be in a buffer the Service reuses).
type KeyObserver interface {
	ObserveKey(key string)
}

// Service creates, validates and revokes sessions. Create one with
// NewService; the zero value is not usable. A Service is safe for
// concurrent use.
//
// NewService starts background goroutines: the invalidation subscriber,
// the last-seen flusher, the revocation retrier, the revocation index's
// reader of the store, the reader of the legacy token window and, with an
// L1, two refresh-ahead workers. They run
// until Close, which returns once they have stopped. Stop using the
// Service before closing it: afterwards it still answers, but it no longer
// hears other instances' invalidations, reads revocations from the store,
// retries tombstones or writes last-seen times (its revocation index then
// goes stale, so Redis copies are no longer trusted).
type Service struct {
	opts   Options
	store  Store
	rdb    redis.UniversalClient
	read   redis.UniversalClient // nil: reads use rdb
	recent *recentInvalidations  // nil without read
	// revs is the revocation index: no Redis copy of a session in it, and
	// none at all while it is not current, is trusted (revindex.go).
	revs *revocationIndex
	// window is how long the index keeps a revocation: CacheTTL +
	// ClockSkew.
	window time.Duration
	// noL1IndexCheck skips the index check of L1 hits: only for the
	// baseline of the benchmark that measures it (export_test.go).
	noL1IndexCheck bool
	// noTouch records no uses: only for the baseline of the benchmark
	// that measures recording them (export_test.go).
	noTouch bool
	// tags makes and checks the tags of tokens, with the store's key read
	// once by NewService (tags.go).
	tags tagger
	// legacyUntil is the end of the legacy window (unix ns; 0: none):
	// until then a token without this store's tag is looked up all the
	// same. Read from the store every legacyPoll.
	legacyUntil atomic.Int64
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

// NewService checks opts, reads the token key and the legacy window from
// the store (Store.TokenTags, within StoreTimeout or 30s, whichever is
// longer), starts the background goroutines and returns a running
// Service. It fails if Store or Redis is nil, the store cannot give the
// key or the L1 cannot be created.
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
	if err := s.loadTags(); err != nil {
		return nil, err
	}
	s.window = opts.CacheTTL + opts.ClockSkew
	s.revs = newRevocationIndex(s.window, revocationStalePolls*opts.RevocationPoll, opts.RevocationIndexSize)
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
	s.wg.Add(5)
	go s.subscribeLoop(ctx)
	go s.flushLoop(ctx)
	go s.retry.loop(ctx)
	go s.pollRevocations(ctx)
	go s.pollLegacy(ctx)
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
// those Redis refuses) and writes pending last-seen times to the store,
// returning that write's error. It does not close the store or the Redis
// client. Calls after the first return nil.
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

// Key returns the Redis key of the session with this token hash:
// SessionKey of the Service's Options.KeyPrefix.
func (s *Service) Key(h TokenHash) string { return SessionKey(s.opts.KeyPrefix, h) }

// Health is a point-in-time view of the Service's dependencies.
type Health struct {
	Redis      error // nil when Redis answered PING
	Store      error // nil when the store answered
	Subscribed bool  // the invalidation subscription is live
	// Revocations is the revocation index's state: RevocationsCurrent, or
	// why Redis copies are not trusted (validations then read the store).
	Revocations RevocationIndexState
}

// Health pings Redis and the store, both at once and within ctx (the
// store within StoreTimeout too), and reports the invalidation
// subscription's and the revocation index's states.
func (s *Service) Health(ctx context.Context) Health {
	var h Health
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.Redis = s.rdb.Ping(ctx).Err() }()
	go func() {
		defer wg.Done()
		sctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
		defer cancel()
		h.Store = s.store.Ping(sctx)
	}()
	wg.Wait()
	h.Subscribed = s.subUp.Load()
	h.Revocations = s.revs.state(s.now().UnixNano())
	return h
}
