package redisproc_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redisproc"
	"github.com/studiohq/studio/internal/redistest"
)

func TestClusterThreeMasters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	c := redistest.StartCluster(t)
	t.Logf("cluster healthy after %v", time.Since(start).Round(time.Millisecond))
	nodes := c.Nodes()
	if len(nodes) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("%d nodes, %d addrs; want 3", len(nodes), len(c.Addrs()))
	}
	for _, s := range nodes {
		info, err := s.Client(t).ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("%s: CLUSTER INFO = %v\n%s", redisproc.ServerName(s), err, info)
		}
	}

	cc := c.Client(t)
	const keys = 300
	for i := range keys {
		if err := cc.Set(ctx, "key:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("SET through the cluster client: %v", err)
		}
	}
	// Every master holds some of the keys: the slots are spread over all
	// three, and the client followed the slot map.
	total := 0
	for i, s := range nodes {
		n, err := s.Client(t).DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("%s: DBSIZE: %v", redisproc.ServerName(s), err)
		}
		if n == 0 {
			t.Errorf("master %d (%s) holds no key", i, s.Addr())
		}
		total += int(n)
	}
	if total != keys {
		t.Errorf("masters hold %d keys in all; want %d", total, keys)
	}
	for i := range keys {
		if got, err := cc.Get(ctx, "key:"+strconv.Itoa(i)).Int(); err != nil || got != i {
			t.Fatalf("GET key:%d = %d, %v", i, got, err)
		}
	}

	checkAllGone(t, nodes, c.Stop)
	if pids := redisUnder(t, c.Dir()); len(pids) != 0 {
		t.Errorf("redis-server processes left running: %v", pids)
	}
}

func TestClusterWithReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	c := redistest.StartCluster(t, func(cfg *redisproc.ClusterConfig) { cfg.Masters, cfg.ReplicasPerMaster = 2, 1 })
	t.Logf("cluster of 2 masters and 2 replicas healthy after %v", time.Since(start).Round(time.Millisecond))
	nodes := c.Nodes()
	if len(nodes) != 4 {
		t.Fatalf("%d nodes; want 4", len(nodes))
	}
	for i, s := range nodes {
		role, err := s.Client(t).Do(ctx, "ROLE").Slice()
		if err != nil {
			t.Fatalf("%s: ROLE: %v", redisproc.ServerName(s), err)
		}
		want := "master"
		if i >= 2 {
			want = "slave"
			if port := role[2]; port != int64(nodes[i-2].Port()) {
				t.Errorf("%s replicates port %v; want %d", redisproc.ServerName(s), port, nodes[i-2].Port())
			}
		}
		if role[0] != want {
			t.Errorf("%s: role %v; want %s", redisproc.ServerName(s), role[0], want)
		}
	}
	// A write reaches the replicas; a read-only client may read there.
	cc := c.Client(t, func(o *redis.ClusterOptions) { o.ReadOnly = true })
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	eventually(t, 5*time.Second, "the write reaches a replica", func() error {
		var n int64
		for _, s := range nodes[2:] {
			got, err := s.Client(t).DBSize(ctx).Result()
			if err != nil {
				return err
			}
			n += got
		}
		if n != 1 {
			return errNotYet
		}
		return nil
	})

	// A restarted replica rejoins the cluster with its identity.
	if err := nodes[3].Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitHealthy(hctx); err != nil {
		t.Fatalf("after restarting a replica: %v", err)
	}
}
