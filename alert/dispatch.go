package alert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/studiohq/studio/internal/sleep"
)

// RetryPolicy is how a failed delivery is retried: exponential backoff
// with jitter, only for failures the Notifier calls retryable (network,
// 5xx, 429). The wait before retry n (from 0) is Initial·2ⁿ capped at Max,
// spread by ±Jitter; a RetryAfterError makes it at least its After. Once the
// waits would add up to more than MaxElapsed the delivery gives up; the
// alerts are tried again at the group's next flush. Zero fields take the
// defaults.
type RetryPolicy struct {
	Initial    time.Duration // default 500ms
	Max        time.Duration // default 30s
	MaxElapsed time.Duration // default 2m
	Jitter     float64       // fraction, default 0.2; negative: none
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Initial <= 0 {
		p.Initial = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 2 * time.Minute
	}
	if p.Jitter == 0 {
		p.Jitter = 0.2
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = max(0, min(p.Jitter, 1))
	}
	return p
}

// backoff is the wait before retry n.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Initial
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + p.Jitter*(2*rand.Float64()-1)))
	}
	return d
}

// notifyKind is what a job item asks a receiver to do.
type notifyKind int

const (
	kindTrigger notifyKind = iota
	kindRepeat
	kindResolve
)

func (k notifyKind) String() string {
	return [...]string{"trigger", "repeat", "resolve"}[k]
}

// nlogKey names what one receiver was told about one episode.
type nlogKey struct {
	receiver string
	ep       epKey
}

// nlogEntry is the notification log of one receiver and one episode.
type nlogEntry struct {
	inflight    bool      // a job holds it
	triggered   bool      // the receiver got the trigger (from us, or from another instance)
	lastSent    time.Time // last trigger or repeat (ours or, as far as we know, another instance's)
	resolveDone bool      // the resolve was sent, or is not needed
}

// aggrGroup is one aggregation group: a route's alerts with the same
// group_by values, notified together.
type aggrGroup struct {
	route     *Route
	receiver  string
	alerts    map[epKey]*Alert
	nextFlush time.Time
}

type jobItem struct {
	alert  *Alert
	kind   notifyKind
	key    nlogKey
	repeat time.Duration
	// triggered: for a resolve, whether this instance knows the receiver
	// got the trigger.
	triggered bool
}

type job struct {
	items []jobItem
}

// receiverRT is a receiver at run time.
type receiverRT struct {
	name     string
	notifier Notifier
	cfg      *ReceiverConfig
	queue    chan *job
	timeout  time.Duration
	// resend, when not 0, caps the repeat interval of firing alerts (the
	// Notifier is a Resender).
	resend time.Duration
}

// repeatInterval is how long after its last notification a firing alert
// is sent again to rs through route rt.
func (rs *receiverRT) repeatInterval(rt *Route) time.Duration {
	if rs.resend > 0 {
		return min(rt.RepeatInterval, rs.resend)
	}
	return rt.RepeatInterval
}

// groupInterval is how often a group of route rt is flushed to rs.
func (rs *receiverRT) groupInterval(rt *Route) time.Duration {
	if rs.resend > 0 {
		return min(rt.GroupInterval, rs.resend/4)
	}
	return rt.GroupInterval
}

// dispatcher turns each evaluation's alerts into notifications: routing,
// grouping, the notification log (what each receiver was told), and the
// workers that deliver with retries and claims. update runs on the
// evaluation goroutine and never blocks on I/O; the workers do the I/O.
type dispatcher struct {
	router    *router
	receivers map[string]*receiverRT
	coord     *coordinator
	retry     RetryPolicy
	budget    time.Duration // the longest one job's delivery may take (claims outlive it)
	retention time.Duration
	now       func() time.Time
	log       *slog.Logger
	m         *metrics
	// sleep waits between retries (a test replaces it).
	sleep func(ctx context.Context, d time.Duration) error
	// coordOps gets the episode work the evaluation goroutine must not do
	// itself.
	coordOps chan func(context.Context)

	mu     sync.Mutex
	groups map[string]*aggrGroup
	nlog   map[nlogKey]*nlogEntry
	seen   map[string]seenAlert // by fingerprint: the last state this instance saw
	idle   *sync.Cond           // signalled when a job finishes (tests wait on it)
	busy   int                  // jobs queued or running
}

type seenAlert struct {
	ep        epKey
	state     State
	refreshAt time.Time // when the episode's refresh was last queued
}

// newDispatcher returns a dispatcher over receivers; o holds the Engine's
// options with their defaults, budget the longest a job's delivery may
// take.
func newDispatcher(r *router, receivers map[string]*receiverRT, coord *coordinator, retry RetryPolicy, budget time.Duration, o EngineOptions, m *metrics) *dispatcher {
	d := &dispatcher{
		router:    r,
		receivers: receivers,
		coord:     coord,
		retry:     retry,
		budget:    budget,
		retention: o.ResolvedRetention,
		now:       o.Now,
		log:       o.Logger,
		m:         m,
		sleep:     sleep.Err,
		coordOps:  make(chan func(context.Context), 1024),
		groups:    map[string]*aggrGroup{},
		nlog:      map[nlogKey]*nlogEntry{},
		seen:      map[string]seenAlert{},
	}
	d.idle = sync.NewCond(&d.mu)
	return d
}

// update takes one evaluation's alerts (and the silences matching each, by
// fingerprint) and flushes the groups that are due.
func (d *dispatcher) update(now time.Time, alerts []*Alert, silenced map[string][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()

	present := make(map[epKey]bool, len(alerts))
	seenFP := make(map[string]bool, len(alerts))
	for _, a := range alerts {
		seenFP[a.Fingerprint] = true
		if a.State == StatePending {
			continue
		}
		k := keyOf(a)
		present[k] = true
		d.track(now, a, k)
		d.addToGroups(now, a, k)
	}
	for fp := range d.seen {
		if !seenFP[fp] {
			delete(d.seen, fp)
		}
	}
	d.flushGroups(now, present, silenced)
	d.forget(present)
}

// track queues the episode work a's change asks for: agreeing on a new
// episode, refreshing a firing one, marking a resolved one.
func (d *dispatcher) track(now time.Time, a *Alert, k epKey) {
	prev, had := d.seen[a.Fingerprint]
	cur := seenAlert{ep: k, state: a.State, refreshAt: prev.refreshAt}
	switch {
	case a.State == StateFiring && (!had || prev.ep != k):
		cur.refreshAt = now
		d.coordOp(func(ctx context.Context) { d.coord.episode(ctx, k) })
	case a.State == StateFiring && now.Sub(prev.refreshAt) >= episodeRefresh:
		cur.refreshAt = now
		d.coordOp(func(ctx context.Context) { d.coord.refresh(ctx, k) })
	case a.State == StateResolved && had && prev.ep == k && prev.state == StateFiring:
		endsAt := a.EndsAt
		d.coordOp(func(ctx context.Context) { d.coord.resolved(ctx, k, endsAt) })
	}
	d.seen[a.Fingerprint] = cur
}

// addToGroups puts a into the group of each route it reaches whose
// receiver still has something to be told about it.
func (d *dispatcher) addToGroups(now time.Time, a *Alert, k epKey) {
	for _, rt := range d.router.routes(a.Labels) {
		nk := nlogKey{rt.Receiver, k}
		ent := d.nlog[nk]
		if ent == nil {
			if a.State == StateResolved {
				// Resolved before this receiver's group took it: a
				// resolve is needed only if another instance sent
				// the trigger; the worker asks Redis.
				if d.coord.rdb == nil {
					continue
				}
			}
			ent = &nlogEntry{}
			d.nlog[nk] = ent
		}
		if ent.resolveDone {
			continue
		}
		gk := d.router.groupKey(rt, a)
		g := d.groups[gk]
		if g == nil {
			g = &aggrGroup{route: rt, receiver: rt.Receiver, alerts: map[epKey]*Alert{}, nextFlush: now.Add(rt.GroupWait)}
			d.groups[gk] = g
		}
		g.alerts[k] = a
	}
}

// flushGroups drops from the groups what needs no more notifying, then
// flushes each group that is due.
func (d *dispatcher) flushGroups(now time.Time, present map[epKey]bool, silenced map[string][]string) {
	for gk, g := range d.groups {
		for k, a := range g.alerts {
			ent := d.nlog[nlogKey{g.receiver, k}]
			switch {
			case ent == nil || ent.resolveDone && !ent.inflight:
				delete(g.alerts, k)
			case !present[k] && a.State == StateFiring && !ent.inflight:
				delete(g.alerts, k) // the evaluator no longer has it (cannot happen: firing alerts resolve first)
			case a.State == StateResolved && now.Sub(a.EndsAt) > d.retention && !ent.inflight:
				d.log.Warn("alert resolve notice abandoned: not delivered within the retention", "receiver", g.receiver, "alert", a.Rule, "fingerprint", a.Fingerprint)
				ent.resolveDone = true
				delete(g.alerts, k)
			}
		}
		if len(g.alerts) == 0 {
			delete(d.groups, gk)
			continue
		}
		if !now.Before(g.nextFlush) {
			d.flush(g, now, silenced)
			g.nextFlush = now.Add(d.receivers[g.receiver].groupInterval(g.route))
		}
	}
}

// forget drops the notification log entries and episodes nothing refers
// to any more.
func (d *dispatcher) forget(present map[epKey]bool) {
	inGroup := map[epKey]bool{}
	for _, g := range d.groups {
		for k := range g.alerts {
			inGroup[k] = true
		}
	}
	for nk, ent := range d.nlog {
		if !present[nk.ep] && !inGroup[nk.ep] && !ent.inflight {
			delete(d.nlog, nk)
		}
	}
	d.coord.prune(func(k epKey) bool { return present[k] || inGroup[k] })
}

func (d *dispatcher) coordOp(op func(context.Context)) {
	select {
	case d.coordOps <- op:
	default:
		d.log.Warn("alert dedup: coordination queue full, skipping a step (delivery will catch up)")
	}
}

// flush enqueues what group g has to tell its receiver. d.mu is held.
func (d *dispatcher) flush(g *aggrGroup, now time.Time, silenced map[string][]string) {
	rs := d.receivers[g.receiver]
	repeat := rs.repeatInterval(g.route)
	var items []jobItem
	keys := make([]epKey, 0, len(g.alerts))
	for k := range g.alerts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b epKey) int { return cmp.Or(cmp.Compare(a.fp, b.fp), cmp.Compare(a.start, b.start)) })
	for _, k := range keys {
		a := g.alerts[k]
		nk := nlogKey{g.receiver, k}
		ent := d.nlog[nk]
		if ent == nil || ent.inflight || ent.resolveDone {
			continue
		}
		it := jobItem{alert: a, key: nk, repeat: repeat}
		switch a.State {
		case StateFiring:
			if len(silenced[a.Fingerprint]) > 0 {
				continue
			}
			switch {
			case !ent.triggered:
				it.kind = kindTrigger
			case now.Sub(ent.lastSent) >= repeat:
				it.kind = kindRepeat
			default:
				continue
			}
		case StateResolved:
			if !rs.cfg.SendsResolved() {
				ent.resolveDone = true
				continue
			}
			it.kind, it.triggered = kindResolve, ent.triggered
		default:
			continue
		}
		ent.inflight = true
		items = append(items, it)
	}
	if len(items) == 0 {
		return
	}
	d.busy++
	select {
	case rs.queue <- &job{items: items}:
	default:
		d.busy--
		for _, it := range items {
			d.nlog[it.key].inflight = false
		}
		d.m.notifications.WithLabelValues(g.receiver, resultDropped).Add(float64(len(items)))
		d.log.Warn("alert receiver queue full: notifications dropped until the next group flush", "receiver", g.receiver, "alerts", len(items))
	}
}

// worker delivers rs's jobs until ctx ends.
func (d *dispatcher) worker(ctx context.Context, rs *receiverRT) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-rs.queue:
			d.process(ctx, rs, j)
			d.mu.Lock()
			d.busy--
			d.idle.Broadcast()
			d.mu.Unlock()
		}
	}
}

// outcome of one job item after claiming.
type itemOutcome struct {
	it    jobItem
	res   claimResult
	claim *claim
}

func (d *dispatcher) process(ctx context.Context, rs *receiverRT, j *job) {
	now := d.now()
	outcomes := make([]itemOutcome, 0, len(j.items))
	var send []*Alert
	for _, it := range j.items {
		fp := it.key.ep.fp
		ep := d.coord.episode(ctx, it.key.ep)
		a := cloneAlert(it.alert)
		a.DedupKey = ep.dedupKey
		var o itemOutcome
		o.it = it
		switch it.kind {
		case kindTrigger:
			o.res, o.claim = d.coord.claimSend(ctx, fp, ep, rs.name, "trigger")
		case kindRepeat:
			o.res, o.claim = d.coord.claimSend(ctx, fp, ep, rs.name, repeatSlot(ep.start, now, it.repeat))
		case kindResolve:
			o.res, o.claim = d.coord.claimResolve(ctx, fp, ep, rs.name, it.triggered)
		}
		if o.res == claimOK || o.res == claimUncoord {
			send = append(send, a)
		} else if o.res == claimSent || o.res == claimInFlight {
			d.m.notifications.WithLabelValues(rs.name, resultDeduplicated).Inc()
		}
		outcomes = append(outcomes, o)
	}

	var err error
	if len(send) > 0 {
		dctx, cancel := context.WithTimeout(ctx, d.budget)
		err = d.deliver(dctx, rs, send)
		cancel()
	}
	for _, o := range outcomes {
		if o.res == claimOK {
			if err == nil {
				d.coord.confirm(o.claim)
			} else {
				d.coord.release(o.claim)
			}
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	done := d.now()
	for _, o := range outcomes {
		ent := d.nlog[o.it.key]
		if ent == nil {
			continue
		}
		ent.inflight = false
		sent := (o.res == claimOK || o.res == claimUncoord) && err == nil
		switch o.it.kind {
		case kindTrigger, kindRepeat:
			switch {
			case sent, o.res == claimSent:
				ent.triggered, ent.lastSent = true, done
			case o.res == claimEpResolved:
				// The episode resolved elsewhere: no more repeats; our
				// own resolve follows when our evaluation sees it.
				ent.lastSent = done
			}
		case kindResolve:
			if sent || o.res == claimSent || o.res == claimUntriggered {
				ent.resolveDone = true
			}
		}
	}
}

// deliver sends alerts to rs, retrying retryable failures per the policy.
func (d *dispatcher) deliver(ctx context.Context, rs *receiverRT, alerts []*Alert) error {
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, rs.timeout)
		start := time.Now()
		retry, err := safeNotify(actx, rs.notifier, alerts)
		cancel()
		d.m.latency.WithLabelValues(rs.name).Observe(time.Since(start).Seconds())
		if err == nil {
			d.m.notifications.WithLabelValues(rs.name, resultSent).Add(float64(len(alerts)))
			d.log.Debug("alert notification sent", "receiver", rs.name, "alerts", len(alerts), "attempts", attempt+1)
			return nil
		}
		fail := func(why string) error {
			d.m.notifications.WithLabelValues(rs.name, resultFailed).Add(float64(len(alerts)))
			// err comes from the Notifier, which keeps secrets out of it.
			d.log.Warn("alert notification failed: "+why, "receiver", rs.name, "alerts", len(alerts), "attempts", attempt+1, "error", err)
			return err
		}
		if !retry {
			return fail("not retryable")
		}
		if ctx.Err() != nil {
			return fail("out of time")
		}
		wait := d.retry.backoff(attempt)
		if after, ok := RetryAfter(err); ok && after > wait {
			wait = after
		}
		if waited+wait > d.retry.MaxElapsed {
			return fail(fmt.Sprintf("giving up after %s of retries (next flush tries again)", waited.Round(time.Millisecond)))
		}
		d.m.retries.WithLabelValues(rs.name).Inc()
		d.log.Debug("alert notification failed, retrying", "receiver", rs.name, "attempt", attempt+1, "wait", wait, "error", err)
		if serr := d.sleep(ctx, wait); serr != nil {
			return fail("out of time")
		}
		waited += wait
	}
}

// safeNotify calls n, turning a panic into a non-retryable error so that
// a faulty receiver cannot take Studio down.
func safeNotify(ctx context.Context, n Notifier, alerts []*Alert) (retry bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			retry, err = false, fmt.Errorf("notifier panicked: %v", r)
		}
	}()
	return n.Notify(ctx, alerts...)
}

// waitIdle blocks until no job is queued or running, or ctx ends (tests).
func (d *dispatcher) waitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.idle.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.busy > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.idle.Wait()
	}
	return nil
}
