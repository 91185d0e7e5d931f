package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"

	"github.com/studiohq/studio/internal/syncbuf"
)

const admin = "test-admin-token-0123456789"

// fixture is a Server on a real Redis and SQLite store.
type fixture struct {
	t     *testing.T
	redis *redistest.Server
	store *sqlstore.Store
	rdb   *redis.Client
	svc   *session.Service
	url   string
	srv   *server.Server
	logs  *syncbuf.Buffer
}

func newFixture(t *testing.T, adminToken string) *fixture {
	t.Helper()
	return newFixtureAt(t, adminToken, nil)
}

// newFixtureAt is newFixture with the Service's clock (nil: time.Now).
func newFixtureAt(t *testing.T, adminToken string, now func() time.Time) *fixture {
	t.Helper()
	return newFixtureWith(t, adminToken, now, nil)
}

// newFixtureWith is newFixtureAt with mod applied to the Server's Options.
func newFixtureWith(t *testing.T, adminToken string, now func() time.Time, mod func(*server.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, redis: redistest.Start(t), logs: &syncbuf.Buffer{}}
	var err error
	f.store, err = sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.rdb = redis.NewClient(&redis.Options{Addr: f.redis.Addr(), DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { f.rdb.Close() })
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc, err = session.NewService(session.Options{Store: f.store, Redis: f.rdb, Logger: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.svc.Close() })
	opts := server.Options{Sessions: f.svc, AdminToken: adminToken, Logger: log, ReservedUserIDs: []string{"studio-dashboard"}}
	if mod != nil {
		mod(&opts)
	}
	f.srv = server.New(opts)
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
	close  bool // the server closes the connection after this response
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (f *fixture) do(method, path, auth, body string, hdr ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw), close: resp.Close}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			f.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
		if r.status >= 400 && r.errCode() == "" && path != "/readyz" {
			f.t.Fatalf("%s %s: error without {\"error\":{\"code\"}}: %s", method, path, raw)
		}
	}
	return r
}

func (f *fixture) sessionsStored() int {
	n := 0
	err := f.store.Recent(context.Background(), time.Now(), 1_000_000, func(session.Record) error { n++; return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestSessionLifecycle(t *testing.T) {
	f := newFixture(t, admin)
	r := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"alice","ttl":"2h","idle_timeout":600,"metadata":{"device":"laptop"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	tok, _ := r.body["token"].(string)
	sess, _ := r.body["session"].(map[string]any)
	if !strings.HasPrefix(tok, session.TokenPrefix) || sess["user_id"] != "alice" || sess["idle_timeout"] != float64(600) {
		t.Fatalf("create body: %s", r.raw)
	}
	created, _ := time.Parse(time.RFC3339, sess["created_at"].(string))
	expires, _ := time.Parse(time.RFC3339, sess["expires_at"].(string))
	if got := expires.Sub(created); got != 2*time.Hour {
		t.Fatalf("expires_at - created_at = %v, want 2h", got)
	}
	if md, _ := sess["metadata"].(map[string]any); md["device"] != "laptop" {
		t.Fatalf("metadata: %s", r.raw)
	}

	r = f.do("GET", "/v1/session", "Bearer "+tok, "")
	if r.status != http.StatusOK || r.body["session"].(map[string]any)["id"] != sess["id"] {
		t.Fatalf("validate: %d %s", r.status, r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatal("session answers must not be cached")
	}
	if r = f.do("DELETE", "/v1/session", "bearer "+tok, ""); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if r = f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != http.StatusUnauthorized || r.errCode() != "invalid_session" {
		t.Fatalf("after logout: %d %s", r.status, r.raw)
	}

	var toks []string
	for range 3 {
		r = f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"bob"}`)
		toks = append(toks, r.body["token"].(string))
	}
	if r = f.do("DELETE", "/v1/users/bob/sessions", "Bearer "+admin, ""); r.status != http.StatusOK || r.body["revoked"] != float64(3) {
		t.Fatalf("revoke all: %d %s", r.status, r.raw)
	}
	for _, tok := range toks {
		if r = f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != http.StatusUnauthorized {
			t.Fatalf("bob's session after revoke-all: %d", r.status)
		}
	}
	// User ids with reserved characters travel escaped in the path.
	f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"carol/x y"}`)
	if r = f.do("DELETE", "/v1/users/carol%2Fx%20y/sessions", "Bearer "+admin, ""); r.body["revoked"] != float64(1) {
		t.Fatalf("revoke escaped user: %d %s", r.status, r.raw)
	}
	// The raw tokens never reached the logs.
	logs := f.logs.String()
	for _, tok := range append(toks, tok) {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[len(session.TokenPrefix):]) {
			t.Fatal("a raw session token appears in the logs")
		}
	}
	if strings.Contains(logs, admin) {
		t.Fatal("the admin token appears in the logs")
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	f := newFixture(t, admin)
	huge := `{"user_id":"u","metadata":{"k":"` + strings.Repeat("x", 70_000) + `"}}`
	cases := []struct {
		name, auth, body, ctype string
		status                  int
		code                    string
	}{
		{"no auth", "", `{"user_id":"u"}`, "", 401, "missing_token"},
		{"basic auth", "Basic YWRtaW46eA==", `{"user_id":"u"}`, "", 401, "invalid_auth_scheme"},
		{"empty bearer", "Bearer ", `{"user_id":"u"}`, "", 401, "missing_token"},
		{"wrong admin token", "Bearer not-the-admin-token", `{"user_id":"u"}`, "", 401, "invalid_admin_token"},
		{"session token as admin", "Bearer stu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", `{"user_id":"u"}`, "", 401, "invalid_admin_token"},
		{"empty body", "Bearer " + admin, ``, "", 400, "invalid_json"},
		{"broken json", "Bearer " + admin, `{"user_id":`, "", 400, "invalid_json"},
		{"not an object", "Bearer " + admin, `["u"]`, "", 400, "invalid_json"},
		{"syntax error", "Bearer " + admin, `{"user_id" "u"}`, "", 400, "invalid_json"},
		{"trailing data", "Bearer " + admin, `{"user_id":"u"} {"x":1}`, "", 400, "invalid_json"},
		{"unknown field", "Bearer " + admin, `{"user_id":"u","admin":true}`, "", 400, "unknown_field"},
		{"wrong type", "Bearer " + admin, `{"user_id":42}`, "", 400, "invalid_json"},
		{"metadata not strings", "Bearer " + admin, `{"user_id":"u","metadata":{"a":1}}`, "", 400, "invalid_json"},
		{"bad ttl text", "Bearer " + admin, `{"user_id":"u","ttl":"forever"}`, "", 400, "invalid_json"},
		{"ttl not a duration", "Bearer " + admin, `{"user_id":"u","ttl":"banana"}`, "", 400, "invalid_json"},
		{"bad ttl type", "Bearer " + admin, `{"user_id":"u","ttl":true}`, "", 400, "invalid_json"},
		{"huge ttl number", "Bearer " + admin, `{"user_id":"u","ttl":1e300}`, "", 400, "invalid_json"},
		{"negative ttl", "Bearer " + admin, `{"user_id":"u","ttl":-5}`, "", 400, "invalid_request"},
		{"absurd ttl", "Bearer " + admin, `{"user_id":"u","ttl":"900000h"}`, "", 400, "invalid_request"},
		{"negative idle", "Bearer " + admin, `{"user_id":"u","idle_timeout":"-1m"}`, "", 400, "invalid_request"},
		{"empty user", "Bearer " + admin, `{"user_id":""}`, "", 400, "invalid_request"},
		{"missing user", "Bearer " + admin, `{"ttl":"1h"}`, "", 400, "invalid_request"},
		{"control chars in user", "Bearer " + admin, `{"user_id":"a\u0000b"}`, "", 400, "invalid_request"},
		{"reserved user", "Bearer " + admin, `{"user_id":"studio-dashboard"}`, "", 400, "reserved_user_id"},
		{"huge body", "Bearer " + admin, huge, "", 413, "body_too_large"},
		{"text content type", "Bearer " + admin, `{"user_id":"u"}`, "text/plain", 415, "unsupported_media_type"},
		{"garbage content type", "Bearer " + admin, `{"user_id":"u"}`, ";;;", 415, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			r := f.do("POST", "/v1/sessions", tc.auth, tc.body, hdr...)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if n := f.sessionsStored(); n != 0 {
		t.Fatalf("refused requests stored %d sessions", n)
	}
	if n := f.rdb.DBSize(context.Background()).Val(); n != 0 {
		t.Fatalf("refused requests wrote %d redis keys", n)
	}
	// JSON content types with parameters are fine.
	if r := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"u"}`, "Content-Type", "application/json; charset=utf-8"); r.status != 201 {
		t.Fatalf("json with charset: %d %s", r.status, r.raw)
	}
}

func TestValidateRefusesBadTokens(t *testing.T) {
	f := newFixture(t, admin)
	unknown, _ := f.svc.NewToken()
	cases := []struct {
		name, auth string
		code       string
	}{
		{"no header", "", "missing_token"},
		{"scheme only", "Bearer", "missing_token"},
		{"empty token", "Bearer   ", "missing_token"},
		{"basic", "Basic dXNlcjpwYXNz", "invalid_auth_scheme"},
		{"malformed", "Bearer hello", "invalid_token"},
		{"wrong prefix", "Bearer sk_" + unknown.Reveal()[4:], "invalid_token"},
		{"oversized", "Bearer " + strings.Repeat("a", 8000), "invalid_token"},
		{"unknown", "Bearer " + unknown.Reveal(), "invalid_session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "DELETE"} {
				r := f.do(method, "/v1/session", tc.auth, "")
				if r.status != 401 || r.errCode() != tc.code {
					t.Fatalf("%s: got %d %s, want 401 %s", method, r.status, r.raw, tc.code)
				}
			}
		})
	}
}

func TestAdminRoutesDisabledWithoutToken(t *testing.T) {
	f := newFixture(t, "")
	for _, rt := range [][2]string{{"POST", "/v1/sessions"}, {"DELETE", "/v1/users/u/sessions"}} {
		r := f.do(rt[0], rt[1], "Bearer anything-at-all-123456", `{"user_id":"u"}`)
		if r.status != 403 || r.errCode() != "admin_disabled" {
			t.Fatalf("%s %s: %d %s", rt[0], rt[1], r.status, r.raw)
		}
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	f := newFixture(t, admin)
	if r := f.do("GET", "/nope", "", ""); r.status != 404 || r.errCode() != "not_found" {
		t.Fatalf("unknown route: %d %s", r.status, r.raw)
	}
	r := f.do("PUT", "/v1/session", "", "")
	if r.status != 405 || r.errCode() != "method_not_allowed" || r.header.Get("Allow") != "GET, DELETE, HEAD" {
		t.Fatalf("wrong method: %d %s allow %q", r.status, r.raw, r.header.Get("Allow"))
	}
	if r := f.do("GET", "/v1/sessions", "", ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET on create: %d allow %q", r.status, r.header.Get("Allow"))
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t, admin)
	if r := f.do("GET", "/healthz", "", "", "X-Request-ID", "abc-123"); r.header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("well-formed id not echoed: %q", r.header.Get("X-Request-ID"))
	}
	for _, bad := range []string{strings.Repeat("x", 200), "has space", `quo"te`, "tab\tinside", "ünïcode"} {
		r := f.do("GET", "/healthz", "", "", "X-Request-ID", bad)
		got := r.header.Get("X-Request-ID")
		if got == bad || got == "" || len(got) > 128 {
			t.Fatalf("bad id %q answered with %q", bad, got)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, admin)
	if r := f.do("GET", "/healthz", "", ""); r.status != 200 || r.body["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	waitReady := func(want string, code int) response {
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := f.do("GET", "/readyz", "", "")
			if r.body["status"] == want && r.status == code {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz never became %s/%d: %d %s", want, code, r.status, r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitReady("ok", 200)
	// Redis down: degraded but ready, and validation still works.
	r := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"u"}`)
	tok := r.body["token"].(string)
	if err := f.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	r = waitReady("degraded", 200)
	if checks := r.body["checks"].(map[string]any); checks["redis"].(map[string]any)["status"] != "down" {
		t.Fatalf("readyz checks: %s", r.raw)
	}
	if r = f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 {
		t.Fatalf("validate with redis down: %d %s", r.status, r.raw)
	}
	if err := f.redis.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitReady("ok", 200)
	// Store gone: not ready.
	f.store.Close()
	waitReady("down", 503)
}

// TestDrain: once Drain is called, /readyz answers 503 "draining" while
// every route still answers in full, and each response closes its
// connection so keep-alive clients move to another instance.
func TestDrain(t *testing.T) {
	f := newFixture(t, admin)
	r := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"u"}`)
	tok := r.body["token"].(string)
	if r := f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 || r.close {
		t.Fatalf("before drain: %d, connection closed %v", r.status, r.close)
	}
	f.srv.Drain()
	r = f.do("GET", "/readyz", "", "")
	if r.status != 503 || r.body["status"] != "draining" {
		t.Fatalf("readyz while draining: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz while draining: %d", r.status)
	}
	if r := f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 || !r.close {
		t.Fatalf("validate while draining: %d, connection closed %v", r.status, r.close)
	}
	if r := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"v"}`); r.status != 201 {
		t.Fatalf("create while draining: %d %s", r.status, r.raw)
	}
}
