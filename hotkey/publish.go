package hotkey

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// PublisherOptions configures a Publisher. Every field is optional.
type PublisherOptions struct {
	// Instance names this instance in the cross-instance view. Default: 8
	// random hex digits.
	Instance string
	// Interval between rounds (publish, read, check). Default 5s.
	Interval time.Duration
	// Timeout bounds one round's Redis work. Default 1s.
	Timeout time.Duration
	// KeyPrefix starts the Redis keys. Default "studio:".
	KeyPrefix string
	// TopK is how many keys per bucket an instance publishes. Default 200.
	TopK int
	// Logger gets publish failures at debug level (the drop counter says
	// how many). Default: discard.
	Logger *slog.Logger
	// Registerer, if set, gets studio_hotkey_publishes_total{outcome}.
	Registerer prometheus.Registerer
}

// View is the cross-instance (or, without Redis, the local) top list.
type View struct {
	// Scope is ScopeGlobal when Entries sum every instance's published
	// buckets, ScopeLocal when they are this instance's alone (no Redis
	// client, or the last read failed).
	Scope   string  `json:"scope"`
	Entries []Entry `json:"entries"`
	// Instances are the instances that published in the window.
	Instances []string `json:"instances"`
	// UnseenBound bounds the global count of any key not in Entries (the
	// sum of the published floors): if it is below the threshold, no hot
	// key can be missing.
	UnseenBound uint64    `json:"unseen_bound"`
	Time        time.Time `json:"time"`
}

// Publisher runs the periodic round: publish this instance's current and
// previous buckets to Redis, read every instance's buckets of the window,
// build the global View and check the threshold on it. Observe never waits
// for it; while Redis fails, rounds are dropped (counted) and the check
// falls back to local counts.
type Publisher struct {
	d        *Detector
	rdb      redis.UniversalClient
	o        PublisherOptions
	log      *slog.Logger
	outcomes *prometheus.CounterVec
	view     atomic.Pointer[View]
}

// NewPublisher returns a Publisher for d. A nil rdb makes a local-only
// Publisher (the View is d's own; the threshold is checked on it).
func NewPublisher(d *Detector, rdb redis.UniversalClient, o PublisherOptions) *Publisher {
	if o.Instance == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Instance = hex.EncodeToString(b[:])
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "studio:"
	}
	if o.TopK <= 0 {
		o.TopK = 200
	}
	p := &Publisher{d: d, rdb: rdb, o: o, log: o.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "studio_hotkey_publishes_total",
		Help: "Hot-key publish rounds to Redis, by outcome (ok, dropped).",
	}, []string{"outcome"})
	p.outcomes.WithLabelValues("ok")
	p.outcomes.WithLabelValues("dropped")
	if o.Registerer != nil {
		o.Registerer.MustRegister(p.outcomes)
	}
	return p
}

// Instance is this instance's id.
func (p *Publisher) Instance() string { return p.o.Instance }

// KeyPrefix is the prefix of the keys the Publisher writes
// (DefaultKeyPrefix with the default PublisherOptions.KeyPrefix).
func (p *Publisher) KeyPrefix() string { return p.o.KeyPrefix + "hotkeys:" }

// DefaultKeyPrefix starts the keys a Publisher writes with the default
// PublisherOptions.KeyPrefix.
const DefaultKeyPrefix = "studio:hotkeys:"

// Run does a round every Interval until ctx ends; it returns nil then.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Interval)
	defer t.Stop()
	for {
		p.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick does one round now and returns its threshold events.
func (p *Publisher) Tick(ctx context.Context) []Event {
	now := p.d.now()
	var v *View
	if p.rdb != nil {
		ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		if err := p.publish(ctx, now); err != nil {
			p.outcomes.WithLabelValues("dropped").Inc()
			p.log.Debug("hot-key publish dropped", slog.String("error", err.Error()))
		} else {
			p.outcomes.WithLabelValues("ok").Inc()
			gv, err := p.read(ctx, now)
			if err != nil {
				p.log.Debug("hot-key read failed", slog.String("error", err.Error()))
			} else {
				v = gv
			}
		}
		cancel()
	}
	if v == nil {
		v = &View{Scope: ScopeLocal, Entries: p.d.top(now, 0, 0), Instances: []string{p.o.Instance}, Time: now}
	}
	evs := p.d.hot.evaluate(v.Entries, v.Scope, now)
	v.Entries = v.Entries[:min(len(v.Entries), 100)]
	p.view.Store(v)
	return evs
}

// View returns the last round's view (the local one before any round).
func (p *Publisher) View() View {
	if v := p.view.Load(); v != nil {
		return *v
	}
	now := p.d.now()
	return View{Scope: ScopeLocal, Entries: p.d.top(now, 100, 0), Instances: []string{p.o.Instance}, Time: now}
}

// Top returns the first n entries of View (n <= 0: all it holds, up to 100).
func (p *Publisher) Top(n int) []Entry {
	es := p.View().Entries
	if n > 0 && len(es) > n {
		es = es[:n]
	}
	return es
}

// bucketKey is one bucket's hash: field = instance, value = its payload.
// One key per bucket, written with single-key commands, is Cluster-safe.
func (p *Publisher) bucketKey(b int64) string {
	return p.KeyPrefix() + p.d.gran.String() + ":" + strconv.FormatInt(b, 10)
}

// publish writes the current bucket and the previous one (so its last
// seconds are not lost at the boundary) in one pipeline.
func (p *Publisher) publish(ctx context.Context, now time.Time) error {
	cur, _ := p.d.span(now)
	ttl := p.d.window + 3*p.d.gran
	pipe := p.rdb.Pipeline()
	for _, b := range []int64{cur - 1, cur} {
		payload, err := json.Marshal(p.d.bucket(b, p.o.TopK))
		if err != nil {
			return err
		}
		k := p.bucketKey(b)
		pipe.HSet(ctx, k, p.o.Instance, payload)
		pipe.Expire(ctx, k, ttl)
	}
	_, err := pipe.Exec(ctx)
	return err
}

type globalAgg struct {
	count, low, floors uint64
	shares             map[string]uint64
}

// read merges every instance's buckets of the window.
func (p *Publisher) read(ctx context.Context, now time.Time) (*View, error) {
	cur, span := p.d.span(now)
	pipe := p.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for b := cur - int64(p.d.buckets); b <= cur; b++ {
		cmds = append(cmds, pipe.HGetAll(ctx, p.bucketKey(b)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	aggs := map[string]*globalAgg{}
	instances := map[string]bool{}
	var floors uint64
	for _, c := range cmds {
		for inst, raw := range c.Val() {
			var bp bucketPayload
			if err := json.Unmarshal([]byte(raw), &bp); err != nil {
				return nil, fmt.Errorf("hot-key bucket of %q: %w", inst, err)
			}
			instances[inst] = true
			floors += bp.Floor
			for _, e := range bp.Entries {
				a := aggs[e.Key]
				if a == nil {
					a = &globalAgg{shares: map[string]uint64{}}
					aggs[e.Key] = a
				}
				a.count += e.Count
				a.low += e.Count - min(e.Err, e.Count)
				a.floors += bp.Floor
				a.shares[inst] += e.Count
			}
		}
	}
	v := &View{Scope: ScopeGlobal, UnseenBound: floors, Time: now, Entries: make([]Entry, 0, len(aggs))}
	for inst := range instances {
		v.Instances = append(v.Instances, inst)
	}
	slices.Sort(v.Instances)
	for k, a := range aggs {
		count := a.count + floors - a.floors
		e := Entry{Key: k, Count: count, Error: count - a.low, PerMin: perMin(count, span)}
		for inst, n := range a.shares {
			e.Instances = append(e.Instances, Share{Instance: inst, Count: n})
		}
		slices.SortFunc(e.Instances, func(a, b Share) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Instance, b.Instance))
		})
		v.Entries = append(v.Entries, e)
	}
	slices.SortFunc(v.Entries, func(a, b Entry) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key)) })
	return v, nil
}

// MarshalJSON writes an entry as [key, count, err].
func (e bucketEntries) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{e.Key, e.Count, e.Err})
}

// UnmarshalJSON reads [key, count, err].
func (e *bucketEntries) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 3 {
		return fmt.Errorf("entry has %d fields, want 3", len(a))
	}
	if err := json.Unmarshal(a[0], &e.Key); err != nil {
		return err
	}
	if err := json.Unmarshal(a[1], &e.Count); err != nil {
		return err
	}
	return json.Unmarshal(a[2], &e.Err)
}
