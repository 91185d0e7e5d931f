package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/dashboard"
	"github.com/studiohq/studio/docs"
	"github.com/studiohq/studio/ha"
	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/monitor"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	st := newSettings("serve", getenv, stderr, nil)
	if err := st.parse(args); err != nil {
		return err
	}
	cfg, err := st.Config()
	if err != nil {
		return err
	}
	// Listen first: links in alerts name the address actually bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	cfg.Addr = ln.Addr().String()
	a, err := openApp(ctx, cfg, stdout)
	if err != nil {
		ln.Close()
		return err
	}
	err = a.serve(ctx, ln)
	a.closeBy(a.stopBy)
	return err
}

// closeBy closes the app, giving up at deadline: whatever has not finished
// by then (a last write to an unreachable Redis, a span export) is
// abandoned so the process stops when its supervisor expects it to.
func (a *app) closeBy(deadline time.Time) {
	if deadline.IsZero() { // serve failed before stopping
		deadline = time.Now().Add(a.cfg.ShutdownTimeout)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.close() }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		a.log.Error("shutdown timeout: stopping before background work finished", "timeout", a.cfg.ShutdownTimeout.String())
	}
}

// app is one running Studio: its store, Redis client, session service,
// monitor and HTTP handler, with their telemetry.
type app struct {
	cfg      Config
	log      *slog.Logger
	level    *slog.LevelVar
	tp       *sdktrace.TracerProvider
	store    *sqlstore.Store
	rdb      redis.UniversalClient
	reader   redis.UniversalClient // replica reads (REDIS_READ_REPLICAS), or nil
	sessions *session.Service
	monitor  *monitor.Monitor
	hotkeys  *hotkey.Publisher
	warmer   *session.Warmer
	ha       *ha.Watcher // Sentinel mode only
	alerts   *alert.Engine
	dash     *dashboard.Handler
	handler  *server.Server
	stop     context.CancelFunc // ends the background goroutines
	stopBy   time.Time          // set by serve: when a graceful stop must be over
	wg       sync.WaitGroup
}

// openApp wires Studio together: logger (JSON on logOut), metrics
// registry, tracer provider, the store (schema applied), the instrumented
// Redis client with its circuit breaker, the session service, the Redis
// monitor and the HTTP handler. Redis need not be up: validation then runs
// from the store until it is. ctx bounds start-up only.
func openApp(ctx context.Context, cfg Config, logOut io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, level: new(slog.LevelVar)}
	a.level.Set(cfg.LogLevel)
	a.log = telemetry.NewLogger(logOut, a.level)
	log := a.log
	redis.SetLogger(redisLogger{log})
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewMetrics(reg, version)

	a.tp, err = telemetry.NewTracerProvider(ctx, cfg.Trace, version)
	if err != nil {
		return nil, fmt.Errorf("set up tracing: %w", err)
	}
	// With no exporter the provider records nothing; the Redis, SQL and
	// session hooks then skip spans entirely, and only the HTTP layer
	// starts one per request, for the trace_id/span_id of its log lines.
	var tracer trace.Tracer
	exporting := cfg.Trace.Exporter != "" && cfg.Trace.Exporter != telemetry.ExporterNone
	if exporting {
		tracer = a.tp.Tracer("github.com/studiohq/studio")
	}

	a.store, err = sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{
		Logger:    log,
		QueryHook: sqlstore.NewInstrumentation(tracer, metrics.StoreQueryDuration),
	})
	if err != nil {
		return nil, fmt.Errorf("open session store: %w", err)
	}

	rc := cfg.Redis
	if rc.TLS, err = redisconn.NewTLS(rc, redisconn.TLSOptions{Logger: log}); err != nil {
		return nil, fmt.Errorf("redis TLS (REDIS_TLS_*): %w", err)
	}
	if rc.InsecureTLS() {
		log.Error("REDIS TLS CERTIFICATE VERIFICATION IS DISABLED (REDIS_TLS_INSECURE_SKIP_VERIFY=true): development only, never in production")
	}
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{
		OnStateChange: func(from, to string) {
			metrics.BreakerChanged(from, to)
			log.Warn("redis circuit breaker changed state", "from", from, "to", to)
		},
	})
	// Sentinel: follow a failover as soon as any Sentinel announces it,
	// and watch every Sentinel's events for the Snapshot and the alerts.
	if rc.Mode() == "sentinel" {
		if rc.Follower, err = redisconn.NewMasterFollower(rc, log); err != nil {
			return nil, err
		}
		nodes, err := redisconn.NewNodeClients(rc)
		if err != nil {
			return nil, err
		}
		a.ha, err = ha.NewWatcher(ha.WatcherOptions{
			Sentinels: rc.Sentinels, MasterName: rc.MasterName,
			NewSentinelClient: nodes.Sentinel, NewNodeClient: nodes.Node,
			Registerer: reg, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("sentinel watcher: %w", err)
		}
	}
	// Hot keys: the Redis hook and the L1 both feed the detector.
	det := hotkey.New(hotkey.Options{Threshold: cfg.HotKeyThreshold, Logger: log, Registerer: reg})

	// The monitor needs the client and the client's hook needs the
	// monitor: the recorder is bound once both exist.
	rec := &lateRecorder{}
	rc.Instrumentation = redisconn.NewInstrumentation(redisconn.InstrumentOptions{
		Tracer:        tracer,
		Duration:      metrics.RedisCommandDuration,
		Logger:        log,
		SlowThreshold: cfg.SlowCommand,
		Recorder:      rec,
		Keys:          userKeys{det},
		Addr:          redisAddr(cfg.Redis),
		DB:            redisDB(cfg.Redis),
	})
	a.rdb, err = redisconn.Open(rc)
	if err != nil {
		return nil, fmt.Errorf("open redis client: %w", err)
	}
	if rc.ReadReplicas {
		// The reader has its own breaker: a replica refusing reads while
		// it resyncs must not cut the master off.
		rr := rc
		rr.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{
			OnStateChange: func(from, to string) {
				log.Warn("redis replica-read circuit breaker changed state; reads go to the master meanwhile", "from", from, "to", to)
			},
		})
		if a.reader, err = redisconn.OpenReader(rr); err != nil {
			return nil, fmt.Errorf("open redis replica reader: %w", err)
		}
	}
	a.sessions, err = session.NewService(session.Options{
		Store:     a.store,
		Redis:     a.rdb,
		ReadRedis: a.reader,
		L1TTL:     cfg.L1TTL,
		CacheTTL:  cfg.CacheTTL,
		Logger:    log,
		Tracer:    tracer,
		Keys:      userKeys{det},
	})
	if err != nil {
		return nil, err
	}
	a.hotkeys = hotkey.NewPublisher(det, a.rdb, hotkey.PublisherOptions{Instance: cfg.InstanceID, Logger: log, Registerer: reg})
	wm := newWarmMetrics(reg)
	a.warmer = a.sessions.NewWarmer(session.WarmOptions{Source: a.store, Limit: cfg.WarmLimit, Rate: float64(cfg.WarmRate), Logger: log, OnResult: wm.observe})
	reg.MustRegister(newWarmCollector(a.warmer.Progress))
	native := &nativeHotKeys{}
	reg.MustRegister(newSessionCollector(a.sessions.Stats), newPoolCollector(a.rdb.PoolStats))

	mo := monitor.Options{
		Redis:    a.rdb,
		Mode:     cfg.Redis.Mode(),
		Interval: cfg.MonitorInterval,
		Cache: func() monitor.CacheStats {
			st := a.sessions.Stats()
			answered := func(t session.Tier) uint64 { return st.Hits[t] + st.Refused[t] }
			return monitor.CacheStatsFromAnswers(answered(session.TierL1), answered(session.TierRedis), answered(session.TierStore), st.Failed)
		},
		Breaker:       rc.Breaker.State,
		HotKeys:       func() []monitor.HotKey { return snapshotHotKeys(a.hotkeys.Top(10)) },
		HotKeysNative: native.get,
		Warming:       func() any { return a.warmer.Progress() },
		TLS: func() any {
			return map[string]any{"enabled": rc.TLS != nil, "insecure_skip_verify": rc.InsecureTLS()}
		},
		Logger: log,
	}
	if a.ha != nil {
		mo.Sentinels = a.ha.Sentinels
		mo.Topology = func() any { return a.ha.Topology() }
	}
	// The engine reads the monitor's Snapshot, which lists its alerts.
	var eng atomic.Pointer[alert.Engine]
	mo.Alerts = func() []monitor.Alert {
		if e := eng.Load(); e != nil {
			return e.SnapshotAlerts()
		}
		return nil
	}
	a.monitor = monitor.New(mo)
	if a.alerts, err = newAlertEngine(cfg, a.hotkeys.Instance(), a.rdb, a.monitor, rc.TLS, a.ha, reg, log); err != nil {
		return nil, err
	}
	eng.Store(a.alerts)
	rec.set(a.monitor)
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	if rc.TLS != nil {
		// Certificates are re-read when their files change, and on SIGHUP.
		reg.MustRegister(rc.TLS)
		a.wg.Add(2)
		go func() { defer a.wg.Done(); rc.TLS.Run(bg, 10*time.Second) }()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			defer a.wg.Done()
			defer signal.Stop(hup)
			for {
				select {
				case <-bg.Done():
					return
				case <-hup:
					log.Info("SIGHUP: reloading Redis TLS material")
					_ = rc.TLS.Reload() // logged and counted inside
				}
			}
		}()
	}
	if rc.Follower != nil {
		a.wg.Add(3)
		go func() { defer a.wg.Done(); rc.Follower.Run(bg) }()
		go func() { defer a.wg.Done(); _ = a.ha.Run(bg) }()
		go func() { defer a.wg.Done(); forwardHAEvents(bg, a.ha, a.alerts) }()
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); _ = a.alerts.Run(bg) }()
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.monitor.Run(bg) }()
	go func() { defer a.wg.Done(); _ = a.hotkeys.Run(bg) }()
	go func() { defer a.wg.Done(); native.run(bg, a.rdb) }()
	if cfg.WarmOnStart && cfg.WarmLimit > 0 {
		// Serving starts at once; /readyz and the Snapshot show progress.
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if _, err := a.warmer.RunBecause(bg, "start-up"); err != nil && bg.Err() == nil {
				log.Warn("start-up warming failed; the automatic re-warm will retry", "error", err)
			}
			a.warmer.Watch(bg, 5*time.Second)
		}()
	}

	runbooks, err := fs.Sub(docs.Runbooks, "runbooks")
	if err != nil {
		return nil, fmt.Errorf("embedded runbooks: %w", err)
	}
	a.dash = dashboard.New(dashboard.Options{
		Snapshot:     a.monitor.Snapshot,
		History:      a.monitor.History,
		HotKeyTrends: a.monitor.HotKeyTrends,
		Alerts:       func() any { return a.alerts.AlertStatuses() },
		AdminToken:   cfg.AdminToken,
		Logger:       log.With("component", "dashboard"),
		// Logins are Studio sessions: shared by every instance, kept
		// across restarts, ended everywhere by a logout.
		Sessions: dashboardSessions{svc: a.sessions, maxTTL: a.sessions.MaxTTL()},
	})
	a.handler = server.New(server.Options{
		ReservedUserIDs:  []string{dashboardUser},
		Dashboard:        a.dash,
		Alerts:           a.alerts,
		Runbooks:         runbooks,
		Sessions:         a.sessions,
		AdminToken:       cfg.AdminToken,
		Logger:           log,
		Metrics:          metrics,
		MetricsHandler:   promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}),
		MetricsAdminOnly: cfg.MetricsAdminOnly,
		Health:           func(context.Context) any { return a.monitor.Snapshot() },
		LogLevel:         a.level,
		Warming:          func() any { return a.warmer.Progress() },
		TracerProvider:   a.tp,
		ExportSpans:      exporting,
		Propagator:       telemetry.Propagator(),
	})
	if cfg.AdminToken == "" {
		log.Warn("STUDIO_ADMIN_TOKEN is not set: admin routes are disabled")
	}
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		log.Warn("redis is not answering yet; validating from the store until it does", "mode", cfg.Redis.Mode(), "error", err)
	}
	return a, nil
}

// lateRecorder forwards to a CommandRecorder set after construction.
type lateRecorder struct {
	r atomic.Pointer[monitor.Monitor]
}

func (l *lateRecorder) set(m *monitor.Monitor) { l.r.Store(m) }

func (l *lateRecorder) RecordCommand(d time.Duration, outcome string) {
	if m := l.r.Load(); m != nil {
		m.RecordCommand(d, outcome)
	}
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

// serve answers HTTP on ln until ctx ends, then stops gracefully: it
// drains for cfg.ShutdownDrain (/readyz answers 503 while requests are
// still served, so load balancers take the instance out), then gives
// in-flight requests up to cfg.ShutdownTimeout to finish.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.dash != nil {
		// Shutdown waits for requests to end; the dashboard's event
		// streams end only when told.
		srv.RegisterOnShutdown(a.dash.Close)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String(), "redis_mode", a.cfg.Redis.Mode(), "version", version)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	if d := a.cfg.ShutdownDrain; d > 0 {
		a.handler.Drain()
		a.log.Info("draining: /readyz answers 503 while requests are still served", "drain", d.String())
		select {
		case <-time.After(d):
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		}
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	// Requests in flight get three quarters of the timeout; closing the
	// app (closeBy) what is left of it.
	a.stopBy = time.Now().Add(a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithDeadline(context.Background(), a.stopBy.Add(-a.cfg.ShutdownTimeout/4))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
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

// internalKeyPrefixes are Studio's own bookkeeping keys: the hot-key view,
// the alert engine's claims and silences, the warm marker and latency
// probe (read 40 times a second during a warm), the drill's writes. They
// are not what an operator looks for among hot keys, nor what a hot-key
// alert is about.
var internalKeyPrefixes = []string{"studio:hotkeys:", "studio:alert:", "studio:warm", "studio:drill:"}

// userKeys passes every key but Studio's own bookkeeping keys to the
// hot-key detector. Session keys, the hot path (every L1 hit), pass after
// one prefix check.
type userKeys struct{ det *hotkey.Detector }

func (u userKeys) ObserveKey(key string) {
	if !strings.HasPrefix(key, "studio:s:") &&
		slices.ContainsFunc(internalKeyPrefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
		return
	}
	u.det.ObserveKey(key)
}

// snapshotHotKeys turns the hot-key view into the Snapshot's form.
func snapshotHotKeys(es []hotkey.Entry) []monitor.HotKey {
	out := make([]monitor.HotKey, 0, len(es))
	for _, e := range es {
		hk := monitor.HotKey{Key: e.Key, Count: e.Count, PerMin: e.PerMin, Error: e.Error}
		for _, sh := range e.Instances {
			hk.Instances = append(hk.Instances, monitor.HotKeyShare{Instance: sh.Instance, Count: sh.Count})
		}
		out = append(out, hk)
	}
	return out
}

// nativeHotKeys keeps the server's own hot-key view, refreshed every 30 s.
type nativeHotKeys struct {
	v atomic.Pointer[hotkey.NativeView]
}

func (n *nativeHotKeys) get() any {
	if v := n.v.Load(); v != nil {
		return v
	}
	return nil
}

func (n *nativeHotKeys) run(ctx context.Context, rdb redis.UniversalClient) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if v, err := hotkey.Native(qctx, rdb); err == nil {
			n.v.Store(&v)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
