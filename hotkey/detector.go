// Package hotkey finds the hottest Redis keys: a sharded Space-Saving
// top-k over a sliding window on each instance (Detector), threshold
// events, and a cross-instance view built through Redis (Publisher).
//
// Keys leave the package only in their display form (DisplayKey): never a
// full session hash, never as a metric label. See docs/HOTKEYS.md.
package hotkey

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/studiohq/studio/health"
)

// Options configures a Detector. Every field is optional.
type Options struct {
	// Capacity is the number of keys each shard monitors per time bucket
	// (Space-Saving's m). Default 256.
	Capacity int
	// Shards is the number of independently locked shards, rounded up to a
	// power of two. Default 16.
	Shards int
	// Window is the sliding window. Default one minute.
	Window time.Duration
	// Buckets is how many buckets the window is cut into; counts age out
	// one bucket (Window/Buckets, default 10 s) at a time. Default 6. All
	// instances sharing a cross-instance view must use the same Window and
	// Buckets.
	Buckets int
	// Threshold is the number of accesses per Window above which a key is
	// hot. Default 1000.
	Threshold uint64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger gets a warn line per threshold event. Default: discard.
	Logger *slog.Logger
	// Registerer, if set, gets studio_hotkey_threshold_events_total.
	Registerer prometheus.Registerer
	// OnHot, if set, is called (from the checking goroutine) for each
	// threshold event. It must not block for long.
	OnHot func(Event)
}

// Entry (one hot key over the window) and Share (one instance's part of
// its count) are the health package's types.
type (
	Entry = health.HotKey
	Share = health.HotKeyShare
)

// Detector counts key accesses. Observe is safe for concurrent use,
// allocates nothing and takes one shard lock; reads (Top, Check) take each
// shard lock in turn, briefly.
type Detector struct {
	shards    []shard
	shift     uint // shard = hash >> shift
	nslots    int64
	gran      time.Duration
	window    time.Duration
	buckets   int
	capacity  int
	threshold uint64
	now       func() time.Time
	clock     bool      // now is time.Now: Observe reads only the monotonic clock
	base      time.Time // a reading of now, so bucket math uses its monotonic part
	baseNanos int64     // base as Unix nanoseconds
	hot       *hotSet
}

type shard struct {
	mu    sync.Mutex
	slots []summary
	_     [64]byte // keep neighbouring shards' locks off one cache line
}

// New returns a Detector for opts.
func New(opts Options) *Detector {
	if opts.Capacity <= 0 {
		opts.Capacity = 256
	}
	if opts.Shards <= 0 {
		opts.Shards = 16
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Buckets <= 0 {
		opts.Buckets = 6
	}
	if opts.Threshold == 0 {
		opts.Threshold = 1000
	}
	clock := opts.Now == nil
	if clock {
		opts.Now = time.Now
	}
	n, bits := 1, uint(0)
	for n < opts.Shards {
		n <<= 1
		bits++
	}
	d := &Detector{
		shards:    make([]shard, n),
		shift:     64 - bits,
		nslots:    int64(opts.Buckets + 1), // the window's buckets plus the current one
		gran:      opts.Window / time.Duration(opts.Buckets),
		window:    opts.Window,
		buckets:   opts.Buckets,
		capacity:  opts.Capacity,
		threshold: opts.Threshold,
		now:       opts.Now,
		clock:     clock,
	}
	d.base = d.now()
	d.baseNanos = d.base.UnixNano()
	for i := range d.shards {
		d.shards[i].slots = make([]summary, d.nslots)
		for j := range d.shards[i].slots {
			d.shards[i].slots[j] = newSummary(opts.Capacity)
		}
	}
	d.hot = newHotSet(opts)
	return d
}

// ObserveKey implements redisconn.KeyObserver.
func (d *Detector) ObserveKey(key string) { d.Observe(key) }

// Observe counts one access to key. It does not keep key.
func (d *Detector) Observe(key string) {
	h := xxhash.Sum64String(key)
	var el time.Duration
	if d.clock {
		el = time.Since(d.base) // monotonic only: half the cost of time.Now
	} else {
		el = d.now().Sub(d.base)
	}
	b := (d.baseNanos + int64(el)) / int64(d.gran)
	sh := &d.shards[h>>d.shift]
	sh.mu.Lock()
	s := &sh.slots[b%d.nslots]
	if s.bucket != b {
		if s.bucket > b { // a caller stalled for a whole window: drop
			sh.mu.Unlock()
			return
		}
		s.reset(b)
	}
	s.add(key, h)
	sh.mu.Unlock()
}

// Buckets are numbered from the Unix epoch (Unix nanoseconds / bucket
// length), so instances agree on them; times are measured from base with
// the monotonic clock when it can, so a wall-clock step does not move them.

// MemoryBytes is the Detector's fixed memory: every summary is allocated by
// New and nothing grows with the number of distinct keys.
func (d *Detector) MemoryBytes() int {
	n := 0
	for i := range d.shards {
		for j := range d.shards[i].slots {
			n += d.shards[i].slots[j].bytes()
		}
	}
	return n + len(d.shards)*int(unsafe.Sizeof(shard{})+uintptr(d.nslots)*unsafe.Sizeof(summary{}))
}

// span is how much time the window read at t covers: Buckets full buckets
// plus the elapsed part of the current one.
func (d *Detector) span(t time.Time) (cur int64, span time.Duration) {
	ns := d.baseNanos + int64(t.Sub(d.base))
	cur = ns / int64(d.gran)
	return cur, time.Duration(d.buckets)*d.gran + time.Duration(ns-cur*int64(d.gran))
}

// cand is one key merged over a shard's buckets.
type cand struct {
	hash       uint64
	key        []byte
	klen       int
	count, low uint64
	floors     uint64 // sum of the floors of the buckets where it is monitored
}

// collect merges every bucket in [from, to] of every shard. Each candidate's
// count is its upper bound: the monitored counts plus, for each bucket
// where it is not monitored, that bucket's floor.
func (d *Detector) collect(from, to int64) []cand {
	var out []cand
	for i := range d.shards {
		sh := &d.shards[i]
		idx := map[uint64]int{}
		start := len(out)
		var floors uint64
		sh.mu.Lock()
		for j := range sh.slots {
			s := &sh.slots[j]
			if s.bucket < from || s.bucket > to || s.bucket < 0 {
				continue
			}
			f := s.floor()
			floors += f
			for k := int32(0); k < s.n; k++ {
				e := &s.ent[k]
				p, ok := idx[e.hash]
				if !ok {
					p = len(out)
					idx[e.hash] = p
					out = append(out, cand{hash: e.hash, key: append([]byte(nil), s.stored(k)...), klen: int(e.klen)})
				}
				c := &out[p]
				cnt := s.heap[e.hpos].count
				c.count += uint64(cnt)
				c.low += uint64(cnt - e.err)
				c.floors += f
			}
		}
		sh.mu.Unlock()
		for k := start; k < len(out); k++ {
			out[k].count += floors - out[k].floors
		}
	}
	return out
}

// Top returns the n keys with the highest counts over the window,
// highest first (all of them when n <= 0).
func (d *Detector) Top(n int) []Entry {
	return d.top(d.now(), n, 0)
}

// top returns the entries at t, highest first: at most n (n > 0), or all
// with a count of at least atLeast.
func (d *Detector) top(t time.Time, n int, atLeast uint64) []Entry {
	cur, span := d.span(t)
	cs := d.collect(cur-int64(d.buckets), cur)
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(b.count, a.count) })
	if n > 0 && len(cs) > n {
		cs = cs[:n]
	}
	out := make([]Entry, 0, len(cs))
	for _, c := range cs {
		if c.count < atLeast {
			break
		}
		out = append(out, Entry{
			Key:    display(c.key, c.klen, c.hash),
			Count:  c.count,
			Error:  c.count - c.low,
			PerMin: perMin(c.count, span),
		})
	}
	return mergeDisplay(out)
}

func perMin(count uint64, span time.Duration) float64 {
	if span <= 0 {
		return 0
	}
	return float64(count) * float64(time.Minute) / float64(span)
}

// mergeDisplay sums entries that share a display form (practically never)
// so each display key is listed once.
func mergeDisplay(es []Entry) []Entry {
	seen := make(map[string]int, len(es))
	out := es[:0]
	for _, e := range es {
		if i, ok := seen[e.Key]; ok {
			out[i].Count += e.Count
			out[i].Error += e.Error
			out[i].PerMin += e.PerMin
			continue
		}
		seen[e.Key] = len(out)
		out = append(out, e)
	}
	return out
}

// Check evaluates the threshold on this instance's own counts and emits an
// event for each key that crossed it since the last check. A Publisher
// calls it (or its global equivalent) every interval; call it yourself
// only when there is no Publisher.
func (d *Detector) Check() []Event {
	t := d.now()
	return d.hot.evaluate(d.top(t, 0, d.threshold), ScopeLocal, t)
}

// bucketPayload is one bucket of this instance, as published.
type bucketPayload struct {
	Floor   uint64          `json:"f"`
	Total   uint64          `json:"n"`
	Entries []bucketEntries `json:"e"`
}

type bucketEntries struct {
	Key   string
	Count uint64
	Err   uint64
}

// bucket returns the top k keys of one bucket (display form) with the
// bucket's floor: no key left out has a count above it.
func (d *Detector) bucket(b int64, k int) bucketPayload {
	cs := d.collect(b, b)
	var p bucketPayload
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		s := &sh.slots[((b%d.nslots)+d.nslots)%d.nslots]
		if s.bucket == b {
			p.Floor = max(p.Floor, s.floor())
			p.Total += s.total
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(b.count, a.count) })
	if k > 0 && len(cs) > k {
		p.Floor = max(p.Floor, cs[k].count)
		cs = cs[:k]
	}
	es := make([]Entry, 0, len(cs))
	for _, c := range cs {
		es = append(es, Entry{Key: display(c.key, c.klen, c.hash), Count: c.count, Error: c.count - c.low})
	}
	for _, e := range mergeDisplay(es) {
		p.Entries = append(p.Entries, bucketEntries{Key: e.Key, Count: e.Count, Err: e.Error})
	}
	return p
}

func (d *Detector) bucketNow() int64 {
	cur, _ := d.span(d.now())
	return cur
}

func xxhashString(s string) uint64 { return xxhash.Sum64String(s) }
