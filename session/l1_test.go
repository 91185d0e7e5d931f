package session_test

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/session"
)

type keyCounter struct {
	mu sync.Mutex
	n  map[string]int
}

// ObserveKey counts key; the map keeps a copy, since an observer must not
// retain the key it is handed.
func (k *keyCounter) ObserveKey(key string) { k.mu.Lock(); k.n[strings.Clone(key)]++; k.mu.Unlock() }

// TestEachValidationIsOneKeyAccess: every validation of a well-formed
// token counts one access to its session's key, for hot-key detection,
// whether the L1 or Redis answers it; a malformed token counts nothing.
func TestEachValidationIsOneKeyAccess(t *testing.T) {
	e := newEnv(t)
	kc := &keyCounter{n: map[string]int{}}
	svc := e.service(func(o *session.Options) { o.Keys = kc })
	tok, _ := e.create(svc, session.CreateParams{})
	for range 5 { // one from Redis, four from the L1
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = svc.Validate(bg, "stu_garbage")
	key := svc.Key(mustHash(t, tok))
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if kc.n[key] != 5 || len(kc.n) != 1 {
		t.Fatalf("observed %v, want 5 accesses of %s", kc.n, key)
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

// TestL1Off: with L1Off every validation is answered by Redis; a
// revocation made on another instance is refused at once, with no L1
// entry to outlive it; and the L1 counters stay at zero, even across the
// resubscription that flushes an L1.
func TestL1Off(t *testing.T) {
	e := newEnv(t)
	logs := &syncbuf.Buffer{}
	svc := e.service(func(o *session.Options) {
		o.L1TTL = session.L1Off
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	other := e.service()
	tok, _ := e.create(svc, session.CreateParams{})
	for range 5 {
		if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
			t.Fatalf("validate: tier %v, %v; want redis", tier, err)
		}
	}
	if err := other.Revoke(bg, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("right after a revocation elsewhere: %v, want ErrRevoked", err)
	}
	if err := e.rdb.Do(bg, "client", "kill", "type", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "subscription lost and back", func() bool {
		return strings.Contains(logs.String(), "invalidation subscription lost") && svc.Subscribed()
	})
	st := svc.Stats()
	if st.Hits[session.TierL1] != 0 || st.Refused[session.TierL1] != 0 || st.L1Flushes != 0 || st.L1Refreshes != 0 {
		t.Fatalf("L1 counters without an L1: hits %v, refused %v, flushes %d, refreshes %d", st.Hits, st.Refused, st.L1Flushes, st.L1Refreshes)
	}
	if st.Hits[session.TierRedis] != 5 || st.Refused[session.TierRedis] != 1 {
		t.Fatalf("redis tier: hits %v, refused %v; want 5 and 1", st.Hits, st.Refused)
	}
}
