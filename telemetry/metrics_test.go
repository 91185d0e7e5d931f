package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/telemetry"
)

// TestBuildInfo: studio_build_info names the version, the VCS revision and
// the Go version of the running build.
func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg, telemetry.Build{Version: "1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567"})
	want := `
# HELP studio_build_info Always 1; the labels say which build is running.
# TYPE studio_build_info gauge
studio_build_info{goversion="` + runtime.Version() + `",revision="0123456789abcdef0123456789abcdef01234567",version="1.4.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "studio_build_info"); err != nil {
		t.Fatal(err)
	}
}

// TestBreakerTransitionsStartAtZero: every transition series exists at 0
// before the first change, so increase() sees the first one.
func TestBreakerTransitionsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg, telemetry.Build{Version: "test"})
	want := `
# HELP studio_redis_circuit_breaker_transitions_total Redis circuit breaker state changes, by the state entered.
# TYPE studio_redis_circuit_breaker_transitions_total counter
studio_redis_circuit_breaker_transitions_total{to="closed"} 0
studio_redis_circuit_breaker_transitions_total{to="half-open"} 0
studio_redis_circuit_breaker_transitions_total{to="open"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "studio_redis_circuit_breaker_transitions_total"); err != nil {
		t.Fatal(err)
	}
}

// sampledContext is a span context whose trace is sampled (exported).
func sampledContext(flags trace.TraceFlags) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: flags,
	})
}

// TestObserveTrace: an observation under a sampled span carries its trace
// and span ids as an exemplar; one under an unsampled or no span does not,
// and allocates nothing.
func TestObserveTrace(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Buckets: []float64{0.001, 0.01}})
	telemetry.ObserveTrace(h, 0.005, sampledContext(0))
	telemetry.ObserveTrace(h, 0.005, trace.SpanContext{})
	if ex := bucketExemplars(t, h); len(ex) != 0 {
		t.Fatalf("unsampled observations left exemplars %v", ex)
	}
	telemetry.ObserveTrace(h, 0.005, sampledContext(trace.FlagsSampled))
	ex := bucketExemplars(t, h)
	if want := "span_id=00f067aa0ba902b7,trace_id=4bf92f3577b34da6a3ce929d0e0e4736"; len(ex) != 1 || ex[0] != want {
		t.Fatalf("exemplars %v, want [%s]", ex, want)
	}
	// A summary keeps no exemplars: ObserveTrace falls back to Observe.
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s_seconds"})
	telemetry.ObserveTrace(s, 1, sampledContext(trace.FlagsSampled))

	unsampled := sampledContext(0)
	if n := testing.AllocsPerRun(100, func() { telemetry.ObserveTrace(h, 0.005, unsampled) }); n != 0 {
		t.Errorf("an unsampled observation allocates %v times", n)
	}
}

// bucketExemplars returns each exemplar of h's buckets as sorted
// name=value pairs.
func bucketExemplars(t *testing.T, h prometheus.Histogram) []string {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range m.GetHistogram().GetBucket() {
		if e := b.GetExemplar(); e != nil {
			var kv []string
			for _, l := range e.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(kv)
			out = append(out, strings.Join(kv, ","))
		}
	}
	return out
}

// TestMetricsHandlerNegotiates: the handler answers the Prometheus text
// format by default and OpenMetrics, with exemplars, to a scraper that
// asks for it.
func TestMetricsHandlerNegotiates(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg, telemetry.Build{Version: "test"})
	telemetry.ObserveTrace(m.HTTPRequestDuration.WithLabelValues("GET /v1/session", "GET", "200"), 0.0004, sampledContext(trace.FlagsSampled))
	srv := httptest.NewServer(telemetry.MetricsHandler(reg, nil))
	defer srv.Close()
	scrape := func(accept string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), string(b)
	}
	// The exemplar's labels come in no fixed order.
	exemplar := regexp.MustCompile(`studio_http_request_duration_seconds_bucket\{method="GET",route="GET /v1/session",status="200",le="0.0005"\} 1 # \{(trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"|span_id="00f067aa0ba902b7",trace_id="4bf92f3577b34da6a3ce929d0e0e4736")\} 0.0004 `)
	ct, body := scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ct, "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Fatalf("OpenMetrics scrape answered %s:\n%s", ct, body)
	}
	if !exemplar.MatchString(body) {
		t.Fatalf("no exemplar on the 0.5 ms bucket:\n%s", body)
	}
	ct, body = scrape("")
	if !strings.HasPrefix(ct, "text/plain") || strings.Contains(body, "trace_id") {
		t.Fatalf("plain scrape answered %s:\n%s", ct, body)
	}
}

// TestGoCollectorOpenMetricsFamilies: the Go runtime's metrics have no
// two OpenMetrics families of one name; go_memstats_alloc_bytes_total's
// figure is go_gc_heap_allocs_bytes_total.
func TestGoCollectorOpenMetricsFamilies(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(telemetry.NewGoCollector())
	for name, want := range map[string]int{"go_memstats_alloc_bytes_total": 0, "go_memstats_alloc_bytes": 1, "go_gc_heap_allocs_bytes_total": 1, "go_goroutines": 1} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
	srv := httptest.NewServer(telemetry.MetricsHandler(reg, nil))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Errorf("OpenMetrics family %s twice", name)
			}
			seen[name] = true
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d families:\n%s", len(seen), b)
	}
}
