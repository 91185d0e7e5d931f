package server_test

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/internal/server"
)

// strongAdmin is an admin token of more than 128 bits.
const strongAdmin = "srv-admin-7f3a9c1e5b2d4c6f8a0e1b3d5f7c9e2a4b6d8f0a1c3e5b7d9f1a3c5e"

// wrongAdmin is a wrong admin token that must never reach a log.
const wrongAdmin = "not-the-admin-token-xyzzy-0001"

// guardedFixture is a fixture whose admin check throttles after perClient
// wrong attempts per client (and 1000 in total), with a short delay, and
// that trusts proxies in trusted (comma-separated; empty: none).
func guardedFixture(t *testing.T, perClient int, trusted string) *fixture {
	t.Helper()
	ps, err := clientaddr.ParsePrefixes(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, strongAdmin, nil, func(o *server.Options) {
		o.Admin = adminauth.NewGuard(adminauth.GuardOptions{
			Tokens:   adminauth.New(strongAdmin),
			Throttle: adminauth.ThrottleOptions{PerClient: perClient, Global: 1000},
			Delay:    10 * time.Millisecond,
		})
		o.Proxies = clientaddr.NewResolver(ps)
	})
}

// TestAdminBearerThrottled: wrong admin bearer tokens get 401 up to the
// budget, then 429 with Retry-After; the right token is accepted at once
// all along; no token reaches the log.
func TestAdminBearerThrottled(t *testing.T) {
	f := guardedFixture(t, 5, "")
	for i := range 5 {
		if r := f.do("GET", "/health/redis", "Bearer "+wrongAdmin, ""); r.status != 401 || r.errCode() != "invalid_admin_token" {
			t.Fatalf("wrong attempt %d: %d %s, want 401", i+1, r.status, r.raw)
		}
	}
	for i := range 20 {
		r := f.do("GET", "/health/redis", "Bearer "+wrongAdmin, "")
		secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || r.errCode() != "too_many_attempts" || secs < 1 || secs > 120 {
			t.Fatalf("wrong attempt %d over the budget: %d %s Retry-After %q, want 429 with Retry-After",
				i+6, r.status, r.raw, r.header.Get("Retry-After"))
		}
	}
	if r := f.do("POST", "/v1/sessions", "Bearer "+strongAdmin, `{"user_id":"u"}`); r.status != 201 {
		t.Fatalf("the right token after 25 wrong ones: %d %s, want 201", r.status, r.raw)
	}
	if r := f.do("DELETE", "/v1/users/u/sessions", "Bearer "+strongAdmin, ""); r.status != 200 {
		t.Fatalf("the right token after 25 wrong ones: %d %s, want 200", r.status, r.raw)
	}
	if logs := f.logs.String(); strings.Contains(logs, strongAdmin) || strings.Contains(logs, wrongAdmin) {
		t.Fatal("an admin token reached the log")
	}
}

// TestAdminThrottleBehindProxy: behind a trusted proxy each client is
// counted under the address X-Forwarded-For gives, so one client's
// guesses do not throttle another's; many clients' wrong attempts never
// refuse the right token; X-Forwarded-For from an untrusted peer is
// ignored (every attempt counts against the peer), and the access log
// names the client as decided.
func TestAdminThrottleBehindProxy(t *testing.T) {
	f := guardedFixture(t, 3, "127.0.0.0/8")
	from := func(client, tok string) response {
		return f.do("GET", "/health/redis", "Bearer "+tok, "", "X-Forwarded-For", client)
	}
	for i := range 10 {
		from("203.0.113.1", wrongAdmin)
		if r := from("203.0.113.1", strongAdmin); r.status == 401 || r.status == 429 {
			t.Fatalf("the right token from the guessing client, attempt %d: %d", i+1, r.status)
		}
	}
	if r := from("203.0.113.1", wrongAdmin); r.status != 429 {
		t.Fatalf("the guessing client: %d, want 429", r.status)
	}
	if r := from("198.51.100.2", wrongAdmin); r.status != 401 {
		t.Fatalf("another client behind the same proxy: %d, want 401 (its own budget)", r.status)
	}
	for i := range 40 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String()
		from(a, wrongAdmin)
		if r := from(a, strongAdmin); r.status == 401 || r.status == 429 {
			t.Fatalf("the right token from %s: %d", a, r.status)
		}
	}
	if !strings.Contains(f.logs.String(), `"client":"203.0.113.1"`) {
		t.Fatal(`the access log does not name the forwarded client ("client":"203.0.113.1")`)
	}

	direct := guardedFixture(t, 3, "")
	for i := range 3 {
		r := direct.do("GET", "/health/redis", "Bearer "+wrongAdmin, "", "X-Forwarded-For", "192.0.2."+strconv.Itoa(i+1))
		if r.status != 401 {
			t.Fatalf("spoofed attempt %d: %d, want 401", i+1, r.status)
		}
	}
	if r := direct.do("GET", "/health/redis", "Bearer "+wrongAdmin, "", "X-Forwarded-For", "192.0.2.99"); r.status != 429 {
		t.Fatalf("a fourth spoofed address from one untrusted peer: %d, want 429 (counted against the peer)", r.status)
	}
	if logs := direct.logs.String(); strings.Contains(logs, `"client":"192.0.2.`) || !strings.Contains(logs, `"client":"127.0.0.1"`) {
		t.Fatal("the access log believed X-Forwarded-For from an untrusted peer")
	}
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers
// is refused with 400 on every route that reads one, even when one of
// them is right.
func TestTwoAuthorizationHeaders(t *testing.T) {
	f := guardedFixture(t, 5, "")
	r := f.do("POST", "/v1/sessions", "Bearer "+strongAdmin, `{"user_id":"u"}`)
	tok := r.body["token"].(string)
	const want = `{"error":{"code":"invalid_request","message":"more than one Authorization header"}}`
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/v1/session", ""},
		{"DELETE", "/v1/session", ""},
		{"POST", "/v1/sessions", `{"user_id":"v"}`},
		{"DELETE", "/v1/users/u/sessions", ""},
		{"GET", "/health/redis", ""},
		{"GET", "/readyz", ""},
	} {
		for _, pair := range [][2]string{{"Bearer " + strongAdmin, "Bearer " + tok}, {"Bearer " + tok, "Bearer " + strongAdmin}, {"Bearer " + strongAdmin, "Bearer " + strongAdmin}} {
			req, _ := http.NewRequest(rt.method, f.url+rt.path, strings.NewReader(rt.body))
			req.Header.Add("Authorization", pair[0])
			req.Header.Add("Authorization", pair[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || strings.TrimSpace(string(b)) != want {
				t.Fatalf("%s %s with two Authorization headers: %d %s, want 400 %s", rt.method, rt.path, resp.StatusCode, b, want)
			}
		}
	}
	if r := f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 {
		t.Fatalf("the session after the refusals: %d", r.status)
	}
}

// TestReadyzRedacted: without the admin token /readyz gives the statuses
// and the checks' names only (no error, address or warmer detail); with
// it, the errors; with a wrong one, the redacted form (not an error).
func TestReadyzRedacted(t *testing.T) {
	f := guardedFixture(t, 100, "")
	if err := f.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var detailed response
	for {
		detailed = f.do("GET", "/readyz", "Bearer "+strongAdmin, "")
		if strings.Contains(detailed.raw, `"redis":{"status":"down","error":`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz with the admin token never showed Redis's error: %s", detailed.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(detailed.raw, f.redis.Addr()) {
		t.Fatalf("the detailed form lacks the error's address: %s", detailed.raw)
	}
	for _, auth := range []string{"", "Bearer " + wrongAdmin, "Basic dXNlcjpwYXNz"} {
		r := f.do("GET", "/readyz", auth, "")
		if r.status != 200 || r.body["status"] != "degraded" {
			t.Fatalf("readyz (%q): %d %s, want 200 degraded", auth, r.status, r.raw)
		}
		if strings.Contains(r.raw, "error") || strings.Contains(r.raw, "127.0.0.1") || strings.Contains(r.raw, "dial") {
			t.Fatalf("readyz without the admin token shows detail: %s", r.raw)
		}
		checks := r.body["checks"].(map[string]any)
		if checks["redis"].(map[string]any)["status"] != "down" || checks["store"].(map[string]any)["status"] != "ok" {
			t.Fatalf("readyz without the admin token lacks the statuses: %s", r.raw)
		}
	}
}
