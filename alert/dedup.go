package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cross-instance coordination: see the package documentation (doc.go) for
// the keys and the protocol.

const (
	episodeRefresh = time.Minute     // how often a firing instance refreshes the episode's seen time
	episodeStale   = 3 * time.Minute // a firing episode nobody refreshed this long is over
	episodeTTL     = 24 * time.Hour  // a firing episode's record lives this long past its last refresh
	resolvedTTL    = time.Hour       // a resolved episode's record lives this long
	sentTTL        = 7 * 24 * time.Hour
)

// Claim outcomes.
type claimResult int

const (
	claimOK          claimResult = iota // claimed: send, then confirm or release
	claimUncoord                        // no coordination (no Redis, Redis down, or an uncoordinated episode): send
	claimSent                           // another instance sent it
	claimInFlight                       // another instance is sending it
	claimEpResolved                     // (repeats) the episode resolved
	claimUntriggered                    // (resolves) the receiver never got the trigger
	claimWaitTrigger                    // (resolves) the trigger is still being sent
)

var (
	scriptEpisode = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local k, s, r, seen = string.match(v, '^(.+)|(%d+)|(%d+)|(%d+)$')
  if k then
    local start = tonumber(ARGV[2])
    local rn = tonumber(r)
    if (rn == 0 and start <= tonumber(seen) + tonumber(ARGV[4])) or (rn > 0 and start <= rn) then
      if rn == 0 then
        if tonumber(ARGV[3]) > tonumber(seen) then seen = ARGV[3] end
        redis.call('SET', KEYS[1], k .. '|' .. s .. '|0|' .. seen, 'PX', ARGV[5])
      end
      return {k, s}
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|0|' .. ARGV[3], 'PX', ARGV[5])
return {ARGV[1], ARGV[2]}
`)
	// KEYS[1] episode; ARGV: dedup key, start ms, now ms, ttl ms.
	scriptRefresh = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|0|' .. ARGV[3], 'PX', ARGV[4], 'NX')
  return 2
end
local k, s, r = string.match(v, '^(.+)|(%d+)|(%d+)|(%d+)$')
if k ~= ARGV[1] or r ~= '0' then return 0 end
redis.call('SET', KEYS[1], k .. '|' .. s .. '|0|' .. ARGV[3], 'PX', ARGV[4])
return 1
`)
	// KEYS[1] episode; ARGV: dedup key, resolved ms, ttl ms.
	scriptResolve = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local k, s, r, seen = string.match(v, '^(.+)|(%d+)|(%d+)|(%d+)$')
if k ~= ARGV[1] or r ~= '0' then return 0 end
redis.call('SET', KEYS[1], k .. '|' .. s .. '|' .. ARGV[2] .. '|' .. seen, 'PX', ARGV[3])
return 1
`)
	// KEYS[1] claim, KEYS[2] episode; ARGV: claim value, ttl ms, dedup key, check resolved.
	scriptClaim = redis.NewScript(`
if ARGV[4] == '1' then
  local v = redis.call('GET', KEYS[2])
  if v then
    local k, s, r = string.match(v, '^(.+)|(%d+)|(%d+)|(%d+)$')
    if k == ARGV[3] and r ~= '0' then return 'resolved' end
  end
end
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
`)
	// KEYS[1] resolve claim, KEYS[2] trigger claim; ARGV: claim value, ttl ms, triggered locally.
	scriptClaimResolve = redis.NewScript(`
local t = redis.call('GET', KEYS[2])
if t and string.sub(t, 1, 8) == 'sending:' then return 'pending' end
if not t and ARGV[3] ~= '1' then return 'untriggered' end
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
`)
	// KEYS[1] claim; ARGV: our value, new value (or "" to delete), ttl ms.
	scriptSettle = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)
)

// epKey identifies an episode locally: the alert and when it began firing
// on this instance.
type epKey struct {
	fp    string
	start int64 // UnixNano of the local StartsAt
}

func keyOf(a *Alert) epKey { return epKey{a.Fingerprint, a.StartsAt.UnixNano()} }

// episode is an alert episode as agreed with the other instances.
type episode struct {
	ready       chan struct{} // closed once the fields below are set
	dedupKey    string
	start       time.Time // the episode's shared start (the first instance's firing time)
	coordinated bool      // recorded in Redis; claims apply
}

// coordinator talks to Redis for episodes and claims. A nil rdb means no
// coordination: every claim is claimUncoord. Its methods are safe for
// concurrent use.
type coordinator struct {
	rdb      redis.UniversalClient
	prefix   string
	token    string // "<instance>/<random>": our claims' owner
	timeout  time.Duration
	claimTTL time.Duration
	now      func() time.Time
	log      *slog.Logger
	m        *metrics

	mu  sync.Mutex
	eps map[epKey]*episode

	logMu      sync.Mutex
	lastWarn   time.Time
	suppressed int
}

func newCoordinator(rdb redis.UniversalClient, prefix, instance string, timeout, claimTTL time.Duration, now func() time.Time, log *slog.Logger, m *metrics) *coordinator {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &coordinator{rdb: rdb, prefix: prefix, token: instance + "/" + hex.EncodeToString(b),
		timeout: timeout, claimTTL: claimTTL, now: now, log: log, m: m, eps: map[epKey]*episode{}}
}

func (c *coordinator) episodeKey(fp string) string { return c.prefix + "{" + fp + "}:episode" }

func (c *coordinator) claimKey(fp string, ep *episode, receiver, slot string) string {
	return c.prefix + "{" + fp + "}:" + ep.dedupKey + ":" + receiver + ":" + slot
}

// warn logs a coordination failure, at most once every 30 seconds (with
// the number suppressed meanwhile), and counts it.
func (c *coordinator) warn(msg string, err error) {
	c.m.dedupFallbacks.Inc()
	c.logMu.Lock()
	now := time.Now()
	if now.Sub(c.lastWarn) < 30*time.Second {
		c.suppressed++
		c.logMu.Unlock()
		return
	}
	n := c.suppressed
	c.lastWarn, c.suppressed = now, 0
	c.logMu.Unlock()
	c.log.Warn(msg+": sending without cross-instance dedup", "error", err, "suppressed", n)
}

// episode returns the episode of k, asking Redis the first time. It waits
// for another caller's request in flight, up to ctx.
func (c *coordinator) episode(ctx context.Context, k epKey) *episode {
	c.mu.Lock()
	ep := c.eps[k]
	if ep != nil {
		c.mu.Unlock()
		select {
		case <-ep.ready:
			return ep
		case <-ctx.Done():
			return &episode{dedupKey: k.fp, start: time.Unix(0, k.start)}
		}
	}
	ep = &episode{ready: make(chan struct{})}
	c.eps[k] = ep
	c.mu.Unlock()
	c.resolveEpisode(ctx, k, ep)
	close(ep.ready)
	return ep
}

func (c *coordinator) resolveEpisode(ctx context.Context, k epKey, ep *episode) {
	start := time.Unix(0, k.start)
	ep.dedupKey, ep.start = k.fp, start
	if c.rdb == nil {
		return
	}
	startMs := start.UnixMilli()
	cand := k.fp + "-" + strconv.FormatInt(startMs, 36)
	now := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := scriptEpisode.Run(ctx, c.rdb, []string{c.episodeKey(k.fp)},
		cand, startMs, now.UnixMilli(), episodeStale.Milliseconds(), episodeTTL.Milliseconds()).StringSlice()
	if err != nil || len(res) != 2 {
		c.warn("alert dedup: cannot agree on the episode through Redis", err)
		return
	}
	ms, perr := strconv.ParseInt(res[1], 10, 64)
	if perr != nil {
		c.warn("alert dedup: bad episode record in Redis", perr)
		return
	}
	ep.dedupKey, ep.start, ep.coordinated = res[0], time.UnixMilli(ms), true
}

// lookup returns the DedupKey of k if it is already known.
func (c *coordinator) lookup(k epKey) string {
	c.mu.Lock()
	ep := c.eps[k]
	c.mu.Unlock()
	if ep == nil {
		return ""
	}
	select {
	case <-ep.ready:
		return ep.dedupKey
	default:
		return ""
	}
}

// refresh records that this instance still sees the episode firing (the
// dispatcher calls it once per episodeRefresh).
func (c *coordinator) refresh(ctx context.Context, k epKey) {
	ep := c.episode(ctx, k)
	if !ep.coordinated {
		return
	}
	now := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := scriptRefresh.Run(ctx, c.rdb, []string{c.episodeKey(k.fp)}, ep.dedupKey, ep.start.UnixMilli(), now.UnixMilli(), episodeTTL.Milliseconds()).Err(); err != nil {
		c.warn("alert dedup: cannot refresh the episode in Redis", err)
	}
}

// resolved marks the episode resolved at t (if it still is the recorded
// one and not already resolved).
func (c *coordinator) resolved(ctx context.Context, k epKey, t time.Time) {
	ep := c.episode(ctx, k)
	if !ep.coordinated {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := scriptResolve.Run(ctx, c.rdb, []string{c.episodeKey(k.fp)}, ep.dedupKey, max(t.UnixMilli(), 1), resolvedTTL.Milliseconds()).Err(); err != nil {
		c.warn("alert dedup: cannot mark the episode resolved in Redis", err)
	}
}

// claim is a notification this instance has claimed; settle it with
// confirm or release.
type claim struct {
	key string
}

// claimSend claims a trigger (slot "trigger") or a repeat ("repeat:<n>").
func (c *coordinator) claimSend(ctx context.Context, fp string, ep *episode, receiver, slot string) (claimResult, *claim) {
	if c.rdb == nil || !ep.coordinated {
		return claimUncoord, nil
	}
	key := c.claimKey(fp, ep, receiver, slot)
	check := "0"
	if strings.HasPrefix(slot, "repeat:") {
		check = "1"
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := scriptClaim.Run(ctx, c.rdb, []string{key, c.episodeKey(fp)}, "sending:"+c.token, c.claimTTL.Milliseconds(), ep.dedupKey, check).Text()
	if err != nil {
		c.warn("alert dedup: cannot claim the notification in Redis", err)
		return claimUncoord, nil
	}
	return parseClaim(res), &claim{key: key}
}

// claimResolve claims the resolve notice; triggered says whether this
// instance knows the receiver got the trigger.
func (c *coordinator) claimResolve(ctx context.Context, fp string, ep *episode, receiver string, triggered bool) (claimResult, *claim) {
	if c.rdb == nil || !ep.coordinated {
		if triggered {
			return claimUncoord, nil
		}
		return claimUntriggered, nil
	}
	key := c.claimKey(fp, ep, receiver, "resolve")
	t := "0"
	if triggered {
		t = "1"
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := scriptClaimResolve.Run(ctx, c.rdb, []string{key, c.claimKey(fp, ep, receiver, "trigger")}, "sending:"+c.token, c.claimTTL.Milliseconds(), t).Text()
	if err != nil {
		c.warn("alert dedup: cannot claim the resolve notice in Redis", err)
		if triggered {
			return claimUncoord, nil
		}
		return claimUntriggered, nil
	}
	return parseClaim(res), &claim{key: key}
}

func parseClaim(res string) claimResult {
	switch {
	case res == "claimed":
		return claimOK
	case res == "resolved":
		return claimEpResolved
	case res == "untriggered":
		return claimUntriggered
	case res == "pending":
		return claimWaitTrigger
	case strings.HasPrefix(res, "sending:"):
		return claimInFlight
	}
	return claimSent
}

// confirm turns our claim into "sent"; release deletes it. Both use a
// context of their own: they must run even when the delivery's ended.
func (c *coordinator) confirm(cl *claim) { c.settle(cl, "sent:"+c.token, sentTTL) }
func (c *coordinator) release(cl *claim) { c.settle(cl, "", 0) }

func (c *coordinator) settle(cl *claim, to string, ttl time.Duration) {
	if cl == nil || c.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := scriptSettle.Run(ctx, c.rdb, []string{cl.key}, "sending:"+c.token, to, max(ttl.Milliseconds(), 1)).Err(); err != nil {
		c.warn("alert dedup: cannot settle a claim in Redis", err)
	}
}

// prune forgets the episodes keep does not want.
func (c *coordinator) prune(keep func(epKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.eps {
		if !keep(k) {
			delete(c.eps, k)
		}
	}
}

// repeatSlot numbers the repeat due at now: whole repeat intervals since the
// episode's start, at least 1.
func repeatSlot(start, now time.Time, every time.Duration) string {
	n := int64(1)
	if every > 0 {
		n = max(1, int64(now.Sub(start)/every))
	}
	return fmt.Sprintf("repeat:%d", n)
}
