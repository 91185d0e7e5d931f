package session_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"

	"github.com/studiohq/studio/internal/syncbuf"
)

// TestKeySlotKnownValues: CRC16/XMODEM's check value and the hash tag rule
// of the Redis Cluster specification.
func TestKeySlotKnownValues(t *testing.T) {
	for _, c := range []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3 % 16384},
		{"", 0},
		{"{user1000}.following", session.KeySlot("user1000")},
		{"foo{}{bar}", session.KeySlot("foo{}{bar}")}, // empty tag: the whole key
		{"foo{{bar}}zap", session.KeySlot("{bar")},    // the tag is "{bar"
		{"foo{bar}{zap}", session.KeySlot("bar")},     // the first tag only
	} {
		if got := session.KeySlot(c.key); got != c.want {
			t.Errorf("KeySlot(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

// clusterEnv is a real Redis Cluster, a SQLite store and a Service on the
// production cluster client.
type clusterEnv struct {
	cl    *redistest.Cluster
	cc    *redis.ClusterClient // the test's own
	store *sqlstore.Store
	svc   *session.Service
}

func newClusterEnv(t *testing.T, replicas int) *clusterEnv {
	t.Helper()
	cl := redistest.StartCluster(t, func(c *redistest.ClusterConfig) { c.ReplicasPerMaster = replicas })
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, err := redisconn.Open(redisconn.Config{Cluster: cl.Addrs(), Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	svc, err := session.NewService(session.Options{Store: st, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &clusterEnv{cl: cl, cc: cl.Client(t), store: st, svc: svc}
}

// keysOn returns the session keys held by one node.
func keysOn(t *testing.T, s *redistest.Server) map[string]bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	keys, err := c.Keys(bg, "studio:s:*").Result()
	if err != nil {
		return nil
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// TestWarmWatchClusterRewarmsLostMaster: one master of a three-master
// Cluster restarts empty. Watch notices its new run_id and missing marker
// and warms that master's slots only, without touching the other two;
// keySlot agrees with the cluster's CLUSTER KEYSLOT on every session key.
func TestWarmWatchClusterRewarmsLostMaster(t *testing.T) {
	e := newClusterEnv(t, 0)
	const n = 600
	toks := seedSessions(t, e.store, n, time.Now())
	logs := &syncbuf.Buffer{}
	var last struct {
		sync.Mutex
		res session.WarmResult
	}
	w := e.svc.NewWarmer(session.WarmOptions{Source: e.store, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnResult: func(_ string, res session.WarmResult, _ error) {
			last.Lock()
			last.res = res
			last.Unlock()
		}})
	if res, err := w.Run(bg); err != nil || res.Written != n {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	for _, tok := range toks[:100] {
		h, err := session.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		k := e.svc.Key(h)
		want, err := e.cc.ClusterKeySlot(bg, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := session.KeySlot(k); int64(got) != want {
			t.Fatalf("KeySlot(%s) = %d, CLUSTER KEYSLOT %d", k, got, want)
		}
	}

	watch(t, w)
	time.Sleep(350 * time.Millisecond)
	if p := w.Progress(); p.Runs != 1 {
		t.Fatalf("Watch warmed an intact cluster: %+v", p)
	}

	node := e.cl.Nodes()[1]
	lost := keysOn(t, node)
	if len(lost) == 0 || len(lost) == n {
		t.Fatalf("master %s holds %d of %d sessions", node.Addr(), len(lost), n)
	}
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := node.Restart(bg); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	waitFor(t, 20*time.Second, "re-warm of the restarted master", func() bool {
		p := w.Progress()
		return p.Runs == 2 && p.State == session.WarmDone && len(keysOn(t, node)) == len(lost)
	})
	p := w.Progress()
	t.Logf("re-warmed %d sessions %s after the restart (%s)", p.Written, time.Since(restarted).Round(time.Millisecond), p.Reason)
	last.Lock()
	res := last.res
	last.Unlock()
	// Only the lost master's sessions were sent: none was refused for
	// existing on the others.
	if res.Written != len(lost) || res.Skipped != 0 || res.Considered != n || !strings.Contains(p.Reason, node.Addr()) {
		t.Fatalf("the re-warm wrote %d and skipped %d sessions (want only the %d of %s), considered %d: %+v", res.Written, res.Skipped, len(lost), node.Addr(), res.Considered, p)
	}
	got := keysOn(t, node)
	for k := range lost {
		if !got[k] {
			t.Fatalf("%s is missing on the restarted master", k)
		}
	}
	total := 0
	for _, s := range e.cl.Nodes() {
		total += len(keysOn(t, s))
	}
	if total != n {
		t.Fatalf("%d session keys in the cluster, want %d", total, n)
	}
	for _, tok := range toks[:50] {
		if _, tier, err := e.svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
			t.Fatalf("validation after the re-warm: tier %v, %v", tier, err)
		}
	}
	time.Sleep(350 * time.Millisecond)
	if p := w.Progress(); p.Runs != 2 {
		t.Fatalf("Watch warmed again: %+v\n%s", p, logs)
	}
}

// TestWarmWatchClusterFailoverKeepsData: a master dies and its replica,
// which holds the sessions and the marker, takes over. Watch sees the new
// master and leaves it alone.
func TestWarmWatchClusterFailoverKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster failover takes seconds")
	}
	e := newClusterEnv(t, 1)
	const n = 300
	seedSessions(t, e.store, n, time.Now())
	logs := &syncbuf.Buffer{}
	w := e.svc.NewWarmer(session.WarmOptions{Source: e.store, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if res, err := w.Run(bg); err != nil || res.Written != n {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	// Every replica has its master's keys (and marker) before the kill.
	nodes := e.cl.Nodes()
	waitFor(t, 10*time.Second, "replication", func() bool {
		total := 0
		for _, s := range nodes {
			total += len(keysOn(t, s))
		}
		return total == 2*n
	})
	watch(t, w)
	time.Sleep(250 * time.Millisecond)

	dead := nodes[0]
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the replica's promotion to be seen", func() bool {
		return strings.Contains(logs.String(), "kept their sessions")
	})
	if p := w.Progress(); p.Runs != 1 {
		t.Fatalf("Watch warmed a cluster that kept its data: %+v\n%s", p, logs)
	}
	if strings.Contains(logs.String(), "warming again") {
		t.Fatalf("logs: %s", logs)
	}
}
