package slack

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/receivertest"
)

func TestLimiterSpacing(t *testing.T) {
	clock := receivertest.NewClock(receivertest.Start)
	l := NewLimiter(LimiterConfig{Now: clock.Now, Sleep: clock.Sleep})
	ctx := context.Background()
	var got []time.Time
	for range 3 {
		at, err := l.wait(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, at)
	}
	if got[1].Sub(got[0]) != time.Second || got[2].Sub(got[1]) != time.Second {
		t.Errorf("turns at %v, want 1s apart", got)
	}
	// Another URL has its own turns.
	if at, _ := l.wait(ctx, "b"); !at.Equal(clock.Now()) {
		t.Errorf("other URL waited: turn at %v, now %v", at, clock.Now())
	}
	// After a quiet spell, no wait.
	clock.Advance(time.Minute)
	before := len(clock.Slept())
	if _, err := l.wait(ctx, "a"); err != nil || len(clock.Slept()) != before {
		t.Errorf("waited after a quiet minute: %v", err)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clock := receivertest.NewClock(receivertest.Start)
	l := NewLimiter(LimiterConfig{Interval: 2 * time.Second, Now: clock.Now, Sleep: clock.Sleep})
	var (
		mu    sync.Mutex
		turns []time.Time
		wg    sync.WaitGroup
	)
	for range 10 {
		wg.Go(func() {
			at, err := l.wait(context.Background(), "hook")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			turns = append(turns, at)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(turns, time.Time.Compare)
	for i := 1; i < len(turns); i++ {
		if d := turns[i].Sub(turns[i-1]); d < 2*time.Second {
			t.Errorf("turns %d and %d are %v apart, want at least 2s", i-1, i, d)
		}
	}
}

func TestLimiterBlock(t *testing.T) {
	clock := receivertest.NewClock(receivertest.Start)
	l := NewLimiter(LimiterConfig{Now: clock.Now, Sleep: clock.Sleep})
	l.block("hook", 30*time.Second)
	_, err := l.wait(context.Background(), "hook")
	var be *blockedError
	if !errors.As(err, &be) || be.after != 30*time.Second {
		t.Fatalf("wait while blocked = %v", err)
	}
	l.block("hook", 5*time.Second) // a shorter block does not shorten it
	clock.Advance(29 * time.Second)
	if _, err := l.wait(context.Background(), "hook"); !errors.As(err, &be) || be.after != time.Second {
		t.Fatalf("wait 1s before the end = %v", err)
	}
	clock.Advance(time.Second)
	if at, err := l.wait(context.Background(), "hook"); err != nil || !at.Equal(receivertest.Start.Add(30*time.Second)) {
		t.Fatalf("wait at the end = %v, %v", at, err)
	}
}

func TestLimiterRealClock(t *testing.T) {
	l := NewLimiter(LimiterConfig{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := l.wait(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	second, err := l.wait(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if d := second.Sub(first); d < 20*time.Millisecond {
		t.Errorf("turns %v apart, want at least 20ms", d)
	}
	l = NewLimiter(LimiterConfig{Interval: time.Hour})
	if _, err := l.wait(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := l.wait(cctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a cancelled context = %v", err)
	}
}
