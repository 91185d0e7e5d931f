package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Revoke ends the session the token names, everywhere. It writes the store
// first (an error there is returned and nothing else happens); then it
// records the revocation in this instance's revocation index (from then
// on no validation here accepts a copy of the session), writes a
// tombstone in Redis for the rest of the session's life and publishes an
// invalidation to every instance. If the Redis steps fail they are
// retried in the background until they succeed; Revoke still returns nil:
// every instance's index refuses the session from the store's record. A
// malformed token gets ErrMalformedToken, an unknown one ErrNotFound.
func (s *Service) Revoke(ctx context.Context, token string) (err error) {
	ctx, span := s.startSpan(ctx, "session.revoke")
	defer func() { endSpan(span, err, ErrMalformedToken, ErrNotFound) }()
	h, err := ParseToken(token)
	if err != nil {
		return err
	}
	at := s.now().UTC()
	sess, err := s.store.Revoke(ctx, h, at)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.noteRevoked(h, at)
	s.propagate(ctx, []Revocation{{Hash: h, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt, RevokedAt: at}})
	return nil
}

// RevokeUser revokes every live session of the user and returns how many
// it revoked, with the same ordering and retry guarantees as Revoke. An
// empty or too long user ID gets an error wrapping ErrInvalidInput; any
// other error is the store's, and nothing was sent to Redis.
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
	revs, err := s.store.RevokeUser(ctx, userID, at)
	if err != nil {
		return 0, fmt.Errorf("revoke user sessions: %w", err)
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
