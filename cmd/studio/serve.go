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

	"github.com/studiohq/studio/internal/listen"
)

const serveUsage = `Usage: studio serve [flags]

Runs the session service: the HTTP API, the Studio Redis page, metrics, the
Redis monitor, cache warming, hot keys and alerts. Redis need not be up:
sessions are validated from the store until it is. It listens on
STUDIO_ADDR, or on :$PORT when PORT is set and STUDIO_ADDR is not; HTTPS
with STUDIO_TLS_CERT_FILE and STUDIO_TLS_KEY_FILE, HTTP otherwise.
`

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	st := newSettings("serve", getenv, stderr, nil)
	st.header = serveUsage
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
		a.log.Error("shutdown timeout: stopping before background work finished", "timeout", a.cfg.ShutdownTimeout)
	}
}

// serve answers HTTP, or HTTPS with STUDIO_TLS_CERT_FILE, on ln until ctx
// ends, then stops gracefully: it drains for cfg.ShutdownDrain (/readyz
// answers 503 while requests are still served, so load balancers take
// the instance out), then gives in-flight requests up to
// cfg.ShutdownTimeout to finish. At most cfg.MaxConns connections are
// open at once; at the cap a new one closes the longest-idle keep-alive
// connection (listen.Limiter), so idle connections never keep a client
// out.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	lim := listen.Limit(ln, a.cfg.MaxConns)
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ConnState:         lim.ConnState,
	}
	scheme := "http"
	if a.listenCert != nil {
		srv.TLSConfig, scheme = a.listenCert.TLSConfig(), "https"
	}
	if a.dash != nil {
		// Shutdown waits for requests to end; the dashboard's event
		// streams end only when told.
		srv.RegisterOnShutdown(a.dash.Close)
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(lim, "", "") // the certificate comes from GetCertificate
			return
		}
		errc <- srv.Serve(lim)
	}()
	a.log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "max_conns", a.cfg.MaxConns,
		"idle_timeout", a.cfg.IdleTimeout, "trusted_proxies", len(a.cfg.TrustedProxies),
		"redis_mode", a.cfg.Redis.Mode(), "version", version)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	if d := a.cfg.ShutdownDrain; d > 0 {
		a.handler.Drain()
		a.log.Info("draining: /readyz answers 503 while requests are still served", "drain", d)
		select {
		case <-time.After(d):
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		}
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
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
