package session_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/session"
)

func TestCreateThenValidateWalksTheTiers(t *testing.T) {
	e := newEnv(t)
	a := e.service()
	tok, created := e.create(a, session.CreateParams{UserID: "alice", TTL: time.Hour, Metadata: map[string]string{"ip": "10.0.0.1"}})

	// Create wrote Redis: the first validation anywhere is a Redis hit.
	sess, tier, err := a.ValidateTier(bg, tok)
	if err != nil || tier != session.TierRedis {
		t.Fatalf("first validation: tier %v err %v, want redis hit", tier, err)
	}
	if sess.ID != created.ID || sess.UserID != "alice" || !sess.ExpiresAt.Equal(created.ExpiresAt) || sess.Metadata["ip"] != "10.0.0.1" {
		t.Fatalf("validated %+v, created %+v", sess, created)
	}
	if _, tier, _ = a.ValidateTier(bg, tok); tier != session.TierL1 {
		t.Fatalf("second validation tier %v, want l1", tier)
	}
	if got := e.store.lookups.Load(); got != 0 {
		t.Fatalf("store lookups = %d, want 0", got)
	}

	// With Redis emptied, a fresh instance reads the store once and fills
	// Redis for everyone else.
	e.rdb.FlushAll(bg)
	b := e.service()
	if _, tier, err = b.ValidateTier(bg, tok); err != nil || tier != session.TierStore {
		t.Fatalf("after flush: tier %v err %v, want store", tier, err)
	}
	if v, ttl := e.redisValue(tok); !strings.HasPrefix(v, "\x01") || ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("redis after fill: %q ttl %v", v, ttl)
	}
	c := e.service()
	if _, tier, err = c.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
		t.Fatalf("third instance: tier %v err %v, want redis", tier, err)
	}
	if got := e.store.lookups.Load(); got != 1 {
		t.Fatalf("store lookups = %d, want 1", got)
	}
}

func TestMalformedTokenDoesNoIO(t *testing.T) {
	e := newEnv(t)
	var cmds atomic.Int64
	svc := e.service(func(o *session.Options) {
		c := o.Redis.(*redis.Client)
		c.AddHook(countHook{&cmds})
	})
	before := cmds.Load()
	for _, tok := range []string{"", "garbage", "stu_" + strings.Repeat("A", 49), strings.Repeat("x", 100_000)} {
		if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrMalformedToken) {
			t.Fatalf("Validate(%.20q) = %v, want ErrMalformedToken", tok, err)
		}
		if err := svc.Revoke(bg, tok); !errors.Is(err, session.ErrMalformedToken) {
			t.Fatalf("Revoke(%.20q) = %v, want ErrMalformedToken", tok, err)
		}
	}
	if n := cmds.Load() - before; n != 0 {
		t.Fatalf("malformed tokens sent %d redis commands", n)
	}
	if n := e.store.lookups.Load(); n != 0 {
		t.Fatalf("malformed tokens made %d store lookups", n)
	}
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

func TestExpiryAndIdle(t *testing.T) {
	e := newEnv(t)
	a := e.service(func(o *session.Options) { o.FlushInterval = 20 * time.Millisecond })
	b := e.service()
	short, _ := e.create(a, session.CreateParams{TTL: time.Hour})
	idle, _ := e.create(a, session.CreateParams{TTL: time.Hour, IdleTimeout: 5 * time.Minute})

	e.advance(3 * time.Minute)
	if _, err := a.Validate(bg, idle); err != nil { // a use at +3m
		t.Fatalf("idle session at +3m: %v", err)
	}
	// Wait for a's flusher to write the use to the store.
	waitFor(t, 2*time.Second, "last_seen_at written", func() bool {
		s, _ := e.store.Store.Lookup(bg, mustHash(t, idle))
		return s.LastSeenAt.After(s.CreatedAt.Add(2 * time.Minute))
	})
	e.advance(4 * time.Minute) // +7m: 7m since create, 4m since use
	if _, err := a.Validate(bg, idle); err != nil {
		t.Fatalf("used session at +7m on the instance that saw the use: %v", err)
	}
	// b's Redis copy is stale (last_seen_at = create) and says idle; the
	// store knows better.
	if _, err := b.Validate(bg, idle); err != nil {
		t.Fatalf("used session at +7m on another instance: %v", err)
	}
	e.advance(6 * time.Minute) // +13m: 6m since the last use
	for _, svc := range []*session.Service{a, b} {
		if _, err := svc.Validate(bg, idle); !errors.Is(err, session.ErrIdle) {
			t.Fatalf("idle session at +13m: %v, want ErrIdle", err)
		}
	}
	e.advance(time.Hour)
	if _, err := a.Validate(bg, short); !errors.Is(err, session.ErrExpired) {
		t.Fatalf("expired session: %v, want ErrExpired", err)
	}
}
