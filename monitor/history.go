package monitor

import (
	"sort"
	"time"
)

// Point is one poll's entry in the history ring, for charts.
//
// The client-side fields (ClientOps, ErrorRate, P50MS…) cover the complete
// seconds just before Time: the last max(1, Interval rounded up to whole
// seconds) of them, so with Interval ≤ 1s consecutive points may repeat
// the same second. The server-side fields are zero when Up is false (the
// poll failed). HitRate covers the cache lookups since the previous point;
// Lookups says how many there were (HitRate is 0 when there were none).
// L1HitRate and RedisHitRate split HitRate by tier over the same lookups:
// the fraction of them the in-process cache answered, and the fraction of
// those that reached Redis that Redis answered (0 when none did).
type Point struct {
	Time             time.Time `json:"time"`
	Up               bool      `json:"up"`
	ClientOps        float64   `json:"client_ops"`
	ErrorRate        float64   `json:"error_rate"`
	P50MS            float64   `json:"p50_ms"`
	P95MS            float64   `json:"p95_ms"`
	P99MS            float64   `json:"p99_ms"`
	UsedMemory       int64     `json:"used_memory_bytes"`
	MaxMemory        int64     `json:"maxmemory_bytes"`
	EvictedKeys      int64     `json:"evicted_keys"`
	ConnectedClients int64     `json:"connected_clients"`
	ServerOps        float64   `json:"server_ops"`
	HitRate          float64   `json:"hit_rate"`
	Lookups          uint64    `json:"lookups"`
	L1HitRate        float64   `json:"l1_hit_rate"`
	RedisHitRate     float64   `json:"redis_hit_rate"`

	// cache is the Cache reading taken with this point (valid when hasCache).
	cache    CacheStats
	hasCache bool
}

// ring is a fixed-capacity history of points, oldest overwritten first.
// It is not safe for concurrent use.
type ring struct {
	buf  []Point
	next int // index the next point goes to
	n    int // points held
}

func newRing(capacity int) *ring { return &ring{buf: make([]Point, capacity)} }

func (r *ring) add(p Point) {
	r.buf[r.next] = p
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// at returns the i-th oldest point held (0 ≤ i < r.n).
func (r *ring) at(i int) *Point {
	return &r.buf[(r.next-r.n+i+len(r.buf))%len(r.buf)]
}

// last returns the newest point.
func (r *ring) last() (Point, bool) {
	if r.n == 0 {
		return Point{}, false
	}
	return *r.at(r.n - 1), true
}

// after returns a copy of the points with Time after t, oldest first.
// Points are appended in time order, so this is a binary search.
func (r *ring) after(t time.Time) []Point {
	i := sort.Search(r.n, func(i int) bool { return r.at(i).Time.After(t) })
	out := make([]Point, 0, r.n-i)
	for ; i < r.n; i++ {
		out = append(out, *r.at(i))
	}
	return out
}

// atOrBefore returns the newest point with Time at or before t.
func (r *ring) atOrBefore(t time.Time) (Point, bool) {
	i := sort.Search(r.n, func(i int) bool { return r.at(i).Time.After(t) })
	if i == 0 {
		return Point{}, false
	}
	return *r.at(i - 1), true
}
