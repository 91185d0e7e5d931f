package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/studiohq/studio/telemetry"
)

// TestCorrelationHeadersBadInput: malformed X-Request-ID and traceparent
// headers are replaced, never echoed or logged raw.
func TestCorrelationHeadersBadInput(t *testing.T) {
	var logs bytes.Buffer
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	s := New(Options{Sessions: nil, Logger: telemetry.NewLogger(&logs, slog.LevelInfo), TracerProvider: tp, AccessLog: AccessLogAll})
	hex32 := regexp.MustCompile(`"trace_id":"([0-9a-f]{32})"`)
	cases := []struct {
		name, requestID, traceparent string
		keepID, keepTrace            bool
	}{
		{"good both", "abc-123", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true},
		{"id too long", strings.Repeat("a", 129), "", false, false},
		{"id control char", "a\x01b", "", false, false},
		{"id newline", "a\nb", "", false, false},
		{"id quote", `a"b`, "", false, false},
		{"id non-ascii", "ä", "", false, false},
		{"traceparent garbage", "ok-1", "garbage", true, false},
		{"traceparent zero trace", "ok-2", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", true, false},
		{"traceparent short", "ok-3", "00-4bf92f35-00f067aa0ba902b7-01", true, false},
		{"traceparent huge", "ok-4", "00-" + strings.Repeat("f", 5000), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			r := httptest.NewRequest("GET", "/healthz", nil)
			r.Header["X-Request-Id"] = []string{tc.requestID}
			if tc.traceparent != "" {
				r.Header["Traceparent"] = []string{tc.traceparent}
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			got := w.Header().Get("X-Request-ID")
			if (got == tc.requestID) != tc.keepID || !validRequestID(got) {
				t.Fatalf("X-Request-ID %q answered %q", tc.requestID, got)
			}
			line := logs.String()
			if !tc.keepID && tc.requestID != "" && strings.Contains(line, tc.requestID) {
				t.Fatalf("bad request id logged raw: %s", line)
			}
			m := hex32.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("no trace_id in %s", line)
			}
			if kept := strings.Contains(tc.traceparent, m[1]); kept != tc.keepTrace {
				t.Fatalf("traceparent %.40q: trace id %s kept=%v", tc.traceparent, m[1], kept)
			}
		})
	}
}

// FuzzRequestID: any header value yields a valid, safe request id.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", strings.Repeat("x", 200), "a b", "\x00"} {
		f.Add(s)
	}
	s := New(Options{})
	f.Fuzz(func(t *testing.T, id string) {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.Header["X-Request-Id"] = []string{id}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-ID")
		if !validRequestID(got) || (got == id) != validRequestID(id) {
			t.Fatalf("id %q answered %q", id, got)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	})
}

// countingPropagator counts Extract calls; it reads one header, named in
// Fields in lower case as propagators do.
type countingPropagator struct{ calls *int }

func (p countingPropagator) Inject(context.Context, propagation.TextMapCarrier) {}
func (p countingPropagator) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	*p.calls++
	return ctx
}
func (p countingPropagator) Fields() []string { return []string{"x-custom-trace"} }

// TestPropagatorRunsOnlyForItsHeaders: the extraction is skipped for a
// request without any header the propagator reads, and runs for one with.
func TestPropagatorRunsOnlyForItsHeaders(t *testing.T) {
	var calls int
	s := New(Options{Propagator: countingPropagator{&calls}})
	for _, tc := range []struct {
		header string
		want   int
	}{{"", 0}, {"Traceparent", 0}, {"X-Custom-Trace", 1}, {"x-custom-trace", 1}} {
		calls = 0
		r := httptest.NewRequest("GET", "/healthz", nil)
		if tc.header != "" {
			r.Header.Set(tc.header, "v")
		}
		s.ServeHTTP(httptest.NewRecorder(), r)
		if calls != tc.want {
			t.Errorf("header %q: %d extractions, want %d", tc.header, calls, tc.want)
		}
	}
}

// TestRouteLabel: the route label of the HTTP metric (and the access log)
// is "METHOD /pattern" for every request: a matched route, a known path
// under another method (405), a mounted subtree, and a path that matches
// nothing (404), whose label is one constant however many paths are tried.
func TestRouteLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s := New(Options{
		Metrics:   telemetry.NewMetrics(reg, telemetry.Build{Version: "test"}),
		Logger:    telemetry.NewLogger(&logs, slog.LevelInfo),
		AccessLog: AccessLogAll,
		Dashboard: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
	})
	for _, tc := range []struct {
		method, path string
		status       int
		route        string
	}{
		{"GET", "/healthz", 200, "GET /healthz"},
		{"GET", "/v1/session", 401, "GET /v1/session"},
		{"DELETE", "/v1/users/u1/sessions", 403, "DELETE /v1/users/{user_id}/sessions"},
		{"PATCH", "/v1/session", 405, "PATCH /v1/session"},
		{"POST", "/healthz", 405, "POST /healthz"},
		{"BREW", "/healthz", 405, "other /healthz"},
		{"GET", "/studio/redis/data", 204, "GET /studio/redis/"},
		{"GET", "/nope", 404, "GET /{unmatched}"},
		{"GET", "/v1/users/u1", 404, "GET /{unmatched}"},
		{"POST", "/wp-login.php", 404, "POST /{unmatched}"},
	} {
		logs.Reset()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
		if want := `"route":"` + tc.route + `"`; !strings.Contains(logs.String(), want) {
			t.Errorf("%s %s: access log %s lacks %s", tc.method, tc.path, logs.String(), want)
		}
	}
	routes := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "studio_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
	}
	want := []string{"GET /healthz", "GET /v1/session", "DELETE /v1/users/{user_id}/sessions", "PATCH /v1/session",
		"POST /healthz", "other /healthz", "GET /studio/redis/", "GET /{unmatched}", "POST /{unmatched}"}
	for _, r := range want {
		if !routes[r] {
			t.Errorf("no series with route=%q; have %v", r, routes)
		}
	}
	if len(routes) != len(want) {
		t.Errorf("route values %v, want exactly %v", routes, want)
	}
	for r := range routes {
		if method, path, ok := strings.Cut(r, " "); !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q is not METHOD /pattern", r)
		}
	}
}

// TestExemplarOfTracedRequest: a request whose trace is sampled leaves its
// trace id as an exemplar on the request-duration histogram, which an
// OpenMetrics scrape of /metrics shows; an unsampled one leaves none.
func TestExemplarOfTracedRequest(t *testing.T) {
	reg := prometheus.NewRegistry()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	defer tp.Shutdown(context.Background())
	s := New(Options{
		Metrics:        telemetry.NewMetrics(reg, telemetry.Build{Version: "test"}),
		MetricsHandler: telemetry.MetricsHandler(reg, nil),
		TracerProvider: tp,
		ExportSpans:    true,
	})
	const sampled, unsampled = "4bf92f3577b34da6a3ce929d0e0e4736", "5cf92f3577b34da6a3ce929d0e0e4736"
	for _, tp := range []string{"00-" + sampled + "-00f067aa0ba902b7-01", "00-" + unsampled + "-00f067aa0ba902b7-00"} {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.Header.Set("Traceparent", tp)
		s.ServeHTTP(httptest.NewRecorder(), r)
	}
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	body := w.Body.String()
	if ct := w.Header().Get("Content-Type"); w.Code != 200 || !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("OpenMetrics scrape: %d %s\n%s", w.Code, ct, body)
	}
	ex := regexp.MustCompile(`(?m)^studio_http_request_duration_seconds_bucket\{method="GET",route="GET /healthz",status="200",le="[^"]+"\} \d+ # \{[^}]*trace_id="` + sampled + `"[^}]*\}`)
	if !ex.MatchString(body) {
		t.Fatalf("no exemplar with trace_id %s on GET /healthz:\n%s", sampled, body)
	}
	if strings.Contains(body, unsampled) {
		t.Fatalf("the unsampled request left an exemplar:\n%s", body)
	}
}
