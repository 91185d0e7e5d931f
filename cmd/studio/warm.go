package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

const warmUsage = `Usage: studio warm [flags]

Writes the most recently active sessions from the store to Redis now, as
serve does at start-up and whenever Redis comes back empty, then prints one
summary line (and its progress on a terminal).
`

// runWarm warms Redis from the store once, with the settings serve uses:
// a progress line on a terminal, one summary line otherwise; an error (exit
// status 1) when the run fails.
func runWarm(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	st := newSettings("warm", getenv, stderr, nil)
	st.header = warmUsage
	if err := st.parse(args); err != nil {
		return err
	}
	cfg, err := st.Config()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stderr, cfg.LogLevel)
	store, rc, err := openStoreAndTLS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	rdb, err := redisconn.Open(rc)
	if err != nil {
		return fmt.Errorf("open redis client: %w", err)
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis does not answer: %w", err)
	}
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb, L1TTL: -1, CacheTTL: cfg.CacheTTL, Logger: log})
	if err != nil {
		return err
	}
	defer svc.Close()

	tty := isTerminal(stdout)
	var last time.Time
	w := svc.NewWarmer(session.WarmOptions{
		Source: store, Limit: cfg.WarmLimit, Rate: float64(cfg.WarmRate), Logger: log,
		OnProgress: func(p session.WarmProgress) {
			if tty && time.Since(last) > 100*time.Millisecond {
				last = time.Now()
				fmt.Fprintf(stdout, "\rwarming: %d/%d sent, %d written", p.Done, p.Total, p.Written)
			}
		},
	})
	res, err := w.Run(ctx)
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}
	fmt.Fprintf(stdout, "warmed %d sessions in %s: %d written, %d already in redis, %d expired, %d errors, %d batches, %d revocations swept\n",
		res.Considered, res.Duration.Round(time.Millisecond), res.Written, res.Skipped, res.Expired, res.Errors, res.Batches, res.Revoked)
	if err != nil {
		return fmt.Errorf("warming failed: %w", err)
	}
	return nil
}

// openStoreAndTLS opens the session store and loads the Redis TLS
// material, for the one-off commands (warm, drill); the caller closes the
// store.
func openStoreAndTLS(ctx context.Context, cfg Config, log *slog.Logger) (*sqlstore.Store, redisconn.Config, error) {
	rc := cfg.Redis
	store, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, rc, fmt.Errorf("open session store: %w", err)
	}
	if rc.TLS, err = redisconn.NewTLS(rc, redisconn.TLSOptions{Logger: log}); err != nil {
		store.Close()
		return nil, rc, fmt.Errorf("redis TLS (REDIS_TLS_*): %w", err)
	}
	return store, rc, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
