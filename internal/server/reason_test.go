package server_test

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRefusalReasons: every 401 for a session token carries a stable
// reason beside the unchanged code, and no other error has one.
func TestRefusalReasons(t *testing.T) {
	var offset atomic.Int64 // the fixture's clock runs ahead of time.Now by this
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	f := newFixtureAt(t, admin, now)
	create := func(body string) string {
		t.Helper()
		r := f.do("POST", "/v1/sessions", "Bearer "+admin, body)
		if r.status != 201 {
			t.Fatalf("create %s: %d %s", body, r.status, r.raw)
		}
		return r.body["token"].(string)
	}
	revoked := create(`{"user_id":"reasons"}`)
	if r := f.do("DELETE", "/v1/session", "Bearer "+revoked, ""); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	expiring := create(`{"user_id":"reasons","ttl":"10m"}`)
	idle := create(`{"user_id":"reasons","ttl":"1h","idle_timeout":"2m"}`)
	unknown, _ := f.svc.NewToken()
	offset.Store(int64(11 * time.Minute)) // past the first expiry and the idle timeout

	cases := []struct {
		name, token, code, reason string
	}{
		{"malformed", "hello", "invalid_token", "malformed"},
		{"unknown", unknown.Reveal(), "invalid_session", "unknown"},
		{"revoked", revoked, "invalid_session", "revoked"},
		{"expired", expiring, "invalid_session", "expired"},
		{"idle", idle, "invalid_session", "idle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("GET", "/v1/session", "Bearer "+tc.token, "")
			e, _ := r.body["error"].(map[string]any)
			if r.status != 401 || e["code"] != tc.code || e["reason"] != tc.reason || e["message"] == "" {
				t.Fatalf("got %d %s, want 401 code %s reason %s", r.status, r.raw, tc.code, tc.reason)
			}
		})
	}
	for _, r := range []response{
		f.do("GET", "/v1/session", "", ""),
		f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":""}`),
		f.do("POST", "/v1/sessions", "Bearer wrong-admin-token", `{"user_id":"x"}`),
	} {
		if e, _ := r.body["error"].(map[string]any); e["reason"] != nil {
			t.Errorf("%d %s: a reason on an error that is not a refused session token", r.status, r.raw)
		}
	}
}
