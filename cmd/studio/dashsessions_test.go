package main

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// dashboardStatus asks for the dashboard page with cookie as the session
// cookie (no redirects followed) and returns the status.
func dashboardStatus(t *testing.T, base, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/studio/redis/", nil)
	req.AddCookie(&http.Cookie{Name: "studio_session", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDashboardSessionsAcrossInstances: two `studio serve` on one Redis
// and one store accept each other's dashboard logins, a restart keeps
// them, a logout on one instance ends the session on the other, and an
// application's session token does not open the dashboard.
func TestDashboardSessionsAcrossInstances(t *testing.T) {
	rs := redistest.Start(t)
	const admin = "dash-admin-44df8d5794acfab28f04a1a96fb30d13da30cd4d2d77c0cc"
	db := "sqlite:" + filepath.Join(t.TempDir(), "dash.db")
	env := func() map[string]string {
		// A long L1 life: only the invalidation broadcast can end a
		// session another instance has cached.
		return map[string]string{"STUDIO_ADMIN_TOKEN": admin, "REDIS_URL": rs.URL(), "DATABASE_URL": db, "STUDIO_L1_TTL": "60s"}
	}
	ctxA, cancelA := context.WithCancel(t.Context())
	a := startServe(t, ctxA, env())
	aStopped := false
	defer func() {
		if !aStopped {
			cancelA()
			<-a.done
		}
	}()
	ctxB, cancelB := context.WithCancel(t.Context())
	b := startServe(t, ctxB, env())
	defer func() { cancelB(); <-b.done }()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(a.base + "/studio/redis/login?token=" + url.QueryEscape(admin))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "studio_session" {
			cookie = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login on A: %d, cookie %q", resp.StatusCode, cookie)
	}
	if code := dashboardStatus(t, b.base, cookie); code != 200 {
		t.Fatalf("A's login on B: %d, want 200", code)
	}
	if code := dashboardStatus(t, b.base, createToken(t, a.base, admin, "alice")); code != http.StatusUnauthorized {
		t.Fatalf("an application session's token on the dashboard: %d, want 401", code)
	}
	// Nor can the API mint a dashboard login.
	if code, body := send(t, "POST", a.base+"/v1/sessions", admin, `{"user_id":"studio-dashboard"}`); code != http.StatusBadRequest || !strings.Contains(body, "reserved_user_id") {
		t.Fatalf("creating a studio-dashboard session through the API: %d %s, want 400 reserved_user_id", code, body)
	}

	cancelA()
	<-a.done
	aStopped = true
	ctxA2, cancelA2 := context.WithCancel(t.Context())
	a2 := startServe(t, ctxA2, env())
	defer func() { cancelA2(); <-a2.done }()
	if code := dashboardStatus(t, a2.base, cookie); code != 200 {
		t.Fatalf("the login after A restarted: %d, want 200", code)
	}

	req, _ := http.NewRequest("POST", b.base+"/studio/redis/logout", nil)
	req.AddCookie(&http.Cookie{Name: "studio_session", Value: cookie})
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on B: %d", resp.StatusCode)
	}
	// The revocation is acknowledged after Redis and the broadcast: the
	// restarted A refuses the cookie (its L1 is dropped by the broadcast).
	deadline := time.Now().Add(2 * time.Second)
	for dashboardStatus(t, a2.base, cookie) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the logout on B never ended the session on A")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := dashboardStatus(t, b.base, cookie); code != http.StatusUnauthorized {
		t.Fatalf("after the logout, B: %d, want 401", code)
	}
}
