package redistest

import (
	"errors"
	"os"
	"testing"

	"github.com/studiohq/studio/internal/redisproc"
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
	s, err := redisproc.Launch(tb.Context(), cfg)
	failStart(tb, "start redis-server", err)
	stopAtCleanup(tb, s)
	return s
}

// StartTLS is Start for a TLS-only server; see TLSOptions.
func StartTLS(tb testing.TB, o TLSOptions, opts ...Option) *Server {
	tb.Helper()
	cfg := Config{Dir: tb.TempDir()}
	for _, opt := range opts {
		opt(&cfg)
	}
	s, err := redisproc.LaunchTLS(tb.Context(), cfg, o)
	failStart(tb, "start TLS redis-server", err)
	stopAtCleanup(tb, s)
	return s
}

// StartSentinel launches a Sentinel topology for a test in a temporary
// directory (in /dev/shm when it exists, see SentinelConfig.Dir; else
// tb.TempDir()) and registers a cleanup that stops it and removes the
// directory; opts adjust the config. It fails the test with tb.Fatalf,
// never skips, if redis-server is missing or the topology does not come up
// healthy. When the test has failed, the cleanup logs the last lines of
// every process's log. Call it from the test's goroutine.
func StartSentinel(tb testing.TB, opts ...func(*SentinelConfig)) *Topology {
	tb.Helper()
	cfg := SentinelConfig{Dir: topologyDir(tb)}
	for _, o := range opts {
		o(&cfg)
	}
	t, err := redisproc.LaunchSentinel(tb.Context(), cfg)
	failStart(tb, "start sentinel topology", err)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("sentinel topology %q in %s:%s", t.MasterName(), t.Dir(), t.LogTails(30))
		}
		if err := t.Stop(); err != nil {
			tb.Errorf("stop sentinel topology: %v", err)
		}
	})
	return t
}

// StartCluster launches a Redis Cluster for a test in a temporary directory
// (in /dev/shm when it exists, see ClusterConfig.Dir; else tb.TempDir())
// and registers a cleanup that stops it and removes the directory; opts
// adjust the config. It fails the test with tb.Fatalf, never skips, if
// redis-server is missing or the cluster does not come up healthy. When the
// test has failed, the cleanup logs the last lines of every node's log.
// Call it from the test's goroutine.
func StartCluster(tb testing.TB, opts ...func(*ClusterConfig)) *Cluster {
	tb.Helper()
	cfg := ClusterConfig{Dir: topologyDir(tb)}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := redisproc.LaunchCluster(tb.Context(), cfg)
	failStart(tb, "start cluster", err)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("cluster in %s:%s", c.Dir(), c.LogTails(30))
		}
		if err := c.Stop(); err != nil {
			tb.Errorf("stop cluster: %v", err)
		}
	})
	return c
}

// failStart fails the test when a launch failed (what names the launch);
// a missing binary also names the package to install.
func failStart(tb testing.TB, what string, err error) {
	tb.Helper()
	if errors.Is(err, redisproc.ErrNoRedisServer) {
		tb.Fatalf("%v\nthese tests run a real redis-server: install the Debian package redis-server (apt-get install redis-server) or put redis-server on PATH", err)
	}
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

// stopAtCleanup stops s when the test ends, logging the last lines of its
// log first when the test has failed.
func stopAtCleanup(tb testing.TB, s *Server) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("redis-server %s (dir %s), last log lines:\n%s", s.Addr(), s.Dir(), s.LogTail(30))
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("stop redis-server %s: %v", s.Addr(), err)
		}
	})
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
