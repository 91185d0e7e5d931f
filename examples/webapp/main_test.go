package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/studiotest"
	"github.com/studiohq/studio/internal/syncbuf"
)

const adminToken = "webapp-test-admin-6700e31e289cba82a77ca2928f3bdf544862bfb6c02709d1"

// TestWebapp runs the example as main would against a real studio serve:
// log in, see /me, log out, and be refused.
func TestWebapp(t *testing.T) {
	bin := os.Getenv("STUDIO_BIN")
	if bin == "" {
		var err error
		if bin, err = studiotest.Build(t.Context(), t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := studiotest.Start(t.Context(), studiotest.Config{Binary: bin, Dir: filepath.Join(t.TempDir(), "studio"), AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	env := map[string]string{"STUDIO_URL": srv.URL, "STUDIO_ADMIN_TOKEN": adminToken, "ADDR": "127.0.0.1:0"}
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	re := regexp.MustCompile(`listening on (\S+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the example did not listen: %s", out)
		}
	}

	do := func(method, path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	code, body := do("POST", "/login?user=ada", "")
	tok, _ := body["token"].(string)
	if code != 200 || !strings.HasPrefix(tok, "stu_") {
		t.Fatalf("login: %d %v", code, body)
	}
	if code, body = do("GET", "/me", tok); code != 200 || body["user_id"] != "ada" {
		t.Fatalf("me: %d %v", code, body)
	}
	if code, _ = do("GET", "/me", ""); code != 401 {
		t.Fatalf("me without a token: %d", code)
	}
	if code, _ = do("POST", "/logout", tok); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	code, body = do("GET", "/me", tok)
	if e, _ := body["error"].(map[string]any); code != 401 || e["reason"] != "revoked" {
		t.Fatalf("me after logout: %d %v", code, body)
	}
}
