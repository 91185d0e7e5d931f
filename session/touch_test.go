package session_test

import (
	"context"
	"sync/atomic"
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

// slowFirstTouch is the store, whose first Touch takes all the time its
// context gives it and then writes anyway, as a batch that only just
// makes its deadline does.
type slowFirstTouch struct {
	session.Store
	calls atomic.Int64
}

func (s *slowFirstTouch) Touch(ctx context.Context, ts []session.Touch, now time.Time) ([]session.Touched, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done()
		ctx = context.WithoutCancel(ctx)
	}
	return s.Store.Touch(ctx, ts, now)
}

// TestFlushBoundsEachBatch: StoreTimeout bounds each batch of a flush,
// not the whole flush, so a backlog of several batches is written in one
// flush even when a batch takes nearly all of its time: no batch fails
// and is tried again.
func TestFlushBoundsEachBatch(t *testing.T) {
	e := newEnv(t)
	st := &slowFirstTouch{Store: e.store}
	svc := e.service(func(o *session.Options) {
		o.Store = st
		o.FlushInterval = 20 * time.Millisecond
		o.StoreTimeout = 200 * time.Millisecond
	})
	const n = session.TouchBatch + 1
	session.FillTouches(svc, n)
	waitFor(t, 10*time.Second, "the uses written", func() bool { return svc.Stats().TouchesWritten == n })
	if calls := st.calls.Load(); calls != 2 {
		t.Fatalf("%d Touch calls for two batches: one failed and was tried again", calls)
	}
}
