package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTraceConfigFromEnvDefaults(t *testing.T) {
	c, err := TraceConfigFromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := TraceConfig{Exporter: "none", Protocol: "http/protobuf", Sampler: "parentbased_always_on", ServiceName: "studio"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestTraceConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*TraceConfig)
	}{
		{"otlp http base endpoint gets /v1/traces",
			map[string]string{"OTEL_TRACES_EXPORTER": "OTLP", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			func(c *TraceConfig) { c.Exporter, c.Endpoint = "otlp", "http://collector:4318/v1/traces" }},
		{"base endpoint with a path",
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.example.com/otlp/"},
			func(c *TraceConfig) { c.Exporter, c.Endpoint = "otlp", "https://api.example.com/otlp/v1/traces" }},
		{"traces endpoint is used as it is and wins",
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom"},
			func(c *TraceConfig) { c.Exporter, c.Endpoint = "otlp", "http://b:4318/custom" }},
		{"grpc base endpoint is not given a path",
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317"},
			func(c *TraceConfig) { c.Exporter, c.Protocol, c.Endpoint = "otlp", "grpc", "http://jaeger:4317" }},
		{"traces protocol wins",
			map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			func(c *TraceConfig) {}},
		{"headers, percent-decoded, traces keys win",
			map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=abc%20def, x-dataset = studio ,", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-dataset=traces"},
			func(c *TraceConfig) {
				c.Headers = map[string]string{"x-honeycomb-team": "abc def", "x-dataset": "traces"}
			}},
		{"compression",
			map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "GZIP"},
			func(c *TraceConfig) { c.Compression = "gzip" }},
		{"ratio sampler",
			map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			func(c *TraceConfig) { c.Sampler, c.SamplerArg = "parentbased_traceidratio", "0.25" }},
		{"arg ignored by other samplers",
			map[string]string{"OTEL_TRACES_SAMPLER": "Always_On", "OTEL_TRACES_SAMPLER_ARG": "junk"},
			func(c *TraceConfig) { c.Sampler = "always_on" }},
		{"service name from resource attributes",
			map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,service.name=sessions,team=a%2Cb"},
			func(c *TraceConfig) {
				c.ServiceName = "sessions"
				c.ResourceAttributes = []attribute.KeyValue{attribute.String("deployment.environment.name", "prod"), attribute.String("team", "a,b")}
			}},
		{"OTEL_SERVICE_NAME wins",
			map[string]string{"OTEL_SERVICE_NAME": "studio-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"},
			func(c *TraceConfig) { c.ServiceName = "studio-eu" }},
		{"otlp default endpoint is plain HTTP on localhost",
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			func(c *TraceConfig) { c.Exporter, c.Endpoint = "otlp", "http://localhost:4318/v1/traces" }},
		{"otlp default gRPC endpoint",
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "GRPC"},
			func(c *TraceConfig) { c.Exporter, c.Protocol, c.Endpoint = "otlp", "grpc", "http://localhost:4317" }},
		{"SDK disabled",
			map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"},
			func(c *TraceConfig) {}},
		{"console",
			map[string]string{"OTEL_TRACES_EXPORTER": " console "},
			func(c *TraceConfig) { c.Exporter = "console" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TraceConfigFromEnv(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := TraceConfig{Exporter: "none", Protocol: "http/protobuf", Sampler: "parentbased_always_on", ServiceName: "studio"}
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestTraceConfigFromEnvErrors(t *testing.T) {
	const secret = "hcaik_01SECRETSECRET"
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, `invalid OTEL_TRACES_EXPORTER "jaeger": must be otlp, none or console`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp,console"}, `invalid OTEL_TRACES_EXPORTER "otlp,console": must be otlp, none or console`},
		{map[string]string{"OTEL_SDK_DISABLED": "yes"}, `invalid OTEL_SDK_DISABLED "yes": must be true or false`},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, `invalid OTEL_EXPORTER_OTLP_PROTOCOL "http/json": must be http/protobuf or grpc`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, `invalid OTEL_EXPORTER_OTLP_TRACES_PROTOCOL "udp": must be http/protobuf or grpc`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "collector:4318": must be an http:// or https:// URL with a host, like http://localhost:4318`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "grpc://collector:4317": must be an http:// or https:// URL with a host, like http://localhost:4318`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, `invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "http://": must be an http:// or https:// URL with a host, like http://localhost:4318`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:99999"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "http://h:99999": port must be a number from 1 to 65535`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:" + secret + "@h"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "https://user:xxxxx@h": must not hold credentials; send them with OTEL_EXPORTER_OTLP_HEADERS`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team:" + secret}, `invalid OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b,=" + secret}, `invalid OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x team=" + secret}, `invalid OTEL_EXPORTER_OTLP_HEADERS: entry 1: the key is not a valid header name`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "k=" + secret + "%zz"}, `invalid OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1: the value is not valid percent-encoding`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "k=" + secret + "%0d%0aX-Evil: 1"}, `invalid OTEL_EXPORTER_OTLP_HEADERS: entry 1: the value holds a control character`},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, `invalid OTEL_EXPORTER_OTLP_COMPRESSION "zstd": must be gzip or none`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, `invalid OTEL_TRACES_SAMPLER "jaeger_remote": must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, `invalid OTEL_TRACES_SAMPLER_ARG "1.5": must be a number from 0 to 1 for traceidratio`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "ten%"}, `invalid OTEL_TRACES_SAMPLER_ARG "ten%": must be a number from 0 to 1 for parentbased_traceidratio`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"}, `invalid OTEL_TRACES_SAMPLER_ARG "NaN": must be a number from 0 to 1 for traceidratio`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"}, `invalid OTEL_TRACES_SAMPLER_ARG "-0.1": must be a number from 0 to 1 for traceidratio`},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, `invalid OTEL_RESOURCE_ATTRIBUTES: entry 1 is not key=value`},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=1,team=%G0"}, `invalid OTEL_RESOURCE_ATTRIBUTES: entry 2 ("team"): the value is not valid percent-encoding`},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "bad key=1"}, `invalid OTEL_RESOURCE_ATTRIBUTES: entry 1: the key must be printable ASCII`},
		{map[string]string{"OTEL_TRACES_EXPORTER": strings.Repeat("x", 100) + "\n"}, `invalid OTEL_TRACES_EXPORTER "` + strings.Repeat("x", 64) + `"…: must be otlp, none or console`},
	}
	for _, tt := range tests {
		_, err := TraceConfigFromEnv(envOf(tt.env))
		if err == nil {
			t.Errorf("%v: no error, want %s", tt.env, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%v:\n got %s\nwant %s", tt.env, err, tt.want)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error leaks a secret or has two lines: %q", err)
		}
	}
}

func TestNewTracerProviderRejectsBadConfig(t *testing.T) {
	for _, c := range []TraceConfig{
		{Exporter: "jaeger"},
		{Exporter: "otlp", Protocol: "http/json"},
		{Exporter: "otlp", Endpoint: "localhost:4318"},
		{Exporter: "otlp", Sampler: "sometimes"},
		{Exporter: "otlp", Sampler: "traceidratio", SamplerArg: "2"},
		{Exporter: "otlp", Compression: "lz4"},
		{Exporter: "otlp", Headers: map[string]string{"a b": "c"}},
		{Exporter: "otlp", Headers: map[string]string{"k": "v\r\nX: y"}},
	} {
		if tp, err := NewTracerProvider(context.Background(), c, "v"); err == nil {
			_ = tp.Shutdown(context.Background())
			t.Errorf("%+v: no error", c)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: two-line error %q", c, err)
		}
	}
}

func TestSamplers(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"", ""}:                              "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		{"always_on", ""}:                     "AlwaysOnSampler",
		{"always_off", ""}:                    "AlwaysOffSampler",
		{"traceidratio", "0.25"}:              "TraceIDRatioBased{0.25}",
		{"traceidratio", ""}:                  "TraceIDRatioBased{1}",
		{"parentbased_always_off", ""}:        "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		{"parentbased_traceidratio", "0.5"}:   "ParentBased{root:TraceIDRatioBased{0.5},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		{"parentbased_always_on", "ignored!"}: "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
	} {
		c, err := TraceConfig{Sampler: in[0], SamplerArg: in[1]}.check()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.sampler().Description(); got != want {
			t.Errorf("%v: %s, want %s", in, got, want)
		}
	}
}

// remoteParent returns a context holding a sampled remote span context
// with a known trace id, as the propagator makes from an incoming
// traceparent.
func remoteParent(t *testing.T) (context.Context, trace.TraceID, trace.SpanID) {
	t.Helper()
	ctx := Propagator().Extract(context.Background(), propagation.MapCarrier{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsRemote() {
		t.Fatalf("propagator did not extract the traceparent: %+v", sc)
	}
	return ctx, sc.TraceID(), sc.SpanID()
}

func TestNoneProviderPropagatesWithoutRecording(t *testing.T) {
	tp, err := NewTracerProvider(context.Background(), TraceConfig{}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, tid, psid := remoteParent(t)
	ctx, span := tp.Tracer("test").Start(ctx, "GET /v1/session")
	defer span.End()
	sc := span.SpanContext()
	if span.IsRecording() || sc.IsSampled() {
		t.Errorf("span is recording or sampled with exporter none")
	}
	if sc.TraceID() != tid || !sc.IsValid() || sc.SpanID() == psid {
		t.Errorf("span context %v %v, want trace %v and a new span id", sc.TraceID(), sc.SpanID(), tid)
	}
	// The incoming trace id reaches the logs and outgoing requests.
	var buf bytes.Buffer
	slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(ctx, "hello")
	if !strings.Contains(buf.String(), `"trace_id":"`+tid.String()+`"`) || !strings.Contains(buf.String(), `"span_id":"`+sc.SpanID().String()+`"`) {
		t.Errorf("log line lacks the ids: %s", buf.String())
	}
	out := propagation.MapCarrier{}
	Propagator().Inject(ctx, out)
	if !strings.Contains(out["traceparent"], tid.String()) {
		t.Errorf("outgoing traceparent %q", out["traceparent"])
	}
}

func TestFastIDs(t *testing.T) {
	seen := map[trace.SpanID]bool{}
	for range 10000 {
		tid, sid := fastIDs{}.NewIDs(context.Background())
		sid2 := fastIDs{}.NewSpanID(context.Background(), tid)
		if !tid.IsValid() || !sid.IsValid() || !sid2.IsValid() || seen[sid] || seen[sid2] || sid == sid2 {
			t.Fatalf("bad or repeated ids %v %v %v", tid, sid, sid2)
		}
		seen[sid], seen[sid2] = true, true
	}
}

func BenchmarkNoneProviderStart(b *testing.B) {
	tp, err := NewTracerProvider(context.Background(), TraceConfig{}, "v1")
	if err != nil {
		b.Fatal(err)
	}
	tr := tp.Tracer("bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tr.Start(ctx, "x")
		span.End()
	}
}

// receivedSpans collects what an in-process OTLP receiver decoded.
type receivedSpans struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	headers  []http.Header
	gzipped  int
}

func (r *receivedSpans) add(req *coltracepb.ExportTraceServiceRequest, h http.Header, gz bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	r.headers = append(r.headers, h)
	if gz {
		r.gzipped++
	}
}

// spans returns every span received, with its resource attributes.
func (r *receivedSpans) spans() (spans []*tracepb.Span, resources []map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.requests {
		for _, rs := range req.GetResourceSpans() {
			attrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spans = append(spans, s)
					resources = append(resources, attrs)
				}
			}
		}
	}
	return spans, resources
}

// newOTLPHTTPReceiver starts an httptest server that accepts
// POST /v1/traces with a protobuf ExportTraceServiceRequest, gzipped or
// not.
func newOTLPHTTPReceiver(t *testing.T) (*httptest.Server, *receivedSpans) {
	t.Helper()
	got := &receivedSpans{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		gz := r.Header.Get("Content-Encoding") == "gzip"
		if gz {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(raw, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.add(req, r.Header.Clone(), gz)
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, got
}

// exportParentAndChild starts a server span under the remote parent and a
// child span, ends both, flushes and shuts tp down.
func exportParentAndChild(t *testing.T, tp *sdktrace.TracerProvider) (trace.TraceID, trace.SpanID) {
	t.Helper()
	ctx, tid, psid := remoteParent(t)
	tr := tp.Tracer("github.com/studiohq/studio/telemetry_test")
	ctx, parent := tr.Start(ctx, "GET /v1/session", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.Start(ctx, "session.validate", trace.WithAttributes(attribute.String("studio.session.tier", "redis")))
	child.End()
	parent.End()
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.ForceFlush(fctx); err != nil {
		t.Fatalf("force flush: %v", err)
	}
	if err := tp.Shutdown(fctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	return tid, psid
}

// checkExported asserts the two spans arrived with the service name,
// version, resource attribute and the caller's trace id, child under
// parent under the remote parent.
func checkExported(t *testing.T, got *receivedSpans, tid trace.TraceID, psid trace.SpanID) {
	t.Helper()
	spans, resources := got.spans()
	if len(spans) != 2 {
		t.Fatalf("received %d spans, want 2", len(spans))
	}
	byName := map[string]*tracepb.Span{}
	for i, s := range spans {
		byName[s.GetName()] = s
		res := resources[i]
		if res["service.name"] != "studio-test" || res["service.version"] != "1.2.3" || res["deployment.environment.name"] != "ci" {
			t.Errorf("resource %v", res)
		}
		if hex.EncodeToString(s.GetTraceId()) != tid.String() {
			t.Errorf("span %s has trace id %x, want %s", s.GetName(), s.GetTraceId(), tid)
		}
	}
	parent, child := byName["GET /v1/session"], byName["session.validate"]
	if parent == nil || child == nil {
		t.Fatalf("spans %v", byName)
	}
	if hex.EncodeToString(parent.GetParentSpanId()) != psid.String() {
		t.Errorf("server span's parent %x, want the remote %s", parent.GetParentSpanId(), psid)
	}
	if !bytes.Equal(child.GetParentSpanId(), parent.GetSpanId()) {
		t.Errorf("child's parent %x, want %x", child.GetParentSpanId(), parent.GetSpanId())
	}
	if parent.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span kind %v", parent.GetKind())
	}
	want := &commonpb.KeyValue{Key: "studio.session.tier", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "redis"}}}
	if len(child.GetAttributes()) != 1 || !proto.Equal(child.GetAttributes()[0], want) {
		t.Errorf("child attributes %v", child.GetAttributes())
	}
}

func TestOTLPHTTPEndToEnd(t *testing.T) {
	for _, compression := range []string{"", "gzip"} {
		t.Run("compression="+compression, func(t *testing.T) {
			srv, got := newOTLPHTTPReceiver(t)
			// Configure through the environment reader, as studio serve
			// does, but with a map: the process environment is untouched.
			cfg, err := TraceConfigFromEnv(envOf(map[string]string{
				"OTEL_TRACES_EXPORTER":           "otlp",
				"OTEL_EXPORTER_OTLP_ENDPOINT":    srv.URL,
				"OTEL_EXPORTER_OTLP_HEADERS":     "x-honeycomb-team=key%20123",
				"OTEL_EXPORTER_OTLP_COMPRESSION": compression,
				"OTEL_SERVICE_NAME":              "studio-test",
				"OTEL_RESOURCE_ATTRIBUTES":       "deployment.environment.name=ci",
				"OTEL_TRACES_SAMPLER":            "parentbased_always_off", // the remote parent is sampled
			}))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := NewTracerProvider(context.Background(), cfg, "1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			tid, psid := exportParentAndChild(t, tp)
			checkExported(t, got, tid, psid)
			got.mu.Lock()
			defer got.mu.Unlock()
			for _, h := range got.headers {
				if h.Get("X-Honeycomb-Team") != "key 123" {
					t.Errorf("header x-honeycomb-team = %q", h.Get("X-Honeycomb-Team"))
				}
			}
			if wantGz := compression == "gzip"; (got.gzipped > 0) != wantGz {
				t.Errorf("gzipped requests %d, want gzip %v", got.gzipped, wantGz)
			}
		})
	}
}

// traceService is an in-process OTLP/gRPC receiver.
type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	got *receivedSpans
}

func (s *traceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	h := http.Header{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	s.got.add(req, h, false)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestOTLPGRPCEndToEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := &receivedSpans{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, &traceService{got: got})
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	tp, err := NewTracerProvider(context.Background(), TraceConfig{
		Exporter:           "otlp",
		Protocol:           "grpc",
		Endpoint:           "http://" + ln.Addr().String(),
		Headers:            map[string]string{"x-honeycomb-team": "key"},
		Compression:        "gzip",
		ServiceName:        "studio-test",
		ResourceAttributes: []attribute.KeyValue{attribute.String("deployment.environment.name", "ci")},
	}, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	tid, psid := exportParentAndChild(t, tp)
	checkExported(t, got, tid, psid)
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, h := range got.headers {
		if h.Get("x-honeycomb-team") != "key" {
			t.Errorf("metadata x-honeycomb-team = %q", h.Get("x-honeycomb-team"))
		}
	}
}

func TestConsoleExporter(t *testing.T) {
	var buf bytes.Buffer
	tp, err := NewTracerProvider(context.Background(), TraceConfig{Exporter: "console", Console: &buf, ServiceName: "studio-test"}, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "session.create")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var v struct{ Name string }
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil || v.Name != "session.create" {
		t.Errorf("console output %q: %v", buf.String(), err)
	}
}

func TestTraceConfigLogValue(t *testing.T) {
	c := TraceConfig{Exporter: "otlp", Endpoint: "https://u:pw@api.honeycomb.io/v1/traces", Headers: map[string]string{"x-honeycomb-team": "SECRETKEY"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("tracing", "config", c)
	if s := buf.String(); strings.Contains(s, "SECRETKEY") || strings.Contains(s, "pw@") || !strings.Contains(s, `"header_names":"x-honeycomb-team"`) {
		t.Errorf("log line %s", s)
	}
}

func FuzzTraceConfigFromEnv(f *testing.F) {
	f.Add("otlp", "grpc", "http://localhost:4317", "x-honeycomb-team=abc", "parentbased_traceidratio", "0.5", "studio", "a=b,c=d")
	f.Add("jaeger", "http/json", "localhost", "k:v", "bogus", "2", "", "=")
	f.Add("none", "", "https://u:p@h", "a=%zz", "traceidratio", "NaN", "s", "k=%0a")
	f.Add("console", "HTTP/PROTOBUF", "http://[::1]:4318/", ",,,", "always_on", "", "x\ny", "service.name=x")
	f.Fuzz(func(t *testing.T, exporter, protocol, endpoint, headers, sampler, arg, service, resource string) {
		env := map[string]string{
			"OTEL_TRACES_EXPORTER":        exporter,
			"OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
			"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
			"OTEL_EXPORTER_OTLP_HEADERS":  headers,
			"OTEL_TRACES_SAMPLER":         sampler,
			"OTEL_TRACES_SAMPLER_ARG":     arg,
			"OTEL_SERVICE_NAME":           service,
			"OTEL_RESOURCE_ATTRIBUTES":    resource,
		}
		c, err := TraceConfigFromEnv(envOf(env))
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("two-line error %q", msg)
			}
			if !strings.HasPrefix(msg, "invalid OTEL_") {
				t.Fatalf("error does not name the variable: %q", msg)
			}
			if strings.HasPrefix(msg, "invalid OTEL_EXPORTER_OTLP_HEADERS") {
				// Only fixed text and an entry number: no header value.
				rest := strings.TrimPrefix(msg, "invalid OTEL_EXPORTER_OTLP_HEADERS: entry ")
				rest = strings.TrimLeft(rest, "0123456789")
				switch rest {
				case " is not key=value", ": the key is not a valid header name",
					": the value is not valid percent-encoding", ": the value holds a control character":
				default:
					t.Fatalf("unexpected headers error %q", msg)
				}
			}
			return
		}
		// A config read from the environment is one NewTracerProvider
		// accepts.
		if _, err := c.check(); err != nil {
			t.Fatalf("TraceConfigFromEnv accepted %+v but check refuses it: %v", env, err)
		}
	})
}
