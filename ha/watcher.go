// Package ha watches a Sentinel-managed Redis master: Watcher subscribes to
// every Sentinel's events and polls the Sentinels and the master, and keeps
// the topology (master, replicas with their lag, the Sentinels and what
// each reports, the last failover), metrics, log lines and an event stream
// for the alert engine.
//
// # Where the figures come from
//
//   - Events: PSUBSCRIBE * on each configured Sentinel, one connection
//     each. A connection that is silent for a second is sent a PING; no
//     answer within another second (a hung, e.g. SIGSTOPped, Sentinel), an
//     error or a close drops it, and it is re-established with a growing
//     delay (200 ms to 5 s). Each Sentinel has its own goroutines, so one
//     that hangs never delays the others.
//   - Sentinels: every PollInterval each one is asked SENTINEL MASTER,
//     SENTINEL REPLICAS, INFO sentinel (TILT) and SENTINEL CKQUORUM. A
//     Sentinel is reachable when it answered the last poll.
//   - The master: the +switch-master events move it at once; otherwise it
//     is the address reported by the reachable Sentinel with the highest
//     config epoch (the newest configuration, as Sentinel itself decides),
//     then by the most Sentinels.
//   - Replica lag: INFO replication on the master every PollInterval; lag
//     in bytes is master_repl_offset minus the offset each replica
//     acknowledged, lag in seconds the master's lag field (seconds since
//     the replica's last acknowledgement, which replicas send every
//     second, so the byte lag includes up to a second of writes; right
//     after a full sync a replica's acknowledged offset reads 0 until its
//     first acknowledgement). Sentinel's slave-repl-offset is refreshed
//     only every 10 s, so it is used only while the master cannot be
//     asked.
//   - Only events about MasterName (or about no master: +tilt, -tilt,
//     +new-epoch, …) reach the topology, the log and the subscribers;
//     studio_sentinel_events_total counts them all.
//
// # Failovers
//
// Every Sentinel publishes +switch-master for the same failover (the others
// as soon as the leader's hello messages tell them the new configuration,
// often before the leader, which publishes its own once every replica is
// re-pointed). A failover is counted once: a +switch-master with the
// same old→new pair as the last failover, while the master is still the
// new one, is a copy. Its duration is from detection (the first +sdown of
// the old master from any Sentinel) to the first +switch-master: the
// Sentinels' part. It is not how long clients could not write, which
// began down-after-milliseconds before that +sdown, when the master
// stopped answering, and ended when they reached the new master.
//
// That is the write gap, measured from Studio's own commands when
// WatcherOptions.Outages is set (and given to Studio's client as
// redisconn.Config.Availability): Outages keeps the runs of failed
// commands, and the failover's run is the longest one overlapping it, from
// its detection to 5 s after its switch (a demoted master answering
// READONLY can start one a little after the switch). The gap runs from
// the last command the old master answered to the first command answered
// after the run, normally by the new master; the failover drill's write
// unavailability window is the same measure taken from its own writers.
// It is settled 5 s after the switch, once commands are answered again.
//
// # Logs
//
// The first copy of an event is logged ("sentinel event", with the
// Sentinel, event, instance and raw payload as attributes) at warn for
// trouble (+sdown, +odown, +switch-master, +tilt, aborted failovers), at
// info for recovery and failover steps (-sdown, -odown, -tilt,
// +try-failover, +elected-leader, +promoted-slave, +failover-end), at debug
// otherwise; the other Sentinels' copies at debug. Besides: "redis
// failover" (warn, once per failover, with from, to and duration_seconds),
// "redis master changed" (warn), "sentinel unreachable" /
// "sentinel events subscription lost" (warn, on the transition) and their
// recoveries (info), and "redis failover write gap" (info, once the gap is
// settled, with write_gap_seconds, failed_commands and duration_seconds).
// Lines hold addresses, names and errors of the network
// layer, never credentials.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/studiohq/studio/monitor"
)

// WatcherOptions configures a Watcher. Sentinels and MasterName are
// required; a nil dependency is a no-op or a default.
type WatcherOptions struct {
	// Sentinels are the host:port addresses of the Sentinels to watch,
	// each once.
	Sentinels []string
	// MasterName is the name the Sentinels monitor the master under.
	MasterName string
	// NewSentinelClient and NewNodeClient make the clients for a Sentinel
	// and for the master, so that the caller can supply TLS, credentials
	// and timeouts (keep them short: a few hundred milliseconds, and few
	// or no retries). The Watcher owns and closes what they return. Nil:
	// plain go-redis clients with a 500 ms dial timeout, 300 ms read and
	// write timeouts and no retries.
	NewSentinelClient func(addr string) *redis.SentinelClient
	NewNodeClient     func(addr string) *redis.Client
	// PollInterval is the time between polls of each Sentinel and of the
	// master (default 1s).
	PollInterval time.Duration
	// Registerer receives the metrics: studio_sentinel_events_total{event},
	// studio_sentinel_events_dropped_total,
	// studio_sentinel_event_parse_errors_total,
	// studio_sentinel_reachable{sentinel}, studio_sentinel_subscribed{sentinel},
	// studio_redis_failovers_total, studio_redis_last_failover_duration_seconds,
	// studio_redis_last_failover_write_gap_seconds,
	// studio_redis_master_changes_total,
	// studio_redis_replica_lag_bytes/_seconds{replica}, and each
	// Sentinel's view of the master as redis_exporter names it
	// (redis_sentinel_master_status, redis_sentinel_master_ok_sentinels, …,
	// with the label sentinel). Nil: none.
	Registerer prometheus.Registerer
	// Outages, if set, are the outcomes of Studio's own commands to the
	// master (install it as redisconn.Config.Availability of Studio's
	// client); the last failover then carries its write gap (see the
	// package documentation). Nil: no write gap.
	Outages *Outages
	// Logger receives the log lines; nil: discard.
	Logger *slog.Logger
	// Now is the clock for event and failover times (default time.Now).
	Now func() time.Time
}

// Watcher watches the Sentinels of one master. Create it with NewWatcher
// and start it with Run; Topology, Sentinels and Subscribe may be called
// from any goroutine, before, during and after Run.
type Watcher struct {
	addrs        []string
	masterName   string
	newSentinel  func(addr string) *redis.SentinelClient
	newNode      func(addr string) *redis.Client
	interval     time.Duration
	pollTimeout  time.Duration
	probeIdle    time.Duration // silence before a subscription is pinged
	probeTimeout time.Duration // wait for the PING's answer (and the subscription's confirmation)
	log          *slog.Logger
	now          func() time.Time
	m            *metrics
	st           *state
	ran          atomic.Bool
	masterMoved  chan struct{} // poked when the master changes
}

// ErrRunTwice is returned by a second call of Run.
var ErrRunTwice = errors.New("ha: Watcher.Run called more than once")

// NewWatcher checks o and returns a Watcher. It does no I/O. It registers
// the metrics on o.Registerer and panics, like prometheus.MustRegister, if
// they are already there.
func NewWatcher(o WatcherOptions) (*Watcher, error) {
	if len(o.Sentinels) == 0 {
		return nil, errors.New("ha: no Sentinel addresses")
	}
	if o.MasterName == "" {
		return nil, errors.New("ha: no master name")
	}
	seen := map[string]bool{}
	for _, a := range o.Sentinels {
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("ha: Sentinel address %q: want host:port", a)
		}
		if seen[a] {
			return nil, fmt.Errorf("ha: Sentinel address %q listed twice", a)
		}
		seen[a] = true
	}
	if o.PollInterval < 0 {
		return nil, fmt.Errorf("ha: negative poll interval %v", o.PollInterval)
	}
	w := &Watcher{
		addrs: append([]string(nil), o.Sentinels...), masterName: o.MasterName,
		newSentinel: o.NewSentinelClient, newNode: o.NewNodeClient,
		interval: o.PollInterval, log: o.Logger, now: o.Now,
		probeIdle: time.Second, probeTimeout: time.Second,
		masterMoved: make(chan struct{}, 1),
	}
	if w.newSentinel == nil {
		w.newSentinel = defaultSentinelClient
	}
	if w.newNode == nil {
		w.newNode = defaultNodeClient
	}
	if w.interval == 0 {
		w.interval = time.Second
	}
	w.pollTimeout = max(w.interval, time.Second)
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.m = newMetrics(o.Registerer, w.addrs)
	w.st = newState(w.masterName, w.addrs, w.m, w.log, w.now)
	w.st.outages = o.Outages
	if o.Registerer != nil {
		o.Registerer.MustRegister(sentinelCollector{w.st})
	}
	w.st.onMasterChange = func() {
		select {
		case w.masterMoved <- struct{}{}:
		default:
		}
	}
	return w, nil
}

func defaultSentinelClient(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(defaultOptions(addr))
}

func defaultNodeClient(addr string) *redis.Client {
	return redis.NewClient(defaultOptions(addr))
}

func defaultOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                     addr,
		Protocol:                 2,
		DialTimeout:              500 * time.Millisecond,
		ReadTimeout:              300 * time.Millisecond,
		WriteTimeout:             300 * time.Millisecond,
		MaxRetries:               -1,
		DialerRetries:            1,
		PoolSize:                 2,
		ContextTimeoutEnabled:    true,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// Run watches until ctx is done, then closes its clients and the
// subscribers' channels and returns nil. A Sentinel or master that does not
// answer delays neither the others nor the return by more than about a
// second. Run may be called once; a second call returns ErrRunTwice.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.ran.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	defer w.st.closeSubscribers()
	clients := make([]*redis.SentinelClient, len(w.addrs))
	for i, a := range w.addrs {
		clients[i] = w.newSentinel(a)
	}
	var wg sync.WaitGroup
	for i, a := range w.addrs {
		wg.Go(func() { w.subscribeLoop(ctx, a, clients[i]) })
		wg.Go(func() { w.pollSentinelLoop(ctx, a, clients[i]) })
	}
	wg.Go(func() { w.pollMasterLoop(ctx) })
	wg.Wait()
	for _, c := range clients {
		_ = c.Close()
	}
	return nil
}

// Topology returns what the watcher knows now (no I/O). The result is a
// copy the caller owns.
func (w *Watcher) Topology() Topology { return w.st.topology() }

// Sentinels returns each configured Sentinel with its SentinelView.Status,
// for monitor.Options.Sentinels. It does no I/O.
func (w *Watcher) Sentinels() []monitor.Sentinel { return w.st.monitorSentinels() }

// Subscribe returns a channel of every event the Sentinels publish about
// the master (one per Sentinel: copies have Duplicate set), and a function
// that ends the subscription and closes the channel. The channel holds buf
// events (at least 1); when it is full, further events are dropped for this
// subscriber and counted (studio_sentinel_events_dropped_total,
// Topology.EventsDropped): the watcher never waits for a subscriber. The
// channel is also closed when Run returns; subscribing after that returns
// a closed channel.
func (w *Watcher) Subscribe(buf int) (<-chan Event, func()) { return w.st.subscribe(buf) }

// subscribeLoop keeps a subscription to the Sentinel at addr until ctx is
// done, re-subscribing after each drop with a growing delay.
func (w *Watcher) subscribeLoop(ctx context.Context, addr string, c *redis.SentinelClient) {
	const minDelay, maxDelay = 200 * time.Millisecond, 5 * time.Second
	delay := minDelay
	for ctx.Err() == nil {
		confirmed, err := w.subscribeOnce(ctx, addr, c)
		if ctx.Err() != nil {
			break
		}
		w.st.setSubscribed(addr, false, err)
		if confirmed {
			delay = minDelay
		}
		w.log.LogAttrs(ctx, slog.LevelDebug, "sentinel events subscription ended",
			slog.String("sentinel", addr), slog.Any("error", err), slog.Duration("retry_in", delay))
		t := time.NewTimer(delay + rand.N(delay/5))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(2*delay, maxDelay)
	}
	w.st.setSubscribed(addr, false, nil)
}

// subscribeOnce subscribes once and reads events until the connection
// fails or hangs, or ctx is done. It reports whether the subscription was
// confirmed.
func (w *Watcher) subscribeOnce(ctx context.Context, addr string, c *redis.SentinelClient) (confirmed bool, err error) {
	ps := c.PSubscribe(ctx) // no I/O until the patterns are sent
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.PSubscribe(ctx, "*"); err != nil {
		return false, fmt.Errorf("psubscribe: %w", err)
	}
	pinged := false
	for {
		wait := w.probeIdle
		if !confirmed || pinged {
			wait = w.probeTimeout
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if ctx.Err() != nil {
			return confirmed, nil
		}
		if err != nil {
			switch {
			case !isTimeout(err):
				return confirmed, err
			case !confirmed:
				return false, fmt.Errorf("no psubscribe confirmation within %v", wait)
			case pinged:
				return true, fmt.Errorf("no answer to ping within %v", wait)
			}
			if err := ps.Ping(ctx); err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			pinged = true
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" && !confirmed {
				confirmed = true
				w.st.setSubscribed(addr, true, nil)
			}
		case *redis.Pong:
			pinged = false
		case *redis.Message:
			w.handleMessage(addr, m)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// handleMessage parses and records one event from the Sentinel at addr.
func (w *Watcher) handleMessage(addr string, m *redis.Message) {
	ev, err := ParseEvent(m.Channel, m.Payload)
	if err != nil {
		w.m.events.WithLabelValues(kindLabel(m.Channel)).Inc()
		w.m.parseErrors.Inc()
		w.log.LogAttrs(context.Background(), slog.LevelDebug, "unparsable sentinel event",
			slog.String("sentinel", addr), slog.String("error", err.Error()))
		return
	}
	ev.Time, ev.Sentinel = w.now(), addr
	w.st.applyEvent(ev)
}

// pollSentinelLoop polls the Sentinel at addr every interval until ctx is
// done.
func (w *Watcher) pollSentinelLoop(ctx context.Context, addr string, c *redis.SentinelClient) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		p := w.pollSentinel(ctx, c)
		if ctx.Err() != nil {
			return
		}
		w.st.applySentinelPoll(addr, p)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollSentinel asks one Sentinel about the master. p.err is set when the
// Sentinel did not answer; an error reply to SENTINEL MASTER (an unknown
// master name) is p.noMaster.
func (w *Watcher) pollSentinel(ctx context.Context, c *redis.SentinelClient) (p sentinelPoll) {
	p.started = w.now()
	ctx, cancel := context.WithTimeout(ctx, w.pollTimeout)
	defer cancel()
	m, err := c.Master(ctx, w.masterName).Result()
	if err != nil {
		if isErrorReply(err) {
			p.noMaster = "sentinel master " + w.masterName + ": " + err.Error()
			return p
		}
		p.err = err
		return p
	}
	if m["ip"] != "" {
		if addr, err := hostPort(m["ip"], m["port"]); err == nil {
			p.master = addr
		}
	}
	p.epoch, _ = strconv.ParseInt(m["config-epoch"], 10, 64)
	p.quorum, _ = strconv.Atoi(m["quorum"])
	p.otherSentinels, _ = strconv.Atoi(m["num-other-sentinels"])
	p.flags = splitFlags(m["flags"], "master")

	rs, err := c.Replicas(ctx, w.masterName).Result()
	if err != nil && !isErrorReply(err) {
		p.err = err
		return p
	}
	for _, r := range rs {
		addr, err := hostPort(r["ip"], r["port"])
		if err != nil {
			continue
		}
		off, _ := strconv.ParseInt(r["slave-repl-offset"], 10, 64)
		p.replicas = append(p.replicas, sentinelReplica{
			addr: addr, flags: splitFlags(r["flags"], "slave"), linkOK: r["master-link-status"] == "ok", offset: off,
		})
	}

	info := redis.NewStringCmd(ctx, "info", "sentinel")
	if err := c.Process(ctx, info); err != nil && !isErrorReply(err) {
		p.err = err
		return p
	}
	if v, ok := monitor.ParseInfo(info.Val()).Int("sentinel", "sentinel_tilt"); ok {
		p.tilt = v == 1
	}

	q, err := c.CkQuorum(ctx, w.masterName).Result()
	switch {
	case err == nil:
		p.quorumOK, p.quorumDetail = strings.HasPrefix(q, "OK"), q
	case isErrorReply(err):
		p.quorumDetail = err.Error()
	default:
		p.err = err
	}
	return p
}

// isErrorReply reports whether err is an error reply from the server (the
// server answered), as opposed to a network error or timeout.
func isErrorReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil) && !isTimeout(err)
}

// splitFlags splits Sentinel's comma-separated flags, dropping omit.
func splitFlags(s, omit string) []string {
	out := []string{}
	for f := range strings.SplitSeq(s, ",") {
		if f != "" && f != omit {
			out = append(out, f)
		}
	}
	return out
}

// pollMasterLoop polls INFO replication on the current master every
// interval, and at once when the master changes, until ctx is done.
func (w *Watcher) pollMasterLoop(ctx context.Context) {
	var client *redis.Client
	var clientAddr string
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if addr := w.st.currentMaster(); addr != "" {
			if addr != clientAddr {
				if client != nil {
					_ = client.Close()
				}
				client, clientAddr = w.newNode(addr), addr
			}
			n, err := w.pollNode(ctx, client)
			if ctx.Err() != nil {
				return
			}
			w.st.applyNodePoll(addr, n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.masterMoved:
		}
	}
}

func (w *Watcher) pollNode(ctx context.Context, c *redis.Client) (nodeState, error) {
	ctx, cancel := context.WithTimeout(ctx, w.pollTimeout)
	defer cancel()
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nodeState{}, err
	}
	in := monitor.ParseInfo(text)
	n := nodeState{replicas: in.Replicas()}
	n.role, _ = in.Get("replication", "role")
	n.offset, _ = in.Int("replication", "master_repl_offset")
	return n, nil
}
