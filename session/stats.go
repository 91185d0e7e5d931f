package session

import (
	"errors"
	"sync/atomic"
	"time"
)

// Result classifies a validation's outcome for counting.
type Result uint8

// Results of Validate. Malformed tokens are ResultMalformed with TierNone;
// ResultError means no tier could answer (store down, caller gave up).
const (
	ResultValid Result = iota
	ResultNotFound
	ResultRevoked
	ResultExpired
	ResultIdle
	ResultMalformed
	ResultError
	NumResults
)

var resultNames = [NumResults]string{"valid", "not_found", "revoked", "expired", "idle", "malformed", "error"}

func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "unknown"
}

// ResultOf classifies an error returned by Validate.
func ResultOf(err error) Result {
	switch {
	case err == nil:
		return ResultValid
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case errors.Is(err, ErrRevoked):
		return ResultRevoked
	case errors.Is(err, ErrExpired):
		return ResultExpired
	case errors.Is(err, ErrIdle):
		return ResultIdle
	case errors.Is(err, ErrMalformedToken):
		return ResultMalformed
	}
	return ResultError
}

// counters are the Service's running totals. All fields are updated
// atomically.
type counters struct {
	validations    [NumResults][NumTiers]atomic.Uint64
	redisErrors    atomic.Uint64
	storeErrors    atomic.Uint64
	l1Flushes      atomic.Uint64
	l1Refreshes    atomic.Uint64
	touchesWritten atomic.Uint64
	copiesExtended atomic.Uint64
	// replicaFallbacks counts ReadRedis reads that failed and were
	// retried on the master.
	replicaFallbacks atomic.Uint64
	// distrusted counts live Redis copies not used because the revocation
	// index could not vouch for them (the store was read instead).
	distrusted atomic.Uint64
	// revocationReadErrors counts failed reads of the revocation index.
	revocationReadErrors atomic.Uint64
	// forged counts well-formed tokens refused with no I/O for want of
	// this store's tag; untagged those looked up all the same because the
	// legacy window was open (tags.go).
	forged, untagged atomic.Uint64
}

func (c *counters) count(t Tier, err error) {
	c.validations[ResultOf(err)][t].Add(1)
}

// countRedisError counts a Redis step that failed (Stats.RedisErrors).
func (s *Service) countRedisError() { s.stats.redisErrors.Add(1) }

// Stats are running totals since the Service started.
type Stats struct {
	// Validations counts every Validate call by result and answering tier
	// (index with Result and Tier).
	Validations [NumResults][NumTiers]uint64
	// Hits counts validations that found a live session, by tier.
	Hits [NumTiers]uint64
	// Refused counts validations that found no live session (not found,
	// revoked, expired, idle), by tier.
	Refused [NumTiers]uint64
	// Failed counts validations that got no answer (store unreachable, or
	// the caller gave up).
	Failed      uint64
	Malformed   uint64
	RedisErrors uint64
	StoreErrors uint64
	L1Flushes   uint64
	// L1Refreshes counts L1 entries refreshed ahead of their expiry (see
	// Options.L1TTL).
	L1Refreshes    uint64
	TouchesWritten uint64
	// TouchesDropped counts uses not recorded because the buffer of
	// uses waiting to be written was full (the store refusing writes for
	// several TouchIntervals at a million active sessions).
	TouchesDropped uint64
	// RedisCopiesExtended counts live Redis copies whose expiry the
	// last-seen flusher moved forward (the sliding Redis lifetime).
	RedisCopiesExtended uint64
	// ReplicaFallbacks counts replica reads that failed and went to the
	// master instead (Options.ReadRedis).
	ReplicaFallbacks uint64
	// RevocationsQueued is the number of revocations waiting to reach Redis.
	RevocationsQueued int64
	// RedisCopiesDistrusted counts live session copies read from Redis
	// but not used, because the revocation index has the session or is
	// not current; the store answered instead.
	RedisCopiesDistrusted uint64
	// RevocationIndexEntries is the number of revocations in the index;
	// RevocationIndex its state; RevocationsDropped counts revocations
	// not kept because it was full; RevocationReadErrors counts its
	// failed reads of the store.
	RevocationIndexEntries int64
	RevocationIndex        RevocationIndexState
	RevocationsDropped     uint64
	RevocationReadErrors   uint64
	// ForgedTokens counts well-formed tokens (right length, alphabet and
	// checksum) refused without any I/O because they do not carry this
	// store's tag and the legacy window is closed: validations that
	// missed the L1 (counted as not_found with TierNone in Validations
	// too) and revocations. Such a token was not made by any Studio on
	// this store.
	ForgedTokens uint64
	// UntaggedLookups counts tokens without this store's tag that were
	// looked up all the same (Redis, then the store) because the legacy
	// window was open: tokens from before the key, or forgeries.
	UntaggedLookups uint64
	// LegacyUntil is the end of the legacy window (zero: none): until
	// then tokens without this store's tag are looked up.
	LegacyUntil time.Time
}

// Stats returns the running totals.
func (s *Service) Stats() Stats {
	var st Stats
	for r := range NumResults {
		for t := range NumTiers {
			n := s.stats.validations[r][t].Load()
			st.Validations[r][t] = n
			switch r {
			case ResultValid:
				st.Hits[t] += n
			case ResultNotFound, ResultRevoked, ResultExpired, ResultIdle:
				st.Refused[t] += n
			case ResultMalformed:
				st.Malformed += n
			case ResultError:
				st.Failed += n
			}
		}
	}
	st.RedisErrors = s.stats.redisErrors.Load()
	st.StoreErrors = s.stats.storeErrors.Load()
	st.L1Flushes = s.stats.l1Flushes.Load()
	st.L1Refreshes = s.stats.l1Refreshes.Load()
	st.TouchesWritten = s.stats.touchesWritten.Load()
	st.RedisCopiesExtended = s.stats.copiesExtended.Load()
	st.TouchesDropped = s.touches.dropped.Load()
	st.ReplicaFallbacks = s.stats.replicaFallbacks.Load()
	st.RevocationsQueued = s.retry.queued.Load()
	st.RedisCopiesDistrusted = s.stats.distrusted.Load()
	st.RevocationIndexEntries = s.revs.entries.Load()
	st.RevocationIndex = s.revs.state(s.now().UnixNano())
	st.RevocationsDropped = s.revs.dropped.Load()
	st.RevocationReadErrors = s.stats.revocationReadErrors.Load()
	st.ForgedTokens = s.stats.forged.Load()
	st.UntaggedLookups = s.stats.untagged.Load()
	if ns := s.legacyUntil.Load(); ns != 0 {
		st.LegacyUntil = time.Unix(0, ns).UTC()
	}
	return st
}
