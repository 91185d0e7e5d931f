package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/health"
)

// EngineOptions configures an Engine. Only Config may need setting; a nil
// dependency is a no-op (no Redis: no cross-instance dedup and silences in
// memory; no Logger: discard; no Registerer: metrics unregistered).
type EngineOptions struct {
	// Config holds the rules, route tree and receivers (nil:
	// DefaultConfig()). NewEngine validates it; it must not change after.
	Config *Config
	// Receivers are the Notifiers by receiver name (as the Config declares
	// them). A route the Config's file wrote that names a receiver missing
	// here makes NewEngine fail; the default route skips it.
	Receivers map[string]Notifier
	// Redis coordinates instances (see dedup.go) and shares silences.
	Redis redis.UniversalClient
	// Instance names this instance in Redis claims (default: 8 random hex
	// digits).
	Instance string
	Logger   *slog.Logger
	// Registerer gets the studio_alert_* metrics.
	Registerer prometheus.Registerer
	// Now is the clock of evaluations, alert times and claims (default
	// time.Now). The evaluation ticker and retry waits run on real time.
	Now func() time.Time
	// RunbookBase prefixes relative runbook URLs; ExternalURL is Studio's
	// base URL, for the alerts' GeneratorURL (see EvaluatorOptions).
	RunbookBase, ExternalURL string
	// Samples returns the samples to evaluate, e.g.
	//
	//	func() []alert.Sample {
	//		now := time.Now()
	//		return append(alert.SamplesFromSnapshot(mon.Snapshot(), now), alert.CertExpirySamples(certs, now)...)
	//	}
	//
	// It is called once per evaluation, from Run's goroutine. Nil: only
	// event rules can fire.
	Samples func() []Sample
	// Interval is the time between evaluations (default 1s).
	Interval time.Duration
	// ResolvedRetention is how long resolved alerts are listed (default
	// DefaultResolvedRetention).
	ResolvedRetention time.Duration
	// Retry is the delivery retry policy.
	Retry RetryPolicy
	// Timeout bounds one delivery attempt (default 10s; a receiver's own
	// timeout wins).
	Timeout time.Duration
	// QueueSize is the number of deliveries that may wait per receiver
	// (default 64); beyond it a flush's notifications are dropped (counted)
	// and sent at the group's next flush.
	QueueSize int
	// Workers is the number of concurrent deliveries per receiver (default
	// 2). An alert's trigger and resolve are never in flight together.
	Workers int
	// RedisTimeout bounds each Redis step (default 1s).
	RedisTimeout time.Duration
	// KeyPrefix starts the Redis keys (default "studio:alert:").
	KeyPrefix string
	// SilenceRefresh is how often silences are re-read from Redis (default
	// 5s).
	SilenceRefresh time.Duration
}

// Engine evaluates the rules every Interval and notifies the receivers
// (the package documentation describes how). Create it with NewEngine and
// start it with Run; its methods are safe for concurrent use, whether or
// not Run is running.
type Engine struct {
	cfg      *Config
	eval     *Evaluator
	disp     *dispatcher
	coord    *coordinator
	sil      *silences
	samples  func() []Sample
	now      func() time.Time
	interval time.Duration
	refresh  time.Duration
	log      *slog.Logger
	m        *metrics
	running  atomic.Bool

	startWorkers func(ctx context.Context, wg *sync.WaitGroup)
}

// AlertStatus is an alert as the API shows it: the Alert's fields plus the
// silences muting it.
type AlertStatus struct {
	*Alert
	// SilencedBy lists the ids of the active silences that match the alert
	// (a pending alert is never listed as silenced).
	SilencedBy []string `json:"silenced_by"`
}

// NewEngine checks the options and builds an Engine. It fails when the
// Config is invalid, or a route the rule file wrote names a receiver that
// has no Notifier.
func NewEngine(o EngineOptions) (*Engine, error) {
	o = o.withDefaults()
	cfg, log := o.Config, o.Logger
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	receivers, maxTimeout := newReceivers(o)
	if err := checkRouteReceivers(cfg, receivers, log); err != nil {
		return nil, err
	}
	retry := o.Retry.withDefaults()
	budget := deliveryBudget(retry, maxTimeout)
	m := newMetrics(o.Registerer)
	for name := range receivers {
		m.addReceiver(name)
	}
	// A claim outlives the longest delivery: the retry waits plus the
	// attempts (bounded by deliveryBudget).
	coord := newCoordinator(o.Redis, o.KeyPrefix, o.Instance, o.RedisTimeout, budget+time.Minute, o.Now, log, m)
	e := &Engine{
		cfg:      cfg,
		eval:     NewEvaluator(cfg.Rules, EvaluatorOptions{Now: o.Now, ResolvedRetention: o.ResolvedRetention, RunbookBase: o.RunbookBase, ExternalURL: o.ExternalURL, Logger: log}),
		coord:    coord,
		sil:      newSilences(o.Redis, o.KeyPrefix, o.RedisTimeout, o.Now, log),
		samples:  o.Samples,
		now:      o.Now,
		interval: o.Interval,
		refresh:  o.SilenceRefresh,
		log:      log,
		m:        m,
	}
	e.disp = newDispatcher(newRouter(cfg.Route, func(name string) bool { return receivers[name] != nil }), receivers, coord, retry, budget, o, m)
	workers := o.Workers
	e.startWorkers = func(ctx context.Context, wg *sync.WaitGroup) {
		for _, rs := range receivers {
			for range workers {
				wg.Go(func() { e.disp.worker(ctx, rs) })
			}
		}
	}
	return e, nil
}

// withDefaults returns o with every unset option given its default and
// the logger tagged component=alert.
func (o EngineOptions) withDefaults() EngineOptions {
	if o.Config == nil {
		o.Config = DefaultConfig()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.Logger = o.Logger.With("component", "alert")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.RedisTimeout <= 0 {
		o.RedisTimeout = time.Second
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.SilenceRefresh <= 0 {
		o.SilenceRefresh = 5 * time.Second
	}
	if o.ResolvedRetention <= 0 {
		o.ResolvedRetention = DefaultResolvedRetention
	}
	if o.Instance == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Instance = hex.EncodeToString(b)
	}
	return o
}

// newReceivers pairs each Notifier with the receiver the Config declares
// under its name (a Notifier for an undeclared name is logged and left
// out), and returns the longest delivery timeout among them.
func newReceivers(o EngineOptions) (map[string]*receiverRT, time.Duration) {
	receivers := map[string]*receiverRT{}
	maxTimeout := o.Timeout
	for name, n := range o.Receivers {
		rc := o.Config.Receiver(name)
		if n == nil || rc == nil {
			if n != nil {
				o.Logger.Warn("alert receiver given but not declared in the rule file: unused", "receiver", name)
			}
			continue
		}
		timeout := o.Timeout
		if rc.Timeout > 0 {
			timeout = rc.Timeout
		}
		maxTimeout = max(maxTimeout, timeout)
		rs := &receiverRT{name: name, notifier: n, cfg: rc, queue: make(chan *job, o.QueueSize), timeout: timeout}
		if r, ok := n.(Resender); ok {
			rs.resend = r.ResendInterval()
		}
		receivers[name] = rs
	}
	return receivers, maxTimeout
}

// checkRouteReceivers refuses a route the rule file wrote whose receiver
// has no Notifier; the default route only logs such a receiver (its
// alerts are shown, not sent).
func checkRouteReceivers(cfg *Config, receivers map[string]*receiverRT, log *slog.Logger) error {
	var missing error
	var walk func(rt *Route)
	walk = func(rt *Route) {
		if rt.Receiver != "" && receivers[rt.Receiver] == nil && missing == nil {
			if cfg.DefaultRoute {
				log.Info("alert receiver not configured: alerts routed to it are only shown", "receiver", rt.Receiver)
			} else {
				missing = &ConfigError{File: cfg.File, Line: rt.Line, Msg: fmt.Sprintf("route: receiver %q is not configured (its settings are missing)", rt.Receiver)}
			}
		}
		for _, c := range rt.Routes {
			walk(c)
		}
	}
	walk(cfg.Route)
	return missing
}

// deliveryBudget bounds one job's delivery: the retry waits and the
// attempts between them.
func deliveryBudget(p RetryPolicy, timeout time.Duration) time.Duration {
	return p.MaxElapsed + 4*timeout
}

// Config returns the Engine's configuration (read-only).
func (e *Engine) Config() *Config { return e.cfg }

// Run evaluates every Interval until ctx ends, delivering in the
// background, and returns nil once every goroutine it started has stopped
// (deliveries in progress are abandoned and their claims released). It
// may be called once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("alert: Engine.Run called twice")
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, below
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.start(ctx, &wg)
	t := time.NewTicker(e.interval)
	defer t.Stop()
	e.tick()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			e.tick()
		}
	}
}

// start launches the background goroutines: the receivers' workers, the
// coordinator and the silence refresher. They stop when ctx ends.
func (e *Engine) start(ctx context.Context, wg *sync.WaitGroup) {
	e.startWorkers(ctx, wg)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case op := <-e.disp.coordOps:
				op(ctx)
			}
		}
	})
	wg.Go(func() {
		t := time.NewTicker(e.refresh)
		defer t.Stop()
		for {
			if err := e.sil.refresh(ctx); err != nil && ctx.Err() == nil {
				e.log.Debug("alert silences: refresh from Redis failed; using the last copy", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// tick runs one evaluation.
func (e *Engine) tick() {
	now := e.now()
	var samples []Sample
	if e.samples != nil {
		samples = e.samples()
	}
	alerts := e.eval.evalAt(now, samples)
	silenced := map[string][]string{}
	counts := map[State]int{}
	for _, a := range alerts {
		counts[a.State]++
		if a.State == StatePending {
			continue
		}
		if ids := e.sil.matching(a.Labels, now); len(ids) > 0 {
			silenced[a.Fingerprint] = ids
		}
	}
	e.disp.update(now, alerts, silenced)
	for _, s := range []State{StatePending, StateFiring, StateResolved} {
		e.m.alerts.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

// Event feeds a high-availability event to the event rules; it is
// evaluated at the next tick. It does not block.
func (e *Engine) Event(ev Event) { e.eval.Event(ev) }

// Alerts returns the firing, pending and recently resolved alerts (as of
// the last evaluation), firing first, with their DedupKey once the
// instances agreed on it. The caller owns the result.
func (e *Engine) Alerts() []*Alert {
	alerts := e.eval.Alerts()
	for _, a := range alerts {
		if a.State != StatePending {
			a.DedupKey = e.coord.lookup(keyOf(a))
		}
	}
	return alerts
}

// AlertStatuses is Alerts with the silences muting each alert, for
// GET /v1/alerts.
func (e *Engine) AlertStatuses() []AlertStatus {
	now := e.now()
	alerts := e.Alerts()
	out := make([]AlertStatus, len(alerts))
	for i, a := range alerts {
		out[i] = AlertStatus{Alert: a, SilencedBy: []string{}}
		if a.State != StatePending {
			if ids := e.sil.matching(a.Labels, now); ids != nil {
				out[i].SilencedBy = ids
			}
		}
	}
	return out
}

// SnapshotAlerts returns the firing and recently resolved alerts in the
// health view's form: Since is when a firing alert started, or when a
// resolved one resolved; Silenced is true while an active silence matches
// a firing one. Pending alerts are left out.
func (e *Engine) SnapshotAlerts() []health.Alert {
	now := e.now()
	out := []health.Alert{}
	for _, a := range e.eval.Alerts() {
		since := a.StartsAt
		switch a.State {
		case StatePending:
			continue
		case StateResolved:
			since = a.EndsAt
		}
		v := a.FiringValue
		out = append(out, health.Alert{
			Name: a.Rule, Severity: string(a.Severity), State: string(a.State), Summary: a.Summary(),
			Since: since, EndsAt: a.EndsAt, Value: &v, Runbook: a.RunbookURL(),
			Silenced: e.sil.matching(a.Labels, now) != nil,
		})
	}
	return out
}

// AddSilence validates s and stores it with a new ID (any ID given is
// ignored; a zero or past StartsAt means now). Errors wrap
// ErrInvalidSilence for a bad silence. When Redis is unreachable the
// silence applies to this instance at once and reaches Redis (and the
// other instances) once it is back.
func (e *Engine) AddSilence(ctx context.Context, s Silence) (Silence, error) {
	s.Matchers = slices.Clone(s.Matchers)
	return e.sil.add(ctx, s)
}

// Silences lists the silences (active, then pending, then expired for up
// to a day), re-read from Redis; if Redis fails it returns the last copy
// with the error.
func (e *Engine) Silences(ctx context.Context) ([]Silence, error) { return e.sil.list(ctx) }

// ExpireSilence ends the silence id now. Errors wrap ErrSilenceNotFound.
func (e *Engine) ExpireSilence(ctx context.Context, id string) (Silence, error) {
	return e.sil.expire(ctx, id)
}

// Receivers returns the names of the receivers that have a Notifier.
func (e *Engine) Receivers() []string { return slices.Sorted(maps.Keys(e.disp.receivers)) }
