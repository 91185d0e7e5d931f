// Package monitor watches Redis for Studio: it polls INFO and LATENCY
// LATEST, keeps a history ring of one point per poll, records the
// client-side latency, throughput and errors of every command (it is the
// redisconn.CommandRecorder), and builds the health Snapshot served at
// /health/redis and streamed to the dashboard.
//
// Client-side windows are made of per-second buckets, each with a command
// count by outcome and a DDSketch of latencies (1 % relative accuracy),
// merged into the 1-minute and 5-minute windows on demand. A window covers
// the complete seconds before the current one, so a reading does not
// wobble with the partial second in progress.
package monitor

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/health"
)

// Options configures a Monitor. Redis is required; a nil optional
// dependency makes its part of the Snapshot read as empty or unknown. The
// functions are called from Snapshot (any goroutine) and from Run's
// goroutine: they must be safe for concurrent use, quick, and must not
// call back into the Monitor.
type Options struct {
	// Redis is the client polled with INFO and LATENCY LATEST. A
	// *redis.ClusterClient is polled on every master (ForEachMaster), a
	// *redis.Ring on every shard, anything else (a plain or failover
	// *redis.Client) as one server. If this client carries the
	// redisconn.Instrumentation hook with this Monitor as its Recorder, the
	// polls' own commands (INFO and LATENCY LATEST per node, plus CLIENT
	// INFO with a failover client) count in the client-side figures.
	// Required.
	Redis redis.UniversalClient
	// Mode is reported as redis.mode: "standalone", "sentinel" or
	// "cluster". Empty infers it from the client's type (a failover client
	// is "sentinel", a *redis.Ring "ring").
	Mode string
	// Interval is the time between polls (default 1s).
	Interval time.Duration
	// PollTimeout bounds one poll (default max(Interval, 1s)).
	PollTimeout time.Duration
	// History is the number of points kept (default 3600: one hour at 1s).
	History int
	// DownAfter consecutive failed polls make the status "down" (default 3).
	// Fewer make it "degraded".
	DownAfter int
	// Cache reports the session lookups by tier (see CacheStatsFromAnswers).
	Cache func() CacheStats
	// Breaker reports the Redis circuit breaker's state: "closed", "open" or
	// "half-open" (redisconn.Breaker.State).
	Breaker func() string
	// HotKeys reports the hottest keys, hottest first (at most 10 are shown).
	HotKeys func() []HotKey
	// HotKeysNative reports the server's own hot-key view, nil while
	// unknown.
	HotKeysNative func() *health.NativeView
	// Warming reports the cache warmer's progress.
	Warming func() health.WarmProgress
	// TLS reports the Redis connection's TLS settings, so an operator
	// sees when verification is off.
	TLS func() health.TLS
	// Topology reports the Sentinel deployment as the HA watcher sees it:
	// master, replicas with lag, each Sentinel's view, the last failover
	// (ha.Watcher.Topology).
	Topology func() health.Topology
	// Alerts reports the firing and recently resolved alerts.
	Alerts func() []health.Alert
	// Sentinels reports the Sentinels watching the master.
	Sentinels func() []Sentinel
	// Recorder holds the client-side command counts (default: a new one,
	// fed by RecordCommand). Pass the Recorder the client's
	// instrumentation hook already feeds.
	Recorder *Recorder
	// Logger receives poll failures and status transitions (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now): times of points and snapshots,
	// rate divisors, the per-second buckets and their windows. When it is
	// nil, the buckets read the monotonic clock instead (cheaper, and a
	// wall-clock step does not shift them). The poll ticker runs on real
	// time either way.
	Now func() time.Time
}

// Statuses of a Snapshot.
const (
	StatusOK       = health.StatusOK
	StatusDegraded = health.StatusDegraded
	StatusDown     = health.StatusDown
)

// Thresholds of the degraded rules (see Snapshot).
const (
	// ErrorRateThreshold: a client-side error rate above it over the last
	// minute degrades the status…
	ErrorRateThreshold = 0.05
	// MinCommandsForErrorRate: …once the minute holds at least this many
	// commands, so that one failure on an idle client does not flap it.
	MinCommandsForErrorRate = health.MinCommandsForErrorRate
	// MemoryThreshold: used_memory above this fraction of maxmemory (when
	// maxmemory is set) on any polled node degrades the status.
	MemoryThreshold = 0.90
)

// Monitor polls Redis, records commands and builds health snapshots. Its
// methods are safe for concurrent use. Create it with New; the zero value
// is not usable.
type Monitor struct {
	redis       redis.UniversalClient
	mode        string
	interval    time.Duration
	pollTimeout time.Duration
	downAfter   int
	cache       func() CacheStats
	breaker     func() string
	hotkeys     func() []HotKey
	alerts      func() []Alert
	sentinels   func() []Sentinel
	log         *slog.Logger
	now         func() time.Time

	opts    Options
	rec     *recorder
	running atomic.Bool

	pollMu   sync.Mutex  // serialises polls
	pointWin windowStats // scratch for a point's client-side figures; pollMu

	winMu  sync.Mutex // guards the per-second window cache below
	winSec int64      // the second the cache was computed in
	win1   windowStats
	win5   windowStats
	lat1   Latency
	lat5   Latency

	mu           sync.Mutex // guards the fields below
	server       RedisStatus
	nodes        []nodeResult // the last successful poll's, by address; never modified, only replaced
	issues       []string     // degraded reasons found by the last successful poll
	polled       bool         // a poll has succeeded
	failures     int          // consecutive failed polls
	lastErr      string
	prevOps      map[string]opsSample
	hist         *ring
	trends       map[string][]float64 // hot key → its last per-minute rates
	loggedStatus string
}

// opsSample is a node's command counter at a poll.
type opsSample struct {
	runID string
	total int64
	at    time.Time
}

// New returns a Monitor for opts. It starts nothing: call Run to poll. It
// panics if opts.Redis is nil.
func New(opts Options) *Monitor {
	if opts.Redis == nil {
		panic("monitor: Options.Redis is nil")
	}
	m := &Monitor{
		redis: opts.Redis, mode: opts.Mode, interval: opts.Interval, pollTimeout: opts.PollTimeout,
		downAfter: opts.DownAfter, cache: opts.Cache, breaker: opts.Breaker, hotkeys: opts.HotKeys,
		alerts: opts.Alerts, sentinels: opts.Sentinels, log: opts.Logger, now: opts.Now,
		prevOps: map[string]opsSample{}, loggedStatus: StatusOK, opts: opts,
	}
	if m.interval <= 0 {
		m.interval = time.Second
	}
	if m.pollTimeout <= 0 {
		m.pollTimeout = max(m.interval, time.Second)
	}
	if m.downAfter <= 0 {
		m.downAfter = 3
	}
	if opts.History <= 0 {
		opts.History = 3600
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.mode == "" {
		m.mode = inferMode(opts.Redis)
	}
	if opts.Recorder == nil {
		opts.Recorder = NewRecorder(opts.Now)
	}
	rec := opts.Recorder.rec
	m.rec = rec
	m.pointWin.sk = newSketch(rec.mapping)
	m.win1.sk = newSketch(rec.mapping)
	m.win5.sk = newSketch(rec.mapping)
	m.winSec = math.MinInt64
	m.hist = newRing(opts.History)
	m.server = RedisStatus{Mode: m.mode}
	return m
}

func inferMode(c redis.UniversalClient) string {
	switch c := c.(type) {
	case *redis.ClusterClient:
		return "cluster"
	case *redis.Ring:
		return "ring"
	case *redis.Client:
		if c.Options().Addr == failoverAddr {
			return "sentinel"
		}
	}
	return "standalone"
}

// Recorder counts the Redis commands a client sends, for the client side of
// a Monitor's Snapshot. Build it before the client whose instrumentation
// hook feeds it, and give it to the Monitor polling through that client
// (Options.Recorder), so neither has to exist before the other. Its
// methods are safe for concurrent use; the zero value is not usable.
type Recorder struct{ rec *recorder }

// NewRecorder returns a Recorder whose per-second buckets read now, or,
// when now is nil, the monotonic clock. Give the Monitor it feeds the same
// now (Options.Now).
func NewRecorder(now func() time.Time) *Recorder {
	rec, err := newRecorder(now)
	if err != nil {
		panic("monitor: " + err.Error()) // a constant accuracy: cannot happen
	}
	return &Recorder{rec: rec}
}

// RecordCommand is Monitor.RecordCommand.
func (r *Recorder) RecordCommand(d time.Duration, outcome string) { r.rec.record(d, outcome) }

// RecordCommand counts one Redis command that took d and ended with
// outcome (redisconn.Outcome: ok, miss, error_reply, timeout, canceled,
// breaker_open, network; any other string is counted as an error).
//
// Every outcome counts towards throughput. Errors are every outcome except
// ok, miss and canceled. Latency quantiles include every outcome except
// breaker_open and canceled. RecordCommand is safe for concurrent use, does
// not block on I/O and does not allocate once the current bucket's sketch
// has grown to the range of durations seen.
func (m *Monitor) RecordCommand(d time.Duration, outcome string) {
	m.rec.record(d, outcome)
}

// Run polls Redis every Interval, starting at once, until ctx ends; it
// returns when ctx is done and a poll in flight has been abandoned. Only
// one Run may be active at a time: a concurrent call logs an error and
// returns at once.
func (m *Monitor) Run(ctx context.Context) {
	if !m.running.CompareAndSwap(false, true) {
		m.log.Error("monitor: Run called while already running")
		return
	}
	defer m.running.Store(false)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// History returns a copy of the points with Time after since, oldest
// first (all of them for the zero time).
func (m *Monitor) History(since time.Time) []Point {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hist.after(since)
}

// hotKeysShown is how many hot keys the Snapshot shows and the trends
// follow.
const hotKeysShown = 10

// hotTrendLen is how many polls of a hot key's per-minute rate the monitor
// keeps: a minute at the default interval.
const hotTrendLen = 60

// HotKeyTrends returns, for each key of the current top 10 (display form),
// its per-minute rate at each poll since it entered the top 10, oldest
// first, at most hotTrendLen of them: what a page just opened needs to
// draw the trend at once. A key that leaves the top 10 starts afresh if it
// comes back. The result is a copy.
func (m *Monitor) HotKeyTrends() map[string][]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]float64, len(m.trends))
	for k, v := range m.trends {
		out[k] = slices.Clone(v)
	}
	return out
}

// nextTrends is trends after a poll that saw hot: the keys of hot only,
// each with its rate appended.
func nextTrends(trends map[string][]float64, hot []HotKey) map[string][]float64 {
	next := make(map[string][]float64, len(hot))
	for _, k := range hot {
		prev := trends[k.Key]
		if len(prev) >= hotTrendLen {
			prev = prev[len(prev)-hotTrendLen+1:]
		}
		next[k.Key] = append(slices.Clip(prev), k.PerMin)
	}
	return next
}

// windowSeconds is how many complete seconds a point's client-side figures
// cover.
func (m *Monitor) windowSeconds() int {
	return max(1, int((m.interval+time.Second-1)/time.Second))
}
