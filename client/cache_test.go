package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/client"
)

func newSession(t *testing.T, base string, ttl time.Duration) string {
	t.Helper()
	admin, err := client.New(base, client.WithAdminToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := admin.Create(t.Context(), client.CreateRequest{UserID: runID + t.Name(), TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// A cached positive answer is refused soon after the session is revoked
// through another client, by Studio's broadcast, long before the TTL.
func TestCacheFollowsInvalidations(t *testing.T) {
	srv := studio(t)
	rdb := srv.Redis.Client(t)
	const ttl = 30 * time.Second
	cached := newClient(t, srv.URL, client.WithCache(ttl, 1000), client.WithInvalidation(rdb))
	waitFor(t, "subscribed", 5*time.Second, func() bool { return cached.CacheStats().Subscribed })
	tok := newSession(t, srv.URL, 0)
	for range 3 {
		if _, err := cached.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if st := cached.CacheStats(); st.Hits != 2 || st.Misses != 1 {
		t.Fatalf("stats %+v, want 2 hits and 1 miss", st)
	}
	other := newClient(t, srv.URL)
	if err := other.Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "refused after revoke", ttl/10, func() bool {
		_, err := cached.Validate(t.Context(), tok)
		return errors.Is(err, client.ErrRevoked)
	})
	t.Logf("a cached session was refused %v after another client's revoke returned (cache TTL %v)", took, ttl)
	if cached.CacheStats().Invalidations == 0 {
		t.Fatal("no invalidation counted")
	}
}

// Cutting the subscription (CLIENT KILL TYPE pubsub) flushes the cache on
// the drop and again on the resubscribe.
func TestCacheFlushedWhenSubscriptionCut(t *testing.T) {
	srv := studio(t)
	rdb := srv.Redis.Client(t)
	cached := newClient(t, srv.URL, client.WithCache(30*time.Second, 1000), client.WithInvalidation(srv.Redis.Client(t)))
	waitFor(t, "subscribed", 5*time.Second, func() bool { return cached.CacheStats().Subscribed })
	tok := newSession(t, srv.URL, 0)
	for range 2 {
		if _, err := cached.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	before := cached.CacheStats()
	if before.Hits != 1 || before.Size != 1 {
		t.Fatalf("stats %+v, want one entry and one hit", before)
	}
	// Studio's own subscription is cut too; it resubscribes as well.
	if err := rdb.Do(t.Context(), "client", "kill", "type", "pubsub").Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	waitFor(t, "flushed and resubscribed", 10*time.Second, func() bool {
		st := cached.CacheStats()
		return st.Flushes >= before.Flushes+2 && st.Subscribed
	})
	if _, err := cached.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if st := cached.CacheStats(); st.Misses != before.Misses+1 {
		t.Fatalf("stats %+v: the validation after the flush was not a miss", st)
	}
}

// Without Redis the bound is the TTL: a session revoked elsewhere is
// still answered from the cache until its entry expires, then refused.
func TestCacheBoundWithoutRedis(t *testing.T) {
	srv := studio(t)
	const ttl = 2 * time.Second
	cached := newClient(t, srv.URL, client.WithCache(ttl, 1000))
	tok := newSession(t, srv.URL, 0)
	if _, err := cached.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	if err := newClient(t, srv.URL).Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Validate(t.Context(), tok); err != nil {
		t.Fatalf("within the TTL the cached answer stands (the documented bound), got %v", err)
	}
	waitFor(t, "refused after the TTL", 3*ttl, func() bool {
		_, err := cached.Validate(t.Context(), tok)
		return errors.Is(err, client.ErrRevoked)
	})
	if took := time.Since(revoked); took > ttl+time.Second {
		t.Fatalf("refused %v after the revoke, past the TTL %v", took, ttl)
	} else {
		t.Logf("refused %v after the revoke (TTL %v)", took, ttl)
	}
}

// A revoke through the caching client itself drops the entry at once, and
// no entry outlives its session.
func TestCacheOwnRevokeAndExpiry(t *testing.T) {
	srv := studio(t)
	cached := newClient(t, srv.URL, client.WithCache(time.Minute, 1000))
	tok := newSession(t, srv.URL, 0)
	if _, err := cached.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := cached.Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Validate(t.Context(), tok); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("after its own revoke: %v", err)
	}
	short := newSession(t, srv.URL, time.Second)
	if _, err := cached.Validate(t.Context(), short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := cached.Validate(t.Context(), short); !errors.Is(err, client.ErrExpired) {
		t.Fatalf("past the session's expiry: %v", err)
	}
}
