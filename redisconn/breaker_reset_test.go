package redisconn

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestBreakerReset: Reset closes an open breaker at once and reports it;
// a closed breaker is left alone.
func TestBreakerReset(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	b := NewBreaker(BreakerOptions{OnStateChange: func(from, to string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, from+"→"+to)
	}})
	failing := b.ProcessHook(func(context.Context, redis.Cmder) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "refused", Addr: "127.0.0.1:1"}}
	})
	for range 5 {
		_ = failing(context.Background(), redis.NewCmd(context.Background(), "get", "k"))
	}
	if st := b.State(); st != "open" {
		t.Fatalf("after 5 failures the breaker is %s", st)
	}
	b.Reset()
	if st := b.State(); st != "closed" {
		t.Fatalf("after Reset the breaker is %s", st)
	}
	b.Reset() // closed: nothing to do
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"closed→open", "open→closed"}; !slices.Equal(changes, want) {
		t.Fatalf("state changes %v, want %v", changes, want)
	}
}
