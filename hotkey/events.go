package hotkey

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Scopes of an Event: this instance's own counts, or the cross-instance sum.
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
)

// Event says a key crossed the threshold. It is emitted once per crossing:
// the key must fall below the threshold before it can fire again.
type Event struct {
	Key       string    `json:"key"` // display form
	Count     uint64    `json:"count"`
	PerMin    float64   `json:"per_min"`
	Threshold uint64    `json:"threshold"`
	Scope     string    `json:"scope"` // ScopeLocal or ScopeGlobal
	Instances []Share   `json:"instances,omitempty"`
	Time      time.Time `json:"time"`
}

// hotSet remembers which keys are above the threshold, per scope, to fire
// once per crossing. Its size is bounded by the number of keys above the
// threshold.
type hotSet struct {
	mu        sync.Mutex
	hot       map[string]map[string]struct{} // scope → display keys
	threshold uint64
	log       *slog.Logger
	onHot     func(Event)
	events    *prometheus.CounterVec
}

func newHotSet(o Options) *hotSet {
	h := &hotSet{hot: map[string]map[string]struct{}{}, threshold: o.Threshold, log: o.Logger, onHot: o.OnHot}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "studio_hotkey_threshold_events_total",
		Help: "Keys that crossed the hot-key threshold, by scope (local: this instance's counts, global: all instances'). Keys are never labels.",
	}, []string{"scope"})
	h.events.WithLabelValues(ScopeLocal)
	h.events.WithLabelValues(ScopeGlobal)
	if o.Registerer != nil {
		o.Registerer.MustRegister(h.events)
	}
	return h
}

// evaluate takes every entry at or above the threshold (others are
// ignored) and returns the events for the keys that were not hot before
// in that scope; keys absent from above are re-armed in that scope.
func (h *hotSet) evaluate(above []Entry, scope string, t time.Time) []Event {
	h.mu.Lock()
	now := make(map[string]struct{}, len(above))
	var evs []Event
	for _, e := range above {
		if e.Count < h.threshold {
			continue
		}
		now[e.Key] = struct{}{}
		if _, ok := h.hot[scope][e.Key]; ok {
			continue
		}
		evs = append(evs, Event{Key: e.Key, Count: e.Count, PerMin: e.PerMin, Threshold: h.threshold, Scope: scope, Instances: e.Instances, Time: t})
	}
	h.hot[scope] = now
	h.mu.Unlock()
	for _, ev := range evs {
		h.events.WithLabelValues(scope).Inc()
		h.log.LogAttrs(context.Background(), slog.LevelWarn, "hot key",
			slog.String("key", ev.Key), slog.Uint64("count", ev.Count), slog.Float64("per_min", ev.PerMin),
			slog.Uint64("threshold", ev.Threshold), slog.String("scope", ev.Scope))
		if h.onHot != nil {
			h.onHot(ev)
		}
	}
	return evs
}
