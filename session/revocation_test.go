package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

// The revocation index from the Service's side: what feeds it (the store
// at start-up and every poll, this instance's revocations, the broadcast)
// and what it decides (no Redis copy of a session it holds, and none at
// all while it is not current, is trusted). revindex_test.go tests the
// index alone.

// restoreLiveCopy puts back in Redis a live copy of the session, as Redis
// holds it when a tombstone was lost (a failover to a replica that never
// got it, a restart from an older snapshot).
func restoreLiveCopy(t *testing.T, e *env, key, val string) {
	t.Helper()
	if err := e.rdb.Set(bg, key, val, 10*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestIndexLoadsTheWindowAtStart: a session revoked in the store only (its
// tombstone never reached Redis and the revoking instance is gone), two
// minutes ago by the clock — beyond the minute the start-up revocation
// sweep reached back, within CacheTTL + ClockSkew — while Redis still
// holds its live copy. A Service started now refuses it from its first
// validation, and writes the tombstone back.
func TestIndexLoadsTheWindowAtStart(t *testing.T) {
	e := newEnv(t)
	a := e.service()
	tok, _ := e.create(a, session.CreateParams{TTL: time.Hour})
	if _, err := a.Validate(bg, tok); err != nil {
		t.Fatal(err)
	}
	key := "studio:s:" + mustHash(t, tok).Hex()
	live, _ := e.redisValue(tok)
	e.revokeInStore(t, tok)
	restoreLiveCopy(t, e, key, live)
	e.clock.Advance(2 * time.Minute)

	b := e.service() // returns once its index is loaded
	if n := b.Stats().RevocationIndexEntries; n != 1 {
		t.Fatalf("index loaded with %d revocations, want 1", n)
	}
	if _, tier, err := b.ValidateTier(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("first validation after start: tier %v, %v; want ErrRevoked", tier, err)
	}
	if v, ttl := e.redisValue(tok); v != "R" || ttl < 50*time.Minute {
		t.Fatalf("after the refusal Redis holds %q for %s; want the tombstone for the rest of the session's life", v, ttl)
	}
	if got := b.Stats().RedisCopiesDistrusted; got != 1 {
		t.Errorf("RedisCopiesDistrusted = %d, want 1", got)
	}
}

// TestIndexPollFindsRevocationsOtherInstancesRecorded: a revocation
// another instance recorded in the store but whose tombstone and
// invalidation message were both lost reaches this instance's index
// through its next poll: its L1 entry and the live copy in Redis are no
// longer used.
func TestIndexPollFindsRevocationsOtherInstancesRecorded(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = time.Minute })
	tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
	for range 2 {
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, tier, _ := svc.ValidateTier(bg, tok); tier != session.TierL1 {
		t.Fatalf("tier %v, want the session in the L1", tier)
	}
	e.revokeInStore(t, tok) // no tombstone, no message
	start := time.Now()
	waitFor(t, 2*time.Second, "the poll to refuse the session", func() bool {
		_, err := svc.Validate(bg, tok)
		return errors.Is(err, session.ErrRevoked)
	})
	t.Logf("refused %s after the store-only revocation (poll every 50 ms)", time.Since(start).Round(time.Millisecond))
}

// TestIndexFedByTheBroadcastAtOnce: an invalidation message puts the
// session in the index at once, without waiting for a poll, so a live copy
// that comes back in Redis afterwards is not used.
func TestIndexFedByTheBroadcastAtOnce(t *testing.T) {
	e := newEnv(t)
	a := e.service()
	b := e.service(func(o *session.Options) { o.RevocationPoll = time.Hour }) // loaded once, never polled again
	tok, _ := e.create(a, session.CreateParams{TTL: time.Hour})
	key := "studio:s:" + mustHash(t, tok).Hex()
	live, _ := e.redisValue(tok)
	if _, err := b.Validate(bg, tok); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(bg, tok); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the message to reach b", func() bool { return b.Stats().RevocationIndexEntries == 1 })
	restoreLiveCopy(t, e, key, live)
	if _, tier, err := b.ValidateTier(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("after the message, with the live copy back in Redis: tier %v, %v; want ErrRevoked", tier, err)
	}
	// The revoking instance recorded it before Revoke returned.
	restoreLiveCopy(t, e, key, live)
	if _, err := a.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("revoking instance with the live copy back: %v, want ErrRevoked", err)
	}
}

// TestStaleIndexTrustsNoRedisCopy: once the index has not read the store
// for five polls, no live copy in Redis is used: validations go to the
// store (and fail when it fails, rather than trust Redis); L1 entries are
// still used. When the store answers again the index is current again.
func TestStaleIndexTrustsNoRedisCopy(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = -1; o.StoreTimeout = 200 * time.Millisecond })
	tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
		t.Fatalf("tier %v, %v; want a Redis hit", tier, err)
	}
	e.store.failRevokedSince.Store(true)
	waitFor(t, 2*time.Second, "the index to go stale", func() bool {
		return svc.Stats().RevocationIndex == session.RevocationsStale
	})
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierStore {
		t.Fatalf("stale index: tier %v, %v; want the store to answer", tier, err)
	}
	e.store.hang.Store(true)
	if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Fatalf("stale index, store hanging: %v; want ErrStoreUnavailable, not the Redis copy", err)
	}
	e.store.hang.Store(false)
	e.store.failRevokedSince.Store(false)
	waitFor(t, 2*time.Second, "the index to be current again", func() bool { return indexCurrent(svc) })
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
		t.Fatalf("current again: tier %v, %v; want a Redis hit", tier, err)
	}
}

// TestStoreTimeoutBoundsWrites: with a store that does not answer, Create
// and Revoke return ErrStoreUnavailable within StoreTimeout. The revoke
// may or may not have been recorded, so every instance stops trusting the
// session's copies (this one at once, the others through the message it
// publishes) and reads the store; the session, still live there, keeps
// validating once the store answers.
func TestStoreTimeoutBoundsWrites(t *testing.T) {
	e := newEnv(t)
	const timeout = 200 * time.Millisecond
	a := e.service(func(o *session.Options) { o.StoreTimeout = timeout })
	b := e.service(func(o *session.Options) { o.RevocationPoll = time.Hour })
	tok, _ := e.create(a, session.CreateParams{TTL: time.Hour})
	e.store.hang.Store(true)
	for name, call := range map[string]func() error{
		"create": func() error { _, _, err := a.Create(bg, session.CreateParams{UserID: "u"}); return err },
		"revoke": func() error { return a.Revoke(bg, tok) },
		"revoke user": func() error {
			_, err := a.RevokeUser(bg, "u1")
			return err
		},
	} {
		start := time.Now()
		err := call()
		if took := time.Since(start); !errors.Is(err, session.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) || took > timeout+time.Second {
			t.Errorf("%s with the store hanging: %v after %s; want ErrStoreUnavailable (deadline) within %s", name, err, took, timeout)
		}
	}
	e.store.hang.Store(false)
	waitFor(t, time.Second, "the message to reach b", func() bool { return b.Stats().RevocationIndexEntries == 1 })
	for _, svc := range []*session.Service{a, b} {
		if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierStore {
			t.Errorf("after a revoke that timed out: tier %v, %v; want the live session from the store", tier, err)
		}
	}
}

// TestCopiesExpireWithinCacheTTLOfTheirRead: every live copy Studio writes
// in Redis expires at most CacheTTL after the store read it was made from
// (not after the SET): a fill after a slow store read, a create, and a
// warm run whose store read is slow. The revocation index's window relies
// on it.
func TestCopiesExpireWithinCacheTTLOfTheirRead(t *testing.T) {
	const cacheTTL, slow = time.Minute, 300 * time.Millisecond
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.CacheTTL = cacheTTL; o.L1TTL = -1 })
	expiresBy := func(what, tok string, bound time.Time) {
		t.Helper()
		ms, err := e.rdb.PExpireTime(bg, "studio:s:"+mustHash(t, tok).Hex()).Result()
		if err != nil || ms <= 0 {
			t.Fatalf("%s: PEXPIRETIME %v, %v", what, ms, err)
		}
		if at := time.UnixMilli(int64(ms / time.Millisecond)); at.After(bound) {
			t.Errorf("%s: the copy expires at %s, %s after its read + CacheTTL", what, at.Format(time.RFC3339Nano), at.Sub(bound))
		}
	}
	tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
	expiresBy("create", tok, time.Now().Add(cacheTTL))

	// A fill after a store read that takes 300 ms: the deadline counts
	// from before the read.
	if err := e.rdb.Del(bg, "studio:s:"+mustHash(t, tok).Hex()).Err(); err != nil {
		t.Fatal(err)
	}
	e.store.lookupDelay.Store(int64(slow))
	before := time.Now()
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierStore {
		t.Fatalf("fill: tier %v, %v", tier, err)
	}
	e.store.lookupDelay.Store(0)
	expiresBy("fill", tok, before.Add(cacheTTL+slow/2))

	// A warm run reading the store slowly.
	warmed := seedSessions(t, e.store, 5, e.clock.Now())
	before = time.Now()
	w := svc.NewWarmer(session.WarmOptions{Source: slowSource{e.source(), slow}})
	if _, err := w.Run(bg); err != nil {
		t.Fatal(err)
	}
	for _, tok := range warmed {
		expiresBy("warm", tok, before.Add(cacheTTL+slow/2))
	}
}

// slowSource is a WarmSource whose Recent waits before it reads.
type slowSource struct {
	session.WarmSource
	delay time.Duration
}

func (s slowSource) Recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error {
	time.Sleep(s.delay)
	return s.WarmSource.Recent(ctx, now, limit, fn)
}
