package adminauth

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

// wrongToken is a wrong token that must never reach a log.
const wrongToken = "not-the-admin-token-xyzzy"

const goodToken = "7f3a9c1e5b2d4c6f8a0e1b3d5f7c9e2a4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }

var (
	addrA = netip.MustParseAddr("198.51.100.7")
	addrB = netip.MustParseAddr("203.0.113.9")
)

// TestRightTokenNeverThrottled: after a client spent its budget of wrong
// attempts many times over, its right token is still accepted at once,
// its wrong ones get Throttled with a Retry-After, and another client's
// wrong attempts are not affected. Once the window slid, wrong attempts
// are Refused again.
func TestRightTokenNeverThrottled(t *testing.T) {
	c := newClock()
	g := NewGuard(GuardOptions{Tokens: New(goodToken), Throttle: ThrottleOptions{Now: c.now, PerClient: 5, Global: 1000}})
	ctx := context.Background()
	for i := range 5 {
		if v := g.Check(ctx, addrA, "wrong"); v.Outcome != Refused {
			t.Fatalf("wrong attempt %d: %v, want refused", i+1, v.Outcome)
		}
	}
	for range 100 {
		v := g.Check(ctx, addrA, "wrong")
		if v.Outcome != Throttled || v.RetryAfter < time.Second || v.RetryAfter > 2*DefaultWindow {
			t.Fatalf("over the budget: %+v, want throttled with a Retry-After of 1s-2m", v)
		}
	}
	start := time.Now()
	if v := g.Check(ctx, addrA, goodToken); v.Outcome != Accepted {
		t.Fatalf("the right token after 105 wrong ones: %v, want accepted", v.Outcome)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("the right token took %v: it must be accepted at once", d)
	}
	if v := g.Check(ctx, addrB, "wrong"); v.Outcome != Refused {
		t.Fatalf("another client: %v, want refused", v.Outcome)
	}
	c.add(2 * DefaultWindow)
	if v := g.Check(ctx, addrA, "wrong"); v.Outcome != Refused {
		t.Fatalf("two windows later: %v, want refused", v.Outcome)
	}
}

// TestGlobalBudget: wrong attempts from many addresses, none over its own
// budget, are throttled once their total is; the right token is
// accepted from all of them.
func TestGlobalBudget(t *testing.T) {
	c := newClock()
	g := NewGuard(GuardOptions{Tokens: New(goodToken), Throttle: ThrottleOptions{Now: c.now, PerClient: 5, Global: 20}})
	ctx := context.Background()
	throttled := 0
	for i := range 50 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)})
		if g.Check(ctx, a, "wrong").Outcome == Throttled {
			throttled++
		}
		if v := g.Check(ctx, a, goodToken); v.Outcome != Accepted {
			t.Fatalf("right token from %v: %v", a, v.Outcome)
		}
	}
	if throttled != 30 {
		t.Fatalf("%d of 50 wrong attempts from 50 addresses throttled, want 30 (over a global budget of 20)", throttled)
	}
}

// TestSharedThroughRedis: two Guards (two instances) on one real
// redis-server share the count, so a client spreading its attempts over
// both is throttled after the budget in total; with Redis gone, each
// falls back to its own count in memory and still throttles.
func TestSharedThroughRedis(t *testing.T) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	opts := func() GuardOptions {
		return GuardOptions{Tokens: New(goodToken), Throttle: ThrottleOptions{Redis: rdb, PerClient: 6, Global: 1000, Logger: log}}
	}
	one, two := NewGuard(opts()), NewGuard(opts())
	ctx := context.Background()
	for i := range 6 {
		g := []*Guard{one, two}[i%2]
		if v := g.Check(ctx, addrA, wrongToken); v.Outcome != Refused {
			t.Fatalf("attempt %d (instance %d): %v, want refused", i+1, i%2+1, v.Outcome)
		}
	}
	for i, g := range []*Guard{one, two} {
		if v := g.Check(ctx, addrA, wrongToken); v.Outcome != Throttled {
			t.Fatalf("instance %d after 6 wrong attempts spread over both: %v, want throttled", i+1, v.Outcome)
		}
		if v := g.Check(ctx, addrA, goodToken); v.Outcome != Accepted {
			t.Fatalf("instance %d, the right token: %v", i+1, v.Outcome)
		}
	}
	keys, err := rdb.Keys(ctx, DefaultKeyPrefix+"*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("redis keys %q (%v), want the client's and the global count", keys, err)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 2*DefaultWindow {
			t.Fatalf("key %s has TTL %v, want at most two windows", k, ttl)
		}
	}
	// Redis gone: a third instance counts in memory and still throttles;
	// the right token needs no Redis at all.
	if err := rs.Kill(); err != nil {
		t.Fatal(err)
	}
	three := NewGuard(opts())
	for i := range 6 {
		if v := three.Check(ctx, addrB, wrongToken); v.Outcome != Refused {
			t.Fatalf("redis down, attempt %d: %v, want refused", i+1, v.Outcome)
		}
	}
	if v := three.Check(ctx, addrB, wrongToken); v.Outcome != Throttled {
		t.Fatalf("redis down, over the budget: %v, want throttled (memory count)", v.Outcome)
	}
	if v := three.Check(ctx, addrB, goodToken); v.Outcome != Accepted {
		t.Fatalf("redis down, the right token: %v", v.Outcome)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), `"client":"198.51.100.7"`) || strings.Contains(logs.String(), goodToken) || strings.Contains(logs.String(), wrongToken) {
		t.Fatalf("the over-budget warning must name the client and no token: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDelayBounded: a throttled answer waits the delay, unless MaxDelayed
// answers already wait (then none), or its request ends.
func TestDelayBounded(t *testing.T) {
	g := NewGuard(GuardOptions{Tokens: New(goodToken), Delay: 300 * time.Millisecond, MaxDelayed: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { g.Delay(context.Background()) })
	}
	time.Sleep(50 * time.Millisecond) // both hold a slot
	start := time.Now()
	g.Delay(context.Background())
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("a third delay waited %v with MaxDelayed 2 in use", d)
	}
	wg.Wait()
	start = time.Now()
	g.Delay(context.Background())
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("a delay with free slots waited only %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	g.Delay(ctx)
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("a delay whose request ended waited %v", d)
	}
}

func TestUntilUnder(t *testing.T) {
	const w = time.Minute
	for _, tc := range []struct {
		cur, prev int64
		limit     int
		frac      float64
		want      time.Duration
	}{
		{11, 0, 10, 0, 60*time.Second + 6*time.Second},   // wait for the window to end, then 1/11 of the next
		{11, 0, 10, 0.5, 30*time.Second + 6*time.Second}, // half way through
		{20, 0, 10, 0.9, 6*time.Second + 30*time.Second}, // twice the budget: half of the next window
		{5, 20, 10, 0, 45 * time.Second},                 // prev fades: 20*(1-t)+5 < 10 at t = 0.75
		{5, 20, 10, 0.8, time.Second},                    // already under: at least a second
		{0, 0, 10, 0.3, time.Second},                     // nothing counted
		{1000, 1000, 10, 0.999, 60 * time.Second},        // a flood: about one window after the current one ends
	} {
		got := untilUnder(tc.cur, tc.prev, tc.limit, tc.frac, w)
		if got < tc.want-time.Second || got > tc.want+time.Second {
			t.Errorf("untilUnder(%d, %d, %d, %v) = %v, want about %v", tc.cur, tc.prev, tc.limit, tc.frac, got, tc.want)
		}
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":              "198.51.100.7",
		"::ffff:198.51.100.7":       "198.51.100.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1%eth0": "2001:db8:1:2::/64",
	} {
		if got := ClientKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("ClientKey(%s) = %s, want %s", in, got, want)
		}
	}
	if got := ClientKey(netip.Addr{}); got != "unknown" {
		t.Errorf("ClientKey(invalid) = %s", got)
	}
}

// TestMemoryBounded: a flood of wrong attempts from ever new addresses
// keeps at most maxMemKeys counts in memory.
func TestMemoryBounded(t *testing.T) {
	th := NewThrottle(ThrottleOptions{})
	for i := range maxMemKeys + 500 {
		th.Fail(context.Background(), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	th.mu.Lock()
	n := len(th.m)
	_, global := th.m[globalKey]
	th.mu.Unlock()
	if n > maxMemKeys || !global {
		t.Fatalf("%d keys in memory (global kept: %v), want at most %d", n, global, maxMemKeys)
	}
}
