package monitor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Command outcomes, as redisconn.Outcome names them. RecordCommand maps any
// other string to outcomeOther, which counts as an error.
const (
	outcomeOK = iota
	outcomeMiss
	outcomeErrorReply
	outcomeTimeout
	outcomeCanceled
	outcomeBreakerOpen
	outcomeNetwork
	outcomeOther
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "miss", "error_reply", "timeout", "canceled", "breaker_open", "network", "other"}

func outcomeIndex(s string) int {
	switch s {
	case "ok":
		return outcomeOK
	case "miss":
		return outcomeMiss
	case "error_reply":
		return outcomeErrorReply
	case "timeout":
		return outcomeTimeout
	case "canceled":
		return outcomeCanceled
	case "breaker_open":
		return outcomeBreakerOpen
	case "network":
		return outcomeNetwork
	}
	return outcomeOther
}

// isError reports whether an outcome counts as an error: everything but ok,
// miss (a nil reply is an answer) and canceled (the caller gave up; Redis
// did nothing wrong — the breaker does not count it either).
func isError(o int) bool {
	return o != outcomeOK && o != outcomeMiss && o != outcomeCanceled
}

// isTimed reports whether an outcome's duration goes into the latency
// sketch: not a breaker refusal (no round trip, ~0 s, would drag the
// percentiles down during an outage) and not a cancellation (the wait was
// cut short by the caller, not finished by Redis).
func isTimed(o int) bool {
	return o != outcomeBreakerOpen && o != outcomeCanceled
}

const (
	// sketchAccuracy is the relative accuracy of every latency quantile.
	sketchAccuracy = 0.01
	// sketchMaxBins bounds a sketch's memory (8 KiB); at 1 % accuracy 2048
	// bins span more than 17 orders of magnitude, so nothing collapses in
	// practice.
	sketchMaxBins = 2048
	// ringSeconds is how many sealed seconds are kept: the 5-minute window
	// plus slack for late flushes.
	ringSeconds = 302
	// maxShards caps the per-command accumulators.
	maxShards = 64
)

// newSketch returns an empty latency sketch in microseconds. All sketches
// share one mapping, so any two can be merged.
func newSketch(m mapping.IndexMapping) *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(m, store.NewCollapsingLowestDenseStore(sketchMaxBins), store.NewCollapsingLowestDenseStore(sketchMaxBins))
}

// counts are command totals by outcome.
type counts [numOutcomes]uint64

func (c *counts) add(o *counts) {
	for i := range c {
		c[i] += o[i]
	}
}

func (c *counts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

func (c *counts) errors() uint64 {
	var n uint64
	for i, v := range c {
		if isError(i) {
			n += v
		}
	}
	return n
}

// shardData accumulates the commands of one second seen by one shard.
// The sketch and its stores live inside it (not in separate small heap
// objects, which the allocator would pack next to another shard's and
// make every write bounce a cache line between cores).
type shardData struct {
	mu  sync.Mutex
	sec int64 // Unix second held; meaningful when n > 0
	n   uint64
	by  counts             // of second sec
	cum counts             // since start, never reset
	sk  *ddsketch.DDSketch // points at skv

	skv      ddsketch.DDSketch
	pos, neg store.CollapsingLowestDenseStore
}

// shard pads shardData to a multiple of 128 bytes so that two shards never
// share a cache line (or an adjacent-line prefetch pair).
type shard struct {
	shardData
	_ [128 - unsafe.Sizeof(shardData{})%128]byte
}

func (s *shardData) init(m mapping.IndexMapping) {
	s.pos = *store.NewCollapsingLowestDenseStore(sketchMaxBins)
	s.neg = *store.NewCollapsingLowestDenseStore(sketchMaxBins)
	s.skv = *ddsketch.NewDDSketch(m, &s.pos, &s.neg)
	s.sk = &s.skv
}

// sealed is one complete second, merged from every shard.
type sealed struct {
	sec int64
	by  counts
	sk  *ddsketch.DDSketch
}

// recorder turns RecordCommand calls into per-second buckets. A writer
// takes the lock of the shard its P last used: a sync.Pool of shard
// pointers gives that per-P affinity, so a shard's cache lines stay on one
// core (picking a random shard per call measured about twice as slow under
// RunParallel on 2 cores). A shard holds one second and is flushed into the
// sealed ring when its writer sees a later second, or when a reader
// collects. Lock order: shard, then mu.
type recorder struct {
	clock    func() int64 // Unix seconds
	mapping  mapping.IndexMapping
	shards   []shard
	mask     uint32
	startSec int64
	affinity sync.Pool     // of *shardData
	next     atomic.Uint32 // round robin for affinity.New

	mu   sync.Mutex
	ring [ringSeconds]sealed
}

// newRecorder returns a recorder reading now, or, when now is nil, the
// monotonic clock (see monotonicSeconds).
func newRecorder(now func() time.Time) (*recorder, error) {
	m, err := mapping.NewCubicallyInterpolatedMapping(sketchAccuracy)
	if err != nil {
		return nil, fmt.Errorf("latency sketch mapping: %w", err)
	}
	clock := monotonicSeconds()
	if now != nil {
		clock = func() int64 { return now().Unix() }
	}
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) && n < maxShards {
		n <<= 1
	}
	r := &recorder{clock: clock, mapping: m, shards: make([]shard, n), mask: uint32(n - 1), startSec: clock()}
	for i := range r.shards {
		r.shards[i].init(m)
	}
	r.affinity.New = func() any { return &r.shards[r.next.Add(1)&r.mask].shardData }
	for i := range r.ring {
		r.ring[i].sec = -1
		r.ring[i].sk = newSketch(m)
	}
	return r, nil
}

// record counts one command. It allocates only when a sketch has to grow
// past what it has held before.
func (r *recorder) record(d time.Duration, outcome string) {
	sec := r.clock()
	o := outcomeIndex(outcome)
	s := r.affinity.Get().(*shardData)
	s.mu.Lock()
	if s.n > 0 && s.sec != sec {
		if sec > s.sec {
			r.flush(s)
		} else {
			sec = s.sec // the clock stepped back: keep counting into the held second
		}
	}
	s.sec = sec
	s.n++
	s.by[o]++
	s.cum[o]++
	if isTimed(o) {
		if d < 0 {
			d = 0
		}
		_ = s.sk.Add(float64(d) / float64(time.Microsecond))
	}
	s.mu.Unlock()
	r.affinity.Put(s)
}

// flush moves s's second into the sealed ring and empties s. The caller
// holds s.mu.
func (r *recorder) flush(s *shardData) {
	r.mu.Lock()
	slot := &r.ring[ringIndex(s.sec)]
	if slot.sec != s.sec && slot.sec < s.sec {
		slot.sec = s.sec
		slot.by = counts{}
		slot.sk.Clear()
	}
	if slot.sec == s.sec { // else older than the ring: only cum keeps it
		slot.by.add(&s.by)
		_ = slot.sk.MergeWith(s.sk)
	}
	r.mu.Unlock()
	s.n = 0
	s.by = counts{}
	s.sk.Clear()
}

// monotonicSeconds returns a clock of Unix seconds that reads only the
// monotonic clock (half the cost of time.Now, which also reads the wall
// clock), anchored to the wall clock once. A later step of the wall clock
// does not move the buckets.
func monotonicSeconds() func() int64 {
	base := time.Now()
	baseNs := base.UnixNano()
	return func() int64 { return (baseNs + int64(time.Since(base))) / int64(time.Second) }
}

func ringIndex(sec int64) int {
	i := sec % ringSeconds
	if i < 0 {
		i += ringSeconds
	}
	return int(i)
}

// collect flushes every shard holding a second before nowSec, so that the
// sealed ring is complete up to nowSec.
func (r *recorder) collect(nowSec int64) {
	for i := range r.shards {
		s := &r.shards[i].shardData
		s.mu.Lock()
		if s.n > 0 && s.sec < nowSec {
			r.flush(s)
		}
		s.mu.Unlock()
	}
}

// windowStats summarises the complete seconds of a window.
type windowStats struct {
	by      counts
	seconds int // seconds of the window the monitor has been running for
	sk      *ddsketch.DDSketch
}

// window merges the sealed seconds [nowSec-n, nowSec) into w (which it
// resets), after collect(nowSec).
func (r *recorder) window(w *windowStats, nowSec int64, n int) {
	w.by = counts{}
	w.sk.Clear()
	w.seconds = int(min(int64(n), max(0, nowSec-r.startSec)))
	// One second at a time, so that a writer flushing its shard waits for
	// one merge at most, not for the whole window.
	for sec := nowSec - int64(n); sec < nowSec; sec++ {
		r.mu.Lock()
		slot := &r.ring[ringIndex(sec)]
		if slot.sec == sec {
			w.by.add(&slot.by)
			_ = w.sk.MergeWith(slot.sk)
		}
		r.mu.Unlock()
	}
}

// totalsNow returns every command counted since start.
func (r *recorder) totalsNow() counts {
	var c counts
	for i := range r.shards {
		s := &r.shards[i].shardData
		s.mu.Lock()
		c.add(&s.cum)
		s.mu.Unlock()
	}
	return c
}

var quantiles = []float64{0.50, 0.95, 0.99}

// latencyOf reads the quantiles of sk (microseconds) in milliseconds.
func latencyOf(sk *ddsketch.DDSketch, window string) Latency {
	l := Latency{Window: window, Count: uint64(sk.GetCount() + 0.5)}
	if sk.IsEmpty() {
		return l
	}
	q, err := sk.GetValuesAtQuantiles(quantiles)
	if err != nil {
		return l
	}
	l.P50, l.P95, l.P99 = q[0]/1e3, q[1]/1e3, q[2]/1e3
	return l
}
