package dashboard

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flakyStore is a SessionStore over the in-memory one whose calls fail
// while down is set, as a store behind an outage would.
type flakyStore struct {
	*memSessions
	down atomic.Bool
}

var errStoreDown = errors.New("session store: connection refused")

func (f *flakyStore) Create(ctx context.Context, idle, max time.Duration) (string, error) {
	if f.down.Load() {
		return "", errStoreDown
	}
	return f.memSessions.Create(ctx, idle, max)
}

func (f *flakyStore) Touch(ctx context.Context, v string) (bool, error) {
	if f.down.Load() {
		return false, errStoreDown
	}
	return f.memSessions.Touch(ctx, v)
}

func (f *flakyStore) Remove(ctx context.Context, v string) error {
	if f.down.Load() {
		return errStoreDown
	}
	return f.memSessions.Remove(ctx, v)
}

// openStream serves h and opens its event stream with the session cookie
// c; the stream closes when the test ends.
func openStream(t *testing.T, h http.Handler, c *http.Cookie) *bufio.Reader {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+Prefix+"/events", nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body)
}

// TestSharedSessionStore: two dashboards on one store (two instances of
// Studio) accept each other's logins, and a logout on one ends the
// session on both.
func TestSharedSessionStore(t *testing.T) {
	store := newMemSessions(16, time.Now)
	a := newTestHandler(t, func(o *Options) { o.Sessions = store })
	b := newTestHandler(t, func(o *Options) { o.Sessions = store })
	c := login(t, a)
	page := func(h *Handler) int {
		return do(h, "GET", Prefix+"/", "", "Cookie", c.Name+"="+c.Value).Code
	}
	if page(a) != 200 || page(b) != 200 {
		t.Fatalf("a login on one instance: pages %d and %d, want 200 on both", page(a), page(b))
	}
	if w := do(b, "POST", Prefix+"/logout", "", "Cookie", c.Name+"="+c.Value); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if page(a) != http.StatusUnauthorized {
		t.Fatalf("after a logout on the other instance: page %d, want 401", page(a))
	}
}

// TestSessionStoreDown: when the store cannot answer the dashboard fails
// closed with 503 (not a login prompt that could not work either), a
// logout still clears the cookie, and an open stream ends without saying
// "expired" so that the page reconnects.
func TestSessionStoreDown(t *testing.T) {
	store := &flakyStore{memSessions: newMemSessions(16, time.Now)}
	h := newTestHandler(t, func(o *Options) { o.Sessions = store; o.SessionRecheck = time.Nanosecond })
	c := login(t, h)
	cookie := []string{"Cookie", c.Name + "=" + c.Value}

	br := openStream(t, h, c)
	for range 2 { // the history and the first snapshot
		if ev, _ := readEvent(t, br); ev == "" {
			break
		}
	}

	store.down.Store(true)
	for _, tc := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", Prefix + "/", http.StatusServiceUnavailable, "cannot check sessions"},
		{"GET", Prefix + "/data", http.StatusServiceUnavailable, "session_check_failed"},
		{"GET", Prefix + "/history", http.StatusServiceUnavailable, "session_check_failed"},
		{"GET", Prefix + "/login?token=" + testToken, http.StatusServiceUnavailable, "could not start a session"},
		{"HEAD", Prefix + "/", http.StatusServiceUnavailable, ""},
	} {
		w := do(h, tc.method, tc.path, "", cookie...)
		if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s with the store down: %d %q, want %d with %q", tc.method, tc.path, w.Code, w.Body.String(), tc.want, tc.body)
		}
		for _, sc := range w.Result().Cookies() {
			if sc.Name == CookieName && sc.MaxAge >= 0 {
				t.Errorf("%s %s set a session cookie with the store down", tc.method, tc.path)
			}
		}
	}
	w := do(h, "POST", Prefix+"/logout", "", cookie...)
	cleared := false
	for _, sc := range w.Result().Cookies() {
		cleared = cleared || sc.Name == CookieName && sc.MaxAge < 0
	}
	if w.Code != http.StatusSeeOther || !cleared {
		t.Errorf("logout with the store down: %d, cookie cleared %v", w.Code, cleared)
	}

	// The stream ends at its next frame, without "expired".
	done := make(chan string, 1)
	go func() {
		var evs []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				done <- strings.Join(evs, ",")
				return
			}
			if ev, ok := strings.CutPrefix(line, "event: "); ok {
				evs = append(evs, strings.TrimSpace(ev))
			}
		}
	}()
	select {
	case evs := <-done:
		if strings.Contains(evs, "expired") {
			t.Fatalf("stream said expired (%s) when the store was only unreachable", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream went on with the session store down")
	}

	// Back up: the session, never removed, still works.
	store.down.Store(false)
	if w := do(h, "GET", Prefix+"/", "", cookie...); w.Code != 200 {
		t.Fatalf("store back: page %d", w.Code)
	}
}

// TestStreamRechecksEverySessionRecheck: an open stream checks its
// session every SessionRecheck (by the handler's clock), not every frame:
// a logout elsewhere ends it at the first frame after that much time.
func TestStreamRechecksEverySessionRecheck(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	store := newMemSessions(16, func() time.Time { return *now.Load() })
	h := newTestHandler(t, func(o *Options) {
		o.Now = func() time.Time { return *now.Load() }
		o.Sessions = store
	})
	c := login(t, h)
	br := openStream(t, h, c)
	readEvent(t, br)                                           // history
	if err := store.Remove(t.Context(), c.Value); err != nil { // a logout on another instance
		t.Fatal(err)
	}
	t1 := t0.Add(4 * time.Second)
	now.Store(&t1)
	for range 3 {
		if ev, _ := readEvent(t, br); ev != "snapshot" {
			t.Fatalf("before SessionRecheck passed: %q, want snapshot", ev)
		}
	}
	t2 := t0.Add(5 * time.Second)
	now.Store(&t2)
	for range 3 {
		if ev, _ := readEvent(t, br); ev == "expired" {
			return
		}
	}
	t.Fatal("the stream went on after SessionRecheck passed with its session gone")
}
