package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/internal/redisproc"
	"github.com/studiohq/studio/internal/sleep"
	"github.com/studiohq/studio/redisconn"
)

// localRedis is the Redis `studio up` runs: the HA topology (a master, two
// replicas, three Sentinels) or, with --single-redis, one server. A
// supervisor restarts any of its processes that dies (as systemd would in
// production), after a second, so a killed master comes back and rejoins
// as a replica; a stopped (SIGSTOP) one is left to whoever stopped it.
type localRedis struct {
	config redisconn.Config
	dir    string
	single *redisproc.Server
	topo   *redisproc.Topology
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLocalRedis(ctx context.Context, uf upFlags, log *slog.Logger) (*localRedis, error) {
	l := &localRedis{dir: redisStateDir(uf.stateDir)}
	// Processes left behind by a crashed run would hold the directory.
	if err := redisproc.KillStaleTree(l.dir); err != nil {
		return nil, err
	}
	var servers []*redisproc.Server
	if uf.singleRedis {
		rs, err := redisproc.Launch(ctx, redisproc.Config{Dir: l.dir})
		if err != nil {
			l.removeDir()
			return nil, fmt.Errorf("start local redis: %w", err)
		}
		l.single, l.config = rs, redisconn.Config{URL: rs.URL()}
		servers = []*redisproc.Server{rs}
	} else {
		topo, err := redisproc.LaunchSentinel(ctx, redisproc.SentinelConfig{Dir: l.dir})
		if err != nil {
			l.removeDir()
			return nil, fmt.Errorf("start local redis sentinel topology: %w", err)
		}
		l.topo = topo
		l.config = redisconn.Config{Sentinels: topo.SentinelAddrs(), MasterName: topo.MasterName()}
		servers = append(topo.DataNodes(), topo.Sentinels()...)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	for _, s := range servers {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); supervise(sctx, s, l.waitFailover, log) }()
	}
	return l, nil
}

// Process logs are in each process's directory (redis-server.log).

// redisStateDir is where the local Redis keeps its files: on a tmpfs when
// there is one (/dev/shm), because a Sentinel fsyncs its config file from
// its only thread, and one stalled on a busy disk for over 2 s enters TILT
// mode and starts no failover for 30 s. The name derives from the state
// directory, so a later run finds (and cleans up) what an earlier left.
func redisStateDir(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		sum := sha256.Sum256([]byte(abs))
		return filepath.Join("/dev/shm", "studio-redis-"+hex.EncodeToString(sum[:6]))
	}
	return filepath.Join(stateDir, "redis")
}

// supervise restarts s after its process exits, until ctx ends: a second
// later, and for the master only once wait returns.
func supervise(ctx context.Context, s *redisproc.Server, wait func(context.Context, *redisproc.Server, *slog.Logger), log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Done():
		}
		if !sleep.Ctx(ctx, time.Second) {
			return
		}
		wait(ctx, s, log)
		if ctx.Err() != nil {
			return
		}
		log.Warn("studio up: a local redis process exited; restarting it", "addr", s.Addr(), "dir", s.Dir())
		if err := s.Restart(ctx); err != nil && ctx.Err() == nil {
			log.Error("studio up: restart of a local redis process failed", "addr", s.Addr(), "error", err)
			if !sleep.Ctx(ctx, 5*time.Second) {
				return
			}
		}
	}
}

// waitFailover returns once the Sentinels name a master other than s (at
// once when s is not the master). The local nodes keep no data on disk: a
// master restarted before the Sentinels fail over comes back empty, still
// master, and its replicas would copy the empty data set. (The failover
// drill found exactly that with an immediate restart.) After a minute
// without a failover, s is restarted anyway: the store still has every
// session and the warmer refills Redis.
func (l *localRedis) waitFailover(ctx context.Context, s *redisproc.Server, log *slog.Logger) {
	if l.topo == nil || l.topo.Node(s.Addr()) == nil || slices.Contains(l.topo.Sentinels(), s) {
		return
	}
	deadline := time.Now().Add(time.Minute)
	logged := false
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := l.topo.Master(qctx)
		cancel()
		if err == nil && m != s {
			return
		}
		if !logged {
			log.Info("studio up: the dead process was the master; waiting for the Sentinels to fail over before restarting it", "addr", s.Addr())
			logged = true
		}
		if !sleep.Ctx(ctx, 200*time.Millisecond) {
			return
		}
	}
}

func (l *localRedis) stop() {
	l.cancel()
	l.wg.Wait()
	if l.topo != nil {
		_ = l.topo.Stop()
	}
	if l.single != nil {
		_ = l.single.Stop()
	}
	l.removeDir()
}

// removeDir removes the Redis directory when it is on the tmpfs: nothing
// there outlives the run (a state directory on disk is left alone).
func (l *localRedis) removeDir() {
	if strings.HasPrefix(l.dir, "/dev/shm/") {
		_ = os.RemoveAll(l.dir)
	}
}

func (l *localRedis) describe() string {
	if l.single != nil {
		return fmt.Sprintf("%s  (pid %d, data in %s)", l.single.URL(), l.single.PID(), l.dir)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Sentinel master %q: master %s, replicas", l.topo.MasterName(), l.topo.DataNodes()[0].Addr())
	for _, n := range l.topo.DataNodes()[1:] {
		b.WriteString(" " + n.Addr())
	}
	fmt.Fprintf(&b, "\n               Sentinels %s  (files in %s)", strings.Join(l.topo.SentinelAddrs(), ","), l.dir)
	return b.String()
}

// flags are the settings that point a command at the local Redis.
func (l *localRedis) flags() []string {
	if l.topo == nil {
		return []string{"--redis-url", l.single.URL()}
	}
	return []string{"--redis-sentinels", strings.Join(l.topo.SentinelAddrs(), ","), "--redis-master-name", l.topo.MasterName()}
}
