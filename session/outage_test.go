package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

// With Redis gone, validation runs from the store, creates and revokes
// still succeed, revoked sessions stay refused, and everything Redis missed
// reaches it once it is back.
func TestRedisOutage(t *testing.T) {
	e := newEnv(t)
	l1 := 300 * time.Millisecond
	a := e.service(func(o *session.Options) { o.L1TTL = l1 })
	b := e.service(func(o *session.Options) { o.L1TTL = l1 })
	live, _ := e.create(a, session.CreateParams{UserID: "u"})
	doomed, _ := e.create(a, session.CreateParams{UserID: "u"})
	revokedBefore, _ := e.create(a, session.CreateParams{UserID: "u"})
	if err := a.Revoke(bg, revokedBefore); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{live, doomed} {
		if _, err := b.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}

	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both instances to notice the outage", func() bool {
		return !a.Subscribed() && !b.Subscribed()
	})
	if h := a.Health(bg); h.Redis == nil || h.Store != nil {
		t.Fatalf("health during outage: %+v", h)
	}
	for _, svc := range []*session.Service{a, b} {
		if _, tier, err := svc.ValidateTier(bg, live); err != nil {
			t.Fatalf("live session during outage: tier %v err %v", tier, err)
		}
		if _, err := svc.Validate(bg, revokedBefore); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("session revoked before the outage: %v, want ErrRevoked", err)
		}
	}
	created, _ := e.create(a, session.CreateParams{UserID: "u"}) // never fails on Redis
	if _, err := b.Validate(bg, created); err != nil {
		t.Fatalf("session created during outage: %v", err)
	}
	if err := a.Revoke(bg, doomed); err != nil {
		t.Fatalf("Revoke during outage: %v", err)
	}
	if q := a.Stats().RevocationsQueued; q != 1 {
		t.Fatalf("queued revocations %d, want 1", q)
	}
	// b never got the message; its L1 copy lives at most one L1 TTL.
	waitFor(t, l1+time.Second, "b to refuse the revoked session", func() bool {
		_, err := b.Validate(bg, doomed)
		return errors.Is(err, session.ErrRevoked)
	})

	if err := e.redis.Restart(bg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the queued revocation to reach redis", func() bool {
		v, _ := e.redisValue(doomed)
		return v == "R" && a.Stats().RevocationsQueued == 0
	})
	waitFor(t, 10*time.Second, "both instances to resubscribe", func() bool {
		return a.Subscribed() && b.Subscribed()
	})
	for _, svc := range []*session.Service{a, b} {
		if _, tier, err := svc.ValidateTier(bg, live); err != nil {
			t.Fatalf("after recovery: tier %v err %v", tier, err)
		}
		if _, err := svc.Validate(bg, doomed); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("revoked during outage, after recovery: %v", err)
		}
	}
	// Redis came back empty; the next reads refill it.
	if _, tier, _ := a.ValidateTier(bg, created); tier == session.TierL1 {
		t.Log("served from L1")
	}
	if v, _ := e.redisValue(created); v == "" {
		t.Fatal("redis was not refilled after recovery")
	}
}
