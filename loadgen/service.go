package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/session"
)

// ServiceTarget drives a session.Service in process: no HTTP, no
// serialisation, so validations of recently used tokens are L1 hits.
// Refusals (not found, revoked, expired, idle, malformed) are
// KindRejected, ErrInvalidInput KindInvalid, a deadline KindTimeout, any
// other failure (Redis and store both failing) KindUnavailable. It is safe
// for concurrent use.
type ServiceTarget struct {
	Service *session.Service
	// UserID is the user of the sessions it creates; default "loadgen".
	UserID string
	// TTL is the lifetime of the sessions it creates; default 1h.
	TTL time.Duration
}

var _ Target = (*ServiceTarget)(nil)

// String names the target in results.
func (t *ServiceTarget) String() string { return "inprocess" }

// Validate calls Service.Validate.
func (t *ServiceTarget) Validate(ctx context.Context, token string) error {
	_, err := t.Service.Validate(ctx, token)
	return serviceError(err)
}

// Create calls Service.Create.
func (t *ServiceTarget) Create(ctx context.Context) (string, error) {
	user, ttl := t.UserID, t.TTL
	if user == "" {
		user = "loadgen"
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	tok, _, err := t.Service.Create(ctx, session.CreateParams{UserID: user, TTL: ttl})
	if err != nil {
		return "", serviceError(err)
	}
	return tok.Reveal(), nil
}

// Revoke calls Service.Revoke.
func (t *ServiceTarget) Revoke(ctx context.Context, token string) error {
	return serviceError(t.Service.Revoke(ctx, token))
}

func serviceError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrRevoked), errors.Is(err, session.ErrExpired),
		errors.Is(err, session.ErrIdle), errors.Is(err, session.ErrMalformedToken):
		return &Error{Kind: KindRejected, Err: err}
	case errors.Is(err, session.ErrInvalidInput):
		return &Error{Kind: KindInvalid, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Err: err}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &Error{Kind: KindUnavailable, Err: err}
}

// RedisGetTarget is the bare Redis baseline for in-process validation: a
// validation is one GET of a key (the "token"), through the same
// generator. Create SETs a key with a session-sized value and an expiry;
// revoke DELs it. A missing key is KindRejected. It is safe for
// concurrent use.
type RedisGetTarget struct {
	Redis redis.UniversalClient
	// KeyPrefix starts every key it writes; default "loadgen:".
	KeyPrefix string
	// TTL is the keys' lifetime; default 1h.
	TTL time.Duration
}

var _ Target = (*RedisGetTarget)(nil)

// String names the target in results.
func (t *RedisGetTarget) String() string { return "redis-get" }

// sessionSize is about the size of a session's binary copy in Redis.
const sessionSize = 120

// Validate GETs the key.
func (t *RedisGetTarget) Validate(ctx context.Context, key string) error {
	err := t.Redis.Get(ctx, key).Err()
	if errors.Is(err, redis.Nil) {
		return &Error{Kind: KindRejected, Err: err}
	}
	return err
}

// Create SETs a new key.
func (t *RedisGetTarget) Create(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	prefix, ttl := t.KeyPrefix, t.TTL
	if prefix == "" {
		prefix = "loadgen:"
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	key := prefix + hex.EncodeToString(b[:])
	if err := t.Redis.Set(ctx, key, strings.Repeat("s", sessionSize), ttl).Err(); err != nil {
		return "", err
	}
	return key, nil
}

// Revoke DELs the key.
func (t *RedisGetTarget) Revoke(ctx context.Context, key string) error {
	return t.Redis.Del(ctx, key).Err()
}
