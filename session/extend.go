package session

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sliding Redis lifetime: a session in steady use keeps its Redis copy
// instead of falling to the store every CacheTTL. The last-seen flusher's
// Store.Touch is also a store read: it returns the sessions that were
// live when it ran, and their copies are extended to at most CacheTTL
// past the time taken before that statement (never past the session's
// own deadline). So every live copy still expires within CacheTTL of a
// store read that found the session live, the bound the revocation index
// relies on (see "Revocation" in the package documentation), however
// often it is extended.

// extendLive moves the expiry of KEYS[1] to ARGV[1] (unix ms) only if the
// key holds a live copy (the codec's version byte, never a tombstone or
// the absent marker) and only forward: PEXPIREAT … GT never shortens it,
// and a key that expired or was deleted stays gone. It returns 1 when the
// expiry moved.
var extendLive = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.byte(v, 1) ~= ` + strconv.Itoa(codecVersion) + ` then return 0 end
return redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'GT')`)

// extendCopies extends the Redis copies of the sessions a Touch found live
// at read (taken before the Touch statement ran), in one pipeline. Errors
// are counted and logged: a copy that is not extended simply expires and
// is filled again from the store.
func (s *Service) extendCopies(ctx context.Context, live []Touched, read time.Time) {
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RedisTimeout)
	defer cancel()
	keys := make([]string, 0, len(live))
	untils := make([]int64, 0, len(live))
	for i := range live {
		until := read.Add(s.opts.CacheTTL)
		if d := live[i].deadline(); d.Before(until) {
			until = d
		}
		if !until.After(read) {
			continue
		}
		keys = append(keys, s.Key(live[i].Hash))
		untils = append(untils, until.UnixMilli())
	}
	cmds, err := s.runExtend(ctx, keys, untils, false)
	if err == nil && noScript(cmds) {
		// A Redis that restarted or failed over has lost the script:
		// send it whole once (EVAL loads it for the next batch).
		cmds, err = s.runExtend(ctx, keys, untils, true)
	}
	var extended uint64
	for _, c := range cmds {
		if n, cerr := c.Int64(); cerr == nil && n == 1 {
			extended++
		}
	}
	s.stats.copiesExtended.Add(extended)
	if err != nil {
		s.stats.redisErrors.Add(1)
		s.log.Debug("extending redis copies failed", "error", err)
	}
}

// runExtend runs extendLive for each key in one pipeline, by hash or, with
// whole, with the script's text.
func (s *Service) runExtend(ctx context.Context, keys []string, untils []int64, whole bool) ([]*redis.Cmd, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		if whole {
			cmds[i] = extendLive.Eval(ctx, pipe, []string{k}, untils[i])
		} else {
			cmds[i] = extendLive.EvalSha(ctx, pipe, []string{k}, untils[i])
		}
	}
	_, err := pipe.Exec(ctx)
	if err != nil && !whole && noScript(cmds) {
		err = nil // answered by the caller's retry with the whole script
	}
	return cmds, err
}

// noScript reports whether Redis answered any of cmds with NOSCRIPT.
func noScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
