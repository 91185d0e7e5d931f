package session_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/redisconn"
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

// TestCloseWritesQueuedRevocations: Close makes one last attempt to write
// the tombstones still queued for retry (here right after Redis came
// back, before the retrier's back-off would) and logs an error naming how
// many it could not write.
func TestCloseWritesQueuedRevocations(t *testing.T) {
	e := newEnv(t)
	for _, back := range []bool{true, false} {
		logs := &syncbuf.Buffer{}
		svc := e.service(func(o *session.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
		tok, _ := e.create(svc, session.CreateParams{UserID: "u"})
		if err := e.redis.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := svc.Revoke(bg, tok); err != nil {
			t.Fatalf("Revoke with redis down: %v", err)
		}
		if q := svc.Stats().RevocationsQueued; q != 1 {
			t.Fatalf("queued revocations %d, want 1", q)
		}
		time.Sleep(time.Second) // the retrier fails a few times and backs off
		if back {
			if err := e.redis.Restart(bg); err != nil {
				t.Fatal(err)
			}
		}
		svc.Close()
		const msg = "revocations not written to redis before close"
		if back {
			if v, _ := e.redisValue(tok); v != "R" {
				t.Fatalf("after Close with redis back the key holds %q, want the tombstone", v)
			}
			if strings.Contains(logs.String(), msg) {
				t.Fatalf("Close logged undelivered revocations although redis took them:\n%s", logs)
			}
			continue
		}
		if !strings.Contains(logs.String(), "level=ERROR msg=\""+msg) || !strings.Contains(logs.String(), "sessions=1") {
			t.Fatalf("Close with redis down did not log the undelivered revocation:\n%s", logs)
		}
		if err := e.redis.Restart(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRetrierDeliversLongQueue: a queue of revocations too long to write
// within one RedisTimeout still reaches Redis: the retrier writes it batch
// by batch, each with its own timeout. The link to Redis goes through a
// proxy that adds 3 ms each way, so one batch (one round trip) takes about
// 6 ms of the 20 ms timeout whatever the CPU, and the 16 batches of 4 000
// revocations together about 100 ms.
func TestRetrierDeliversLongQueue(t *testing.T) {
	e := newEnv(t)
	proxy, err := faults.NewProxy(e.redis.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb, err := redisconn.Open(redisconn.Config{URL: "redis://" + proxy.Addr(), Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	svc := e.service(func(o *session.Options) { o.Redis = rdb; o.RedisTimeout = 20 * time.Millisecond })
	const n = 4000
	toks := seedSessions(t, e.store, n, e.clock.Now())
	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for u := range 26 {
		k, err := svc.RevokeUser(bg, "user"+string(rune('a'+u)))
		if err != nil {
			t.Fatal(err)
		}
		revoked += k
	}
	if revoked != n || svc.Stats().RevocationsQueued != n {
		t.Fatalf("revoked %d, queued %d; want %d each", revoked, svc.Stats().RevocationsQueued, n)
	}
	proxy.SetDelay(3 * time.Millisecond)
	if err := e.redis.Restart(bg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the queue to reach redis", func() bool { return svc.Stats().RevocationsQueued == 0 })
	for _, i := range []int{0, n / 2, n - 1} {
		if v, _ := e.redisValue(toks[i]); v != "R" {
			t.Fatalf("session %d holds %q, want the tombstone", i, v)
		}
	}
}
