package alert

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// DefaultResolvedRetention is how long a resolved alert stays visible.
const DefaultResolvedRetention = 15 * time.Minute

// defaultMaxEvents bounds the events an Evaluator keeps.
const defaultMaxEvents = 1000

// EvaluatorOptions configures an Evaluator. Every field is optional.
type EvaluatorOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ResolvedRetention is how long a resolved alert is kept for display
	// (default DefaultResolvedRetention).
	ResolvedRetention time.Duration
	// RunbookBase prefixes relative runbook URLs (such as
	// docs/runbooks/redis-down.md), e.g.
	// https://github.com/studiohq/studio/blob/main/. Empty leaves them
	// relative.
	RunbookBase string
	// ExternalURL is Studio's own base URL; alerts link to its dashboard
	// page (GeneratorURL) when it is set.
	ExternalURL string
	// MaxEvents bounds the events kept for event rules (default 1000; the
	// oldest are dropped first).
	MaxEvents int
	// Logger gets template errors (default: discard).
	Logger *slog.Logger
}

// Evaluator runs the rules' state machines. Each call to Eval evaluates
// every rule against the samples given and the events received, per label
// set:
//
//   - a condition that starts to hold makes a pending alert (StartsAt is
//     then, and the rule's For starts);
//   - a pending alert whose condition has held for For fires (StartsAt
//     becomes the firing time); with For 0 it fires at the first
//     evaluation;
//   - a pending alert whose condition stops holding is dropped;
//   - a firing alert whose condition stops holding (or whose sample
//     disappears) resolves (EndsAt), after KeepFiringFor if the rule sets
//     one: if the condition holds again within it, the episode simply goes
//     on (protection against flapping); with ResolveThreshold the condition
//     of a firing alert is checked against that threshold (hysteresis);
//   - a resolved alert is kept for ResolvedRetention for display; if its
//     condition holds again, a new episode starts (pending).
//
// An event rule's condition holds while an event matching its selector
// arrived within the last Hold; its Value is how many did.
//
// An Evaluator is safe for concurrent use.
type Evaluator struct {
	rules     []*Rule
	now       func() time.Time
	retention time.Duration
	runbooks  map[string]string // rule name → runbook URL
	generator string
	maxEvents int
	maxHold   time.Duration // longest Hold of an event rule; 0: no event rules
	log       *slog.Logger

	mu     sync.Mutex
	alerts map[string]*evalAlert // by fingerprint
	events []Event               // oldest first
	rates  rateTracker
	warned map[string]bool // rule+annotation whose template error was logged
}

type evalAlert struct {
	rule      *Rule
	a         Alert
	activeAt  time.Time
	keepSince time.Time // when the condition stopped holding while firing
}

// NewEvaluator returns an Evaluator of rules, which must be valid (from
// Load, or checked by Config.Validate) and not changed afterwards.
func NewEvaluator(rules []*Rule, o EvaluatorOptions) *Evaluator {
	e := &Evaluator{
		rules: rules, now: o.Now, retention: o.ResolvedRetention, maxEvents: o.MaxEvents, log: o.Logger,
		runbooks: map[string]string{}, alerts: map[string]*evalAlert{}, warned: map[string]bool{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.retention <= 0 {
		e.retention = DefaultResolvedRetention
	}
	if e.maxEvents <= 0 {
		e.maxEvents = defaultMaxEvents
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ExternalURL != "" {
		e.generator = strings.TrimRight(o.ExternalURL, "/") + "/studio/redis"
	}
	for _, r := range rules {
		e.runbooks[r.Name] = runbookURL(o.RunbookBase, r.RunbookURL)
		if r.Event != nil {
			e.maxHold = max(e.maxHold, r.Hold)
		}
	}
	return e
}

// runbookURL prefixes a relative runbook URL with base.
func runbookURL(base, u string) string {
	if u == "" || base == "" || strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return u
	}
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(u, "/")
}

// Fingerprint identifies an alert: 16 hex digits of a 64-bit xxHash of the
// rule's name and its sorted labels. It is the same on every instance and
// across restarts.
func Fingerprint(rule string, labels map[string]string) string {
	h := xxhash.New()
	_, _ = h.WriteString(rule)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		_, _ = h.Write([]byte{0xff})
		_, _ = h.WriteString(k)
		_, _ = h.Write([]byte{0xfe})
		_, _ = h.WriteString(labels[k])
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Event records e for the event rules. A zero e.Time is taken as now.
// Events are kept for the longest Hold of the rules (not at all when no
// rule is an event rule), at most MaxEvents of them.
func (e *Evaluator) Event(ev Event) {
	if e.maxHold == 0 {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = e.now()
	}
	ev.Labels = maps.Clone(ev.Labels)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	if over := len(e.events) - e.maxEvents; over > 0 {
		e.events = slices.Delete(e.events, 0, over)
	}
}

// Eval evaluates every rule at the clock's now against samples (which it
// does not keep or change) and the events received, and returns every
// alert it knows: pending, firing and recently resolved, in the order of
// Alerts. The caller owns the result.
func (e *Evaluator) Eval(samples []Sample) []*Alert {
	return e.evalAt(e.now(), samples)
}

func (e *Evaluator) evalAt(now time.Time, samples []Sample) []*Alert {
	e.mu.Lock()
	defer e.mu.Unlock()

	derived := e.rates.derive(now, samples)
	byName := map[string][]Sample{}
	for _, list := range [][]Sample{samples, derived} {
		for _, s := range list {
			byName[s.Name] = append(byName[s.Name], s)
		}
	}
	if e.maxHold > 0 {
		i := 0
		for i < len(e.events) && now.Sub(e.events[i].Time) >= e.maxHold {
			i++
		}
		e.events = slices.Delete(e.events, 0, i)
	}

	for _, r := range e.rules {
		seen := map[string]bool{}
		if x := r.Expr; x != nil {
			for _, s := range byName[x.Sample] {
				if !x.Matchers.Matches(s.Labels) {
					continue
				}
				labels := alertLabels(r, s.Labels)
				fp := Fingerprint(r.Name, labels)
				if seen[fp] {
					continue // a duplicate series: the first one counts
				}
				seen[fp] = true
				st := e.alerts[fp]
				threshold := x.Threshold
				if st != nil && st.a.State == StateFiring && r.ResolveThreshold != nil {
					threshold = *r.ResolveThreshold
				}
				e.step(r, fp, labels, st, x.Op.Compare(s.Value, threshold), true, s.Value, threshold, now)
			}
		} else {
			type group struct {
				labels map[string]string
				n      int
			}
			groups := map[string]*group{}
			var order []string
			for _, ev := range e.events {
				if now.Sub(ev.Time) >= r.Hold || !r.Event.Matches(ev.Kind, ev.Labels) {
					continue
				}
				labels := alertLabels(r, ev.Labels)
				fp := Fingerprint(r.Name, labels)
				g := groups[fp]
				if g == nil {
					g = &group{labels: labels}
					groups[fp] = g
					order = append(order, fp)
				}
				g.n++
			}
			for _, fp := range order {
				seen[fp] = true
				e.step(r, fp, groups[fp].labels, e.alerts[fp], true, true, float64(groups[fp].n), 0, now)
			}
		}
		for fp, st := range e.alerts {
			if st.rule == r && !seen[fp] {
				e.step(r, fp, st.a.Labels, st, false, false, 0, 0, now)
			}
		}
	}
	return e.list()
}

// step advances one alert's state machine. present says whether a sample
// (or event) was there to give value.
func (e *Evaluator) step(r *Rule, fp string, labels map[string]string, st *evalAlert, holds, present bool, value, threshold float64, now time.Time) {
	switch {
	case holds:
		if st == nil || st.a.State == StateResolved {
			st = &evalAlert{rule: r, activeAt: now, a: Alert{
				Rule: r.Name, Fingerprint: fp, Labels: labels, Severity: r.Severity,
				State: StatePending, StartsAt: now, GeneratorURL: e.generator, Unit: r.ValueUnit(),
			}}
			e.alerts[fp] = st
		}
		st.keepSince = time.Time{}
		st.a.Value, st.a.FiringValue, st.a.NoSample = value, value, false
		if st.a.State == StatePending && now.Sub(st.activeAt) >= r.For {
			st.a.State, st.a.StartsAt = StateFiring, now
		}
		e.render(st, threshold)
	case st == nil:
	case st.a.State == StatePending:
		delete(e.alerts, fp)
	case st.a.State == StateFiring:
		st.a.NoSample = !present
		if present {
			st.a.Value = value
		}
		if r.KeepFiringFor > 0 {
			if st.keepSince.IsZero() {
				st.keepSince = now
			}
			if now.Sub(st.keepSince) < r.KeepFiringFor {
				return
			}
		}
		st.a.State, st.a.EndsAt = StateResolved, now
		if present {
			// The resolve notice's text follows the value at resolve.
			e.render(st, threshold)
		}
	case st.a.State == StateResolved:
		if now.Sub(st.a.EndsAt) >= e.retention {
			delete(e.alerts, fp)
		}
	}
}

// alertLabels: the sample's or event's labels, the rule's over them, then
// alertname and severity.
func alertLabels(r *Rule, from map[string]string) map[string]string {
	l := make(map[string]string, len(from)+len(r.Labels)+2)
	maps.Copy(l, from)
	maps.Copy(l, r.Labels)
	l["alertname"] = r.Name
	l["severity"] = string(r.Severity)
	return l
}

// render fills the alert's annotations from the rule's templates.
func (e *Evaluator) render(st *evalAlert, threshold float64) {
	r := st.rule
	d := &TemplateData{Rule: r.Name, Labels: st.a.Labels, Value: st.a.Value, Threshold: threshold, Severity: string(r.Severity)}
	ann, errs := r.RenderAnnotations(d)
	for name, err := range errs {
		ann[name] = "template error: " + err.Error()
		if k := r.Name + "\x00" + name; !e.warned[k] {
			e.warned[k] = true
			e.log.Warn("alert template failed", "rule", r.Name, "annotation", name, "error", err)
		}
	}
	if ann["summary"] == "" {
		ann["summary"] = r.Name
	}
	if u := e.runbooks[r.Name]; u != "" {
		ann["runbook_url"] = u
	}
	st.a.Annotations = ann
}

// Alerts returns every alert the Evaluator knows, as of the last Eval:
// firing first, then pending, then resolved; within each, critical first,
// then by rule name and fingerprint. The caller owns the result.
func (e *Evaluator) Alerts() []*Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.list()
}

func (e *Evaluator) list() []*Alert {
	out := make([]*Alert, 0, len(e.alerts))
	for _, st := range e.alerts {
		out = append(out, cloneAlert(&st.a))
	}
	sortAlerts(out)
	return out
}

func cloneAlert(a *Alert) *Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	return &c
}

var stateOrder = map[State]int{StateFiring: 0, StatePending: 1, StateResolved: 2}
var severityOrder = map[Severity]int{SeverityCritical: 0, SeverityWarning: 1, SeverityInfo: 2}

func sortAlerts(as []*Alert) {
	slices.SortFunc(as, func(a, b *Alert) int {
		return cmp.Or(
			cmp.Compare(stateOrder[a.State], stateOrder[b.State]),
			cmp.Compare(severityOrder[a.Severity], severityOrder[b.Severity]),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
}
