package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Revoke ends the session the token names, everywhere. It writes the store
// first, within StoreTimeout; then it records the revocation in this
// instance's revocation index (from then on no validation here accepts a
// copy of the session), writes a tombstone in Redis for the rest of the
// session's life and publishes an invalidation to every instance. If the
// Redis steps fail they are retried in the background until they succeed;
// Revoke still returns nil: every instance's index refuses the session
// from the store's record. A malformed token gets ErrMalformedToken, an
// unknown one ErrNotFound — with no I/O when the token does not carry this
// store's tag and the legacy window is closed.
//
// When the store fails or does not answer in time, Revoke returns an error
// wrapping ErrStoreUnavailable: the revocation was not recorded, or, when
// the error also wraps ErrOutcomeUnknown, may or may not have been (a
// write the deadline cut short may still commit); either way the caller
// must not take it as done, and should retry. In the second case this
// instance, and every instance the invalidation it publishes reaches,
// reads the session from the store rather than Redis for a window.
func (s *Service) Revoke(ctx context.Context, token string) (err error) {
	ctx, span := s.startSpan(ctx, "session.revoke")
	defer func() { endSpan(span, err, ErrMalformedToken, ErrNotFound) }()
	var body [tokenRandLen]byte
	h, err := parseToken(token, &body)
	if err != nil {
		return err
	}
	at := s.now().UTC()
	if !s.tagAccepted(&body, at) {
		return fmt.Errorf("revoke session: %w", errForged)
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
	sess, err := s.store.Revoke(sctx, h, at)
	cancel()
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("revoke session: %w", err)
	case err != nil:
		if !errors.Is(err, ErrNotApplied) {
			s.suspect(h)
		}
		return storeFailed(ctx, "revoke session", err)
	}
	s.noteRevoked(h, at)
	s.propagate(ctx, []Revocation{{Hash: h, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt, RevokedAt: at}})
	return nil
}

// RevokeUser revokes every live session of the user and returns how many
// it revoked, with the same ordering and retry guarantees as Revoke. An
// empty or too long user ID gets an error wrapping ErrInvalidInput. When
// the store fails or does not answer within StoreTimeout the error wraps
// ErrStoreUnavailable, and ErrOutcomeUnknown when the sessions may have
// been revoked all the same (the store's transaction may still commit);
// nothing was sent to Redis, and the call should be retried.
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
	at := s.now().UTC()
	sctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
	revs, err := s.store.RevokeUser(sctx, userID, at)
	cancel()
	if err != nil {
		return 0, storeFailed(ctx, "revoke user sessions", err)
	}
	for i := range revs {
		if revs[i].RevokedAt.IsZero() {
			revs[i].RevokedAt = at
		}
		s.noteRevoked(revs[i].Hash, revs[i].RevokedAt)
	}
	if len(revs) > 0 {
		s.propagate(ctx, revs)
	}
	return len(revs), nil
}

// storeFailed is the error of a store operation made for a caller that
// failed: the caller's own context error when it ended (the caller gave
// up), else one wrapping ErrStoreUnavailable, ErrOutcomeUnknown unless the
// store said the operation was not applied, and the store's error.
func storeFailed(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case errors.Is(err, ErrNotApplied):
		return fmt.Errorf("%s: %w: %w", op, ErrStoreUnavailable, err)
	}
	return fmt.Errorf("%s: %w, %w: %w", op, ErrStoreUnavailable, ErrOutcomeUnknown, err)
}

// suspect handles a revocation whose store write failed and so may or may
// not have been recorded: the session is put in this instance's
// revocation index and dropped from its L1, so its copies are not trusted
// here, and an invalidation is published (best effort, no retry) so that
// other instances do the same. A session that turns out to be live costs
// each instance one store read and a fresh Redis copy.
func (s *Service) suspect(h TokenHash) {
	s.noteRevoked(h, s.now())
	s.invalidateLocal(h)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RedisTimeout)
	defer cancel()
	if err := s.rdb.Publish(ctx, s.channel, h.Hex()).Err(); err != nil {
		s.stats.redisErrors.Add(1)
	}
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
