package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds each attempt (connect, send, read the answer).
	DefaultTimeout = 2 * time.Second
	// DefaultDialTimeout bounds connecting, with the default transport.
	DefaultDialTimeout = time.Second
	// DefaultInvalidationChannel is the Redis channel Studio publishes
	// revocations on (its key prefix "studio:" + "invalidate").
	DefaultInvalidationChannel = "studio:invalidate"
)

// RetryPolicy says how Validate and Revoke are repeated after a failure in
// transit (refused or reset connection, attempt timeout) or a 429, 502,
// 503 or 504. Create and RevokeUser are never repeated. Waits grow from
// BaseDelay, doubling up to MaxDelay, each jittered between half and all
// of it, and end early when the caller's context does.
type RetryPolicy struct {
	Attempts  int           // tries in all, the first included; ≤ 1: no retry
	BaseDelay time.Duration // the wait before the second try
	MaxDelay  time.Duration // the longest wait
}

// defaultRetry is the policy of a Client made without WithRetry.
var defaultRetry = RetryPolicy{Attempts: 3, BaseDelay: 25 * time.Millisecond, MaxDelay: 250 * time.Millisecond}

// wait sleeps before try n+1; false when ctx ended first.
func (p RetryPolicy) wait(ctx context.Context, n int) bool {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Option configures New.
type Option func(*settings) error

type settings struct {
	hc          *http.Client
	rt          http.RoundTripper
	timeout     time.Duration
	dialTimeout time.Duration
	admin       string
	ua          string
	retry       RetryPolicy
	cacheTTL    time.Duration
	cacheSize   int
	rdb         redis.UniversalClient
	channel     string
}

// WithHTTPClient sends every request through hc (its Timeout, if set,
// applies on top of WithTimeout). It replaces WithTransport.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil client")
		}
		s.hc = hc
		return nil
	}
}

// WithTransport sends every request through rt instead of the default
// transport (keep-alive, 64 idle connections per host, the dial timeout).
func WithTransport(rt http.RoundTripper) Option {
	return func(s *settings) error {
		if rt == nil {
			return errors.New("WithTransport: nil transport")
		}
		s.rt = rt
		return nil
	}
}

// WithTimeout bounds each attempt; default DefaultTimeout. The caller's
// context bounds the whole call, retries included.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return errors.New("WithTimeout: must be positive")
		}
		s.timeout = d
		return nil
	}
}

// WithDialTimeout bounds connecting to Studio with the default transport;
// default DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return errors.New("WithDialTimeout: must be positive")
		}
		s.dialTimeout = d
		return nil
	}
}

// WithAdminToken sets the token Create and RevokeUser send. It never
// appears in errors.
func WithAdminToken(token string) Option {
	return func(s *settings) error { s.admin = token; return nil }
}

// WithUserAgent sets the User-Agent header; default "studio-go-client/1".
func WithUserAgent(ua string) Option {
	return func(s *settings) error { s.ua = ua; return nil }
}

// WithRetry replaces the default policy (3 attempts, waits from 25 ms
// doubling to 250 ms); RetryPolicy{Attempts: 1} turns retries off.
func WithRetry(p RetryPolicy) Option {
	return func(s *settings) error {
		if p.BaseDelay < 0 || p.MaxDelay < 0 {
			return errors.New("WithRetry: negative delay")
		}
		if p.MaxDelay < p.BaseDelay {
			p.MaxDelay = p.BaseDelay
		}
		s.retry = p
		return nil
	}
}

// WithCache keeps up to size positive Validate answers in memory, each for
// at most ttl (1 ms to 1 min) and never past the session's expiry or idle
// deadline. Refusals and errors are never cached. Keys are SHA-256 hashes
// of tokens, never the tokens.
//
// Without WithInvalidation, a session revoked through another Client or
// instance can still be answered from this cache for up to ttl: that is
// the bound. Revoke and RevokeUser through this Client clear it at once.
func WithCache(ttl time.Duration, size int) Option {
	return func(s *settings) error {
		if ttl < time.Millisecond || ttl > time.Minute {
			return errors.New("WithCache: ttl must be 1ms to 1m")
		}
		if size <= 0 {
			return errors.New("WithCache: size must be positive")
		}
		s.cacheTTL, s.cacheSize = ttl, size
		return nil
	}
}

// WithInvalidation makes the cache follow Studio's revocation broadcast
// on rdb (the Redis Studio uses): a revoked session leaves the cache when
// Studio's message arrives, and the whole cache is emptied whenever the
// subscription drops or (re)subscribes, so a lost message cannot keep a
// revoked session for longer than the cache ttl. While the subscription
// is down nothing new is cached. Needs WithCache. The Client does not
// close rdb.
func WithInvalidation(rdb redis.UniversalClient) Option {
	return func(s *settings) error {
		if rdb == nil {
			return errors.New("WithInvalidation: nil redis client")
		}
		s.rdb = rdb
		return nil
	}
}

// WithInvalidationChannel names Studio's invalidation channel when Studio
// runs with a key prefix other than "studio:"; default
// DefaultInvalidationChannel.
func WithInvalidationChannel(name string) Option {
	return func(s *settings) error {
		if name == "" {
			return errors.New("WithInvalidationChannel: empty name")
		}
		s.channel = name
		return nil
	}
}

// httpClient returns the client requests go through: the caller's, or one
// on rt or the default transport, never following redirects (a redirect
// would carry a token elsewhere).
func (s *settings) httpClient() *http.Client {
	if s.hc != nil {
		return s.hc
	}
	rt := s.rt
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: s.dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64
		t.IdleConnTimeout = 90 * time.Second
		t.Proxy = nil
		rt = t
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
