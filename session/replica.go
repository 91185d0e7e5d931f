package session

import (
	"sync"
	"sync/atomic"
	"time"
)

// recentInvalidations remembers which keys were invalidated recently and
// until when every read goes to the master (the two rules of "Replica
// reads" in the package documentation). Safe for concurrent use.
type recentInvalidations struct {
	grace       int64 // nanoseconds
	masterUntil atomic.Int64
	shards      [16]recentShard
}

type recentShard struct {
	mu    sync.Mutex
	until map[TokenHash]int64 // unix nanoseconds
	_     [40]byte
}

func newRecentInvalidations(grace time.Duration) *recentInvalidations {
	r := &recentInvalidations{grace: int64(grace)}
	for i := range r.shards {
		r.shards[i].until = make(map[TokenHash]int64)
	}
	return r
}

// add notes that h was invalidated at now.
func (r *recentInvalidations) add(h TokenHash, now time.Time) {
	n := now.UnixNano()
	sh := &r.shards[h[2]&15]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.until) >= 1024 { // prune expired marks before growing
		for k, u := range sh.until {
			if u <= n {
				delete(sh.until, k)
			}
		}
	}
	sh.until[h] = n + r.grace
}

// all sends every read to the master for the grace period from now.
func (r *recentInvalidations) all(now time.Time) {
	r.masterUntil.Store(now.UnixNano() + r.grace)
}

// master reports whether a read of h at now must go to the master.
func (r *recentInvalidations) master(h TokenHash, now time.Time) bool {
	n := now.UnixNano()
	if n < r.masterUntil.Load() {
		return true
	}
	sh := &r.shards[h[2]&15]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u, ok := sh.until[h]
	if ok && u <= n {
		delete(sh.until, h)
		return false
	}
	return ok
}
