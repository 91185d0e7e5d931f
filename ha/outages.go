package ha

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/studiohq/studio/redisconn"
)

// Outage is one run of Studio's commands to the master failing, as
// Outages recorded it.
type Outage struct {
	// LastAnswer is when the last command answered before the first
	// failure ended (to the millisecond); zero when none had been since
	// Outages was created.
	LastAnswer time.Time
	// FirstFailure and LastFailure are when the first and the last failed
	// command of the run ended; Failed counts them.
	FirstFailure, LastFailure time.Time
	Failed                    uint64
	// Back is when the first command answered after the failures ended;
	// zero while the outage goes on.
	Back time.Time
}

// Gap returns how long the master did not answer Studio: from LastAnswer
// (FirstFailure when there is none) to Back, or to now while the outage
// goes on.
func (o Outage) Gap(now time.Time) time.Duration {
	from, to := o.LastAnswer, o.Back
	if from.IsZero() {
		from = o.FirstFailure
	}
	if to.IsZero() {
		to = now
	}
	return max(0, to.Sub(from))
}

// maxOutages is how many ended outages Outages keeps.
const maxOutages = 32

// noAnswer marks Outages.lastOK before any answer.
const noAnswer = math.MinInt64

// Outages follows whether the master answers the commands Studio sends it
// (it is the redisconn.AvailabilityObserver of Studio's client) and keeps
// the runs of failures: the outage in progress, if any, and the last 32
// that ended. The watcher matches a failover to the outage it caused (see
// Failover.WriteGapSeconds). Safe for concurrent use; the zero value is
// not usable: create it with NewOutages.
//
// An answer while no outage is in progress costs two atomic loads and, at
// most once a millisecond, an atomic compare-and-swap; failures and the
// answer that ends an outage take a mutex.
type Outages struct {
	base    time.Time    // lastOK counts nanoseconds from it (monotonic)
	lastOK  atomic.Int64 // the latest answer's end, or noAnswer
	failing atomic.Bool  // an outage is in progress

	mu   sync.Mutex
	cur  Outage   // the outage in progress while failing
	past []Outage // ended outages, oldest first, at most maxOutages
}

var _ redisconn.AvailabilityObserver = (*Outages)(nil)

// NewOutages returns an Outages with no command seen.
func NewOutages() *Outages {
	o := &Outages{base: time.Now()}
	o.lastOK.Store(noAnswer)
	return o
}

// ObserveAvailability records a command that ended at end, answered or
// not. Commands may be reported out of order (they end on many
// goroutines): an answer that ended before the first failure of the
// outage in progress does not end it.
func (o *Outages) ObserveAvailability(end time.Time, answered bool) {
	if answered && !o.failing.Load() {
		o.advance(end, time.Millisecond)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case !o.failing.Load() && answered: // the outage ended meanwhile
		o.advance(end, 1)
	case !o.failing.Load():
		o.cur = Outage{FirstFailure: end, LastFailure: end, Failed: 1}
		if v := o.lastOK.Load(); v != noAnswer {
			o.cur.LastAnswer = o.base.Add(time.Duration(v))
		}
		o.failing.Store(true)
	case !answered:
		o.cur.Failed++
		if end.After(o.cur.LastFailure) {
			o.cur.LastFailure = end
		}
		if end.Before(o.cur.FirstFailure) {
			o.cur.FirstFailure = end
		}
	case end.Before(o.cur.FirstFailure): // an earlier answer, reported late
		if end.After(o.cur.LastAnswer) {
			o.cur.LastAnswer = end
		}
	default:
		o.cur.Back = end
		if len(o.past) == maxOutages {
			o.past = append(o.past[:0], o.past[1:]...)
		}
		o.past = append(o.past, o.cur)
		o.cur = Outage{}
		o.advance(end, 1)
		o.failing.Store(false)
	}
}

// advance moves lastOK forward to end when end is at least step after it.
func (o *Outages) advance(end time.Time, step time.Duration) {
	ns := int64(end.Sub(o.base))
	for {
		old := o.lastOK.Load()
		if old != noAnswer && ns < old+int64(step) {
			return
		}
		if o.lastOK.CompareAndSwap(old, ns) {
			return
		}
	}
}

// List returns the outages kept, oldest first, the one in progress (with a
// zero Back) last. The result is a copy.
func (o *Outages) List() []Outage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Outage, len(o.past), len(o.past)+1)
	copy(out, o.past)
	if o.failing.Load() {
		out = append(out, o.cur)
	}
	return out
}
