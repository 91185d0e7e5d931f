package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/ha/drill"
	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
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
	const admin = "ha-admin-bb4dd7f43330e50b9447dece7ae1c301e91aae0cb1ede2f0"
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
			"STUDIO_ADMIN_TOKEN":  "tls-admin-36ae17e649e6d0078655b873e21918e044debede98a8d626",
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
	tok := createToken(t, srv.base, "tls-admin-36ae17e649e6d0078655b873e21918e044debede98a8d626", "tls")
	h, _ := send(t, "GET", srv.base+"/readyz", "", "")
	if h != 200 {
		t.Fatalf("readyz %d over Sentinel TLS", h)
	}
	if code, _ := send(t, "GET", srv.base+"/v1/session", tok, ""); code != 200 {
		t.Fatalf("validate: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _, n := snapshotTopology(t, srv.base, "tls-admin-36ae17e649e6d0078655b873e21918e044debede98a8d626")
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
	// verify: /readyz reports Redis down, with the cause to the admin (the
	// service stays ready, degraded, serving from the store).
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	srv2 := startServe(t, ctx2, env(false))
	if _, body := send(t, "GET", srv2.base+"/readyz", "tls-admin-36ae17e649e6d0078655b873e21918e044debede98a8d626", ""); !strings.Contains(body, `"redis":{"status":"down"`) ||
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
	const admin = "cluster-admin-87e66ad550c67e1f0fe148f0f9e0d0774880ed2d748807bc"
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

// TestServeFailoverWriteGap runs `studio serve` under validation and
// create traffic while the failover drill kills the master, and compares
// the write gap Studio recorded on the failover (from its own commands)
// with the Sentinels' detection → switch time and with the drill's write
// unavailability window, measured by the drill's writers on the same
// event. Bounds are generous sanity checks; the figures are printed.
func TestServeFailoverWriteGap(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test; -short skips it")
	}
	topo := redistest.StartSentinel(t)
	const admin = "gap-admin-a65c2e3e97118362b88ad39ff108f40c284e17da25462298"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN": admin,
		"REDIS_SENTINELS":    strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME":  topo.MasterName(),
		"STUDIO_L1_TTL":      "100ms", // most validations reach Redis
		"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	})
	var toks []string
	for i := range 20 {
		toks = append(toks, createToken(t, srv.base, admin, fmt.Sprintf("gap-%d", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for g := range 3 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if g == 0 && i%10 == 0 {
					send(t, "POST", srv.base+"/v1/sessions", admin, `{"user_id":"gap-new"}`)
				} else {
					send(t, "GET", srv.base+"/v1/session", toks[i%len(toks)], "")
				}
				sent.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	// On a loaded machine the Sentinels may fail the promoted master over
	// again (it missed their pings for down-after-milliseconds), and
	// Studio's last failover is then that second one. So every failover
	// Studio shows while the drill runs is kept, and the drill's is the one
	// compared.
	var (
		mu   sync.Mutex
		seen = map[string]health.Failover{} // by "from→to"
	)
	pollCtx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			if f, err := readLastFailover(pollCtx, srv.base, admin); err == nil && f.From != "" {
				mu.Lock()
				seen[f.From+"→"+f.To] = f
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	r := runKillDrill(t, topo)
	drillKey := r.MasterBefore + "→" + r.MasterAfter
	var lf health.Failover
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		lf = seen[drillKey]
		mu.Unlock()
		if lf.WriteGapStatus == "measured" {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			all := fmt.Sprintf("%+v", seen)
			mu.Unlock()
			t.Fatalf("the write gap of the drill's failover %s was never measured; Studio's failovers: %s", drillKey, all)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopPoll()
	<-polled // seen is no longer written
	for k, f := range seen {
		if k != drillKey {
			t.Logf("a further failover the Sentinels made on their own: %+v", f)
		}
	}
	drillGap := r.WriteUnavailableMS / 1000
	t.Logf("MEASURED failover %s → %s with %d requests sent: Studio's write gap %.3f s (%d failed commands; last answer %s before detection, writes back %s after the switch); Sentinel detection → switch %.3f s; drill write unavailability %.3f s (first write on the new master %.0f ms after the kill)",
		lf.From, lf.To, sent.Load(), lf.WriteGapSeconds, lf.FailedCommands,
		lf.DetectedAt.Sub(lf.LastAnswerAt).Round(time.Millisecond), lf.WritesBackAt.Sub(lf.SwitchedAt).Round(time.Millisecond),
		lf.DurationSeconds, drillGap, r.FirstWriteMS)
	if lf.DurationSeconds <= 0 || lf.WriteGapSeconds < lf.DurationSeconds {
		t.Errorf("write gap %.3f s shorter than the Sentinels' detection → switch %.3f s", lf.WriteGapSeconds, lf.DurationSeconds)
	}
	if lf.FailedCommands == 0 || !lf.LastAnswerAt.Before(lf.DetectedAt) || lf.WritesBackAt.Before(lf.FirstFailureAt) {
		t.Errorf("write gap timeline: %+v", lf)
	}
	if d := math.Abs(lf.WriteGapSeconds - drillGap); d > 1.5 || lf.WriteGapSeconds > 10 {
		t.Errorf("Studio's write gap %.3f s is %.3f s away from the drill's %.3f s (want within 1.5 s)", lf.WriteGapSeconds, d, drillGap)
	}
}

// readLastFailover asks the server at base for its last failover; the
// zero value before the first.
func readLastFailover(ctx context.Context, base, admin string) (health.Failover, error) {
	var f health.Failover
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/health/redis", nil)
	if err != nil {
		return f, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return f, err
	}
	defer resp.Body.Close()
	var s struct {
		Topology struct {
			LastFailover *health.Failover `json:"last_failover"`
		} `json:"topology"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return f, fmt.Errorf("health snapshot (status %d): %w", resp.StatusCode, err)
	}
	if s.Topology.LastFailover != nil {
		f = *s.Topology.LastFailover
	}
	return f, nil
}

// runKillDrill runs the failover drill's kill fault on topo with its own
// client, built the way `studio drill failover` builds it, and restarts the
// killed master for it to rejoin.
func runKillDrill(t *testing.T, topo *redistest.Topology) *drill.Report {
	t.Helper()
	rc := redisconn.Config{Sentinels: topo.SentinelAddrs(), MasterName: topo.MasterName(),
		Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})}
	var err error
	if rc.Follower, err = redisconn.NewMasterFollower(rc, nil); err != nil {
		t.Fatal(err)
	}
	fctx, stopFollower := context.WithCancel(t.Context())
	followed := make(chan struct{})
	go func() { defer close(followed); rc.Follower.Run(fctx) }()
	defer func() { stopFollower(); <-followed }()
	rdb, err := redisconn.Open(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	store, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "drill.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	nodes, err := redisconn.NewNodeClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := drill.Run(t.Context(), drill.Options{
		Sentinels: rc.Sentinels, MasterName: rc.MasterName, Redis: rdb, Sessions: svc,
		NewSentinelClient: nodes.Sentinel, NewNodeClient: nodes.Node,
		Fault: drill.FaultKill, Warmup: time.Second, Settle: time.Second, RejoinTimeout: 40 * time.Second,
		Restart: func(ctx context.Context, addr string) error { return topo.Node(addr).Restart(ctx) },
	})
	if r != nil {
		var b strings.Builder
		_ = r.WriteTable(&b)
		t.Logf("drill report:\n%s", b.String())
	}
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	return r
}
