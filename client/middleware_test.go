package client_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/studiohq/studio/client"
)

func TestMiddleware(t *testing.T) {
	srv := studio(t)
	live := newSession(t, srv.URL, 0)
	revoked := newSession(t, srv.URL, 0)
	if err := newClient(t, srv.URL).Revoke(t.Context(), revoked); err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := client.SessionFrom(r.Context())
		if !ok {
			t.Error("the handler ran without a session")
		}
		fmt.Fprint(w, s.UserID)
	})
	up := httptest.NewServer(client.Middleware(app, client.WithClient(newClient(t, srv.URL)), client.WithCookie("sid")))
	defer up.Close()
	down := httptest.NewServer(client.Middleware(app, client.WithClient(newClient(t, "http://"+closedPort(t)))))
	defer down.Close()

	cases := []struct {
		name, base, auth, cookie string
		status                   int
		code, reason             string
	}{
		{"bearer", up.URL, "Bearer " + live, "", 200, "", ""},
		{"cookie", up.URL, "", live, 200, "", ""},
		{"no token", up.URL, "", "", 401, "missing_token", ""},
		{"other scheme", up.URL, "Basic " + live, "", 401, "missing_token", ""},
		{"revoked", up.URL, "Bearer " + revoked, "", 401, "invalid_session", "revoked"},
		{"malformed cookie", up.URL, "", "garbage", 401, "invalid_token", "malformed"},
		{"studio down", down.URL, "Bearer " + live, "", 503, "unavailable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tc.base+"/", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "sid", Value: tc.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if strings.Contains(string(body), live) || strings.Contains(string(body), revoked) {
				t.Fatal("a token in the answer")
			}
			if tc.status == 200 {
				if !strings.HasPrefix(string(body), runID) {
					t.Fatalf("body %q, want the user id", body)
				}
				return
			}
			var e struct {
				Error struct{ Code, Message, Reason string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tc.code || e.Error.Reason != tc.reason || e.Error.Message == "" {
				t.Fatalf("body %s (%v), want code %q reason %q", body, err, tc.code, tc.reason)
			}
		})
	}
}
