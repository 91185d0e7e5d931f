package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/session"
)

var bg = context.Background()

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

func TestRedisCopyNeverOutlivesCacheTTLOrSession(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.CacheTTL = 2 * time.Minute })
	long, _ := e.create(svc, session.CreateParams{TTL: time.Hour})
	short, _ := e.create(svc, session.CreateParams{TTL: 30 * time.Second})
	if _, ttl := e.redisValue(long); ttl <= 0 || ttl > 2*time.Minute {
		t.Fatalf("long session ttl in redis %v, want <= cache ttl 2m", ttl)
	}
	if _, ttl := e.redisValue(short); ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("short session ttl in redis %v, want <= its 30s life", ttl)
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

func TestUnknownTokenIsRememberedBriefly(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := session.NewToken()
	for range 3 {
		if _, err := svc.Validate(bg, tok.Reveal()); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Validate(unknown) = %v, want ErrNotFound", err)
		}
	}
	if n := e.store.lookups.Load(); n != 1 {
		t.Fatalf("store lookups for a repeated unknown token = %d, want 1", n)
	}
	if v, ttl := e.redisValue(tok.Reveal()); v != "N" || ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("redis negative entry %q ttl %v", v, ttl)
	}
	other := e.service()
	if _, tier, err := other.ValidateTier(bg, tok.Reveal()); !errors.Is(err, session.ErrNotFound) || tier != session.TierRedis {
		t.Fatalf("other instance: tier %v err %v", tier, err)
	}
}

func TestRevokeEverywhere(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(), e.service()
	tok, sess := e.create(a, session.CreateParams{TTL: time.Hour})
	for _, svc := range []*session.Service{a, b, a, b} { // fill both L1s
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Revoke(bg, tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := a.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("revoking instance: %v, want ErrRevoked", err)
	}
	waitFor(t, time.Second, "the other instance to refuse", func() bool {
		_, err := b.Validate(bg, tok)
		return errors.Is(err, session.ErrRevoked)
	})
	v, ttl := e.redisValue(tok)
	if v != "R" || ttl < time.Hour-time.Minute || ttl > time.Hour {
		t.Fatalf("tombstone %q ttl %v, want R for the session's remaining life", v, ttl)
	}
	stored, err := e.store.Store.Lookup(bg, mustHash(t, tok))
	if err != nil || stored.RevokedAt == nil || stored.ID != sess.ID {
		t.Fatalf("store after revoke: %+v %v", stored, err)
	}
	// Idempotent, and unknown tokens are told apart.
	if err := b.Revoke(bg, tok); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	unknown, _ := session.NewToken()
	if err := a.Revoke(bg, unknown.Reveal()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRevokeUser(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(), e.service()
	var mine []string
	for range 3 {
		tok, _ := e.create(a, session.CreateParams{UserID: "bob"})
		mine = append(mine, tok)
	}
	theirs, _ := e.create(a, session.CreateParams{UserID: "carol"})
	for _, tok := range append(mine, theirs) {
		if _, err := b.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	n, err := a.RevokeUser(bg, "bob")
	if err != nil || n != 3 {
		t.Fatalf("RevokeUser = %d, %v; want 3", n, err)
	}
	for _, tok := range mine {
		waitFor(t, time.Second, "bob's sessions refused on b", func() bool {
			_, err := b.Validate(bg, tok)
			return errors.Is(err, session.ErrRevoked)
		})
	}
	if _, err := b.Validate(bg, theirs); err != nil {
		t.Fatalf("carol's session: %v", err)
	}
	if n, err := a.RevokeUser(bg, "bob"); err != nil || n != 0 {
		t.Fatalf("second RevokeUser = %d, %v; want 0", n, err)
	}
	if _, err := a.RevokeUser(bg, ""); !errors.Is(err, session.ErrInvalidInput) {
		t.Fatalf("RevokeUser(\"\") = %v", err)
	}
}

func TestExpiryAndIdle(t *testing.T) {
	e := newEnv(t)
	a := e.service(func(o *session.Options) { o.FlushInterval = 20 * time.Millisecond })
	b := e.service()
	short, _ := e.create(a, session.CreateParams{TTL: time.Hour})
	idle, _ := e.create(a, session.CreateParams{TTL: time.Hour, IdleTimeout: 5 * time.Minute})

	e.clock.Advance(3 * time.Minute)
	if _, err := a.Validate(bg, idle); err != nil { // a use at +3m
		t.Fatalf("idle session at +3m: %v", err)
	}
	// Wait for a's flusher to write the use to the store.
	waitFor(t, 2*time.Second, "last_seen_at written", func() bool {
		s, _ := e.store.Store.Lookup(bg, mustHash(t, idle))
		return s.LastSeenAt.After(s.CreatedAt.Add(2 * time.Minute))
	})
	e.clock.Advance(4 * time.Minute) // +7m: 7m since create, 4m since use
	if _, err := a.Validate(bg, idle); err != nil {
		t.Fatalf("used session at +7m on the instance that saw the use: %v", err)
	}
	// b's Redis copy is stale (last_seen_at = create) and says idle; the
	// store knows better.
	if _, err := b.Validate(bg, idle); err != nil {
		t.Fatalf("used session at +7m on another instance: %v", err)
	}
	e.clock.Advance(6 * time.Minute) // +13m: 6m since the last use
	for _, svc := range []*session.Service{a, b} {
		if _, err := svc.Validate(bg, idle); !errors.Is(err, session.ErrIdle) {
			t.Fatalf("idle session at +13m: %v, want ErrIdle", err)
		}
	}
	e.clock.Advance(time.Hour)
	if _, err := a.Validate(bg, short); !errors.Is(err, session.ErrExpired) {
		t.Fatalf("expired session: %v, want ErrExpired", err)
	}
}

func TestLastSeenWrittenInBatches(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.FlushInterval = time.Hour })
	var toks []string
	for range 20 {
		tok, _ := e.create(svc, session.CreateParams{})
		toks = append(toks, tok)
	}
	// 10 minutes of traffic, 20 uses a minute per session.
	for range 10 {
		for range 20 {
			for _, tok := range toks {
				if _, err := svc.Validate(bg, tok); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(3 * time.Second)
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Ten minutes at one write a minute at most: <= 11 per session, all in
	// the batch written at Close.
	if calls, n := e.store.touches.Load(), e.store.touched.Load(); calls != 1 || n != 20 {
		t.Fatalf("Touch calls %d with %d entries; want one batch of 20", calls, n)
	}
	for _, tok := range toks {
		s, err := e.store.Store.Lookup(bg, mustHash(t, tok))
		if err != nil {
			t.Fatal(err)
		}
		if lag := e.clock.Now().Sub(s.LastSeenAt); lag > 70*time.Second {
			t.Fatalf("last_seen_at lags the last use by %v", lag)
		}
	}
}

func TestStoreLookupsAreShared(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := e.create(svc, session.CreateParams{})
	e.rdb.FlushAll(bg)
	e.store.lookupDelay.Store(int64(200 * time.Millisecond))
	before := e.store.lookups.Load()

	// The first caller gives up early; the others must still get answers.
	quitter, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := svc.Validate(quitter, tok); !errors.Is(err, context.DeadlineExceeded) {
			errs <- errors.New("the quitting caller got " + errString(err))
		}
	}()
	time.Sleep(5 * time.Millisecond)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.Validate(bg, tok); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.store.lookups.Load() - before; n != 1 {
		t.Fatalf("41 concurrent cold validations made %d store lookups, want 1", n)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestCreateRefusesBadParamsAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	big := map[string]string{}
	for i := range 65 {
		big[string(rune('a'+i%26))+strings.Repeat("k", i)] = "v"
	}
	cases := []struct {
		name string
		p    session.CreateParams
		want string
	}{
		{"empty user", session.CreateParams{}, "user_id is required"},
		{"long user", session.CreateParams{UserID: strings.Repeat("u", 257)}, "longer than 256"},
		{"control char user", session.CreateParams{UserID: "a\nb"}, "control characters"},
		{"invalid utf8 user", session.CreateParams{UserID: "a\xffb"}, "valid UTF-8"},
		{"negative ttl", session.CreateParams{UserID: "u", TTL: -time.Second}, "at least 1s"},
		{"tiny ttl", session.CreateParams{UserID: "u", TTL: time.Millisecond}, "at least 1s"},
		{"absurd ttl", session.CreateParams{UserID: "u", TTL: 100 * 365 * 24 * time.Hour}, "at most"},
		{"negative idle", session.CreateParams{UserID: "u", IdleTimeout: -time.Minute}, "must not be negative"},
		{"idle below precision", session.CreateParams{UserID: "u", IdleTimeout: 30 * time.Second}, "at least 2m"},
		{"idle over ttl", session.CreateParams{UserID: "u", TTL: time.Hour, IdleTimeout: 2 * time.Hour}, "must not exceed ttl"},
		{"too much metadata", session.CreateParams{UserID: "u", Metadata: big}, "more than 64"},
		{"empty metadata key", session.CreateParams{UserID: "u", Metadata: map[string]string{"": "v"}}, "keys must be"},
		{"long metadata value", session.CreateParams{UserID: "u", Metadata: map[string]string{"k": strings.Repeat("v", 1025)}}, "values must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, _, err := svc.Create(bg, tc.p)
			if !errors.Is(err, session.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create = %v, want ErrInvalidInput saying %q", err, tc.want)
			}
			if tok != "" {
				t.Fatal("a refused create returned a token")
			}
		})
	}
	if n := e.store.creates.Load(); n != 0 {
		t.Fatalf("refused creates reached the store %d times", n)
	}
	if n := e.rdb.DBSize(bg).Val(); n != 0 {
		t.Fatalf("refused creates wrote %d redis keys", n)
	}
}

func TestUnreadableRedisValueIsRepairedFromStore(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := e.create(svc, session.CreateParams{})
	h := mustHash(t, tok)
	e.rdb.Set(bg, "studio:s:"+h.Hex(), "\x01garbage", time.Minute)
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierStore {
		t.Fatalf("tier %v err %v, want store answer", tier, err)
	}
	if v, _ := e.redisValue(tok); !strings.HasPrefix(v, "\x01") {
		t.Fatalf("redis value not repaired: %q", v)
	}
}

func TestSubscriptionDropFlushesL1(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := e.create(svc, session.CreateParams{})
	svc.Validate(bg, tok)
	if _, tier, _ := svc.ValidateTier(bg, tok); tier != session.TierL1 {
		t.Fatalf("tier %v, want l1", tier)
	}
	flushes := svc.Stats().L1Flushes
	if err := e.rdb.Do(bg, "client", "kill", "type", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "L1 flushed and resubscribed", func() bool {
		return svc.Stats().L1Flushes >= flushes+2 && svc.Subscribed()
	})
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
		t.Fatalf("after resubscribe: tier %v err %v, want a redis hit", tier, err)
	}
}

func mustHash(t *testing.T, tok string) session.TokenHash {
	t.Helper()
	h, err := session.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type keyCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (k *keyCounter) ObserveKey(key string) { k.mu.Lock(); k.n[key]++; k.mu.Unlock() }

// L1 hits are counted as accesses to the session's key, for hot-key
// detection; the Redis tier is counted by the Redis hook, not here.
func TestL1HitsAreObservedAsKeyAccesses(t *testing.T) {
	e := newEnv(t)
	kc := &keyCounter{n: map[string]int{}}
	svc := e.service(func(o *session.Options) { o.Keys = kc })
	tok, _ := e.create(svc, session.CreateParams{})
	for range 5 {
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	key := svc.Key(mustHash(t, tok))
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if kc.n[key] != 4 || len(kc.n) != 1 {
		t.Fatalf("observed %v, want 4 L1 hits of %s", kc.n, key)
	}
}

// TestL1RefreshAhead: a session used in the last fifth of its L1 entry's
// life is answered from the entry and refreshed in the background, so its
// next use after the old entry's end is still an L1 hit instead of a wait
// for Redis. A refresh that finds a tombstone (an invalidation message
// this instance missed) refuses the session before the old entry would
// have ended.
func TestL1RefreshAhead(t *testing.T) {
	e := newEnv(t)
	const l1 = 5 * time.Second
	svc := e.service(func(o *session.Options) { o.L1TTL = l1 })
	tok, _ := e.create(svc, session.CreateParams{})
	tier := func() session.Tier {
		t.Helper()
		_, tier, err := svc.ValidateTier(bg, tok)
		if err != nil {
			t.Fatalf("validate: %v", err)
		}
		return tier
	}
	tier() // the entry starts now (Create or this fill)
	e.clock.Advance(l1 / 2)
	if got := tier(); got != session.TierL1 || svc.Stats().L1Refreshes != 0 {
		t.Fatalf("at half its life: tier %v, %d refreshes; want an L1 hit and no refresh", got, svc.Stats().L1Refreshes)
	}
	e.clock.Advance(l1*9/10 - l1/2) // in the last fifth
	if got := tier(); got != session.TierL1 {
		t.Fatalf("in the entry's last fifth: tier %v, want the L1 (the refresh runs behind)", got)
	}
	waitFor(t, 5*time.Second, "the refresh", func() bool { return svc.Stats().L1Refreshes == 1 })
	e.clock.Advance(l1 / 5) // past the first entry's end, inside the refreshed one
	if got := tier(); got != session.TierL1 {
		t.Fatalf("after the first entry's end: tier %v, want an L1 hit on the refreshed entry", got)
	}

	// A tombstone this instance heard nothing about (no message).
	h := mustHash(t, tok)
	if err := e.rdb.Set(bg, "studio:s:"+h.Hex(), "R", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(l1 * 7 / 10) // the refreshed entry's last fifth
	tier()                       // still live from the entry: the documented bound
	waitFor(t, 5*time.Second, "the second refresh", func() bool { return svc.Stats().L1Refreshes == 2 })
	if _, tier, err := svc.ValidateTier(bg, tok); !errors.Is(err, session.ErrRevoked) || tier != session.TierL1 {
		t.Fatalf("after a refresh that found the tombstone: tier %v, %v; want ErrRevoked from the L1", tier, err)
	}
}
