package adminauth

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix starts the Redis keys of the shared failure counts.
const DefaultKeyPrefix = "studio:adminauth:"

// Default budgets of wrong attempts (see ThrottleOptions).
const (
	DefaultWindow    = time.Minute
	DefaultPerClient = 10
	DefaultGlobal    = 300
)

// maxMemKeys bounds the clients counted in memory: past it, an arbitrary
// one is forgotten for each new one (the global count still throttles a
// flood from many addresses).
const maxMemKeys = 16384

// globalKey is the count of every client together.
const globalKey = "global"

// countScript adds one to the count of the current window and returns it
// with the count of the previous one. Both keys share a hash tag, so they
// live in one Cluster slot.
var countScript = redis.NewScript(`
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local p = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
return {c, p}
`)

// ThrottleOptions configure a Throttle. Zero fields take the defaults.
type ThrottleOptions struct {
	// Redis, if set, holds the counts every instance shares; nil (or
	// Redis failing) counts in this process's memory only.
	Redis redis.Scripter
	// KeyPrefix starts the Redis keys (default DefaultKeyPrefix).
	KeyPrefix string
	// Window is the length of the sliding window (default 1 minute).
	Window time.Duration
	// PerClient is how many wrong attempts one client may make in a
	// window; Global how many all clients together may make.
	PerClient, Global int
	// Timeout bounds the Redis round trip of one count (default 250 ms).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives a warning when a client, or every client together,
	// goes over its budget (once a window), and Redis failures at debug.
	Logger *slog.Logger
}

// Throttle counts wrong admin attempts per client and for all clients
// together in a sliding window (the count of the current fixed window
// plus the previous one's weighted by how much of it the sliding window
// still covers), through Redis when it answers and in memory always. It
// decides nothing about right attempts. Safe for concurrent use.
type Throttle struct {
	o  ThrottleOptions
	mu sync.Mutex
	m  map[string]*window
}

// window is the in-memory count of one key.
type window struct {
	idx       int64 // the current fixed window's number
	cur, prev int64
	warned    int64 // the window number of the last warning
}

// NewThrottle returns a Throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.PerClient <= 0 {
		o.PerClient = DefaultPerClient
	}
	if o.Global <= 0 {
		o.Global = DefaultGlobal
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Throttle{o: o, m: map[string]*window{}}
}

// ClientKey is the key a client's failures are counted under: its IPv4
// address, or the /64 of its IPv6 address (one host usually has a whole
// /64); "unknown" when the address is not known.
func ClientKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Fail records a wrong attempt by client and reports whether the client,
// or every client together, is now over its budget, and if so how long
// until a wrong attempt would be within it again.
func (t *Throttle) Fail(ctx context.Context, client netip.Addr) (over bool, retryAfter time.Duration) {
	now := t.o.Now()
	w := t.o.Window.Milliseconds()
	idx, frac := now.UnixMilli()/w, float64(now.UnixMilli()%w)/float64(w)
	ck := ClientKey(client)
	for _, k := range []struct {
		key   string
		limit int
	}{{ck, t.o.PerClient}, {globalKey, t.o.Global}} {
		cur, prev := t.count(ctx, k.key, idx)
		est := float64(prev)*(1-frac) + float64(cur)
		if est <= float64(k.limit) {
			continue
		}
		over = true
		retryAfter = max(retryAfter, untilUnder(cur, prev, k.limit, frac, t.o.Window))
		if t.warnOnce(k.key, idx) {
			t.o.Logger.Warn("wrong admin tokens over budget: answering 429 to further wrong attempts until the window slides (right tokens are still accepted)",
				"client", k.key, "window", t.o.Window.String(), "budget", k.limit)
		}
	}
	return over, retryAfter
}

// count adds one to key's count in window idx and returns the current
// and previous windows' counts: the larger of Redis's and memory's, so a
// failing Redis (or its keys lost) never lowers a count.
func (t *Throttle) count(ctx context.Context, key string, idx int64) (cur, prev int64) {
	cur, prev = t.countMem(key, idx)
	if t.o.Redis == nil {
		return cur, prev
	}
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	keys := []string{t.redisKey(key, idx), t.redisKey(key, idx-1)}
	vals, err := countScript.Run(ctx, t.o.Redis, keys, 2*t.o.Window.Milliseconds()).Int64Slice()
	if err != nil || len(vals) != 2 {
		t.o.Logger.Debug("admin attempt count in Redis failed; counting in memory", "error", err)
		return cur, prev
	}
	return max(cur, vals[0]), max(prev, vals[1])
}

func (t *Throttle) redisKey(key string, idx int64) string {
	return t.o.KeyPrefix + "{" + key + "}:" + strconv.FormatInt(idx, 10)
}

func (t *Throttle) countMem(key string, idx int64) (cur, prev int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.m[key]
	if !ok {
		if len(t.m) >= maxMemKeys {
			t.evictLocked(idx)
		}
		w = &window{idx: idx}
		t.m[key] = w
	}
	switch {
	case w.idx == idx:
	case w.idx == idx-1:
		w.idx, w.prev, w.cur = idx, w.cur, 0
	default:
		w.idx, w.prev, w.cur = idx, 0, 0
	}
	w.cur++
	return w.cur, w.prev
}

// evictLocked forgets the counts that no longer matter, or, if none, an
// arbitrary client's.
func (t *Throttle) evictLocked(idx int64) {
	for k, w := range t.m {
		if w.idx < idx-1 {
			delete(t.m, k)
		}
	}
	for k := range t.m {
		if len(t.m) < maxMemKeys {
			return
		}
		if k != globalKey {
			delete(t.m, k)
		}
	}
}

// warnOnce reports whether key has not been warned about in window idx,
// and marks it.
func (t *Throttle) warnOnce(key string, idx int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.m[key]
	if !ok || w.warned == idx {
		return false
	}
	w.warned = idx
	return true
}

// untilUnder is how long until the sliding count of a key whose windows
// hold cur and prev, frac of the way through the current window, falls
// below limit with no further attempt: within the current window while
// the previous one's weight fades, else once the current one becomes the
// previous and fades in turn. At least a second.
func untilUnder(cur, prev int64, limit int, frac float64, win time.Duration) time.Duration {
	l, c, p := float64(limit), float64(cur), float64(prev)
	var t float64 // in windows
	switch {
	case c < l && p > 0:
		t = max(0, 1-frac-(l-c)/p)
	case c >= l:
		t = (1 - frac) + (1 - l/c)
	}
	d := time.Duration(math.Ceil(t*float64(win)/float64(time.Second))) * time.Second
	return max(d, time.Second)
}
