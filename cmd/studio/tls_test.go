package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// TestServeOverMutualTLS: `studio serve` talks to a TLS-only Redis that
// demands client certificates, with certificates generated here; sessions
// validate through Redis, and the Snapshot says TLS is on and verified.
func TestServeOverMutualTLS(t *testing.T) {
	p := redistest.NewPKI(t)
	rs := redistest.StartTLS(t, p.TLSOptions())

	const adminTok = "tls-admin-36ae17e649e6d0078655b873e21918e044debede98a8d626"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":      adminTok,
		"REDIS_URL":               rs.TLSURL(),
		"REDIS_TLS_CA_FILE":       p.CAFile,
		"REDIS_TLS_CERT_FILE":     p.ClientCert,
		"REDIS_TLS_KEY_FILE":      p.ClientKey,
		"DATABASE_URL":            "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_MONITOR_INTERVAL": "100ms",
	})
	_, body := send(t, "POST", srv.base+"/v1/sessions", adminTok, `{"user_id":"tls"}`)
	tok := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)[1]
	if code, _ := send(t, "GET", srv.base+"/v1/session", tok, ""); code != 200 {
		t.Fatal("validate over TLS failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = send(t, "GET", srv.base+"/health/redis", adminTok, "")
		if strings.Contains(body, `"status":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot over TLS never ok: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var snap struct {
		TLS *struct {
			Enabled            bool `json:"enabled"`
			InsecureSkipVerify bool `json:"insecure_skip_verify"`
		} `json:"tls"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.TLS == nil || !snap.TLS.Enabled || snap.TLS.InsecureSkipVerify {
		t.Fatalf("snapshot lacks the TLS state (enabled, verified): %s", body)
	}
	_, metrics := send(t, "GET", srv.base+"/metrics", "", "")
	if !strings.Contains(metrics, "studio_redis_tls_client_cert_expiry_seconds") {
		t.Fatal("TLS metrics not registered")
	}
	cancel()
	if code := <-srv.done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, srv.stderr.String())
	}
}
