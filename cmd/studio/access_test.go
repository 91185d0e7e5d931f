package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/redistest"
)

// TestTokenCommand: `studio token` prints a new 256-bit hex token that
// passes the start-up check, a different one each time.
func TestTokenCommand(t *testing.T) {
	var seen []string
	for range 2 {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"studio", "token"}, envOf(nil), &out, &errb); code != 0 || errb.Len() != 0 {
			t.Fatalf("studio token: exit %d, stderr %q", code, errb.String())
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out.String()) {
			t.Fatalf("studio token printed %q, want 64 hex characters and a newline", out.String())
		}
		tok := strings.TrimSpace(out.String())
		if err := adminauth.CheckStrength(tok); err != nil {
			t.Fatalf("studio token's token is refused: %v", err)
		}
		seen = append(seen, tok)
	}
	if seen[0] == seen[1] {
		t.Fatal("studio token printed the same token twice")
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"studio", "token", "extra"}, envOf(nil), &out, &errb); code != 2 || out.Len() != 0 {
		t.Fatalf("studio token extra: exit %d, stdout %q", code, out.String())
	}
	if code := run(context.Background(), []string{"studio", "help", "token"}, envOf(nil), &out, &errb); code != 0 || !strings.Contains(out.String(), "256 bits") {
		t.Fatalf("studio help token: exit %d, %q", code, out.String())
	}
}

// writeAtomic replaces path's content the way a secret manager does: a
// new file renamed over it.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls GET base+path with the bearer token until it answers
// one of want (10 s at most).
func waitStatus(t *testing.T, base, path, token string, want ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := send(t, "GET", base+path, token, "")
		if slices.Contains(want, code) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered %v: %d %s", path, want, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdminTokenRotationThroughFile: admin tokens read from
// STUDIO_ADMIN_TOKEN_FILE follow the file without a restart: the old
// token alone, then old and new during the overlap, then the new alone;
// a change the poll cannot see is read on SIGHUP. A file with a weak
// token is refused whole and the tokens in use stay; no token reaches
// the log.
func TestAdminTokenRotationThroughFile(t *testing.T) {
	rs := redistest.Start(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin-tokens")
	const old = "old-admin-5e1a9c7f3b2d8e4a6c0f1b3d5e7a9c2f4b6d8e0a1c3f5b7d"
	const next = "next-admin-8b2f4d6a0c1e3f5b7d9a2c4e6f8b0d1a3c5e7f9b2d4a6c8e"
	writeAtomic(t, file, old+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN_FILE": file,
		"REDIS_URL":               rs.URL(),
		"DATABASE_URL":            "sqlite:" + filepath.Join(dir, "studio.db"),
	})
	waitStatus(t, srv.base, "/v1/admin/log-level", old, 200)
	if code, _ := send(t, "GET", srv.base+"/v1/admin/log-level", next, ""); code != 401 {
		t.Fatalf("the next token before the rotation: %d, want 401", code)
	}
	writeAtomic(t, file, "# the new token first, the old one until every client has the new\n"+next+"\n"+old+"\n")
	waitStatus(t, srv.base, "/v1/admin/log-level", next, 200)
	if code, _ := send(t, "GET", srv.base+"/v1/admin/log-level", old, ""); code != 200 {
		t.Fatalf("the old token during the overlap: %d, want 200", code)
	}
	writeAtomic(t, file, next+"\n")
	waitStatus(t, srv.base, "/v1/admin/log-level", old, 401, 429) // refused, or throttled after the polls
	if code, _ := send(t, "GET", srv.base+"/v1/admin/log-level", next, ""); code != 200 {
		t.Fatalf("the new token after the rotation: %d, want 200", code)
	}
	// A change the poll cannot see (same file, size and modification
	// time) is picked up on SIGHUP.
	const third = "new2-admin-1a7c3e9b5d2f4a6c8e0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f"
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(third) != len(next) {
		t.Fatal("the third token must be as long as the second")
	}
	if err := os.WriteFile(file, []byte(third+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.base, "/v1/admin/log-level", third, 200)
	writeAtomic(t, file, third+"\npassword1234567890\n")
	waitMatch(t, srv.stdout, regexp.MustCompile(`admin token file not reloaded.*token 2 of 2 has about 38 bits of entropy`), srv.done)
	if code, _ := send(t, "GET", srv.base+"/v1/admin/log-level", third, ""); code != 200 {
		t.Fatalf("the token in use after a refused file: %d, want 200", code)
	}
	cancel()
	<-srv.done
	for _, tok := range []string{old, next, third, "password1234567890"} {
		if strings.Contains(srv.stdout.String(), tok) || strings.Contains(srv.stderr.String(), tok) {
			t.Fatal("an admin token reached the log")
		}
	}
}

// loginStatus tries the dashboard login with tok as client (through the
// trusted proxy's X-Forwarded-For) and returns the status and the cookie
// set, if any.
func loginStatus(t *testing.T, base, client, tok string, hdr ...string) (int, *http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/studio/redis/login?token="+url.QueryEscape(tok), nil)
	req.Header.Set("X-Forwarded-For", client)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "studio_session" {
			return resp.StatusCode, ck
		}
	}
	return resp.StatusCode, nil
}

// TestAdminThrottleAcrossInstances: two instances on one Redis, behind a
// trusted proxy (127.0.0.0/8 here), share the count of wrong admin
// tokens: a client's wrong attempts spread over both are throttled (429)
// after the budget of 10 in total, on the API and the dashboard login
// alike; the right token is accepted at once on both, by the API and the
// dashboard, for that client and for many other addresses each with a
// wrong attempt; the dashboard cookie is Secure when the proxy says the
// client used https.
func TestAdminThrottleAcrossInstances(t *testing.T) {
	rs := redistest.Start(t)
	const admin = "thr-admin-3c7e1a9f5b2d4c6e8a0f2b4d6c8e1a3f5b7d9c2e4a6f8b1d"
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	env := func() map[string]string {
		return map[string]string{"STUDIO_ADMIN_TOKEN": admin, "REDIS_URL": rs.URL(), "DATABASE_URL": db, "STUDIO_TRUSTED_PROXIES": "127.0.0.0/8"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := startServe(t, ctx, env()), startServe(t, ctx, env())
	const guesser, wrong = "203.0.113.7", "not-the-admin-token-xyzzy-0001"
	for i := range adminauth.DefaultPerClient {
		base := []string{a.base, b.base}[i%2]
		code, _ := send(t, "GET", base+"/health/redis", wrong, "", "X-Forwarded-For", guesser)
		if code != 401 {
			t.Fatalf("wrong attempt %d: %d, want 401", i+1, code)
		}
	}
	for _, s := range []*serving{a, b} {
		if code, _ := send(t, "GET", s.base+"/health/redis", wrong, "", "X-Forwarded-For", guesser); code != 429 {
			t.Fatalf("over the budget shared through Redis: %d, want 429", code)
		}
		if code, _ := loginStatus(t, s.base, guesser, wrong); code != 429 {
			t.Fatalf("dashboard login over the budget: %d, want 429", code)
		}
		if code, _ := send(t, "GET", s.base+"/health/redis", admin, "", "X-Forwarded-For", guesser); code != 200 {
			t.Fatalf("the right token on the API from the guessing client: %d, want 200", code)
		}
		if code, ck := loginStatus(t, s.base, guesser, admin); code != 303 || ck == nil || ck.Secure {
			t.Fatalf("the right token on the dashboard from the guessing client: %d %v, want 303 and a cookie (not Secure over http)", code, ck)
		}
	}
	for i := range 30 {
		client := fmt.Sprintf("198.51.100.%d", i+1)
		s := []*serving{a, b}[i%2]
		send(t, "GET", s.base+"/health/redis", wrong, "", "X-Forwarded-For", client)
		if code, _ := send(t, "POST", s.base+"/v1/sessions", admin, `{"user_id":"u"}`, "X-Forwarded-For", client); code != 201 {
			t.Fatalf("the right token from %s: %d, want 201", client, code)
		}
		if i%5 != 0 {
			continue
		}
		if code, _ := loginStatus(t, s.base, client, admin); code != 303 {
			t.Fatalf("the right token on the dashboard from %s: %d, want 303", client, code)
		}
	}
	if code, ck := loginStatus(t, a.base, "198.51.100.200", admin, "X-Forwarded-Proto", "https"); code != 303 || ck == nil || !ck.Secure {
		t.Fatalf("login through a proxy that terminated https: %d %v, want a Secure cookie", code, ck)
	}
	if _, metrics := send(t, "GET", a.base+"/metrics", "", ""); !regexp.MustCompile(`studio_admin_auth_attempts_total\{outcome="throttled"\} [1-9]`).MatchString(metrics) {
		t.Fatal("studio_admin_auth_attempts_total counts no throttled attempt")
	}
	cancel()
	<-a.done
	<-b.done
	for _, s := range []*serving{a, b} {
		if out := s.stdout.String(); strings.Contains(out, admin) || strings.Contains(out, wrong) {
			t.Fatal("an admin token reached the log")
		}
	}
	if !strings.Contains(a.stdout.String()+b.stdout.String(), `"client":"203.0.113.7"`) {
		t.Fatal("no log line names the guessing client")
	}
}

// TestServeNativeTLS: with STUDIO_TLS_CERT_FILE and _KEY_FILE, serve
// answers HTTPS only (TLS 1.2+), says so when it starts, keeps /healthz
// and /readyz working, sets the dashboard cookie Secure, and serves a
// rotated certificate without a restart.
func TestServeNativeTLS(t *testing.T) {
	p := redistest.NewPKI(t)
	rs := redistest.Start(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyTo := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, to, string(b))
	}
	copyTo(p.ServerCert, certFile)
	copyTo(p.ServerKey, keyFile)
	const admin = "tls-admin-9d4b2f6e8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN": admin, "REDIS_URL": rs.URL(), "DATABASE_URL": "sqlite:" + filepath.Join(dir, "studio.db"),
		"STUDIO_TLS_CERT_FILE": certFile, "STUDIO_TLS_KEY_FILE": keyFile,
	})
	if !regexp.MustCompile(`"msg":"listening","addr":"[^"]+","scheme":"https"`).MatchString(srv.stdout.String()) {
		t.Fatalf("the start-up line does not say https: %s", srv.stdout.String())
	}
	base := strings.Replace(srv.base, "http://", "https://", 1)
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := get(path); resp.StatusCode != 200 || resp.TLS == nil {
			t.Fatalf("%s over TLS: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, err := http.Get(srv.base + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("plain HTTP to the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	resp, _ := get("/studio/redis/login?token=" + url.QueryEscape(admin))
	var secure bool
	for _, ck := range resp.Cookies() {
		secure = secure || (ck.Name == "studio_session" && ck.Secure)
	}
	if resp.StatusCode != 303 || !secure {
		t.Fatalf("dashboard login over TLS: %d, cookies %v; want 303 and a Secure cookie", resp.StatusCode, resp.Cookies())
	}
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	serial := func() string { // a handshake for each call
		t.Helper()
		resp, err := fresh.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz over TLS: %v", err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	newCert, newKey, err := p.CA.IssueFiles(t.TempDir(), "rotated", redistest.CertSpec{CommonName: "rotated", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	copyTo(newKey, keyFile)
	copyTo(newCert, certFile)
	deadline := time.Now().Add(10 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitMatch(t, srv.stdout, regexp.MustCompile(`listener TLS certificate reloaded`), srv.done)
	cancel()
	if code := <-srv.done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, srv.stderr.String())
	}
}
