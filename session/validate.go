package session

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
)

// Tier names the layer that answered a validation.
type Tier uint8

// Tiers, fastest first.
const (
	TierNone  Tier = iota // refused before any lookup (malformed token, or no tag of this store)
	TierL1                // in-process cache
	TierRedis             // Redis
	TierStore             // SQL store
)

// NumTiers is the number of Tier values.
const NumTiers = 4

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

// Validate returns the live session the token names. It refuses a
// malformed token with ErrMalformedToken before any I/O, and a known but
// dead session with ErrRevoked, ErrExpired or ErrIdle; ErrNotFound means no
// session has the token. A well-formed token that does not carry this
// store's tag gets ErrNotFound with no I/O too (after the L1, and unless
// the legacy window is open; see "Token tags" in the package
// documentation). Any other error means the store could not be
// reached and Redis could not answer either.
//
// The returned Session's Metadata map is shared and must not be modified.
func (s *Service) Validate(ctx context.Context, token string) (Session, error) {
	sess, _, err := s.ValidateTier(ctx, token)
	return sess, err
}

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

// validate is ValidateTier without the span: the token's shape, the L1,
// the token's tag, then validateSlow; it counts the outcome in Stats. An
// L1 hit needs no tag check: only an accepted token fills the L1.
func (s *Service) validate(ctx context.Context, token string) (Session, Tier, error) {
	var body [tokenRandLen]byte
	h, err := parseToken(token, &body)
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
				s.observeKey(h)
			}
			if e.err != nil {
				s.stats.count(TierL1, e.err)
				return Session{}, TierL1, e.err
			}
			if err := e.sess.check(now); err == nil && (s.noL1IndexCheck || !s.revs.has(h, now.UnixNano())) {
				s.touch(h, e, now)
				s.stats.count(TierL1, nil)
				s.maybeRefresh(h, e, now)
				return e.sess, TierL1, nil
			}
			// The cached copy looks idle or expired, or the session was
			// revoked recently (the entry may predate the revocation):
			// the slow path decides with fresher data (already counted
			// above).
			sess, tier, err := s.validateSlow(ctx, h, s.Key(h), now)
			s.stats.count(tier, err)
			return sess, tier, err
		}
	}
	// An L1 miss: a token without this store's tag is refused here, with
	// no I/O, unless the legacy window is open.
	if !s.tagAccepted(&body, now) {
		s.stats.count(TierNone, errForged)
		return Session{}, TierNone, errForged
	}
	key := s.Key(h)
	if s.keys != nil {
		s.keys.ObserveKey(key) // the caller's access, whichever tier answers
	}
	sess, tier, err := s.validateSlow(ctx, h, key, now)
	s.stats.count(tier, err)
	return sess, tier, err
}

// validateSlow answers from Redis, or from the store (fill.go) when Redis
// has no usable answer, and caches the answer in the L1 unless an
// invalidation raced it. key is s.Key(h). Refresh-ahead uses it too; it
// counts no key access (validate does, for callers).
func (s *Service) validateSlow(ctx context.Context, h TokenHash, key string, now time.Time) (Session, Tier, error) {
	gen := s.gens[h[0]].Load()
	mode := fillNone
	if s.retry.pendingFor(h) {
		// Revoked here, tombstone not yet in Redis: Redis (or a replica)
		// may still hold the live copy.
		s.l1Put(h, gen, Session{}, ErrRevoked, now)
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
			switch {
			case cerr == nil && s.revs.trusts(h, now.UnixNano()):
				e := s.l1Put(h, gen, sess, nil, now)
				s.touch(h, e, now)
				return sess, TierRedis, nil
			case cerr == nil:
				// A live copy the revocation index cannot vouch for: the
				// session was revoked recently (Redis lost the tombstone,
				// or has not got it yet), or the index is not current.
				// The store decides, and its answer replaces the copy.
				s.stats.distrusted.Add(1)
				mode = fillReplace
			case !errors.Is(cerr, ErrIdle):
				s.l1Put(h, gen, Session{}, cerr, now)
				return Session{}, TierRedis, cerr
			default:
				// Other instances' uses reach Redis only through the
				// store: ask it before calling the session idle.
				mode = fillReplace
			}
		case errors.Is(derr, ErrRevoked), errors.Is(derr, ErrNotFound):
			s.l1Put(h, gen, Session{}, derr, now)
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
		s.l1Put(h, gen, Session{}, res.err, now)
		return Session{}, TierStore, res.err
	}
	sess := res.sess
	if cerr := s.checkLocal(h, &sess, now); cerr != nil {
		s.l1Put(h, gen, Session{}, cerr, now)
		return Session{}, TierStore, cerr
	}
	e := s.l1Put(h, gen, sess, nil, now)
	s.touch(h, e, now)
	return sess, TierStore, nil
}

// redisGet reads key from ReadRedis when configured and safe (see
// recentInvalidations), otherwise, or when that read fails, from Redis;
// master reports which answered.
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

// checkLocal checks the session, counting uses this instance has recorded
// but not yet written to the store.
func (s *Service) checkLocal(h TokenHash, sess *Session, now time.Time) error {
	if sess.IdleTimeout > 0 {
		if ms := s.touches.last(h, now.UnixMilli(), s.opts.TouchInterval.Milliseconds()); ms > sess.LastSeenAt.UnixMilli() {
			sess.LastSeenAt = time.UnixMilli(ms).UTC()
		}
	}
	return sess.check(now)
}
