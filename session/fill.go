package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// fillMode says how a store result is written back to Redis.
type fillMode uint8

const (
	fillNone    fillMode = iota // Redis is failing: do not try
	fillNX                      // the key was absent: SET … NX
	fillReplace                 // the key held a stale copy: replace unless it is a tombstone
)

type storeResult struct {
	sess Session
	err  error // ErrNotFound or ErrRevoked: a definite answer
	// expires is the session's expiry (for a revoked one too: its
	// tombstone lasts until then).
	expires time.Time
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
			res.err, res.expires = ErrRevoked, sess.ExpiresAt
		case err == nil:
			res.sess, res.expires = sess, sess.ExpiresAt
		case errors.Is(err, ErrNotFound):
			res.err = ErrNotFound
		default:
			s.stats.storeErrors.Add(1)
			return nil, fmt.Errorf("session lookup: %w: %w", ErrStoreUnavailable, err)
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
	case res.err == ErrRevoked && mode == fillReplace && res.expires.After(now):
		// Redis held a live copy of a revoked session: its tombstone was
		// lost (a failover, a restart from an older snapshot) or has not
		// arrived. Put it back for the rest of the session's life, as
		// Revoke writes it.
		err = s.rdb.Do(ctx, "set", key, tombstone, "pxat", res.expires.UnixMilli()).Err()
	case res.err == ErrRevoked:
		// Revoke writes tombstones itself. The session may have been
		// revoked long ago, so remember it briefly.
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

// replaceUnlessTombstone sets KEYS[1] to ARGV[1] expiring at ARGV[2] (unix
// ms) unless it holds a revocation tombstone.
var replaceUnlessTombstone = redis.NewScript(`
if redis.call('GET', KEYS[1]) == '` + tombstone + `' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 1`)

// redisDeadline is when a cached copy of sess must leave Redis: CacheTTL
// from now, but never past the session's own deadline. now must be no
// later than the store read the copy comes from (the validation's start
// for a fill, the creation time for Create, the snapshot time for a
// warm run): every copy then expires within CacheTTL of that read, which
// the revocation index relies on.
func (s *Service) redisDeadline(sess *Session, now time.Time) time.Time {
	until := now.Add(s.opts.CacheTTL)
	if d := sess.deadline(); d.Before(until) {
		until = d
	}
	return until
}
