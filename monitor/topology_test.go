package monitor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts a three-master Redis Cluster (no replicas) and
// waits until every node reports cluster_state:ok.
func startCluster(t *testing.T) []*redistest.Server {
	t.Helper()
	ctx := context.Background()
	var nodes []*redistest.Server
	var buses []int
	for range 3 {
		bus := freePort(t) // explicit: port+10000 may be past 65535
		nodes = append(nodes, redistest.Start(t, redistest.WithArgs(
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000")))
		buses = append(buses, bus)
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	c0 := nodes[0].Client(t)
	for i, n := range nodes {
		c := n.Client(t)
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE on %s: %v", n.Addr(), err)
		}
		if i > 0 {
			if err := c0.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", n.Port(), buses[i]).Err(); err != nil {
				t.Fatalf("CLUSTER MEET %s: %v", n.Addr(), err)
			}
		}
	}
	waitFor(t, 20*time.Second, "cluster_state:ok on every node", func() bool {
		for _, n := range nodes {
			text, err := n.Client(t).Do(ctx, "CLUSTER", "INFO").Text()
			if err != nil {
				return false
			}
			in := ParseInfo(text)
			if v, _ := in.Get("", "cluster_state"); v != "ok" {
				return false
			}
			if v, _ := in.Int("", "cluster_known_nodes"); v != 3 {
				return false
			}
		}
		return true
	})
	return nodes
}

// In cluster mode every master is polled and the figures are summed.
func TestClusterMode(t *testing.T) {
	nodes := startCluster(t)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	slices.Sort(addrs)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })
	ctx := context.Background()
	waitFor(t, 10*time.Second, "the cluster client to serve", func() bool { return cc.Set(ctx, "probe", "x", 0).Err() == nil })
	for i := range 99 {
		if err := cc.Set(ctx, fmt.Sprintf("k%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	m := New(Options{Redis: cc})
	m.pollOnce(ctx)
	m.pollOnce(ctx)
	s := m.Snapshot()
	r := s.Redis
	if s.Status != StatusOK || r.Mode != "cluster" || r.Role != "master" {
		t.Errorf("status %s %v, mode %q role %q", s.Status, s.Reasons, r.Mode, r.Role)
	}
	if !slices.Equal(r.Masters, addrs) || r.Master != addrs[0] {
		t.Errorf("masters %v master %q, want %v", r.Masters, r.Master, addrs)
	}
	if r.KeyspaceKeys != 100 || r.ConnectedClients < 3 || r.MaxClients <= 0 || r.UsedMemoryBytes <= 0 || r.OpsPerSec <= 0 {
		t.Errorf("keys %d clients %d/%d memory %d ops %v", r.KeyspaceKeys, r.ConnectedClients, r.MaxClients, r.UsedMemoryBytes, r.OpsPerSec)
	}
	if s.Pool.TotalConns < 3 {
		t.Errorf("pool %+v, want connections to every node", s.Pool)
	}
	if !strings.HasPrefix(r.Version, "7.") {
		t.Errorf("version %q", r.Version)
	}
}

// startSentinel starts one Sentinel watching master as "mymaster", through
// a wrapper that puts a generated sentinel.conf and --sentinel before the
// options redistest passes.
func startSentinel(t *testing.T, master *redistest.Server) *redistest.Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	host, port, _ := net.SplitHostPort(master.Addr())
	if err := os.WriteFile(conf, fmt.Appendf(nil, "sentinel monitor mymaster %s %s 1\n", host, port), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "redis-sentinel.sh")
	if err := os.WriteFile(script, fmt.Appendf(nil, "#!/bin/sh\nexec %q %q --sentinel \"$@\"\n", bin, conf), 0o755); err != nil {
		t.Fatal(err)
	}
	return redistest.Start(t, redistest.WithBinary(script))
}

// In sentinel mode the failover client hides the master's address; the
// monitor learns it from the server (CLIENT INFO laddr).
func TestSentinelMode(t *testing.T) {
	master := redistest.Start(t)
	sentinel := startSentinel(t, master)
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: []string{sentinel.Addr()}})
	t.Cleanup(func() { _ = fc.Close() })
	ctx := context.Background()
	waitFor(t, 10*time.Second, "the failover client to reach the master", func() bool { return fc.Ping(ctx).Err() == nil })

	m := New(Options{Redis: fc})
	m.pollOnce(ctx)
	s := m.Snapshot()
	if s.Status != StatusOK || s.Redis.Mode != "sentinel" || s.Redis.Master != master.Addr() || s.Redis.Role != "master" {
		t.Errorf("status %s %v, mode %q master %q (want %s) role %q", s.Status, s.Reasons, s.Redis.Mode, s.Redis.Master, master.Addr(), s.Redis.Role)
	}
	if len(s.Redis.Sentinels) != 0 || s.Redis.Sentinels == nil {
		t.Errorf("sentinels %v, want [] until the HA work fills them", s.Redis.Sentinels)
	}
}
