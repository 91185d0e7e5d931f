package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/dashboard"
	"github.com/studiohq/studio/docs"
	"github.com/studiohq/studio/ha"
	"github.com/studiohq/studio/ha/drill"
	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/internal/listen"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/monitor"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

// app is one running Studio: its store, Redis clients, session service,
// health view and HTTP handler, with their telemetry. openApp builds it in
// phases, each a method below in the order it runs; close undoes them.
type app struct {
	cfg   Config
	log   *slog.Logger
	level *slog.LevelVar
	reg   *prometheus.Registry
	mx    *telemetry.Metrics

	// tracing
	tp        *sdktrace.TracerProvider
	tracer    trace.Tracer // nil unless spans are exported
	exporting bool

	store *sqlstore.Store

	// Redis
	redis    redisconn.Config // with its TLS material, breaker and follower
	rdb      redis.UniversalClient
	reader   redis.UniversalClient // replica reads (REDIS_READ_REPLICAS), or nil
	ha       *ha.Watcher           // Sentinel mode only
	detector *hotkey.Detector
	recorder *monitor.Recorder

	// sessions
	sessions *session.Service
	warmer   *session.Warmer
	hotkeys  *hotkey.Publisher
	native   *hotkey.NativeProbe

	// access: admin tokens (and their file), the admin check, trusted
	// proxies, the listener's certificate (nil without TLS)
	tokens     *adminauth.Tokens
	tokenFile  *adminTokenFile // nil unless the tokens come from a file
	guard      *adminauth.Guard
	proxies    *clientaddr.Resolver
	listenCert *listen.Certificate

	// health
	monitor *monitor.Monitor
	alerts  *alert.Engine
	dash    *dashboard.Handler

	handler *server.Server

	stop   context.CancelFunc // ends the background goroutines
	wg     sync.WaitGroup
	stopBy time.Time // set by serve: when a graceful stop must be over
}

// openApp wires Studio together and starts its background work. Redis
// need not be up: validation then runs from the store until it is. ctx
// bounds start-up only. On error everything opened so far is closed.
func openApp(ctx context.Context, cfg Config, logOut io.Writer) (_ *app, err error) {
	a := newApp(cfg, logOut)
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.openTracing(ctx); err != nil {
		return nil, err
	}
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	if err := a.openRedis(); err != nil {
		return nil, err
	}
	if err := a.openSessions(); err != nil {
		return nil, err
	}
	if err := a.buildAccess(); err != nil {
		return nil, err
	}
	if err := a.buildHealth(); err != nil {
		return nil, err
	}
	if err := a.buildHTTP(); err != nil {
		return nil, err
	}
	a.start(ctx)
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		a.log.Warn("redis is not answering yet; validating from the store until it does", "mode", cfg.Redis.Mode(), "error", err)
	}
	return a, nil
}

// newApp sets up the logger (JSON on logOut), go-redis's internal log and
// the metrics registry.
func newApp(cfg Config, logOut io.Writer) *app {
	a := &app{cfg: cfg, level: new(slog.LevelVar), reg: prometheus.NewRegistry()}
	a.level.Set(cfg.LogLevel)
	a.log = telemetry.NewServiceLogger(logOut, a.level, cfg.Trace.ServiceName)
	redis.SetLogger(redisLogger{a.log})
	a.reg.MustRegister(telemetry.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.mx = telemetry.NewMetrics(a.reg, telemetry.Build{Version: version, Revision: vcsRevision()})
	return a
}

// openTracing sets up the tracer provider from the OTEL_* settings. With no
// exporter the provider records nothing; the Redis, SQL and session hooks
// then skip spans entirely, and only the HTTP layer starts one per
// request, for the trace_id/span_id of its log lines.
func (a *app) openTracing(ctx context.Context) error {
	var err error
	if a.tp, err = telemetry.NewTracerProvider(ctx, a.cfg.Trace, version); err != nil {
		return fmt.Errorf("set up tracing: %w", err)
	}
	a.exporting = a.cfg.Trace.Exporter != "" && a.cfg.Trace.Exporter != telemetry.ExporterNone
	if a.exporting {
		a.tracer = a.tp.Tracer("github.com/studiohq/studio")
	}
	return nil
}

// openStore opens the session store and applies its schema.
func (a *app) openStore(ctx context.Context) error {
	var err error
	a.store, err = sqlstore.Open(ctx, a.cfg.DatabaseURL, sqlstore.Options{
		Logger:    a.log,
		QueryHook: sqlstore.NewInstrumentation(a.tracer, a.mx.StoreQueryDuration, sqlstore.TraceBackground(a.cfg.TraceBackground)),
	})
	if err != nil {
		return fmt.Errorf("open session store: %w", err)
	}
	return nil
}

// openRedis opens the Redis clients: TLS material that rotates, the
// circuit breaker, in Sentinel mode the master follower and the HA
// watcher, and the one instrumentation hook, which feeds the command
// recorder of the health view and the hot-key detector.
func (a *app) openRedis() error {
	rc := a.cfg.Redis
	var err error
	if rc.TLS, err = redisconn.NewTLS(rc, redisconn.TLSOptions{Logger: a.log}); err != nil {
		return fmt.Errorf("redis TLS (REDIS_TLS_*): %w", err)
	}
	if rc.InsecureTLS() {
		a.log.Error("REDIS TLS CERTIFICATE VERIFICATION IS DISABLED (REDIS_TLS_INSECURE_SKIP_VERIFY=true): development only, never in production")
	}
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{
		OnStateChange:   a.mx.BreakerChanged,
		Logger:          a.log,
		SummaryInterval: a.cfg.BreakerSummaryInterval,
	})
	if rc.Mode() == "sentinel" {
		if err := a.openSentinelWatch(&rc); err != nil {
			return err
		}
	}
	a.detector = hotkey.New(hotkey.Options{Threshold: a.cfg.HotKeyThreshold, Logger: a.log, Registerer: a.reg})
	a.recorder = monitor.NewRecorder(nil)
	rc.Instrumentation = redisconn.NewInstrumentation(redisconn.InstrumentOptions{
		Tracer:        a.tracer,
		Duration:      a.mx.RedisCommandDuration,
		Logger:        a.log,
		SlowThreshold: a.cfg.SlowCommand,
		Recorder:      a.recorder,
		Keys:          hotkey.Ignoring(a.detector, hookIgnoredPrefixes...),
		Addr:          redisAddr(a.cfg.Redis),
		DB:            redisDB(a.cfg.Redis),
		// Background commands (no span in their context) make no root
		// traces unless asked.
		TraceBackground: a.cfg.TraceBackground,
	})
	if a.rdb, err = redisconn.Open(rc); err != nil {
		return fmt.Errorf("open redis client: %w", err)
	}
	a.reg.MustRegister(redisconn.NewPoolCollector(a.rdb.PoolStats))
	if rc.ReadReplicas {
		// The reader has its own breaker: a replica refusing reads while
		// it resyncs must not cut the master off.
		rr := rc
		// Its lines name it: reads go to the master while it is open.
		rr.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{
			Logger: a.log, Name: "replica reads", SummaryInterval: a.cfg.BreakerSummaryInterval,
		})
		if a.reader, err = redisconn.OpenReader(rr); err != nil {
			return fmt.Errorf("open redis replica reader: %w", err)
		}
	}
	a.redis = rc
	return nil
}

// hookIgnoredPrefixes start the keys whose accesses the Redis hook does not
// count as hot-key accesses, at the default key prefixes openApp keeps:
// the keys Studio's own packages keep in Redis (the alert engine's claims
// and silences, the warm markers, the hot-key view, the drill's writes,
// the counts of wrong admin tokens), never hot keys; and the session keys,
// whose callers' accesses the session Service counts itself, once per
// validation and whichever tier answers it (the hook would add
// refresh-ahead reads, fills, warming and count a validation that reached
// Redis twice).
var hookIgnoredPrefixes = []string{alert.DefaultKeyPrefix, session.DefaultWarmKeyPrefix, hotkey.DefaultKeyPrefix, drill.KeyPrefix,
	adminauth.DefaultKeyPrefix, session.DefaultSessionKeyPrefix}

// openSentinelWatch sets up, in Sentinel mode, the follower that moves to
// a new master as soon as any Sentinel announces it, and the watcher of
// every Sentinel's events for the health view and the alerts, told how
// the client's commands to the master end (rc.Availability).
func (a *app) openSentinelWatch(rc *redisconn.Config) error {
	var err error
	if rc.Follower, err = redisconn.NewMasterFollower(*rc, a.log); err != nil {
		return err
	}
	nodes, err := redisconn.NewNodeClients(*rc)
	if err != nil {
		return err
	}
	// What Studio's own commands see of the master gives each failover
	// its write gap.
	outages := ha.NewOutages()
	rc.Availability = outages
	a.ha, err = ha.NewWatcher(ha.WatcherOptions{
		Sentinels: rc.Sentinels, MasterName: rc.MasterName,
		NewSentinelClient: nodes.Sentinel, NewNodeClient: nodes.Node,
		Outages: outages, Registerer: a.reg, Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("sentinel watcher: %w", err)
	}
	return nil
}

// openSessions builds the session service, its cache warmer and the
// hot-key view across instances, with their metrics.
func (a *app) openSessions() error {
	var err error
	a.sessions, err = session.NewService(session.Options{
		Store:        a.store,
		Redis:        a.rdb,
		ReadRedis:    a.reader,
		L1TTL:        sessionL1TTL(a.cfg.L1TTL),
		CacheTTL:     a.cfg.CacheTTL,
		ClockSkew:    a.cfg.ClockSkew,
		StoreTimeout: a.cfg.StoreTimeout,
		Logger:       a.log,
		Tracer:       a.tracer,
		Keys:         a.detector,

		TraceBackground: a.cfg.TraceBackground,
	})
	if err != nil {
		return err
	}
	wm := session.NewWarmMetrics(a.reg)
	a.warmer = a.sessions.NewWarmer(session.WarmOptions{
		Source: a.store, Limit: a.cfg.WarmLimit, Rate: float64(a.cfg.WarmRate), Logger: a.log, OnResult: wm.Observe,
	})
	a.reg.MustRegister(session.NewStatsCollector(a.sessions.Stats), session.NewWarmCollector(a.warmer.Progress))
	a.hotkeys = hotkey.NewPublisher(a.detector, a.rdb, hotkey.PublisherOptions{Instance: a.cfg.InstanceID, Logger: a.log, Registerer: a.reg})
	a.native = hotkey.NewNativeProbe(a.rdb, a.cfg.HotKeyProbeInterval)
	return nil
}

// buildHealth builds the health view: the monitor polling Redis (the
// client side comes from the recorder the hook feeds) and its metrics, the
// alert engine
// evaluating the monitor's Snapshot, and the dashboard showing both.
func (a *app) buildHealth() error {
	mo := monitor.Options{
		Redis:         a.rdb,
		Mode:          a.cfg.Redis.Mode(),
		Interval:      a.cfg.MonitorInterval,
		Recorder:      a.recorder,
		Cache:         a.cacheStats,
		Breaker:       a.redis.Breaker.State,
		HotKeys:       func() []health.HotKey { return a.hotkeys.Top(10) },
		HotKeysNative: a.native.View,
		Warming:       a.warmer.Progress,
		TLS:           a.redis.TLSState,
		Logger:        a.log,
	}
	if a.ha != nil {
		mo.Sentinels = a.ha.Sentinels
		mo.Topology = a.ha.Topology
	}
	a.monitor = monitor.New(mo)
	a.reg.MustRegister(monitor.NewCollector(a.monitor))
	var err error
	if a.alerts, err = newAlertEngine(a.cfg, a.hotkeys.Instance(), a.rdb, a.monitor.Snapshot, a.reg, a.log); err != nil {
		return err
	}
	a.dash = dashboard.New(dashboard.Options{
		Snapshot:     a.health,
		History:      a.monitor.History,
		HotKeyTrends: a.monitor.HotKeyTrends,
		Admin:        a.guard,
		SecureCookie: strings.HasPrefix(externalURL(a.cfg), "https://"),
		Logger:       a.log.With("component", "dashboard"),
		// Logins are Studio sessions: shared by every instance, kept
		// across restarts, ended everywhere by a logout.
		Sessions: dashboardSessions{svc: a.sessions, maxTTL: a.sessions.MaxTTL()},
	})
	return nil
}

// health is the health view every reader shares (/health/redis, the
// dashboard): the monitor's Snapshot with the alert engine's alerts.
func (a *app) health() health.Snapshot {
	s := a.monitor.Snapshot()
	s.Alerts = a.alerts.SnapshotAlerts()
	return s
}

// cacheStats reads the session lookups by tier for the health view: a
// tier answers a lookup when it finds the session or refuses it.
func (a *app) cacheStats() monitor.CacheStats {
	st := a.sessions.Stats()
	answered := func(t session.Tier) uint64 { return st.Hits[t] + st.Refused[t] }
	return monitor.CacheStatsFromAnswers(answered(session.TierL1), answered(session.TierRedis), answered(session.TierStore), st.Failed)
}

// buildHTTP builds the HTTP API with every route (internal/server).
func (a *app) buildHTTP() error {
	runbooks, err := fs.Sub(docs.Runbooks, "runbooks")
	if err != nil {
		return fmt.Errorf("embedded runbooks: %w", err)
	}
	a.handler = server.New(server.Options{
		ReservedUserIDs:  []string{dashboardUser},
		Dashboard:        a.dash,
		Alerts:           a.alerts,
		Runbooks:         runbooks,
		Sessions:         a.sessions,
		Admin:            a.guard,
		Proxies:          a.proxies,
		Logger:           a.log,
		AccessLog:        a.cfg.AccessLog,
		SlowRequest:      a.cfg.SlowRequest,
		Metrics:          a.mx,
		MetricsHandler:   telemetry.MetricsHandler(a.reg, a.log),
		MetricsAdminOnly: a.cfg.MetricsAdminOnly,
		Health:           func(context.Context) health.Snapshot { return a.health() },
		LogLevel:         a.level,
		Warming:          a.warmer.Progress,
		TracerProvider:   a.tp,
		ExportSpans:      a.exporting,
		Propagator:       telemetry.Propagator(),
	})
	if !a.tokens.Enabled() {
		a.log.Warn("STUDIO_ADMIN_TOKEN is not set: admin routes are disabled")
	}
	return nil
}

// start runs the background work until close: certificate rotation, the
// Sentinel follower and watcher, the alert engine, the Redis monitor, the
// hot-key publisher and probe, and the cache warmer (one run now, then a
// re-warm whenever Redis comes back empty). Serving starts at once;
// /readyz and the Snapshot show the warmer's progress.
func (a *app) start(ctx context.Context) {
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	goRun := func(f func(context.Context)) {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); f(bg) }()
	}
	if t := a.redis.TLS; t != nil {
		a.reg.MustRegister(t)
		goRun(func(ctx context.Context) { t.Run(ctx, 10*time.Second) })
	}
	if c := a.listenCert; c != nil {
		goRun(func(ctx context.Context) { c.Run(ctx, fileCheckInterval) })
	}
	if f := a.tokenFile; f != nil {
		goRun(func(ctx context.Context) { f.Run(ctx, fileCheckInterval) })
	}
	if a.redis.TLS != nil || a.listenCert != nil || a.tokenFile != nil {
		goRun(a.reloadOnHUP)
	}
	if a.redis.Follower != nil {
		goRun(a.redis.Follower.Run)
		goRun(func(ctx context.Context) { _ = a.ha.Run(ctx) })
		goRun(func(ctx context.Context) { forwardHAEvents(ctx, a.ha, a.alerts) })
	}
	goRun(func(ctx context.Context) { _ = a.alerts.Run(ctx) })
	goRun(a.monitor.Run)
	goRun(func(ctx context.Context) { _ = a.hotkeys.Run(ctx) })
	goRun(a.native.Run)
	if a.cfg.WarmOnStart && a.cfg.WarmLimit > 0 {
		goRun(func(ctx context.Context) {
			if _, err := a.warmer.RunBecause(ctx, "start-up"); err != nil && ctx.Err() == nil {
				a.log.Warn("start-up warming failed; the automatic re-warm will retry", "error", err)
			}
			a.warmer.Watch(ctx, 5*time.Second)
		})
	}
}

// reloadOnHUP re-reads, on every SIGHUP until ctx ends, the files that
// are also re-read when they change: the Redis TLS material, the
// listener's certificate and the admin token file.
func (a *app) reloadOnHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.log.Info("SIGHUP: reloading TLS material and the admin token file")
			// Each logs (and the Redis material counts) its own failures.
			if a.redis.TLS != nil {
				_ = a.redis.TLS.Reload()
			}
			if a.listenCert != nil {
				_ = a.listenCert.Reload()
			}
			if a.tokenFile != nil {
				_ = a.tokenFile.Reload()
			}
		}
	}
}

// close releases everything openApp opened, in reverse order.
func (a *app) close() {
	if a.dash != nil {
		a.dash.Close()
	}
	if a.stop != nil {
		a.stop()
		a.wg.Wait()
	}
	if a.sessions != nil {
		if err := a.sessions.Close(); err != nil {
			a.log.Warn("final last_seen_at write failed", "error", err)
		}
	}
	if a.reader != nil {
		_ = a.reader.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
	if a.tp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.tp.Shutdown(ctx); err != nil {
			a.log.Warn("flushing spans at shutdown failed", "error", err)
		}
	}
}

// redisLogger routes go-redis's internal messages (pool dial failures and
// the like) into the structured log at debug level: the same failures
// already surface, with context, where Studio handles them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// redisAddr is the address named in spans: the URL's host, or the first
// Sentinel or Cluster seed.
func redisAddr(c redisconn.Config) string {
	switch {
	case len(c.Sentinels) > 0:
		return c.Sentinels[0]
	case len(c.Cluster) > 0:
		return c.Cluster[0]
	}
	if u, err := url.Parse(c.URL); err == nil {
		if u.Port() == "" {
			return net.JoinHostPort(u.Hostname(), "6379")
		}
		return u.Host
	}
	return ""
}

func redisDB(c redisconn.Config) int {
	if u, err := url.Parse(c.URL); err == nil {
		if n, err := strconv.Atoi(strings.Trim(u.Path, "/")); err == nil {
			return n
		}
	}
	return 0
}
