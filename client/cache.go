package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
)

// tokenHash is the SHA-256 of a token: the cache's key, and what Studio's
// invalidation messages carry (as lower-case hex, comma-separated).
type tokenHash [32]byte

// cache holds positive Validate answers. Safe for concurrent use.
//
// A fill that raced an invalidation is withdrawn: every invalidation bumps
// the generation of its shard (all of them for a flush), and put drops an
// answer whose shard's generation moved since its request started.
type cache struct {
	ttl  time.Duration
	c    *otter.Cache[tokenHash, *cacheEntry]
	gens [256]atomic.Uint64
	now  func() time.Time

	hits, misses, invalidations, flushes atomic.Uint64
	// subscribed: the invalidation subscription is up. With needSub,
	// nothing is cached while it is down.
	subscribed, closed atomic.Bool
	needSub            bool

	cancel context.CancelFunc // stops the subscriber; nil without one
	wg     sync.WaitGroup
}

type cacheEntry struct {
	s    Session
	life time.Duration
}

func newCache(ttl time.Duration, size int, rdb redis.UniversalClient, channel string) (*cache, error) {
	c := &cache{ttl: ttl, now: time.Now}
	var err error
	c.c, err = otter.New(&otter.Options[tokenHash, *cacheEntry]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[tokenHash, *cacheEntry]) time.Duration {
			return e.Value.life
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	if rdb != nil {
		c.needSub = true
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		c.wg.Add(1)
		go c.subscribe(ctx, rdb, channel)
	}
	return c, nil
}

func (c *cache) get(h tokenHash) (Session, bool) {
	e, ok := c.c.GetIfPresent(h)
	if !ok || c.closed.Load() || !c.now().Before(e.s.deadline()) {
		c.misses.Add(1)
		return Session{}, false
	}
	c.hits.Add(1)
	return e.s, true
}

// generation is read before asking Studio, and handed to put.
func (c *cache) generation(h tokenHash) uint64 { return c.gens[h[0]].Load() }

// put caches s for at most the ttl and never past its deadline, unless an
// invalidation of h's shard happened since gen was read.
func (c *cache) put(h tokenHash, gen uint64, s Session) {
	life := min(c.ttl, s.deadline().Sub(c.now()))
	if life <= 0 || c.gens[h[0]].Load() != gen || c.closed.Load() || (c.needSub && !c.subscribed.Load()) {
		return
	}
	c.c.Set(h, &cacheEntry{s: s, life: life})
	// An invalidation between the check and the Set either removed this
	// entry itself or is seen here.
	if c.gens[h[0]].Load() != gen {
		c.c.Invalidate(h)
	}
}

func (c *cache) invalidate(h tokenHash) {
	c.gens[h[0]].Add(1)
	c.c.Invalidate(h)
	c.invalidations.Add(1)
}

func (c *cache) flush() {
	for i := range c.gens {
		c.gens[i].Add(1)
	}
	c.c.InvalidateAll()
	c.flushes.Add(1)
}

func (c *cache) close() {
	c.closed.Store(true)
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
	}
	c.flush()
	c.c.StopAllGoroutines()
}

// applyMessage applies one invalidation message: hex hashes separated by
// commas. Parts that are not a hash are skipped.
func (c *cache) applyMessage(payload string) {
	for part := range strings.SplitSeq(payload, ",") {
		var h tokenHash
		if len(part) != hex.EncodedLen(len(h)) {
			continue
		}
		if _, err := hex.Decode(h[:], []byte(part)); err != nil {
			continue
		}
		c.invalidate(h)
	}
}

// subscribe keeps the subscription to channel alive until ctx ends,
// flushing the cache on every drop and every (re)subscribe, as Studio's
// own in-process cache does. A connection silent for 3 s (no message, no
// answer to a ping) is taken for dead.
func (c *cache) subscribe(ctx context.Context, rdb redis.UniversalClient, channel string) {
	defer c.wg.Done()
	const receiveTimeout = time.Second
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		ps := rdb.Subscribe(ctx, channel)
		lastHeard, pinged := time.Now(), false
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, receiveTimeout)
			if err != nil {
				var ne net.Error
				if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() && time.Since(lastHeard) < 3*receiveTimeout {
					if !pinged {
						pinged = ps.Ping(ctx) == nil
					}
					continue
				}
				c.subscribed.Store(false)
				c.flush()
				break
			}
			lastHeard, pinged = time.Now(), false
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					c.flush()
					c.subscribed.Store(true)
					delay = 50 * time.Millisecond
				}
			case *redis.Message:
				c.applyMessage(m.Payload)
			}
		}
		_ = ps.Close()
		select {
		case <-ctx.Done():
		case <-time.After(delay):
			delay = min(2*delay, time.Second)
		}
	}
	c.subscribed.Store(false)
}

// CacheStats counts what the cache did since New.
type CacheStats struct {
	Hits, Misses  uint64 // Validate answered from the cache, or not
	Invalidations uint64 // sessions dropped by a revocation (this Client's or Studio's broadcast)
	Flushes       uint64 // whole-cache flushes: subscription drops and (re)subscribes, RevokeUser, Close
	Subscribed    bool   // the invalidation subscription is up
	Size          int    // entries now (an estimate)
}

// CacheStats returns the cache's counters; the zero value when the cache
// is off.
func (c *Client) CacheStats() CacheStats {
	if c.cache == nil {
		return CacheStats{}
	}
	k := c.cache
	return CacheStats{
		Hits: k.hits.Load(), Misses: k.misses.Load(),
		Invalidations: k.invalidations.Load(), Flushes: k.flushes.Load(),
		Subscribed: k.subscribed.Load(), Size: k.c.EstimatedSize(),
	}
}
