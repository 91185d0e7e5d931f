package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

// expireTime is when the Redis key of tok expires (zero if it has none).
func (e *env) expireTime(tok string) time.Time {
	e.t.Helper()
	d, err := e.rdb.PExpireTime(bg, "studio:s:"+mustHash(e.t, tok).Hex()).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	if d <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(d / time.Millisecond))
}

// TestSteadyUseKeepsTheRedisCopy: a session validated steadily keeps its
// Redis copy for three times CacheTTL: the last-seen flusher extends the
// copy, and the store is never read. Without the sliding lifetime the copy
// expires after CacheTTL and a validation falls to the store.
func TestSteadyUseKeepsTheRedisCopy(t *testing.T) {
	const cacheTTL = 2 * time.Second
	e := newEnv(t)
	svc := e.service(func(o *session.Options) {
		o.L1TTL = session.L1Off
		o.CacheTTL = cacheTTL
		o.TouchInterval = 100 * time.Millisecond
		o.FlushInterval = 100 * time.Millisecond
		// A slow poll, so that a busy machine never lets the index go
		// stale (which would send validations to the store).
		o.RevocationPoll = time.Second
	})
	tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
	until := time.Now().Add(3 * cacheTTL)
	for n := 0; time.Now().Before(until); n++ {
		if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
			t.Fatalf("validation %d, %s after creation: tier %v, %v; want a redis hit", n, time.Until(until)+3*cacheTTL, tier, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.store.lookups.Load(); n != 0 {
		t.Fatalf("%d store reads; want none", n)
	}
	if svc.Stats().RedisCopiesExtended == 0 {
		t.Fatal("no copy extended")
	}
}

// TestFlushExtendsTheCopy: one flush of a recorded use moves the copy's
// expiry to CacheTTL after the time taken before the flush's store read,
// and no further.
func TestFlushExtendsTheCopy(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = session.L1Off; o.FlushInterval = time.Hour })
	tok, _ := e.create(svc, session.CreateParams{TTL: 24 * time.Hour})
	created := e.expireTime(tok)
	e.advance(5 * time.Minute)
	if _, err := svc.Validate(bg, tok); err != nil {
		t.Fatal(err)
	}
	before := e.clock.Now()
	if err := session.FlushTouches(bg, svc); err != nil {
		t.Fatal(err)
	}
	after := e.clock.Now()
	got := e.expireTime(tok)
	if !got.After(created) || got.Before(before.Add(10*time.Minute).Truncate(time.Millisecond)) || got.After(after.Add(10*time.Minute)) {
		t.Fatalf("copy expires at %s (was %s); want CacheTTL after the flush, between %s and %s", got, created, before.Add(10*time.Minute), after.Add(10*time.Minute))
	}
}

// TestExtensionNeverPastTheSessionsDeadline: the extension stops at the
// session's expiry, and at its idle deadline as of the touch.
func TestExtensionNeverPastTheSessionsDeadline(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = session.L1Off; o.FlushInterval = time.Hour })
	short, shortSess := e.create(svc, session.CreateParams{TTL: 3 * time.Minute})
	idle, _ := e.create(svc, session.CreateParams{TTL: 24 * time.Hour, IdleTimeout: 2 * time.Minute})
	e.advance(time.Minute)
	for _, tok := range []string{short, idle} {
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := session.FlushTouches(bg, svc); err != nil {
		t.Fatal(err)
	}
	if got := e.expireTime(short); got.IsZero() || got.After(shortSess.ExpiresAt) {
		t.Fatalf("copy of a session expiring at %s expires at %s", shortSess.ExpiresAt, got)
	}
	stored, err := e.store.Store.Lookup(bg, mustHash(t, idle))
	if err != nil {
		t.Fatal(err)
	}
	deadline := stored.LastSeenAt.Add(stored.IdleTimeout)
	if got := e.expireTime(idle); got.IsZero() || got.After(deadline) || !got.After(stored.CreatedAt.Add(2*time.Minute)) {
		t.Fatalf("copy of a session idle at %s (last seen %s) expires at %s; want extended, not past it", deadline, stored.LastSeenAt, got)
	}
}

// TestRevokedCopyNeverExtended: the flusher never extends a copy on the
// strength of a read that came after a revocation, and never extends a
// tombstone, whatever Redis lost.
func TestRevokedCopyNeverExtended(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = session.L1Off; o.FlushInterval = time.Hour })
	key := func(tok string) string { return "studio:s:" + mustHash(t, tok).Hex() }
	use := func(tok string) {
		t.Helper()
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		t.Helper()
		if err := session.FlushTouches(bg, svc); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("revoked before the read, tombstone lost", func(t *testing.T) {
		tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
		copyVal, copyExp := e.redisValue(tok)
		e.advance(2 * time.Minute)
		use(tok)
		if err := svc.Revoke(bg, tok); err != nil {
			t.Fatal(err)
		}
		// Redis comes back from an older snapshot: the live copy, as it was.
		if err := e.rdb.Set(bg, key(tok), copyVal, copyExp).Err(); err != nil {
			t.Fatal(err)
		}
		was := e.expireTime(tok)
		flush()
		if got := e.expireTime(tok); !got.Equal(was) {
			t.Fatalf("copy of a revoked session moved from %s to %s", was, got)
		}
		if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("validate: %v, want ErrRevoked", err)
		}
	})

	t.Run("revoked between the read and the extension", func(t *testing.T) {
		tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
		e.advance(2 * time.Minute)
		use(tok)
		revoke := func() {
			// Revoked in the store (no tombstone yet), and Redis holds the
			// brief tombstone a fill writes (NegativeTTL).
			if _, err := e.store.Store.Revoke(context.Background(), mustHash(t, tok), e.clock.Now()); err != nil {
				t.Error(err)
			}
			if err := e.rdb.Set(bg, key(tok), "R", 30*time.Second).Err(); err != nil {
				t.Error(err)
			}
		}
		e.store.afterTouch.Store(&revoke)
		defer e.store.afterTouch.Store(nil)
		flush()
		v, ttl := e.redisValue(tok)
		if v != "R" || ttl > 30*time.Second {
			t.Fatalf("after the flush Redis holds %q for %s; want the tombstone, not extended", v, ttl)
		}
	})

	t.Run("revoked between the read and the extension, tombstone lost", func(t *testing.T) {
		tok, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
		copyVal, _ := e.redisValue(tok)
		e.advance(2 * time.Minute)
		use(tok)
		var read time.Time
		revoke := func() {
			read = e.clock.Now() // no earlier than the flusher's time
			// The revocation commits after the read; its tombstone and
			// message are lost, and the live copy stays.
			if _, err := e.store.Store.Revoke(context.Background(), mustHash(t, tok), e.clock.Now()); err != nil {
				t.Error(err)
			}
			if err := e.rdb.Set(bg, key(tok), copyVal, time.Minute).Err(); err != nil {
				t.Error(err)
			}
		}
		e.store.afterTouch.Store(&revoke)
		defer e.store.afterTouch.Store(nil)
		flush()
		// The copy may be extended, but only to CacheTTL after a read
		// that found the session live, which the revocation index
		// covers: the session is refused.
		if got := e.expireTime(tok); got.After(read.Add(10 * time.Minute)) {
			t.Fatalf("copy extended to %s, past the read + CacheTTL (%s)", got, read.Add(10*time.Minute))
		}
		e.advance(0)
		waitFor(t, 5*time.Second, "the index has the revocation", func() bool {
			_, err := svc.Validate(bg, tok)
			return errors.Is(err, session.ErrRevoked)
		})
	})
}
