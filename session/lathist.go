package session

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latHist counts durations in log-linear buckets: 16 per power of two of
// microseconds (a relative width of at most 1/16), from 0 to hours.
// Adding is one atomic increment, safe for concurrent use; a reader takes
// snapshots and subtracts them to get the counts of an interval. The
// Service records the Redis round trip of every validation that reaches
// Redis in one, which the warm back-off reads (see WarmBackoff).
type latHist struct {
	b [latBuckets]atomic.Uint64
}

// latCounts is a snapshot of a latHist's buckets.
type latCounts [latBuckets]uint64

const (
	latSub     = 16 // buckets per power of two
	latBuckets = 32 * latSub
)

// latBucket returns the bucket of d: values below 2·latSub µs have one
// bucket each, then latSub buckets per power of two.
func latBucket(d time.Duration) int {
	v := uint64(max(d, 0) / time.Microsecond)
	if v < 2*latSub {
		return int(v)
	}
	shift := bits.Len64(v) - 5 // v>>shift is in [16, 32)
	return min(shift*latSub+int(v>>shift), latBuckets-1)
}

// latUpper returns the upper edge of bucket i (the largest duration it
// holds, rounded to the microsecond above).
func latUpper(i int) time.Duration {
	if i < 2*latSub {
		return time.Duration(i+1) * time.Microsecond
	}
	shift := (i - latSub) / latSub
	mant := uint64(i - shift*latSub)
	return time.Duration((mant+1)<<shift) * time.Microsecond
}

func (h *latHist) add(d time.Duration) { h.b[latBucket(d)].Add(1) }

// snapshot copies the counts into c.
func (h *latHist) snapshot(c *latCounts) {
	for i := range h.b {
		c[i] = h.b[i].Load()
	}
}

// quantileBetween returns the q-quantile (0 < q ≤ 1) of the durations counted
// between snapshots from and to (the upper edge of its bucket, so never
// below the true value) and how many there were.
func quantileBetween(from, to *latCounts, q float64) (time.Duration, uint64) {
	var n uint64
	for i := range to {
		n += to[i] - from[i]
	}
	if n == 0 {
		return 0, 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var cum uint64
	for i := range to {
		cum += to[i] - from[i]
		if cum >= rank {
			return latUpper(i), n
		}
	}
	return latUpper(latBuckets - 1), n
}

// validationLatency is the histogram of the Redis round trips of the
// validations that reached Redis.
func (s *Service) validationLatency() *latHist { return &s.redisLat }
