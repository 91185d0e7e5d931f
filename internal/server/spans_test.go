package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/studiohq/studio/internal/server"
)

// TestServerSpansHoldNoPathValues: with spans exported, the server span of
// every route with path parameters carries the route template, never the
// values — no user id, silence id or runbook name in any span name or
// attribute (url.path included).
func TestServerSpansHoldNoPathValues(t *testing.T) {
	f := newFixture(t, admin)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	srv := server.New(server.Options{Sessions: f.svc, AdminToken: admin, TracerProvider: tp, ExportSpans: true})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	const user, silence, runbook = "user-secret-9876", "feedfacecafe0042", "secret-runbook-name.md"
	send := func(method, path string) int {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"`+user+`"}`)
	if code := send("DELETE", "/v1/users/"+user+"/sessions"); code != 200 {
		t.Fatalf("revoke user: %d", code)
	}
	send("GET", "/v1/users/"+user+"/sessions") // 405 on a known path
	send("DELETE", "/v1/alerts/silences/"+silence)
	send("GET", "/docs/runbooks/"+runbook)
	send("GET", "/no/such/"+user)
	tp.ForceFlush(t.Context())

	spans := sr.Ended()
	if len(spans) < 5 {
		t.Fatalf("%d spans", len(spans))
	}
	var revoke bool
	for _, s := range spans {
		for _, v := range []string{user, silence, runbook} {
			if strings.Contains(s.Name(), v) {
				t.Errorf("span name %q holds %q", s.Name(), v)
			}
			for _, a := range s.Attributes() {
				if strings.Contains(a.Value.String(), v) {
					t.Errorf("span %q attribute %s=%q holds %q", s.Name(), a.Key, a.Value.String(), v)
				}
			}
		}
		if s.Name() == "DELETE /v1/users/{user_id}/sessions" {
			revoke = true
			for _, a := range s.Attributes() {
				if a.Key == "url.path" && a.Value.String() != "/v1/users/{user_id}/sessions" {
					t.Errorf("url.path %q, want the route template", a.Value.String())
				}
			}
		}
	}
	if !revoke {
		t.Fatal("no server span for DELETE /v1/users/{user_id}/sessions")
	}
}
