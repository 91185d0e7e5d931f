package session_test

import (
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

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
			e.clock.Advance(3 * time.Second) // L1 hits, Redis or the store: the index need not be current
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Ten minutes at one write a minute at most: <= 11 per session (the
	// buffer keeps one use per session per interval until a flush takes
	// it), all in the batch written at Close.
	if calls, n := e.store.touches.Load(), e.store.touched.Load(); calls != 1 || n < 20 || n > 20*11 {
		t.Fatalf("Touch calls %d with %d entries; want one batch of 20 to 220", calls, n)
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
