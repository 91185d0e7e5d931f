package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

var tokenRE = regexp.MustCompile(`"token":"([^"]+)"`)

func createToken(t *testing.T, base, admin, user string) string {
	t.Helper()
	code, body := send(t, "POST", base+"/v1/sessions", admin, fmt.Sprintf(`{"user_id":%q}`, user))
	m := tokenRE.FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("create: %d %s", code, body)
	}
	return m[1]
}

// snapshotTopology reads the Snapshot's topology (the HA watcher's view).
func snapshotTopology(t *testing.T, base, admin string) (master string, failovers float64, sentinels int) {
	t.Helper()
	_, body := send(t, "GET", base+"/health/redis", admin, "")
	var s struct {
		Redis struct {
			Sentinels []any `json:"sentinels"`
		} `json:"redis"`
		Topology struct {
			Master         string  `json:"master"`
			FailoversTotal float64 `json:"failovers_total"`
		} `json:"topology"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("snapshot: %v: %s", err, body)
	}
	return s.Topology.Master, s.Topology.FailoversTotal, len(s.Redis.Sentinels)
}

// TestServeSentinelFailoverWithReplicaReads runs `studio serve` against the
// local Sentinel topology with session reads on replicas, kills the master
// under a validation load, and checks that no validation failed, that a
// revoked session never validated again, that the Snapshot's topology
// follows the failover, and that writes work on the new master.
func TestServeSentinelFailoverWithReplicaReads(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test; -short skips it")
	}
	topo := redistest.StartSentinel(t)
	const admin = "ha-admin-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":      admin,
		"REDIS_SENTINELS":         strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME":       topo.MasterName(),
		"REDIS_READ_REPLICAS":     "true",
		"STUDIO_L1_TTL":           "100ms", // most validations reach Redis
		"STUDIO_MONITOR_INTERVAL": "200ms",
		"DATABASE_URL":            "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	})
	var toks []string
	for i := range 20 {
		toks = append(toks, createToken(t, srv.base, admin, fmt.Sprintf("u%d", i)))
	}
	revoked := createToken(t, srv.base, admin, "leaver")
	if code, _ := send(t, "GET", srv.base+"/v1/session", revoked, ""); code != 200 {
		t.Fatalf("before revoke: %d", code)
	}
	if code, _ := send(t, "DELETE", srv.base+"/v1/session", revoked, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _, n := snapshotTopology(t, srv.base, admin)
		if m == topo.DataNodes()[0].Addr() && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topology never showed master %s and 3 Sentinels (got %q, %d)", topo.DataNodes()[0].Addr(), m, n)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var failed, ok, revivals atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := send(t, "GET", srv.base+"/v1/session", toks[i%len(toks)], ""); code == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
				if i%10 == 0 {
					if code, _ := send(t, "GET", srv.base+"/v1/session", revoked, ""); code != 401 {
						revivals.Add(1)
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	old, err := topo.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	newMaster, err := topo.WaitMasterChange(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	var seen time.Duration
	for {
		m, n, _ := snapshotTopology(t, srv.base, admin)
		if m == newMaster.Addr() && n >= 1 {
			seen = time.Since(killed)
			break
		}
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("the Snapshot never showed the new master %s (got %q, failovers %v)", newMaster.Addr(), m, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := createToken(t, srv.base, admin, "after-failover")
	if code, _ := send(t, "GET", srv.base+"/v1/session", after, ""); code != 200 {
		t.Fatalf("a session created after the failover does not validate: %d", code)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("failover shown in the Snapshot %s after the kill; %d validations succeeded, %d failed; revoked session accepted %d times",
		seen.Round(time.Millisecond), ok.Load(), failed.Load(), revivals.Load())
	if failed.Load() != 0 || revivals.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d validations failed and a revoked session validated %d times during the failover", failed.Load(), revivals.Load())
	}
	cancel()
	if code := <-srv.done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, srv.stderr.String())
	}
}

// TestServeSentinelOverTLSWithSeparateMaterial: data nodes and Sentinels
// are TLS-only with different CAs (as managed services often are);
// `studio serve` reaches both with the REDIS_TLS_* and
// REDIS_TLS_SENTINEL_* settings, and cannot with the data-node material
// alone.
func TestServeSentinelOverTLSWithSeparateMaterial(t *testing.T) {
	data, sent := redistest.NewPKI(t), redistest.NewPKI(t)
	dataOpts, sentOpts := data.TLSOptions(), sent.TLSOptions()
	topo := redistest.StartSentinel(t, func(c *redistest.SentinelConfig) {
		c.Replicas = 1
		c.TLS, c.SentinelTLS = &dataOpts, &sentOpts
	})
	env := func(withSentinelMaterial bool) map[string]string {
		e := map[string]string{
			"STUDIO_ADMIN_TOKEN":  "tls-admin-token-0123456789",
			"REDIS_SENTINELS":     strings.Join(topo.SentinelAddrs(), ","),
			"REDIS_MASTER_NAME":   topo.MasterName(),
			"REDIS_TLS_CA_FILE":   data.CAFile,
			"REDIS_TLS_CERT_FILE": data.ClientCert,
			"REDIS_TLS_KEY_FILE":  data.ClientKey,
			"DATABASE_URL":        "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		}
		if withSentinelMaterial {
			e["REDIS_TLS_SENTINEL_CA_FILE"] = sent.CAFile
			e["REDIS_TLS_SENTINEL_CERT_FILE"] = sent.ClientCert
			e["REDIS_TLS_SENTINEL_KEY_FILE"] = sent.ClientKey
		}
		return e
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, env(true))
	tok := createToken(t, srv.base, "tls-admin-token-0123456789", "tls")
	h, _ := send(t, "GET", srv.base+"/readyz", "", "")
	if h != 200 {
		t.Fatalf("readyz %d over Sentinel TLS", h)
	}
	if code, _ := send(t, "GET", srv.base+"/v1/session", tok, ""); code != 200 {
		t.Fatalf("validate: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _, n := snapshotTopology(t, srv.base, "tls-admin-token-0123456789")
		if m == topo.DataNodes()[0].Addr() && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher never reached the Sentinels over TLS (master %q, %d Sentinels)", m, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-srv.done

	// Without the Sentinel material the Sentinels' certificates do not
	// verify: /readyz reports Redis down with the cause (the service stays
	// ready, degraded, serving from the store).
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	srv2 := startServe(t, ctx2, env(false))
	if _, body := send(t, "GET", srv2.base+"/readyz", "", ""); !strings.Contains(body, `"redis":{"status":"down"`) ||
		!strings.Contains(body, "certificate signed by unknown authority") {
		t.Fatalf("readyz without the Sentinel CA: %s (want Redis down, naming the certificate)", body)
	}
	cancel2()
	<-srv2.done
}

// TestServeOnRedisCluster: `studio serve` on a real three-master Redis
// Cluster: sessions spread over every master, validate through Redis,
// revocation reaches a second instance (pub/sub is cluster-wide), and the
// Snapshot polls every master.
func TestServeOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	const admin = "cluster-admin-token-0123456789"
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{
		"STUDIO_ADMIN_TOKEN":      admin,
		"REDIS_CLUSTER":           strings.Join(cl.Addrs(), ","),
		"STUDIO_MONITOR_INTERVAL": "200ms",
		"DATABASE_URL":            db,
	}
	a := startServe(t, ctx, env)
	b := startServe(t, ctx, env)
	var toks []string
	for i := range 30 {
		toks = append(toks, createToken(t, a.base, admin, fmt.Sprintf("c%d", i)))
	}
	for _, tok := range toks {
		if code, _ := send(t, "GET", b.base+"/v1/session", tok, ""); code != 200 {
			t.Fatalf("validate on the second instance: %d", code)
		}
	}
	// Every master holds some of the sessions.
	for _, n := range cl.Nodes() {
		keys, err := n.Client(t).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if keys == 0 {
			t.Errorf("master %s holds no keys", n.Addr())
		}
	}
	// b has the session in its L1; a revocation through a reaches it.
	if code, _ := send(t, "DELETE", a.base+"/v1/session", toks[0], ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := send(t, "GET", b.base+"/v1/session", toks[0], ""); code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation never reached the second instance")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		_, body := send(t, "GET", a.base+"/health/redis", admin, "")
		var s struct {
			Status string `json:"status"`
			Redis  struct {
				Mode    string   `json:"mode"`
				Masters []string `json:"masters"`
			} `json:"redis"`
		}
		_ = json.Unmarshal([]byte(body), &s)
		if s.Redis.Mode == "cluster" && len(s.Redis.Masters) == 3 && s.Status == "ok" {
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("snapshot never showed three healthy masters: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(a.stdout.String()+a.stderr.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged on a cluster: %s", a.stdout.String())
	}

	// One master restarts empty: serve's Watch (every 5 s) warms its slots
	// again from the store, without anyone asking. First the start-up warm
	// must be over, or its own retry would do the work.
	for _, s := range []*serving{a, b} {
		for {
			_, ready := send(t, "GET", s.base+"/readyz", "", "")
			if strings.Contains(ready, `"warming":{"state":"done"`) {
				break
			}
			if time.Now().After(deadline.Add(15 * time.Second)) {
				t.Fatalf("start-up warm not done: %s", ready)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	node := cl.Nodes()[0]
	nc := node.Client(t)
	before, err := nc.Keys(ctx, "studio:s:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		after, _ := nc.Keys(ctx, "studio:s:*").Result()
		logs := a.stdout.String() + b.stdout.String()
		// toks[0] is revoked: its tombstone, if it lived there, is not
		// warmed back (the store refuses the session anyway).
		if len(after) >= len(before)-1 && strings.Contains(logs, "redis cluster master "+node.Addr()) {
			t.Logf("master %s re-warmed: %d session keys before the restart, %d after", node.Addr(), len(before), len(after))
			break
		}
		if time.Now().After(deadline) {
			var warmLines []string
			for l := range strings.SplitSeq(logs, "\n") {
				if strings.Contains(l, "warm") {
					warmLines = append(warmLines, l)
				}
			}
			t.Fatalf("master %s not re-warmed: %d keys before, %d now; warm log lines:\n%s", node.Addr(), len(before), len(after), strings.Join(warmLines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	for _, s := range []*serving{a, b} {
		if code := <-s.done; code != 0 {
			t.Fatalf("serve exited %d: %s", code, s.stderr.String())
		}
	}
}
