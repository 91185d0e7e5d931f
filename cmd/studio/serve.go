package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
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
	log := newLogger(stdout, cfg.LogLevel)
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return a.serve(ctx, ln)
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// app is one running Studio: its store, Redis client, session service and
// HTTP server.
type app struct {
	cfg      Config
	log      *slog.Logger
	store    *sqlstore.Store
	rdb      redis.UniversalClient
	sessions *session.Service
	handler  http.Handler
}

// openApp opens the store (applying its schema), the Redis client and the
// session service. Redis need not be up: validation then runs from the
// store until it is.
func openApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	redis.SetLogger(redisLogger{log})
	var err error
	a.store, err = sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open session store: %w", err)
	}
	rc := cfg.Redis
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{
		OnStateChange: func(from, to string) {
			log.Warn("redis circuit breaker changed state", "from", from, "to", to)
		},
	})
	a.rdb, err = redisconn.Open(rc)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("open redis client: %w", err)
	}
	a.sessions, err = session.NewService(session.Options{
		Store:    a.store,
		Redis:    a.rdb,
		L1TTL:    cfg.L1TTL,
		CacheTTL: cfg.CacheTTL,
		Logger:   log,
	})
	if err != nil {
		a.close()
		return nil, err
	}
	a.handler = server.New(server.Options{
		Sessions:   a.sessions,
		AdminToken: cfg.AdminToken,
		Logger:     log,
	})
	if cfg.AdminToken == "" {
		log.Warn("STUDIO_ADMIN_TOKEN is not set: admin routes are disabled")
	}
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		log.Warn("redis is not answering yet; validating from the store until it does", "mode", cfg.Redis.Mode(), "error", err)
	}
	return a, nil
}

// serve answers HTTP on ln until ctx ends, then shuts down gracefully.
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
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String(), "redis_mode", a.cfg.Redis.Mode(), "version", version)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// close releases everything openApp opened, in reverse order.
func (a *app) close() {
	if a.sessions != nil {
		if err := a.sessions.Close(); err != nil {
			a.log.Warn("final last_seen_at write failed", "error", err)
		}
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
}

// redisLogger routes go-redis's internal messages (pool dial failures and
// the like) into the structured log at debug level: the same failures
// already surface, with context, where Studio handles them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
