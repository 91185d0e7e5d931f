package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/studiohq/studio/internal/redistest"
)

// otlpReceiver is an in-process OTLP/HTTP trace endpoint that decodes what
// arrives over the wire.
type otlpReceiver struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(b, req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

// spans returns name → service.name for every span of the trace.
func (o *otlpReceiver) spans(traceID []byte) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for _, req := range o.reqs {
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					svc = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if bytes.Equal(sp.TraceId, traceID) {
						out[sp.Name] = svc
					}
				}
			}
		}
	}
	return out
}

func send(t *testing.T, method, url, auth, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestObservabilityEndToEnd runs `studio serve` with OTLP export to an
// in-process receiver and checks, over real requests: spans arrive over
// the wire with service.name from the environment and the caller's trace
// id, which an OpenMetrics scrape shows as exemplars; /metrics lints clean and holds no token or user id; /health/redis
// answers; the log level changes at run time; and no secret appears
// anywhere in the output.
func TestObservabilityEndToEnd(t *testing.T) {
	const redisPass = "redis-pass-5ecr3t"
	rs := redistest.Start(t, redistest.WithArgs("--requirepass", redisPass))
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	const adminTok = "obs-admin-6715997ab5f38c40c96945785117dfb6f49088677604b4c3"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":          adminTok,
		"REDIS_URL":                   "redis://:" + redisPass + "@" + rs.Addr() + "/0",
		"DATABASE_URL":                "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_MONITOR_INTERVAL":     "100ms",
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "studio-e2e",
	})
	base, stdout, stderr, done := srv.base, srv.stdout, srv.stderr, srv.done

	code, body := send(t, "POST", base+"/v1/sessions", adminTok, `{"user_id":"user-obs-4242"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	tok := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)[1]

	// A caller with its own trace.
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	code, body = send(t, "GET", base+"/v1/session", tok, "",
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01", "X-Request-ID", "req-obs-1")
	if code != 200 {
		t.Fatalf("validate: %d %s", code, body)
	}
	// An OpenMetrics scrape shows the caller's trace id as an exemplar on
	// the request's and its Redis GET's duration buckets.
	code, om := send(t, "GET", base+"/metrics", "", "", "Accept", "application/openmetrics-text; version=1.0.0")
	for _, series := range []string{
		`studio_http_request_duration_seconds_bucket\{method="GET",route="GET /v1/session",status="200",le="[^"]+"\}`,
		`studio_redis_command_duration_seconds_bucket\{command="get",outcome="ok",le="[^"]+"\}`,
	} {
		ex := regexp.MustCompile(`(?m)^` + series + ` \d+ # \{[^}]*trace_id="` + traceID + `"`)
		if code != 200 || !ex.MatchString(om) {
			t.Fatalf("OpenMetrics scrape (%d) has no exemplar with trace_id %s on %s:\n%s", code, traceID, series, om)
		}
	}
	// Malformed correlation headers are replaced, never echoed.
	if code, _ := send(t, "GET", base+"/healthz", "", "", "traceparent", "00-zz-bad", "X-Request-ID", strings.Repeat("x", 500)); code != 200 {
		t.Fatal("healthz with bad headers")
	}

	// The log level changes at run time: debug shows Redis commands.
	if code, body := send(t, "PUT", base+"/v1/admin/log-level", adminTok, `{"level":"debug"}`); code != 200 || !strings.Contains(body, `"debug"`) {
		t.Fatalf("set level: %d %s", code, body)
	}
	if code, _ := send(t, "PUT", base+"/v1/admin/log-level", adminTok, `{"level":"loud"}`); code != 400 {
		t.Fatalf("bad level accepted: %d", code)
	}
	send(t, "DELETE", base+"/v1/session", tok, "")
	waitMatch(t, stdout, regexp.MustCompile(`"level":"DEBUG","msg":"redis command"`), done)

	// /metrics lints clean and leaks nothing.
	code, metrics := send(t, "GET", base+"/metrics", "", "")
	if code != 200 || !strings.Contains(metrics, `studio_session_validations_total{result="valid",tier="redis"} 1`) ||
		!strings.Contains(metrics, "studio_redis_command_duration_seconds_bucket") || !strings.Contains(metrics, `studio_http_request_duration_seconds_count{method="GET",route="GET /v1/session",status="200"} 1`) {
		t.Fatalf("metrics: %d\n%s", code, metrics)
	}
	problems, err := promlint.New(strings.NewReader(metrics)).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}

	// The health snapshot.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body = send(t, "GET", base+"/health/redis", adminTok, "")
		if code == 200 && strings.Contains(body, `"status":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health/redis: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := send(t, "GET", base+"/health/redis", "", ""); code != 401 {
		t.Fatalf("health/redis without admin token: %d", code)
	}
	for _, k := range []string{`"redis"`, `"cache"`, `"latency_ms"`, `"throughput_ops"`, `"errors"`, `"pool"`, `"circuit_breaker"`, `"hotkeys":[]`, `"alerts":[]`} {
		if !strings.Contains(body, k) {
			t.Fatalf("snapshot lacks %s: %s", k, body)
		}
	}

	cancel() // shutdown flushes the spans
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	want, _ := hex.DecodeString(traceID)
	spans := recv.spans(want)
	for _, name := range []string{"GET /v1/session", "session.validate", "get"} {
		if svc, ok := spans[name]; !ok || svc != "studio-e2e" {
			t.Fatalf("span %q with service.name studio-e2e not received; got %v", name, spans)
		}
	}

	// No secret anywhere: logs, errors, metrics, snapshot.
	all := stdout.String() + stderr.String() + metrics + body
	for _, secret := range []string{tok, tok[4:24], adminTok, redisPass, "user-obs-4242\"}"} {
		if strings.Contains(all, secret) {
			t.Fatalf("output contains a secret (%.8s…)", secret)
		}
	}
	if strings.Contains(metrics, "user-obs-4242") {
		t.Fatal("a user id became a metric label")
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, `"req-obs-1"`) && !strings.Contains(line, `"trace_id":"`+traceID+`"`) {
			t.Fatalf("a line of the traced request lacks its trace id: %s", line)
		}
	}
	if !strings.Contains(stdout.String(), `"request_id":"req-obs-1"`) {
		t.Fatal("the caller's request id is not in the logs")
	}
	if strings.Contains(stdout.String(), strings.Repeat("x", 500)) {
		t.Fatal("an oversized request id was echoed into the logs")
	}
}

// TestLogLinesCarryTraceIDsWithoutExport: with tracing off (the default),
// every line of a request still carries request_id, trace_id and span_id,
// and a caller's traceparent sets the trace_id.
func TestLogLinesCarryTraceIDsWithoutExport(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"REDIS_URL":        rs.URL(),
		"DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_LOG_LEVEL": "debug",
	})
	base, stdout, done := srv.base, srv.stdout, srv.done
	send(t, "GET", base+"/v1/session", "stu_"+strings.Repeat("A", 49), "", "X-Request-ID", "plain-1")
	send(t, "GET", base+"/healthz", "", "", "X-Request-ID", "traced-1", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	cancel()
	<-done
	seen := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.Contains(line, `"request_id":"plain-1"`) && !strings.Contains(line, `"request_id":"traced-1"`) {
			continue
		}
		seen++
		if !regexp.MustCompile(`"trace_id":"[0-9a-f]{32}","span_id":"[0-9a-f]{16}"`).MatchString(line) {
			t.Fatalf("request log line without trace_id/span_id: %s", line)
		}
		if strings.Contains(line, "traced-1") && !strings.Contains(line, `"trace_id":"0af7651916cd43dd8448eb211c80319c"`) {
			t.Fatalf("the caller's trace id is not used: %s", line)
		}
	}
	if seen < 2 {
		t.Fatalf("found %d request log lines:\n%s", seen, stdout.String())
	}
}
