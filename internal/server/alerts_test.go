package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/alert"

	"github.com/studiohq/studio/internal/syncbuf"
)

const alertsAdmin = "alerts-admin-token-0123456789"

// fakeAlerts stands in for the alert engine: an in-process interface, so a
// fake is enough here (the engine is tested against real Redis in alert/).
type fakeAlerts struct {
	mu       sync.Mutex
	statuses []alert.AlertStatus
	silences []alert.Silence
	added    []alert.Silence // every silence AddSilence was given
	listErr  error
	listNil  bool // Silences returns nil with listErr
	addErr   error
	expErr   error
	nextID   int
}

func (f *fakeAlerts) AlertStatuses() []alert.AlertStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.statuses)
}

func (f *fakeAlerts) AddSilence(_ context.Context, s alert.Silence) (alert.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, s)
	if f.addErr != nil {
		return alert.Silence{}, f.addErr
	}
	f.nextID++
	s.ID, s.UpdatedAt, s.Status = fmt.Sprintf("sil%04d", f.nextID), time.Now(), alert.SilenceActive
	f.silences = append(f.silences, s)
	return s, nil
}

func (f *fakeAlerts) Silences(context.Context) ([]alert.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listNil {
		return nil, f.listErr
	}
	return append([]alert.Silence{}, f.silences...), f.listErr
}

func (f *fakeAlerts) ExpireSilence(_ context.Context, id string) (alert.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expErr != nil {
		return alert.Silence{}, f.expErr
	}
	for i, s := range f.silences {
		if s.ID == id {
			s.EndsAt, s.Status = time.Now(), alert.SilenceExpired
			f.silences[i] = s
			return s, nil
		}
	}
	return alert.Silence{}, fmt.Errorf("%w: %q", alert.ErrSilenceNotFound, id)
}

func (f *fakeAlerts) addedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.added)
}

var _ AlertAPI = (*fakeAlerts)(nil)

// apiServer is a Server behind a real loopback listener, with its logs.
type apiServer struct {
	t    *testing.T
	url  string
	logs *syncbuf.Buffer
}

func newAPIServer(t *testing.T, opts Options) *apiServer {
	t.Helper()
	a := &apiServer{t: t, logs: &syncbuf.Buffer{}}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ts := httptest.NewServer(New(opts))
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

type apiResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r apiResult) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r apiResult) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends a request; path is sent as written (escapes included). Every
// JSON error answer must have the {"error":{"code","message"}} shape.
func (a *apiServer) do(method, path, auth, body string, hdr ...string) apiResult {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiResult{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			a.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	if r.status >= 400 && (r.errCode() == "" || r.errMessage() == "") {
		a.t.Fatalf("%s %s: error %d without {\"error\":{\"code\",\"message\"}}: %q", method, path, r.status, raw)
	}
	return r
}

func sampleStatuses() []alert.AlertStatus {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(rule string, st alert.State, silencedBy ...string) alert.AlertStatus {
		return alert.AlertStatus{
			Alert: &alert.Alert{
				Rule: rule, Fingerprint: "0123456789abcdef", State: st, Severity: alert.SeverityCritical,
				Labels:      map[string]string{"alertname": rule, "severity": "critical"},
				Annotations: map[string]string{"summary": rule + " summary", "runbook_url": "docs/runbooks/redis-down.md"},
				StartsAt:    t0,
			},
			SilencedBy: append([]string{}, silencedBy...),
		}
	}
	return []alert.AlertStatus{
		mk("RedisDown", alert.StateFiring, "sil0001"),
		mk("RedisLatencyHigh", alert.StatePending),
		mk("RedisMemoryHigh", alert.StateResolved),
	}
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestAlertRoutesNeedAdmin(t *testing.T) {
	withToken := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: &fakeAlerts{}})
	noToken := newAPIServer(t, Options{Alerts: &fakeAlerts{}})
	routes := [][2]string{
		{"GET", "/v1/alerts"},
		{"GET", "/v1/alerts/silences"},
		{"POST", "/v1/alerts/silences"},
		{"DELETE", "/v1/alerts/silences/sil0001"},
	}
	cases := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"no auth", "", 401, "missing_token"},
		{"empty bearer", "Bearer ", 401, "missing_token"},
		{"basic auth", "Basic YWRtaW46eA==", 401, "invalid_auth_scheme"},
		{"wrong token", "Bearer not-the-admin-token", 401, "invalid_admin_token"},
		{"admin token with suffix", "Bearer " + alertsAdmin + "x", 401, "invalid_admin_token"},
	}
	for _, rt := range routes {
		for _, tc := range cases {
			t.Run(rt[0]+" "+rt[1]+" "+tc.name, func(t *testing.T) {
				r := withToken.do(rt[0], rt[1], tc.auth, `{}`)
				if r.status != tc.status || r.errCode() != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			})
		}
		t.Run(rt[0]+" "+rt[1]+" admin disabled", func(t *testing.T) {
			r := noToken.do(rt[0], rt[1], "Bearer "+alertsAdmin, `{}`)
			if r.status != 403 || r.errCode() != "admin_disabled" {
				t.Fatalf("got %d %s, want 403 admin_disabled", r.status, r.raw)
			}
		})
	}
}

func TestAlertRoutesDisabled(t *testing.T) {
	a := newAPIServer(t, Options{AdminToken: alertsAdmin})
	for _, rt := range [][2]string{{"GET", "/v1/alerts"}, {"GET", "/v1/alerts/silences"}, {"POST", "/v1/alerts/silences"}, {"DELETE", "/v1/alerts/silences/x"}} {
		if r := a.do(rt[0], rt[1], "Bearer "+alertsAdmin, `{}`); r.status != 503 || r.errCode() != "alerts_disabled" {
			t.Fatalf("%s %s: %d %s, want 503 alerts_disabled", rt[0], rt[1], r.status, r.raw)
		}
		// Authentication comes first: the configuration is not revealed.
		if r := a.do(rt[0], rt[1], "", `{}`); r.status != 401 {
			t.Fatalf("%s %s without a token: %d %s", rt[0], rt[1], r.status, r.raw)
		}
	}
}

func TestListAlerts(t *testing.T) {
	f := &fakeAlerts{statuses: sampleStatuses()}
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: f})
	r := a.do("GET", "/v1/alerts", "Bearer "+alertsAdmin, "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("list: %d %q %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	alerts, _ := r.body["alerts"].([]any)
	if len(alerts) != 3 {
		t.Fatalf("want 3 alerts: %s", r.raw)
	}
	first := alerts[0].(map[string]any)
	if first["rule"] != "RedisDown" || first["state"] != "firing" || first["fingerprint"] != "0123456789abcdef" {
		t.Fatalf("alert fields not flattened as the engine's JSON: %v", first)
	}
	if sb, _ := first["silenced_by"].([]any); len(sb) != 1 || sb[0] != "sil0001" {
		t.Fatalf("silenced_by: %v", first["silenced_by"])
	}
	if ann, _ := first["annotations"].(map[string]any); ann["runbook_url"] != "docs/runbooks/redis-down.md" {
		t.Fatalf("annotations: %v", first["annotations"])
	}

	// No alerts: an empty list, not null.
	f.mu.Lock()
	f.statuses = nil
	f.mu.Unlock()
	if r := a.do("GET", "/v1/alerts", "Bearer "+alertsAdmin, ""); r.status != 200 || !strings.Contains(r.raw, `"alerts":[]`) {
		t.Fatalf("no alerts: %d %s", r.status, r.raw)
	}
}

func TestListAlertsStateFilter(t *testing.T) {
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: &fakeAlerts{statuses: sampleStatuses()}})
	cases := []struct {
		query  string
		status int
		rules  []string // the rules listed, on 200
		msg    string   // a fragment of the message, on 400
	}{
		{"", 200, []string{"RedisDown", "RedisLatencyHigh", "RedisMemoryHigh"}, ""},
		{"?state=firing", 200, []string{"RedisDown"}, ""},
		{"?state=pending", 200, []string{"RedisLatencyHigh"}, ""},
		{"?state=resolved", 200, []string{"RedisMemoryHigh"}, ""},
		{"?other=1", 200, []string{"RedisDown", "RedisLatencyHigh", "RedisMemoryHigh"}, ""},
		{"?state=", 400, nil, "one of firing, pending or resolved"},
		{"?state", 400, nil, "one of firing, pending or resolved"},
		{"?state=FIRING", 400, nil, "one of firing, pending or resolved"},
		{"?state=active", 400, nil, "one of firing, pending or resolved"},
		{"?state=firing%00", 400, nil, "one of firing, pending or resolved"},
		{"?state=firing,pending", 400, nil, "one of firing, pending or resolved"},
		{"?state=" + strings.Repeat("x", 5000), 400, nil, "one of firing, pending or resolved"},
		{"?state=firing&state=pending", 400, nil, "only once"},
		{"?state=firing&state=firing", 400, nil, "only once"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := a.do("GET", "/v1/alerts"+tc.query, "Bearer "+alertsAdmin, "")
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.status)
			}
			if tc.status != 200 {
				if r.errCode() != "invalid_request" || !strings.Contains(r.errMessage(), tc.msg) {
					t.Fatalf("got %s, want invalid_request with %q", r.raw, tc.msg)
				}
				if len(tc.query) > 100 && strings.Contains(r.raw, "xxxxxxxxxx") {
					t.Fatal("the bad value is echoed")
				}
				return
			}
			var got []string
			for _, x := range r.body["alerts"].([]any) {
				got = append(got, x.(map[string]any)["rule"].(string))
			}
			if !slices.Equal(got, tc.rules) {
				t.Fatalf("rules %v, want %v", got, tc.rules)
			}
		})
	}
}

func TestSilenceLifecycle(t *testing.T) {
	f := &fakeAlerts{}
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: f})
	auth := "Bearer " + alertsAdmin

	if r := a.do("GET", "/v1/alerts/silences", auth, ""); r.status != 200 || !strings.Contains(r.raw, `"silences":[]`) || r.body["warning"] != nil {
		t.Fatalf("empty list: %d %s", r.status, r.raw)
	}

	before := time.Now()
	r := a.do("POST", "/v1/alerts/silences", auth,
		`{"matchers":["severity=\"critical\"", "alertname =~ Redis.*"],"duration":"2h","created_by":"alice","comment":"maintenance window"}`,
		"Content-Type", "application/json; charset=utf-8")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	sil, _ := r.body["silence"].(map[string]any)
	id, _ := sil["id"].(string)
	if id == "" || sil["created_by"] != "alice" || sil["comment"] != "maintenance window" || sil["status"] != "active" {
		t.Fatalf("created silence: %s", r.raw)
	}
	if ms, _ := sil["matchers"].([]any); len(ms) != 2 || ms[0] != `severity="critical"` || ms[1] != `alertname=~"Redis.*"` {
		t.Fatalf("matchers: %v", sil["matchers"])
	}
	got := f.added[0]
	if got.StartsAt.Before(before.Add(-time.Second)) || got.StartsAt.After(time.Now()) || got.EndsAt.Sub(got.StartsAt) != 2*time.Hour {
		t.Fatalf("times given to the engine: %v → %v", got.StartsAt, got.EndsAt)
	}
	if !got.Matchers.Matches(map[string]string{"severity": "critical", "alertname": "RedisDown"}) ||
		got.Matchers.Matches(map[string]string{"severity": "warning", "alertname": "RedisDown"}) {
		t.Fatalf("matchers given to the engine do not match as written: %s", got.Matchers)
	}

	// Explicit times, in another zone: kept as the same instants.
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	end := start.Add(30 * time.Minute)
	zone := time.FixedZone("x", 2*3600)
	r = a.do("POST", "/v1/alerts/silences", auth, fmt.Sprintf(
		`{"matchers":["alertname=\"RedisDown\""],"starts_at":%q,"ends_at":%q,"created_by":"bob","comment":"planned"}`,
		start.In(zone).Format(time.RFC3339), end.In(zone).Format(time.RFC3339)))
	if r.status != 201 {
		t.Fatalf("create with times: %d %s", r.status, r.raw)
	}
	if got := f.added[1]; !got.StartsAt.Equal(start) || !got.EndsAt.Equal(end) {
		t.Fatalf("times: %v → %v, want %v → %v", got.StartsAt, got.EndsAt, start, end)
	}

	r = a.do("GET", "/v1/alerts/silences", auth, "")
	if list, _ := r.body["silences"].([]any); r.status != 200 || len(list) != 2 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}

	r = a.do("DELETE", "/v1/alerts/silences/"+id, auth, "")
	if sil, _ := r.body["silence"].(map[string]any); r.status != 200 || sil["id"] != id || sil["status"] != "expired" {
		t.Fatalf("expire: %d %s", r.status, r.raw)
	}
	for _, bad := range []string{"nope", "sil9999", "%2e%2e", "a%2fb", strings.Repeat("f", 300)} {
		r = a.do("DELETE", "/v1/alerts/silences/"+bad, auth, "")
		if r.status != 404 || r.errCode() != "silence_not_found" {
			t.Fatalf("expire %q: %d %s, want 404 silence_not_found", bad, r.status, r.raw)
		}
	}

	if r := a.do("PUT", "/v1/alerts/silences", auth, ""); r.status != 405 || r.header.Get("Allow") != "GET, POST, HEAD" {
		t.Fatalf("PUT: %d %s allow %q", r.status, r.raw, r.header.Get("Allow"))
	}
}

// TestCreateSilenceAccepts: valid variations, each with what the engine
// gets.
func TestCreateSilenceAccepts(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name, body string
		length     time.Duration // EndsAt - StartsAt, 0: not checked
	}{
		{"duration in seconds", `"duration":3600`, time.Hour},
		{"duration fraction", `"duration":"1.5h"`, 90 * time.Minute},
		{"starts_at null", `"starts_at":null,"duration":"10m"`, 10 * time.Minute},
		{"starts_at in the past means now", fmt.Sprintf(`"starts_at":%q,"duration":"10m"`, rfc(now.Add(-48*time.Hour))), 10 * time.Minute},
		{"past start, future end", fmt.Sprintf(`"starts_at":%q,"ends_at":%q`, rfc(now.Add(-time.Hour)), rfc(now.Add(time.Hour))), 0},
		{"exactly 90 days", `"duration":"2160h"`, 2160 * time.Hour},
		{"fractional seconds", fmt.Sprintf(`"ends_at":%q`, now.Add(time.Hour).UTC().Format(time.RFC3339Nano)), 0},
		{"start 300 days ahead", fmt.Sprintf(`"starts_at":%q,"duration":"1h"`, rfc(now.Add(300*24*time.Hour))), time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAlerts{}
			a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: f})
			body := `{"matchers":["severity=\"warning\""],"created_by":"ops","comment":"c",` + tc.body + `}`
			r := a.do("POST", "/v1/alerts/silences", "Bearer "+alertsAdmin, body)
			if r.status != 201 {
				t.Fatalf("%s: %d %s", body, r.status, r.raw)
			}
			got := f.added[0]
			if !got.EndsAt.After(got.StartsAt) || got.StartsAt.Before(now.Add(-time.Second)) {
				t.Fatalf("times %v → %v", got.StartsAt, got.EndsAt)
			}
			if tc.length != 0 && got.EndsAt.Sub(got.StartsAt) != tc.length {
				t.Fatalf("length %v, want %v", got.EndsAt.Sub(got.StartsAt), tc.length)
			}
		})
	}
}

func TestCreateSilenceRefusesBadInput(t *testing.T) {
	f := &fakeAlerts{}
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: f})
	now := time.Now()
	// body builds a request from a valid one: fields in set replace (or,
	// when "", remove) the valid ones.
	body := func(set map[string]string) string {
		fields := map[string]string{
			"matchers":   `["severity=\"critical\""]`,
			"duration":   `"1h"`,
			"created_by": `"alice"`,
			"comment":    `"deploy"`,
		}
		for k, v := range set {
			if v == "" {
				delete(fields, k)
			} else {
				fields[k] = v
			}
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			parts = append(parts, fmt.Sprintf("%q:%s", k, fields[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	manyMatchers := make([]string, 65)
	for i := range manyMatchers {
		manyMatchers[i] = fmt.Sprintf("l%d=v", i)
	}
	many, _ := json.Marshal(manyMatchers)
	cases := []struct {
		name, body, ctype string
		status            int
		code, msg         string
	}{
		// The JSON itself.
		{"empty body", ``, "", 400, "invalid_json", "empty"},
		{"truncated", `{"matchers":`, "", 400, "invalid_json", "truncated"},
		{"syntax error", `{"matchers" ["a=b"]}`, "", 400, "invalid_json", "malformed JSON"},
		{"not an object", `["a=b"]`, "", 400, "invalid_json", "JSON object"},
		{"null", `null`, "", 400, "invalid_silence", "matchers"},
		{"trailing data", body(nil) + ` {}`, "", 400, "invalid_json", "exactly one JSON object"},
		{"trailing garbage", body(nil) + `x`, "", 400, "invalid_json", "exactly one JSON object"},
		{"unknown field", body(map[string]string{"id": `"x"`}), "", 400, "unknown_field", `"id"`},
		{"unknown field status", body(map[string]string{"status": `"expired"`}), "", 400, "unknown_field", `"status"`},
		{"matchers not a list", body(map[string]string{"matchers": `"a=b"`}), "", 400, "invalid_json", `"matchers"`},
		{"matcher not a string", body(map[string]string{"matchers": `[1]`}), "", 400, "invalid_json", `"matchers`},
		{"starts_at a number", body(map[string]string{"starts_at": `1700000000`}), "", 400, "invalid_json", `"starts_at"`},
		{"ends_at an object", body(map[string]string{"duration": "", "ends_at": `{}`}), "", 400, "invalid_json", `"ends_at"`},
		{"created_by a number", body(map[string]string{"created_by": `7`}), "", 400, "invalid_json", `"created_by"`},
		{"comment a list", body(map[string]string{"comment": `["x"]`}), "", 400, "invalid_json", `"comment"`},
		{"huge body", body(map[string]string{"comment": q(strings.Repeat("x", 70_000))}), "", 413, "body_too_large", "larger than"},
		{"text content type", body(nil), "text/plain", 415, "unsupported_media_type", "application/json"},
		{"garbage content type", body(nil), ";;;", 415, "unsupported_media_type", "application/json"},

		// Matchers.
		{"matchers missing", body(map[string]string{"matchers": ""}), "", 400, "invalid_silence", "matchers: at least one matcher is required"},
		{"matchers null", body(map[string]string{"matchers": `null`}), "", 400, "invalid_silence", "matchers: at least one matcher is required"},
		{"matchers empty", body(map[string]string{"matchers": `[]`}), "", 400, "invalid_silence", "matchers: at least one matcher is required"},
		{"matcher empty string", body(map[string]string{"matchers": `[""]`}), "", 400, "invalid_silence", "matchers[0]: empty matcher"},
		{"matcher no operator", body(map[string]string{"matchers": `["severity"]`}), "", 400, "invalid_silence", "matchers[0]: label severity: missing match operator"},
		{"matcher ==", body(map[string]string{"matchers": `["severity==critical"]`}), "", 400, "invalid_silence", `matchers[0]: label severity: unknown match operator "=="`},
		{"matcher bad label", body(map[string]string{"matchers": `["a=b","1x=y"]`}), "", 400, "invalid_silence", `matchers[1]: invalid label name "1x"`},
		{"matcher bad regexp", body(map[string]string{"matchers": `["a=b","key=~\"(\""]`}), "", 400, "invalid_silence", `matchers[1]: label key: invalid regular expression "("`},
		{"matcher unterminated quote", body(map[string]string{"matchers": `["a=\"b"]`}), "", 400, "invalid_silence", "matchers[0]: label a: unterminated quoted value"},
		{"matcher trailing text", body(map[string]string{"matchers": `["a=\"b\" c"]`}), "", 400, "invalid_silence", `matchers[0]: matcher "a=\"b\" c": unexpected "c" after the value`},
		{"matcher selector form", body(map[string]string{"matchers": `["{a=\"b\"}"]`}), "", 400, "invalid_silence", "matchers[0]: want a label name"},
		{"matchers match everything", body(map[string]string{"matchers": `["a=~\".*\"","team=\"\""]`}), "", 400, "invalid_silence", "must not match the empty string"},
		{"matcher != only", body(map[string]string{"matchers": `["alertname!=\"RedisDown\""]`}), "", 400, "invalid_silence", "must not match the empty string"},
		{"too many matchers", body(map[string]string{"matchers": string(many)}), "", 400, "invalid_silence", "at most 64 matchers"},

		// Times.
		{"no end", body(map[string]string{"duration": ""}), "", 400, "invalid_silence", "ends_at or duration is required"},
		{"both end and duration", body(map[string]string{"ends_at": q(rfc(now.Add(time.Hour)))}), "", 400, "invalid_silence", "either ends_at or duration, not both"},
		{"starts_at not a time", body(map[string]string{"starts_at": `"tomorrow"`}), "", 400, "invalid_silence", "starts_at: want an RFC 3339 time"},
		{"starts_at empty", body(map[string]string{"starts_at": `""`}), "", 400, "invalid_silence", "starts_at: want an RFC 3339 time"},
		{"starts_at without zone", body(map[string]string{"starts_at": `"2030-01-02T15:04:05"`}), "", 400, "invalid_silence", "starts_at: want an RFC 3339 time"},
		{"starts_at date only", body(map[string]string{"starts_at": `"2030-01-02"`}), "", 400, "invalid_silence", "starts_at: want an RFC 3339 time"},
		{"starts_at unix", body(map[string]string{"starts_at": `"1700000000"`}), "", 400, "invalid_silence", "starts_at: want an RFC 3339 time"},
		{"starts_at too far", body(map[string]string{"starts_at": q(rfc(now.Add(400 * 24 * time.Hour)))}), "", 400, "invalid_silence", "starts_at: a silence may start at most 365 days from now"},
		{"starts_at year 9999", body(map[string]string{"starts_at": `"9999-12-31T23:59:59Z"`}), "", 400, "invalid_silence", "starts_at: a silence may start at most"},
		{"ends_at not a time", body(map[string]string{"duration": "", "ends_at": `"soon"`}), "", 400, "invalid_silence", "ends_at: want an RFC 3339 time"},
		{"ends_at bad zone", body(map[string]string{"duration": "", "ends_at": `"2030-01-02T15:04:05+25:00"`}), "", 400, "invalid_silence", "ends_at: want an RFC 3339 time"},
		{"ends before starts", body(map[string]string{"duration": "", "starts_at": q(rfc(now.Add(2 * time.Hour))), "ends_at": q(rfc(now.Add(time.Hour)))}), "", 400, "invalid_silence", "ends_at must be after starts_at"},
		{"ends at starts", body(map[string]string{"duration": "", "starts_at": q(rfc(now.Add(2 * time.Hour))), "ends_at": q(rfc(now.Add(2 * time.Hour)))}), "", 400, "invalid_silence", "ends_at must be after starts_at"},
		{"ends in the past", body(map[string]string{"duration": "", "ends_at": q(rfc(now.Add(-time.Minute)))}), "", 400, "invalid_silence", "ends_at must be in the future"},
		{"past start and end", body(map[string]string{"duration": "", "starts_at": q(rfc(now.Add(-2 * time.Hour))), "ends_at": q(rfc(now.Add(-time.Hour)))}), "", 400, "invalid_silence", "ends_at must be in the future"},
		{"ends too late", body(map[string]string{"duration": "", "ends_at": q(rfc(now.Add(91 * 24 * time.Hour)))}), "", 400, "invalid_silence", "at most 90 days"},
		{"ends too long after start", body(map[string]string{"duration": "", "starts_at": q(rfc(now.Add(24 * time.Hour))), "ends_at": q(rfc(now.Add(24*time.Hour + 2161*time.Hour)))}), "", 400, "invalid_silence", "at most 90 days"},
		{"duration zero", body(map[string]string{"duration": `"0s"`}), "", 400, "invalid_silence", "duration must be positive"},
		{"duration zero number", body(map[string]string{"duration": `0`}), "", 400, "invalid_silence", "duration must be positive"},
		{"duration negative", body(map[string]string{"duration": `"-1h"`}), "", 400, "invalid_silence", "duration must be positive"},
		{"duration over 90 days", body(map[string]string{"duration": `"2160h1s"`}), "", 400, "invalid_silence", "duration must be at most 90 days"},
		{"duration in days", body(map[string]string{"duration": `"3d"`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration text", body(map[string]string{"duration": `"forever"`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration empty", body(map[string]string{"duration": `""`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration bool", body(map[string]string{"duration": `true`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration object", body(map[string]string{"duration": `{"h":1}`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration huge number", body(map[string]string{"duration": `1e300`}), "", 400, "invalid_silence", "duration: want a duration"},
		{"duration overflow text", body(map[string]string{"duration": `"9999999999h"`}), "", 400, "invalid_silence", "duration: want a duration"},

		// Who and why.
		{"created_by missing", body(map[string]string{"created_by": ""}), "", 400, "invalid_silence", "created_by is required"},
		{"created_by empty", body(map[string]string{"created_by": `""`}), "", 400, "invalid_silence", "created_by is required"},
		{"created_by blank", body(map[string]string{"created_by": `"  \t"`}), "", 400, "invalid_silence", "created_by is required"},
		{"created_by too long", body(map[string]string{"created_by": q(strings.Repeat("a", 257))}), "", 400, "invalid_silence", "created_by must be at most 256 bytes"},
		{"created_by over 1024", body(map[string]string{"created_by": q(strings.Repeat("a", 1025))}), "", 400, "invalid_silence", "created_by must be at most 256 bytes"},
		{"created_by control char", body(map[string]string{"created_by": `"al\u0007ice"`}), "", 400, "invalid_silence", "created_by must not contain control characters"},
		{"created_by newline", body(map[string]string{"created_by": `"alice\nroot"`}), "", 400, "invalid_silence", "created_by must not contain control characters"},
		{"comment missing", body(map[string]string{"comment": ""}), "", 400, "invalid_silence", "comment is required"},
		{"comment blank", body(map[string]string{"comment": `" "`}), "", 400, "invalid_silence", "comment is required"},
		{"comment too long", body(map[string]string{"comment": q(strings.Repeat("é", 513))}), "", 400, "invalid_silence", "comment must be at most 1024 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			r := a.do("POST", "/v1/alerts/silences", "Bearer "+alertsAdmin, tc.body, hdr...)
			if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
				t.Fatalf("got %d %s\nwant %d %s with %q", r.status, r.raw, tc.status, tc.code, tc.msg)
			}
		})
	}
	if n := f.addedCount(); n != 0 {
		t.Fatalf("refused requests reached the engine %d times", n)
	}
	// The valid base body is accepted: each case fails for its own reason.
	if r := a.do("POST", "/v1/alerts/silences", "Bearer "+alertsAdmin, body(nil)); r.status != 201 {
		t.Fatalf("base body: %d %s", r.status, r.raw)
	}
}

func TestSilenceEngineErrors(t *testing.T) {
	const secret = "dial tcp 10.1.2.3:6379: connection refused"
	valid := `{"matchers":["severity=\"critical\""],"duration":"1h","created_by":"alice","comment":"c"}`
	auth := "Bearer " + alertsAdmin
	cases := []struct {
		name   string
		fake   *fakeAlerts
		method string
		path   string
		status int
		code   string
		msg    string
	}{
		{"add refused by the engine", &fakeAlerts{addErr: fmt.Errorf("%w: created_by or comment too long", alert.ErrInvalidSilence)},
			"POST", "/v1/alerts/silences", 400, "invalid_silence", "created_by or comment too long"},
		{"add fails", &fakeAlerts{addErr: errors.New(secret)}, "POST", "/v1/alerts/silences", 500, "internal", "internal error"},
		{"expire fails", &fakeAlerts{expErr: errors.New(secret)}, "DELETE", "/v1/alerts/silences/abc", 500, "internal", "internal error"},
		{"list fails with nothing known", &fakeAlerts{listErr: errors.New(secret), listNil: true}, "GET", "/v1/alerts/silences", 500, "internal", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: tc.fake})
			r := a.do(tc.method, tc.path, auth, valid)
			if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
				t.Fatalf("got %d %s, want %d %s %q", r.status, r.raw, tc.status, tc.code, tc.msg)
			}
			if strings.Contains(r.raw, "10.1.2.3") {
				t.Fatal("internal detail in the answer")
			}
			if tc.status == 500 && !strings.Contains(a.logs.String(), "10.1.2.3") {
				t.Fatalf("the detail is not logged: %s", a.logs.String())
			}
		})
	}
}

func TestListSilencesStaleWarning(t *testing.T) {
	f := &fakeAlerts{}
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: f})
	auth := "Bearer " + alertsAdmin
	if r := a.do("POST", "/v1/alerts/silences", auth, `{"matchers":["a=b"],"duration":"1h","created_by":"x","comment":"y"}`); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	f.mu.Lock()
	f.listErr = errors.New("read silences: dial tcp 10.1.2.3:6379: connection refused")
	f.mu.Unlock()
	r := a.do("GET", "/v1/alerts/silences", auth, "")
	list, _ := r.body["silences"].([]any)
	warning, _ := r.body["warning"].(string)
	if r.status != 200 || len(list) != 1 || warning == "" {
		t.Fatalf("stale list: %d %s", r.status, r.raw)
	}
	if strings.Contains(r.raw, "10.1.2.3") || !strings.Contains(a.logs.String(), "10.1.2.3") {
		t.Fatalf("the detail must be logged, not shown: %s", r.raw)
	}
}

// TestAlertRoutesWithEngine wires the real engine (without Redis: its
// silences then live in memory) to check that the interface fits.
func TestAlertRoutesWithEngine(t *testing.T) {
	eng, err := alert.NewEngine(alert.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Alerts: eng})
	auth := "Bearer " + alertsAdmin
	r := a.do("POST", "/v1/alerts/silences", auth, `{"matchers":["alertname=\"RedisDown\""],"duration":"30m","created_by":"alice","comment":"failover drill"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["silence"].(map[string]any)["id"].(string)
	r = a.do("GET", "/v1/alerts/silences", auth, "")
	if list, _ := r.body["silences"].([]any); r.status != 200 || len(list) != 1 || list[0].(map[string]any)["status"] != "active" {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	if r = a.do("DELETE", "/v1/alerts/silences/"+id, auth, ""); r.status != 200 || r.body["silence"].(map[string]any)["status"] != "expired" {
		t.Fatalf("expire: %d %s", r.status, r.raw)
	}
	if r = a.do("DELETE", "/v1/alerts/silences/unknown", auth, ""); r.status != 404 || r.errCode() != "silence_not_found" {
		t.Fatalf("expire unknown: %d %s", r.status, r.raw)
	}
	if r = a.do("GET", "/v1/alerts?state=firing", auth, ""); r.status != 200 || !strings.Contains(r.raw, `"alerts":[]`) {
		t.Fatalf("alerts: %d %s", r.status, r.raw)
	}
}

// FuzzDecodeSilence: no body panics the decoder; a refusal carries a code
// and a message; an accepted body gives matchers that parse back as they
// print, not all matching the empty string, an end after the start and
// within 90 days, a start not before now, and a silence that encodes.
func FuzzDecodeSilence(f *testing.F) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		`{"matchers":["severity=\"critical\""],"duration":"1h","created_by":"a","comment":"b"}`,
		`{"matchers":["a=~\"x|y\"","b!=c"],"starts_at":"2026-05-02T00:00:00Z","ends_at":"2026-05-03T00:00:00+02:00","created_by":"a","comment":"b"}`,
		`{"matchers":["a=b"],"starts_at":"0001-01-01T00:00:00Z","ends_at":"9999-12-31T23:59:59Z","created_by":"a","comment":"b"}`,
		`{"matchers":["a=b"],"starts_at":"2027-04-30T00:00:00Z","duration":7776000,"created_by":"a","comment":"b"}`,
		`{"matchers":["a=\"\\u00e9\\n\""],"duration":1e-9,"created_by":"a","comment":"b"}`,
		`{"matchers":[],"duration":"1h"}`, `{}`, ``, `null`, `[]`, `{"matchers":null}`,
		`{"matchers":["a=b"],"duration":"1h","ends_at":"2026-05-03T00:00:00Z"}`,
		`{"matchers":["a=~\"(\""]}`, `{"matchers":["a=b"]}{}`, "\xff", `{"duration":true}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/v1/alerts/silences", strings.NewReader(body))
		sil, code, msg := decodeSilence(httptest.NewRecorder(), r, 4096, now)
		if code != "" {
			if msg == "" {
				t.Fatalf("code %q without a message", code)
			}
			return
		}
		if len(body) > 4096 {
			t.Fatal("accepted a body over the limit")
		}
		if len(sil.Matchers) == 0 || len(sil.Matchers) > maxSilenceMatchers {
			t.Fatalf("accepted %d matchers", len(sil.Matchers))
		}
		nonEmpty := false
		for _, m := range sil.Matchers {
			back, err := alert.ParseMatcher(m.String())
			if err != nil || back.Name != m.Name || back.Type != m.Type || back.Value != m.Value {
				t.Fatalf("matcher %s does not parse back: %v %v", m, back, err)
			}
			nonEmpty = nonEmpty || !m.Matches("")
		}
		if !nonEmpty {
			t.Fatalf("accepted matchers %s that match every alert", sil.Matchers)
		}
		if sil.StartsAt.Before(now) || !sil.EndsAt.After(sil.StartsAt) || sil.EndsAt.Sub(sil.StartsAt) > maxSilenceLength {
			t.Fatalf("accepted times %v → %v (now %v)", sil.StartsAt, sil.EndsAt, now)
		}
		if strings.TrimSpace(sil.CreatedBy) == "" || len(sil.CreatedBy) > maxCreatedByLen ||
			strings.TrimSpace(sil.Comment) == "" || len(sil.Comment) > maxCommentLen {
			t.Fatalf("accepted created_by %q comment %q", sil.CreatedBy, sil.Comment)
		}
		if _, err := json.Marshal(sil); err != nil {
			t.Fatalf("accepted a silence that does not encode: %v", err)
		}
	})
}
