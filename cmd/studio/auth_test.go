package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// readyRedis polls /readyz until its redis check reads want.
func readyRedis(t *testing.T, base, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := send(t, "GET", base+"/readyz", "", "")
		var r struct {
			Checks map[string]map[string]any `json:"checks"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		if r.Checks["redis"]["status"] == want {
			return r.Checks["redis"]
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz redis check never became %q: %s", want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeSentinelWithPasswords: against a Sentinel topology whose data
// nodes and Sentinels require a password (as Railway's Redis HA template
// runs them), serve authenticates to both, with the passwords read from
// files, and its HA watcher sees every Sentinel; a wrong password leaves
// it degraded, validating from the store.
func TestServeSentinelWithPasswords(t *testing.T) {
	const pw = "sentinel-topology-secret-42"
	topo := redistest.StartSentinel(t, func(c *redistest.SentinelConfig) { c.Password = pw })
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const admin = "auth-admin-9d866075b0738dd8b33ab3a0e32657b086fdc4974519efb5"
	db := "sqlite:" + filepath.Join(dir, "studio.db") // both instances share it
	env := func(password string) map[string]string {
		return map[string]string{
			"STUDIO_ADMIN_TOKEN":           admin,
			"REDIS_SENTINELS":              strings.Join(topo.SentinelAddrs(), ","),
			"REDIS_MASTER_NAME":            topo.MasterName(),
			"REDIS_PASSWORD":               password,
			"REDIS_SENTINEL_PASSWORD_FILE": pwFile,
			"STUDIO_MONITOR_INTERVAL":      "200ms",
			"DATABASE_URL":                 db,
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, env(pw))
	readyRedis(t, srv.base, "ok")
	tok := createToken(t, srv.base, admin, "authed")
	if code, body := send(t, "GET", srv.base+"/v1/session", tok, ""); code != 200 {
		t.Fatalf("validate: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		master, _, sentinels := snapshotTopology(t, srv.base, admin)
		if master != "" && sentinels == len(topo.SentinelAddrs()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HA watcher never saw the topology: master %q, %d sentinels", master, sentinels)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(srv.stdout.String(), pw) {
		t.Fatal("the Redis password reached the log")
	}

	wrong := startServe(t, ctx, env("not-the-password"))
	check := readyRedis(t, wrong.base, "down")
	if code, body := send(t, "GET", wrong.base+"/v1/session", tok, ""); code != 200 {
		t.Fatalf("validate from the store while Redis refuses the password: %d %s (redis check %v)", code, body, check)
	}
}
