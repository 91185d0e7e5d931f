package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

const warmUsage = `Usage: studio warm [flags]

Writes the most recently active sessions from the store to Redis now, as
serve does at start-up and whenever Redis comes back empty, then prints one
summary line (and its progress on a terminal). The store must exist: warm
reads it and never creates one.
`

// runWarm warms Redis from the store once, with the settings serve uses:
// a progress line on a terminal, one summary line otherwise; an error (exit
// status 1) when the run fails. Redis must answer before the store is
// opened, so a failed run leaves nothing behind.
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
	if err := existingStore(cfg.DatabaseURL); err != nil {
		return st.bad("DATABASE_URL", "%v", err)
	}
	log := commandLogger(stderr, cfg.LogLevel)
	rc, err := redisTLS(cfg, log)
	if err != nil {
		return err
	}
	rdb, err := redisconn.Open(rc)
	if err != nil {
		return fmt.Errorf("open redis client: %w", err)
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis does not answer: %w", err)
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb, L1TTL: -1, CacheTTL: cfg.CacheTTL,
		ClockSkew: cfg.ClockSkew, StoreTimeout: cfg.StoreTimeout, Logger: log})
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
				fmt.Fprintf(stdout, "\rwarming: %s sent, %d written", progressOf(p), p.Written)
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

// progressOf is a run's progress for the terminal: sent of found once the
// store has been read, sent so far before.
func progressOf(p session.WarmProgress) string {
	if p.Total > 0 {
		return fmt.Sprintf("%d/%d", p.Done, p.Total)
	}
	return strconv.Itoa(p.Done)
}

// existingStore refuses a SQLite store that does not exist yet (or lives
// in memory): there is nothing to warm from it, and opening it would
// create an empty file. A PostgreSQL store is checked when it is opened.
func existingStore(databaseURL string) error {
	path, ok := strings.CutPrefix(databaseURL, "sqlite:")
	if !ok {
		return nil
	}
	if path == ":memory:" {
		return errors.New("an in-memory store is empty: warm reads sessions from the store serve uses")
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no SQLite file %s: warm reads sessions from the store serve uses, and creates none", path)
		}
		return fmt.Errorf("SQLite file %s: %v", path, err)
	}
	return nil
}

// openStore opens the session store for the one-off commands (warm,
// drill, bench); the caller closes it.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*sqlstore.Store, error) {
	store, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open session store: %w", err)
	}
	return store, nil
}

// redisTLS returns cfg.Redis with its TLS material loaded (REDIS_TLS_*).
func redisTLS(cfg Config, log *slog.Logger) (redisconn.Config, error) {
	rc := cfg.Redis
	var err error
	if rc.TLS, err = redisconn.NewTLS(rc, redisconn.TLSOptions{Logger: log}); err != nil {
		return rc, fmt.Errorf("redis TLS (REDIS_TLS_*): %w", err)
	}
	return rc, nil
}

// openStoreAndTLS opens the session store and loads the Redis TLS
// material, for the one-off commands (drill, bench); the caller closes the
// store.
func openStoreAndTLS(ctx context.Context, cfg Config, log *slog.Logger) (*sqlstore.Store, redisconn.Config, error) {
	rc, err := redisTLS(cfg, log)
	if err != nil {
		return nil, rc, err
	}
	store, err := openStore(ctx, cfg, log)
	return store, rc, err
}

// commandLogger is the JSON logger of a command, at level, on w. go-redis's
// own log lines (dial failures and the like) go through it at debug level:
// where they matter, Studio reports the same failures with context.
func commandLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	log := telemetry.NewLogger(w, level)
	redis.SetLogger(redisLogger{log})
	return log
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
