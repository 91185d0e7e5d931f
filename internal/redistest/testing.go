package redistest

import (
	"errors"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Option changes the Config that Start passes to Launch.
type Option func(*Config)

// WithArgs appends redis-server config directives, e.g.
// WithArgs("--maxmemory", "10mb").
func WithArgs(args ...string) Option {
	return func(c *Config) { c.ExtraArgs = append(c.ExtraArgs, args...) }
}

// WithPersist keeps Redis's default persistence (RDB snapshots in Dir).
func WithPersist() Option { return func(c *Config) { c.Persist = true } }

// WithBinary sets the redis-server executable.
func WithBinary(path string) Option { return func(c *Config) { c.Binary = path } }

// Start launches a redis-server for a test in tb.TempDir() on a free port,
// and registers a cleanup that stops it, so no process outlives the test even
// when it fails or panics (and Pdeathsig covers a crash of the test binary).
// It fails the test with tb.Fatalf, never skips, if redis-server is missing
// or will not start. When the test has failed, the cleanup logs the last
// lines of the server's log. Start must be called from the test's goroutine.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := Config{Dir: tb.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := Launch(tb.Context(), cfg)
	if errors.Is(err, ErrNoRedisServer) {
		tb.Fatalf("%v\nthese tests run a real redis-server: install the Debian package redis-server (apt-get install redis-server) or put redis-server on PATH", err)
	}
	if err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("redis-server %s (dir %s), last log lines:\n%s", s.Addr(), s.Dir(), s.LogTail(30))
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("stop redis-server %s: %v", s.Addr(), err)
		}
	})
	return s
}

// Client returns a go-redis client for s, closed when the test ends (before
// the server stops, if s came from Start in the same test). opts may adjust
// the options, e.g. timeouts.
func (s *Server) Client(tb testing.TB, opts ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	o := &redis.Options{Addr: s.Addr()}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// topologyDir returns a new directory for a test's topology, removed when
// the test ends: one in /dev/shm when that exists (a tmpfs on Linux), else
// tb.TempDir(). Sentinels fsync their config file on every change of state
// and cluster nodes their nodes.conf, from their only thread; on a busy
// disk one fsync took over 3 s here, long enough for Sentinels to enter TILT
// mode (no failover for 30 s) and for cluster nodes to be flagged failing.
// Register it before the cleanup that stops the processes, so that runs
// first.
func topologyDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "redistest-")
	if err != nil {
		return tb.TempDir()
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}
