package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/redistest"
)

// The tests of the promise that a revoked session is never accepted again,
// whatever Redis loses (a failover to a replica cut off before the
// tombstones, a restart from an older snapshot) and however Studio's
// processes stop, crash and start. SECURITY.md names them.

// replicateThroughProxies re-points every replica of topo at master
// through a faults.Proxy of its own and waits until each is in sync
// through it; the proxies are closed when the test ends.
func replicateThroughProxies(t *testing.T, ctx context.Context, topo *redistest.Topology, master *redistest.Server) []*faults.Proxy {
	t.Helper()
	var proxies []*faults.Proxy
	for _, n := range topo.DataNodes() {
		if n == master {
			continue
		}
		p, err := faults.NewProxy(master.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		_, port, _ := net.SplitHostPort(p.Addr())
		rc := n.Client(t)
		if err := rc.Do(ctx, "REPLICAOF", "127.0.0.1", port).Err(); err != nil {
			t.Fatalf("REPLICAOF the proxy: %v", err)
		}
		waitUntil(t, 15*time.Second, "replica "+n.Addr()+" in sync through its proxy", func() bool {
			info := rc.Info(ctx, "replication").Val()
			return strings.Contains(info, "master_port:"+port+"\r") && strings.Contains(info, "master_link_status:up")
		})
		proxies = append(proxies, p)
	}
	return proxies
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countAccepted validates every token through base and returns how many
// were accepted (200); any answer other than 200 or 401 fails the test.
func countAccepted(t *testing.T, base string, toks []string) int {
	t.Helper()
	n := 0
	for _, tok := range toks {
		switch code, body := send(t, "GET", base+"/v1/session", tok, ""); code {
		case 200:
			n++
		case 401:
		default:
			t.Fatalf("validate: %d %s", code, body)
		}
	}
	return n
}

// TestRevokedStaysRevokedAfterPartitionFailover: the replicas' links to
// the master are cut (a partition: no byte flows, nothing is refused),
// sessions are revoked (the master still acknowledges the tombstones:
// min-replicas-max-lag 60), the master dies and Sentinel promotes a
// replica that holds the live copies. Neither the instance that revoked
// the sessions nor one started after the failover may accept any of them.
func TestRevokedStaysRevokedAfterPartitionFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test; -short skips it")
	}
	topo := redistest.StartSentinel(t, func(c *redistest.SentinelConfig) {
		// Sentinel re-points a replica that replicates through an address
		// it does not know (the proxy) once this has passed since it found
		// the replica; the test is over long before.
		c.FailoverTimeout = 3 * time.Minute
		c.ExtraArgs = append(c.ExtraArgs, "--min-replicas-max-lag", "60")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	master, err := topo.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxies := replicateThroughProxies(t, ctx, topo, master)
	const admin = "partition-admin-ba3f13a990fcb26d892d60be566191e2b5ffd664fcf9fda4"
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	env := func() map[string]string {
		return map[string]string{
			"STUDIO_ADMIN_TOKEN": admin,
			"REDIS_SENTINELS":    strings.Join(topo.SentinelAddrs(), ","),
			"REDIS_MASTER_NAME":  topo.MasterName(),
			"DATABASE_URL":       db,
		}
	}
	a := startServe(t, ctx, env())

	const n = 200
	toks := make([]string, n)
	for i := range toks {
		toks[i] = createToken(t, a.base, admin, fmt.Sprintf("p%d", i))
		if code, body := send(t, "GET", a.base+"/v1/session", toks[i], ""); code != 200 {
			t.Fatalf("validate before the partition: %d %s", code, body)
		}
	}
	mc := master.Client(t)
	if got, err := mc.Do(ctx, "WAIT", 2, 10000).Int(); err != nil || got != 2 {
		t.Fatalf("WAIT 2: %d replicas, %v", got, err)
	}

	for _, p := range proxies {
		p.SetBlackhole(true)
	}
	for _, tok := range toks {
		if code, body := send(t, "DELETE", a.base+"/v1/session", tok, ""); code != 204 {
			t.Fatalf("revoke during the partition: %d %s", code, body)
		}
	}
	tombstones := 0
	for _, tok := range toks {
		if v, _ := mc.Get(ctx, sessionKey(t, tok)).Result(); v == "R" {
			tombstones++
		}
	}
	t.Logf("the master acknowledged %d of %d tombstones during the partition", tombstones, n)

	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	newMaster, err := topo.WaitMasterChange(ctx, master)
	if err != nil {
		t.Fatal(err)
	}
	nc := newMaster.Client(t)
	live := liveCopies(t, nc, toks)
	if live == 0 {
		t.Fatal("the promoted replica holds no live copy: the test's premise (a failover that loses tombstones) does not hold")
	}
	t.Logf("the promoted replica %s holds %d live copies of the %d revoked sessions", newMaster.Addr(), live, n)

	// The instance that revoked them, once it has moved to the new master.
	waitOnMaster(t, a.base, admin, newMaster.Addr())
	if got := countAccepted(t, a.base, toks); got != 0 {
		t.Errorf("the revoking instance accepted %d of %d revoked sessions after the failover", got, n)
	}
	// An instance started after the failover.
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	b := startServe(t, bctx, env())
	if got := countAccepted(t, b.base, toks); got != 0 {
		t.Errorf("an instance started after the failover accepted %d of %d revoked sessions", got, n)
	}
	// Validations that found a live copy wrote the tombstone back.
	if left := liveCopies(t, nc, toks); left != 0 {
		t.Errorf("%d live copies of revoked sessions left on the new master after they were refused", left)
	}
}

// liveCopies counts the tokens whose session has a live copy on the Redis
// server rdb talks to.
func liveCopies(t *testing.T, rdb *redis.Client, toks []string) int {
	t.Helper()
	n := 0
	for _, tok := range toks {
		if v, _ := rdb.Get(t.Context(), sessionKey(t, tok)).Result(); liveCopy(v) {
			n++
		}
	}
	return n
}

// waitOnMaster waits until the `studio serve` at base sees master as the
// master and its Redis and invalidation checks are up again there.
func waitOnMaster(t *testing.T, base, admin, master string) {
	t.Helper()
	waitUntil(t, 20*time.Second, "the instance on the new master", func() bool {
		m, _, _ := snapshotTopology(t, base, admin)
		code, body := send(t, "GET", base+"/readyz", "", "")
		var r struct {
			Checks map[string]struct{ Status string } `json:"checks"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		return m == master && code == 200 && r.Checks["redis"].Status == "ok" && r.Checks["invalidation"].Status == "subscribed"
	})
}

// createSession creates a session through base and returns its token and
// session id.
func createSession(t *testing.T, base, admin, user string) (tok, id string) {
	t.Helper()
	code, body := send(t, "POST", base+"/v1/sessions", admin, fmt.Sprintf(`{"user_id":%q}`, user))
	var r struct {
		Token   string
		Session struct{ ID string }
	}
	if err := json.Unmarshal([]byte(body), &r); code != 201 || err != nil {
		t.Fatalf("create: %d %s", code, body)
	}
	return r.Token, r.Session.ID
}

// TestRevokedStaysRevokedAcrossRestarts: a session is created and
// validated (Redis holds a live copy, saved in its RDB file); Redis dies;
// the session is revoked (204; its tombstone waits in the queue); Studio
// is stopped (SIGTERM) or killed (SIGKILL) before Redis returns; Redis
// comes back from its RDB with the live copy; Studio starts again, at once
// or after more than the skew allowance. The token is refused from the
// very first request. The cache TTL and skew allowance are shortened so
// that "after more than the allowance" takes seconds, in the same order
// as with the defaults: allowance < wait < cache TTL.
func TestRevokedStaysRevokedAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test; -short skips it")
	}
	const (
		admin    = "restart-admin-c68acfdddd24ae8180e197772fe0671945999bd519f97332"
		cacheTTL = 30 * time.Second
		skew     = 2 * time.Second
	)
	for _, tc := range []struct {
		name string
		stop syscall.Signal
		wait time.Duration // between the stop and Redis's return
	}{
		{"sigterm/at-once", syscall.SIGTERM, 0},
		{"sigterm/after-skew", syscall.SIGTERM, 3 * skew},
		{"sigkill/at-once", syscall.SIGKILL, 0},
		{"sigkill/after-skew", syscall.SIGKILL, 3 * skew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t, redistest.WithPersist())
			rdb := rs.Client(t)
			ctx := t.Context()
			env := map[string]string{
				"STUDIO_ADMIN_TOKEN": admin,
				"REDIS_URL":          rs.URL(),
				"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
				"STUDIO_CACHE_TTL":   cacheTTL.String(),
				"STUDIO_CLOCK_SKEW":  skew.String(),
			}
			a := startStudioProc(t, env)
			tok, id := createSession(t, a.base, admin, "leaver")
			stayer, _ := createSession(t, a.base, admin, "stayer")
			for _, x := range []string{tok, stayer} {
				if code, body := send(t, "GET", a.base+"/v1/session", x, ""); code != 200 {
					t.Fatalf("validate: %d %s", code, body)
				}
			}
			key := sessionKey(t, tok)
			if err := rdb.Save(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rs.Kill(); err != nil {
				t.Fatal(err)
			}
			if code, body := send(t, "DELETE", a.base+"/v1/session", tok, ""); code != 204 {
				t.Fatalf("revoke with Redis down: %d %s", code, body)
			}
			a.stop(t, tc.stop)
			if tc.stop == syscall.SIGTERM {
				checkUnwrittenLogged(t, a.out.String(), tok, id, key)
			}
			time.Sleep(tc.wait)
			if err := rs.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if v, err := rdb.Get(ctx, key).Result(); err != nil || !liveCopy(v) {
				t.Fatalf("Redis came back without the live copy (%q, %v): the test's premise does not hold", v, err)
			}
			b := startStudioProc(t, env)
			accepted := 0
			for range 20 {
				if code, _ := send(t, "GET", b.base+"/v1/session", tok, ""); code == 200 {
					accepted++
				} else if code != 401 {
					t.Fatalf("validate after the restart: %d", code)
				}
				time.Sleep(25 * time.Millisecond)
			}
			if accepted != 0 {
				t.Errorf("the revoked token was accepted %d times of 20 after the restart", accepted)
			}
			if code, body := send(t, "GET", b.base+"/v1/session", stayer, ""); code != 200 {
				t.Errorf("a session nobody revoked: %d %s", code, body)
			}
			b.stop(t, syscall.SIGTERM)
		})
	}
}

// checkUnwrittenLogged checks that the log of an instance stopped while
// its tombstone could not reach Redis names the session in its display
// forms (its id and its key's display form) and never its token or key.
func checkUnwrittenLogged(t *testing.T, log, tok, id, key string) {
	t.Helper()
	var line string
	for l := range strings.SplitSeq(log, "\n") {
		if strings.Contains(l, "revocations not written to redis before close") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no \"revocations not written to redis before close\" line in the log:\n%s", log)
	}
	for _, want := range []string{id, hotkey.DisplayKey(key)} {
		if !strings.Contains(line, want) {
			t.Errorf("the close log line does not name the session (%s): %s", want, line)
		}
	}
	if strings.Contains(log, tok) || strings.Contains(log, strings.TrimPrefix(key, "studio:s:")) {
		t.Errorf("the token or its hash reached the log")
	}
}
