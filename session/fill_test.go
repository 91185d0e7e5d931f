package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

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

func TestUnknownTokenIsRememberedBriefly(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := svc.NewToken()
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
