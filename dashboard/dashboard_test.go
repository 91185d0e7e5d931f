package dashboard

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/monitor"
)

const testToken = "dash-admin-token-0123456789"

// testSnapshot is a Snapshot with every panel filled.
func testSnapshot() monitor.Snapshot {
	return monitor.Snapshot{
		Status: "degraded", Reasons: []string{"replica 10.0.0.2:6379 link down"}, Time: time.Unix(1700000000, 0),
		Redis: monitor.RedisStatus{Mode: "sentinel", Master: "10.0.0.1:6379", Role: "master", Version: "7.2.4",
			UsedMemoryBytes: 3 << 20, MaxmemoryBytes: 64 << 20, EvictedKeys: 2, ConnectedClients: 12, OpsPerSec: 950,
			Sentinels: []monitor.Sentinel{{Addr: "10.0.0.5:26379", Status: "ok"}}},
		Cache:          monitor.CacheSnapshot{Available: true, HitRate: 0.97, Lookups: 6000, Window: "1m"},
		LatencyMS:      monitor.Latency{P50: 0.21, P95: 0.8, P99: 1.9, Count: 6000, Window: "1m"},
		ThroughputOps:  1000,
		Errors:         monitor.Errors{Rate: 0.001, Total: 6, Commands: 6000},
		CircuitBreaker: "closed",
		HotKeys: []monitor.HotKey{{Key: "studio:s:#1a2b3c4d", Count: 900, PerMin: 900,
			Instances: []monitor.HotKeyShare{{Instance: "a", Count: 600}, {Instance: "b", Count: 300}}}},
		Alerts: []monitor.Alert{{Name: "FromSnapshot", Severity: "warning", State: "firing"}},
		Topology: &health.Topology{Master: "10.0.0.1:6379", MasterReachable: true,
			Events: []health.EventRecord{{Kind: "a"}, {Kind: "b"}, {Kind: "c"}, {Kind: "d"}, {Kind: "e"}, {Kind: "f"}},
			LastFailover: &health.Failover{From: "10.0.0.9:6379", To: "10.0.0.1:6379", DurationSeconds: 1.2,
				WriteGapStatus: "measured", WriteGapSeconds: 2.3, FailedCommands: 412}},
	}
}

func testPoints(n int, end time.Time) []monitor.Point {
	ps := make([]monitor.Point, n)
	for i := range ps {
		ps[i] = monitor.Point{Time: end.Add(time.Duration(i-n+1) * time.Second), Up: i%10 != 0, P50MS: 0.2, P95MS: 0.7, P99MS: 1.5,
			ClientOps: 1000, ServerOps: 900, HitRate: 0.97, L1HitRate: 0.8, RedisHitRate: 0.85, Lookups: 100,
			UsedMemory: 3 << 20, MaxMemory: 64 << 20, ConnectedClients: 12}
	}
	return ps
}

func newTestHandler(t testing.TB, mod func(*Options)) *Handler {
	t.Helper()
	o := Options{
		Snapshot:   testSnapshot,
		History:    func(since time.Time) []monitor.Point { return testPoints(120, time.Now()) },
		AdminToken: testToken,
		Interval:   100 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	h := New(o)
	t.Cleanup(h.Close)
	return h
}

func do(h http.Handler, method, target string, body string, hdr ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// login returns the session cookie the login exchange sets.
func login(t *testing.T, h http.Handler) *http.Cookie {
	t.Helper()
	w := do(h, "GET", Prefix+"/login?token="+url.QueryEscape(testToken), "")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func TestAuth(t *testing.T) {
	h := newTestHandler(t, nil)

	// Without a cookie: the page is a 401 login form, the API 401 JSON.
	w := do(h, "GET", Prefix, "")
	if w.Code != 401 || !strings.Contains(w.Body.String(), `<form method="post" action="/studio/redis/login"`) || strings.Contains(w.Body.String(), "<script") {
		t.Fatalf("page without cookie: %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/data", "/events", "/history"} {
		w := do(h, "GET", Prefix+p, "")
		if w.Code != 401 || !strings.Contains(w.Body.String(), `"code":"login_required"`) || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s without cookie: %d %s", p, w.Code, w.Body)
		}
	}
	// A forged cookie is no session.
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", CookieName+"="+strings.Repeat("A", 43)); w.Code != 401 {
		t.Errorf("forged cookie: %d", w.Code)
	}
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", CookieName+"="+testToken); w.Code != 401 {
		t.Errorf("the admin token as cookie: %d", w.Code)
	}

	// A wrong token: 401, no cookie.
	w = do(h, "GET", Prefix+"/login?token=wrong-token", "")
	if w.Code != 401 || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), "not the admin token") {
		t.Fatalf("bad token: %d cookies %v", w.Code, w.Result().Cookies())
	}

	// The right token: a 303 to the page (no token in Location) and a
	// cookie that is not the token.
	w = do(h, "GET", Prefix+"/login?token="+testToken, "")
	if w.Code != 303 || w.Header().Get("Location") != Prefix {
		t.Fatalf("login: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	if raw := w.Header().Get("Set-Cookie"); strings.Contains(raw, testToken) ||
		!strings.Contains(raw, "HttpOnly") || !strings.Contains(raw, "SameSite=Strict") ||
		!strings.Contains(raw, "Path=/studio/redis") || strings.Contains(raw, "Secure") {
		t.Fatalf("Set-Cookie %q", raw)
	}
	c := w.Result().Cookies()[0]
	if c.Name != CookieName || len(c.Value) != 43 {
		t.Fatalf("cookie %+v", c)
	}
	if w := do(h, "GET", Prefix, "", "Cookie", c.String()); w.Code != 200 || !strings.Contains(w.Body.String(), `src="/studio/redis/static/app.js"`) {
		t.Fatalf("page with cookie: %d", w.Code)
	}
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", c.String()); w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("data with cookie: %d %v", w.Code, w.Header())
	}

	// Over TLS the cookie is Secure.
	r := httptest.NewRequest("POST", Prefix+"/login", strings.NewReader("token="+url.QueryEscape(testToken)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.TLS = &tls.ConnectionState{}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 303 || !strings.Contains(w.Header().Get("Set-Cookie"), "Secure") {
		t.Fatalf("TLS login: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}

	// Logout ends the session.
	if w := do(h, "GET", Prefix+"/logout", "", "Cookie", c.String()); w.Code != 405 {
		t.Errorf("GET logout: %d", w.Code)
	}
	w = do(h, "POST", Prefix+"/logout", "", "Cookie", c.String())
	if w.Code != 303 || !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", c.String()); w.Code != 401 {
		t.Errorf("data after logout: %d", w.Code)
	}
}

func TestSessionExpiry(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Unix(1700000000, 0)
	now.Store(&t0)
	h := newTestHandler(t, func(o *Options) {
		o.Now = func() time.Time { return *now.Load() }
		o.SessionIdle, o.SessionMax = time.Hour, 3*time.Hour
	})
	c := login(t, h)
	for _, d := range []time.Duration{50 * time.Minute, 100 * time.Minute, 150 * time.Minute} {
		t1 := t0.Add(d)
		now.Store(&t1)
		if w := do(h, "GET", Prefix+"/data", "", "Cookie", c.String()); w.Code != 200 {
			t.Fatalf("used every 50 min, at %v: %d", d, w.Code)
		}
	}
	t2 := t0.Add(3*time.Hour + time.Minute)
	now.Store(&t2)
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", c.String()); w.Code != 401 {
		t.Fatalf("past SessionMax: %d", w.Code)
	}
	c = login(t, h)
	t3 := t2.Add(61 * time.Minute)
	now.Store(&t3)
	if w := do(h, "GET", Prefix+"/data", "", "Cookie", c.String()); w.Code != 401 {
		t.Fatalf("idle past SessionIdle: %d", w.Code)
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	h := newTestHandler(t, nil)
	c := login(t, h)
	for _, tc := range []struct{ method, path string }{
		{"GET", Prefix}, {"GET", Prefix + "/"}, {"GET", Prefix + "/data"}, {"GET", Prefix + "/history"},
		{"GET", Prefix + "/login"}, {"GET", Prefix + "/login?token=x"}, {"POST", Prefix + "/logout"},
		{"GET", Prefix + "/static/app.js"}, {"GET", Prefix + "/static/nope.js"}, {"GET", Prefix + "/nope"},
		{"DELETE", Prefix}, {"GET", Prefix + "x"},
	} {
		for _, cookie := range []string{"", c.String()} {
			w := do(h, tc.method, tc.path, "", "Cookie", cookie)
			hd := w.Header()
			if hd.Get("Content-Security-Policy") != CSP || hd.Get("X-Content-Type-Options") != "nosniff" ||
				hd.Get("Referrer-Policy") != "no-referrer" || hd.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s %s (cookie %v): %d headers %v", tc.method, tc.path, cookie != "", w.Code, hd)
			}
			if !strings.HasPrefix(tc.path, Prefix+"/static/app") && hd.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", tc.method, tc.path, hd.Get("Cache-Control"))
			}
		}
	}
	if !strings.Contains(CSP, "script-src 'self';") || strings.Contains(CSP, "unsafe") {
		t.Errorf("CSP %q", CSP)
	}
}

func TestStaticAssets(t *testing.T) {
	h := newTestHandler(t, nil)
	for name, ctype := range map[string]string{
		"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
		"uplot.iife.min.js": "text/javascript; charset=utf-8", "uplot.min.css": "text/css; charset=utf-8",
		"LICENSE": "text/plain; charset=utf-8",
	} {
		w := do(h, "GET", Prefix+"/static/"+name, "")
		if w.Code != 200 || w.Header().Get("Content-Type") != ctype || w.Body.Len() == 0 {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("Content-Type"))
		}
		if w2 := do(h, "GET", Prefix+"/static/"+name, "", "If-None-Match", w.Header().Get("ETag")); w2.Code != 304 {
			t.Errorf("%s revalidation: %d", name, w2.Code)
		}
	}
	if w := do(h, "GET", Prefix+"/static/LICENSE", ""); !strings.Contains(w.Body.String(), "MIT License") {
		t.Error("uPlot's licence is not served")
	}
	for _, p := range []string{"index.html", "../dashboard.go", "nope.js", ""} {
		if w := do(h, "GET", Prefix+"/static/"+p, ""); w.Code != 404 {
			t.Errorf("static %q: %d", p, w.Code)
		}
	}
	// No inline script or style in the page or the login form.
	page := h.static["index.html"].body
	for _, bad := range []string{"<script>", "style=", "onclick", "<style"} {
		if strings.Contains(string(page), bad) || strings.Contains(loginHTML, bad) {
			t.Errorf("inline %q", bad)
		}
	}
}

func TestAdminTokenUnset(t *testing.T) {
	h := newTestHandler(t, func(o *Options) { o.AdminToken = "" })
	for _, p := range []string{"", "/login?token=", "/data", "/events"} {
		if w := do(h, "GET", Prefix+p, ""); w.Code != 403 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	if w := do(h, "GET", Prefix+"/static/app.css", ""); w.Code != 200 {
		t.Errorf("static: %d", w.Code)
	}
}

func TestLoginBadInputs(t *testing.T) {
	h := newTestHandler(t, nil)
	long := strings.Repeat("a", maxTokenLen+1)
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, method, query, ctype, body string
		status                           int
		code                             string
	}{
		{"no token, GET shows the form", "GET", "", "", "", 200, ""},
		{"empty token", "POST", "", form, "token=", 400, "missing_token"},
		{"no field", "POST", "", form, "other=1", 400, "missing_token"},
		{"wrong token", "GET", "token=nope", "", "", 401, "invalid_admin_token"},
		{"prefix of the token", "GET", "token=" + testToken[:10], "", "", 401, "invalid_admin_token"},
		{"token twice", "GET", "token=" + testToken + "&token=" + testToken, "", "", 400, "duplicate_token"},
		{"too long", "GET", "token=" + long, "", "", 400, "token_too_long"},
		{"control character", "GET", "token=abc%00def", "", "", 400, "invalid_token_characters"},
		{"space", "GET", "token=abc%20def", "", "", 400, "invalid_token_characters"},
		{"invalid UTF-8", "GET", "token=abc%ff", "", "", 400, "invalid_token_characters"},
		{"bad escape", "GET", "token=%zz", "", "", 400, "bad_encoding"},
		{"JSON body", "POST", "", "application/json", `{"token":"x"}`, 415, "unsupported_media_type"},
		{"no content type", "POST", "", "", "token=x", 415, "unsupported_media_type"},
		{"body too large", "POST", "", form, "token=x&pad=" + strings.Repeat("p", maxLoginBody), 413, "body_too_large"},
		{"token in the query of a POST", "POST", "token=" + testToken, form, "", 400, "missing_token"},
		{"PUT", "PUT", "", "", "", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := Prefix + "/login"
			if tc.query != "" {
				target += "?" + tc.query
			}
			w := do(h, tc.method, target, tc.body, "Content-Type", tc.ctype)
			if w.Code != tc.status || len(w.Result().Cookies()) != 0 {
				t.Fatalf("%d (cookies %v), want %d: %s", w.Code, w.Result().Cookies(), tc.status, w.Body)
			}
			if strings.Contains(w.Body.String(), testToken) {
				t.Fatal("the answer echoes the token")
			}
			if tc.code != "" && tc.code != "invalid_admin_token" && tc.code != "method_not_allowed" {
				var body strings.Reader
				body.Reset(tc.body)
				_, err := parseLogin(tc.method, tc.query, tc.ctype, &body)
				if err == nil || err.Code != tc.code {
					t.Fatalf("parseLogin: %v, want %s", err, tc.code)
				}
			}
		})
	}
}

func FuzzParseLogin(f *testing.F) {
	f.Add("GET", "token=abc", "", "")
	f.Add("POST", "", "application/x-www-form-urlencoded", "token=abc")
	f.Add("POST", "", "application/x-www-form-urlencoded; charset=utf-8", "token=%zz&token=")
	f.Add("GET", "token=a&token=b;c", "", "")
	f.Fuzz(func(t *testing.T, method, query, ctype, body string) {
		tok, err := parseLogin(method, query, ctype, strings.NewReader(body))
		if err != nil {
			if tok != "" || err.Status < 400 || err.Status > 499 || err.Code == "" {
				t.Fatalf("error %+v with token %q", err, tok)
			}
			return
		}
		if tok == "" || len(tok) > maxTokenLen || strings.ContainsAny(tok, " \x00\n\r\t") {
			t.Fatalf("accepted token %q", tok)
		}
	})
}

func TestFrameContent(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	twelve := 12.0
	h := newTestHandler(t, func(o *Options) {
		o.Snapshot = func() health.Snapshot {
			s := testSnapshot()
			s.Alerts = []health.Alert{
				{Name: "Pending", State: "pending", Severity: "critical"},
				{Name: "Old", State: "resolved", Severity: "critical", Since: start.Add(5 * time.Minute), EndsAt: start.Add(5 * time.Minute),
					Runbook: "javascript:alert(1)"},
				{Name: "ManyClients", State: "firing", Severity: "warning", Since: start, Value: &twelve,
					Summary: "12 clients", Runbook: "docs/runbooks/redis-connections-near-limit.md"},
				{Name: "RedisDown", State: "firing", Severity: "critical", Since: start,
					Runbook: "https://studio.example/docs/runbooks/redis-down.md", Silenced: true},
			}
			return s
		}
	})
	var f struct {
		Status string
		Redis  struct {
			Mode      string
			Sentinels []any
		}
		Cache struct {
			HitRate float64 `json:"hit_rate"`
		}
		HotKeys  []monitor.HotKey
		Alerts   []frameAlert
		Topology struct {
			Master       string
			Events       []any
			LastFailover struct {
				To              string
				DurationSeconds float64 `json:"duration_seconds"`
				WriteGapStatus  string  `json:"write_gap_status"`
				WriteGapSeconds float64 `json:"write_gap_seconds"`
				FailedCommands  uint64  `json:"failed_commands"`
			} `json:"last_failover"`
		}
		Point map[string]any
	}
	if err := json.Unmarshal(h.buildFrame(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Status != "degraded" || f.Redis.Mode != "sentinel" || len(f.Redis.Sentinels) != 1 || f.Cache.HitRate != 0.97 ||
		len(f.HotKeys) != 1 || len(f.HotKeys[0].Instances) != 2 || f.Topology.Master != "10.0.0.1:6379" ||
		f.Topology.Events != nil || f.Topology.LastFailover.To != "10.0.0.1:6379" {
		t.Errorf("frame %+v", f)
	}
	// The page gets the write gap beside the Sentinels' detection → switch.
	if lf := f.Topology.LastFailover; lf.WriteGapStatus != "measured" || lf.WriteGapSeconds != 2.3 || lf.FailedCommands != 412 || lf.DurationSeconds != 1.2 {
		t.Errorf("last failover in the frame %+v", lf)
	}
	if len(f.Alerts) != 3 || f.Alerts[0].Name != "RedisDown" || f.Alerts[1].Name != "ManyClients" || f.Alerts[2].Name != "Old" {
		t.Fatalf("alerts %+v", f.Alerts)
	}
	if f.Alerts[0].Runbook != "https://studio.example/docs/runbooks/redis-down.md" || !f.Alerts[0].Silenced ||
		f.Alerts[1].Runbook != "/docs/runbooks/redis-connections-near-limit.md" || f.Alerts[1].Summary != "12 clients" ||
		f.Alerts[2].Runbook != "" {
		t.Errorf("alerts %+v", f.Alerts)
	}
	if f.Point["p99"] != 1.5 || f.Point["hit"] != 0.97 || f.Point["l1"] != 0.8 {
		t.Errorf("point %v", f.Point)
	}

	// The Snapshot's own alerts show.
	h2 := newTestHandler(t, nil)
	if !strings.Contains(string(h2.buildFrame()), `"name":"FromSnapshot"`) {
		t.Error("the Snapshot's alerts are missing")
	}
}

func TestRunbookLink(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"docs/runbooks/a.md":         "/docs/runbooks/a.md",
		"/docs/runbooks/a.md":        "/docs/runbooks/a.md",
		"https://x.example/r":        "https://x.example/r",
		"http://x.example/r":         "http://x.example/r",
		"javascript:alert(1)":        "",
		"JaVaScRiPt:alert(1)":        "",
		"data:text/html,<b>x</b>":    "",
		"//evil.example/x":           "",
		"https:///nohost":            "",
		"vbscript:msgbox":            "",
		"ftp://x.example/r":          "",
		"\x00":                       "",
		"docs/runbooks/a.md?x=1#sec": "/docs/runbooks/a.md?x=1#sec",
	} {
		if got := runbookLink(in); got != want {
			t.Errorf("runbookLink(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHistory(t *testing.T) {
	end := time.Now()
	h := newTestHandler(t, func(o *Options) {
		o.History = func(since time.Time) []monitor.Point { return testPoints(7200, end) }
	})
	var hist struct {
		Points map[string][]*float64
		N      int
	}
	if err := json.Unmarshal(h.historyJSON(), &hist); err != nil {
		t.Fatal(err)
	}
	if hist.N != MaxHistoryPoints || len(hist.Points["t"]) != MaxHistoryPoints || len(hist.Points) != len(pointKeys) {
		t.Fatalf("n %d, %d columns", hist.N, len(hist.Points))
	}
	for k, col := range hist.Points {
		if len(col) != MaxHistoryPoints {
			t.Errorf("column %s has %d values", k, len(col))
		}
	}
	if last := *hist.Points["t"][MaxHistoryPoints-1]; last != float64(end.UnixMilli())/1e3 {
		t.Errorf("newest point %v, want %v", last, float64(end.UnixMilli())/1e3)
	}
	// A failed poll's server fields are null; client fields are not.
	if hist.Points["mem"][0] != nil || hist.Points["p50"][0] == nil || hist.Points["mem"][1] == nil {
		t.Errorf("nulls: mem[0] %v p50[0] %v", hist.Points["mem"][0], hist.Points["p50"][0])
	}
}

// TestHistoryHotTrends: the history event carries the hot keys' recent
// rates, rounded like the frames, with any key escaped as JSON; none
// without Options.HotKeyTrends.
func TestHistoryHotTrends(t *testing.T) {
	h := newTestHandler(t, func(o *Options) {
		o.HotKeyTrends = func() map[string][]float64 {
			return map[string][]float64{"studio:s:#1a2b3c4d": {900.04, 950.06}, "odd\"key</script>": {1}}
		}
	})
	var hist struct {
		HotTrends map[string][]float64 `json:"hot_trends"`
	}
	b := h.historyJSON()
	if err := json.Unmarshal(b, &hist); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got := hist.HotTrends["studio:s:#1a2b3c4d"]; len(got) != 2 || got[0] != 900 || got[1] != 950.1 {
		t.Errorf("trend %v, want [900 950.1]", got)
	}
	if strings.Contains(string(b), "</script>") || len(hist.HotTrends["odd\"key</script>"]) != 1 {
		t.Errorf("a key was not escaped: %s", b)
	}
	if b := newTestHandler(t, nil).historyJSON(); strings.Contains(string(b), "hot_trends") {
		t.Errorf("hot_trends without HotKeyTrends: %s", b)
	}
}

// readEvent reads one SSE event (event name and data) from r.
func readEvent(t *testing.T, r *bufio.Reader) (string, string) {
	t.Helper()
	var ev, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (event %q)", err, ev)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev != "" || data != "" {
				return ev, data
			}
		case strings.HasPrefix(line, "event: "):
			ev = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		case strings.HasPrefix(line, "retry: "):
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
}

func TestEventStream(t *testing.T) {
	h := newTestHandler(t, func(o *Options) { o.MaxStreams = 2; o.SessionRecheck = time.Nanosecond })
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := login(t, h)
	open := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", srv.URL+Prefix+"/events", nil)
		req.AddCookie(c)
		return http.DefaultClient.Do(req)
	}
	resp, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" ||
		resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	first, _ := br.ReadString('\n')
	if first != "retry: 2000\n" {
		t.Fatalf("first line %q", first)
	}
	ev, data := readEvent(t, br)
	var hist struct {
		Points map[string][]any
		N      int
	}
	if ev != "history" || json.Unmarshal([]byte(data), &hist) != nil || hist.N != 120 || len(hist.Points["p99"]) != 120 {
		t.Fatalf("first event %q n=%d", ev, hist.N)
	}
	var times []time.Time
	for range 3 {
		ev, data = readEvent(t, br)
		var f struct {
			Status string
			Point  map[string]any
		}
		if ev != "snapshot" || json.Unmarshal([]byte(data), &f) != nil || f.Status != "degraded" || f.Point["p50"] != 0.2 {
			t.Fatalf("event %q: %s", ev, data)
		}
		times = append(times, time.Now())
	}
	t.Logf("snapshot events %v and %v apart (Interval 100ms)", times[1].Sub(times[0]), times[2].Sub(times[1]))

	// Over MaxStreams: 503, the page polls.
	second, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Body.Close()
	third, err := open()
	if err != nil {
		t.Fatal(err)
	}
	third.Body.Close()
	if second.StatusCode != 200 || third.StatusCode != 503 || third.Header.Get("Retry-After") == "" {
		t.Fatalf("second %d, third %d", second.StatusCode, third.StatusCode)
	}

	// Logging out elsewhere ends the stream with "expired".
	do(h, "POST", Prefix+"/logout", "", "Cookie", c.String())
	if ev, _ := readEvent(t, br); ev != "expired" {
		t.Fatalf("after logout: %q", ev)
	}

	// Close ends the open streams.
	done := make(chan struct{})
	go func() {
		b := bufio.NewReader(second.Body)
		for {
			if _, err := b.ReadString('\n'); err != nil {
				close(done)
				return
			}
		}
	}()
	h.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stream")
	}
	if w := do(h, "GET", Prefix+"/events", "", "Cookie", login(t, h).String()); w.Code != 503 {
		t.Errorf("a stream after Close: %d", w.Code)
	}
}

// The producer runs only while a stream is open.
func TestProducerStops(t *testing.T) {
	var builds atomic.Int64
	h := newTestHandler(t, func(o *Options) {
		o.Snapshot = func() monitor.Snapshot { builds.Add(1); return testSnapshot() }
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+Prefix+"/events", nil)
	req.AddCookie(login(t, h))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	br.ReadString('\n')
	readEvent(t, br)
	readEvent(t, br)
	readEvent(t, br)
	cancel()
	resp.Body.Close()
	time.Sleep(300 * time.Millisecond)
	n := builds.Load()
	time.Sleep(500 * time.Millisecond)
	if m := builds.Load(); m != n {
		t.Errorf("%d frames built after the last stream closed", m-n)
	}
}

// TestLoginThrottle: after many failed logins from one address, wrong
// tokens from it get 429 with Retry-After, while the right token still
// logs in at once, from it and from anywhere else; other addresses'
// wrong tokens are not affected. No token reaches the log.
func TestLoginThrottle(t *testing.T) {
	var logs syncBuffer
	h := newTestHandler(t, func(o *Options) {
		o.Admin = adminauth.NewGuard(adminauth.GuardOptions{Tokens: adminauth.New(testToken),
			Throttle: adminauth.ThrottleOptions{PerClient: 5}, Delay: 10 * time.Millisecond})
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	from := func(addr, tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", Prefix+"/login?token="+tok, nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const wrong = "not-the-dashboard-token-xyzzy"
	for i := range 5 {
		if w := from("198.51.100.7:4000", wrong); w.Code != http.StatusUnauthorized {
			t.Fatalf("failed attempt %d: %d, want 401", i+1, w.Code)
		}
	}
	for range 20 {
		w := from("198.51.100.7:4001", wrong)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || len(w.Result().Cookies()) != 0 {
			t.Fatalf("over the budget: %d, Retry-After %q, cookies %v; want 429 with Retry-After and no cookie",
				w.Code, w.Header().Get("Retry-After"), w.Result().Cookies())
		}
	}
	if w := from("198.51.100.7:4002", testToken); w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		t.Fatalf("the right token from the guessing address: %d, want 303 (logged in)", w.Code)
	}
	if w := from("203.0.113.9:4000", wrong); w.Code != http.StatusUnauthorized {
		t.Fatalf("another address's wrong token: %d, want 401", w.Code)
	}
	if out := logs.String(); strings.Contains(out, testToken) || strings.Contains(out, wrong) || !strings.Contains(out, `"client":"198.51.100.7"`) {
		t.Fatalf("the log must name the client and no token: %s", out)
	}
}

// TestCookieSecure: the session cookie is Secure over https — TLS to
// Studio, or https as a trusted proxy said (the middleware's decision in
// the context) — and always with SecureCookie (an https external URL);
// not over plain http otherwise.
func TestCookieSecure(t *testing.T) {
	login := func(h *Handler, mod func(*http.Request) *http.Request) bool {
		r := httptest.NewRequest("GET", Prefix+"/login?token="+testToken, nil)
		r = mod(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		cs := w.Result().Cookies()
		if w.Code != http.StatusSeeOther || len(cs) != 1 {
			t.Fatalf("login: %d %v", w.Code, cs)
		}
		return cs[0].Secure
	}
	plain := func(r *http.Request) *http.Request { return r }
	viaProxy := func(r *http.Request) *http.Request {
		return r.WithContext(clientaddr.With(r.Context(), clientaddr.Client{HTTPS: true}))
	}
	spoofed := func(r *http.Request) *http.Request { r.Header.Set("X-Forwarded-Proto", "https"); return r }
	direct := func(r *http.Request) *http.Request { r.TLS = &tls.ConnectionState{}; return r }
	h := newTestHandler(t, nil)
	for name, tc := range map[string]struct {
		mod  func(*http.Request) *http.Request
		want bool
	}{"plain http": {plain, false}, "https through a trusted proxy": {viaProxy, true}, "X-Forwarded-Proto alone": {spoofed, false}, "TLS to Studio": {direct, true}} {
		if got := login(h, tc.mod); got != tc.want {
			t.Errorf("%s: Secure %v, want %v", name, got, tc.want)
		}
	}
	always := newTestHandler(t, func(o *Options) { o.SecureCookie = true })
	if !login(always, plain) {
		t.Error("SecureCookie: a plain http login's cookie is not Secure")
	}
}

// TestTwoAuthorizationHeaders: the dashboard refuses a request with two
// Authorization headers (400), as the API does.
func TestTwoAuthorizationHeaders(t *testing.T) {
	h := newTestHandler(t, nil)
	r := httptest.NewRequest("GET", Prefix+"/login?token="+testToken, nil)
	r.Header.Add("Authorization", "Basic YTpi")
	r.Header.Add("Authorization", "Basic Yzpk")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	const want = `{"error":{"code":"invalid_request","message":"more than one Authorization header"}}`
	if w.Code != 400 || strings.TrimSpace(w.Body.String()) != want || len(w.Result().Cookies()) != 0 {
		t.Fatalf("two Authorization headers: %d %s", w.Code, w.Body.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
