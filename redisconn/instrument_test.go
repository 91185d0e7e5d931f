package redisconn_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/telemetry"
)

type keyLog struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyLog) ObserveKey(key string) { k.mu.Lock(); k.keys = append(k.keys, key); k.mu.Unlock() }

type recLog struct {
	mu       sync.Mutex
	outcomes []string
}

func (r *recLog) RecordCommand(d time.Duration, outcome string) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, outcome)
	r.mu.Unlock()
}

func TestInstrumentationSpansMetricsAndKeys(t *testing.T) {
	srv := redistest.Start(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reg := prometheus.NewPedanticRegistry()
	m := telemetry.NewMetrics(reg, telemetry.Build{Version: "test"})
	keys, rec := &keyLog{}, &recLog{}
	rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rdb.AddHook(redisconn.NewInstrumentation(redisconn.InstrumentOptions{
		Tracer: tp.Tracer("test"), Duration: m.RedisCommandDuration, Keys: keys, Recorder: rec, Addr: srv.Addr(),
		TraceBackground: true,
	}))
	ctx := context.Background()
	const secretKey, secretVal = "studio:s:SECRETKEYTEXT", "SECRETVALUETEXT"
	rdb.Set(ctx, secretKey, secretVal, time.Minute)
	rdb.Get(ctx, secretKey)
	rdb.Get(ctx, "missing")
	rdb.Do(ctx, "NOSUCHCOMMAND", "x")
	rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "a"); p.Get(ctx, "b"); return nil })

	spans := sr.Ended()
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
		attrs := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value
			if strings.Contains(a.Value.String(), "SECRET") {
				t.Fatalf("span %s attribute %s carries key or value text", s.Name(), a.Key)
			}
		}
		if attrs["db.system.name"].AsString() != "redis" || attrs["server.port"].AsInt64() != int64(srv.Port()) ||
			attrs["server.address"].AsString() != "127.0.0.1" || attrs["db.namespace"].AsString() != "0" {
			t.Fatalf("span %s attributes %v", s.Name(), attrs)
		}
		if attrs["db.operation.name"].AsString() != s.Name() {
			t.Fatalf("span %s has db.operation.name %v", s.Name(), attrs["db.operation.name"])
		}
		if s.Name() == "other" && attrs["error.type"].AsString() != "error_reply" {
			t.Fatalf("failed command span lacks error.type: %v", attrs)
		}
	}
	if got := strings.Join(names, ","); !strings.HasSuffix(got, "set,get,get,other,pipeline") {
		t.Fatalf("span names %s", got)
	}
	// Metrics: bounded labels, lint-clean.
	if n := testutil.CollectAndCount(m.RedisCommandDuration); n < 4 {
		t.Fatalf("%d histogram series", n)
	}
	if got := testutil.ToFloat64(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 {
		return float64(histCount(t, reg, "get", "miss"))
	})); got != 1 {
		t.Fatalf("get/miss observations = %v, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	keys.mu.Lock()
	if got := strings.Join(keys.keys, ","); !strings.Contains(got, secretKey+","+secretKey+",missing") || !strings.HasSuffix(got, "a,b") {
		t.Fatalf("observed keys %s", got)
	}
	keys.mu.Unlock()
	rec.mu.Lock()
	if got := strings.Join(rec.outcomes, ","); !strings.HasSuffix(got, "ok,ok,miss,error_reply,miss") {
		t.Fatalf("recorded outcomes %s", got)
	}
	rec.mu.Unlock()
}

// TestInstrumentationTracesBackgroundOnlyWhenAsked: a command without a
// parent span (background work) starts no span unless TraceBackground is
// set; a command inside a sampled span always gets a child span.
func TestInstrumentationTracesBackgroundOnlyWhenAsked(t *testing.T) {
	srv := redistest.Start(t)
	for _, background := range []bool{false, true} {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		rdb.AddHook(redisconn.NewInstrumentation(redisconn.InstrumentOptions{Tracer: tp.Tracer("test"), TraceBackground: background}))
		ctx := context.Background()
		rdb.Ping(ctx) // a background poll
		rctx, req := tp.Tracer("test").Start(ctx, "request")
		rdb.Get(rctx, "k") // a request's command
		req.End()
		rdb.Close()
		var roots, children []string
		for _, s := range sr.Ended() {
			switch {
			case s.Name() == "request":
			case s.Parent().IsValid():
				children = append(children, s.Name())
			default:
				roots = append(roots, s.Name())
			}
		}
		wantRoots := 0
		if background {
			wantRoots = 1
		}
		if len(roots) != wantRoots || len(children) != 1 || children[0] != "get" {
			t.Errorf("TraceBackground=%v: root spans %v, child spans %v; want %d root(s) and the get", background, roots, children, wantRoots)
		}
	}
}

// TestWithoutInstrumentation: a command whose context is marked passes
// the hook untouched — a refusal from the server is neither a span, nor
// an observation, nor a recorded error, nor a key access.
func TestWithoutInstrumentation(t *testing.T) {
	srv := redistest.Start(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	m := telemetry.NewMetrics(prometheus.NewRegistry(), telemetry.Build{Version: "test"})
	keys, rec := &keyLog{}, &recLog{}
	rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rdb.AddHook(redisconn.NewInstrumentation(redisconn.InstrumentOptions{
		Tracer: tp.Tracer("test"), Duration: m.RedisCommandDuration, Keys: keys, Recorder: rec, TraceBackground: true,
	}))
	ctx := redisconn.WithoutInstrumentation(context.Background())
	if err := rdb.Do(ctx, "NOSUCHCOMMAND", "x").Err(); err == nil {
		t.Fatal("the server accepted an unknown command")
	}
	rdb.Get(ctx, "k")
	rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "a"); return nil })
	if n := len(sr.Ended()); n != 0 {
		t.Errorf("%d spans", n)
	}
	if n := testutil.CollectAndCount(m.RedisCommandDuration); n != 0 {
		t.Errorf("%d histogram series", n)
	}
	if len(keys.keys) != 0 || len(rec.outcomes) != 0 {
		t.Errorf("keys %v, outcomes %v", keys.keys, rec.outcomes)
	}
}

func histCount(t *testing.T, reg *prometheus.Registry, command, outcome string) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "studio_redis_command_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["command"] == command && l["outcome"] == outcome {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil:                      "ok",
		redis.Nil:                "miss",
		redisconn.ErrCircuitOpen: "breaker_open",
		context.Canceled:         "canceled",
		context.DeadlineExceeded: "timeout",
		redis.ErrClosed:          "network",
	} {
		if got := redisconn.Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %s, want %s", err, got, want)
		}
	}
}

// TestCommandExemplar: a command with a sampled span leaves its trace and
// span ids as an exemplar on the duration histogram; one under an
// unsampled caller leaves none.
func TestCommandExemplar(t *testing.T) {
	srv := redistest.Start(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())), sdktrace.WithSpanProcessor(sr))
	reg := prometheus.NewRegistry()
	m := telemetry.NewMetrics(reg, telemetry.Build{Version: "test"})
	rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rdb.AddHook(redisconn.NewInstrumentation(redisconn.InstrumentOptions{Tracer: tp.Tracer("test"), Duration: m.RedisCommandDuration, Addr: srv.Addr()}))

	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, Remote: true,
	}))
	rdb.Get(unsampled, "k")
	if ex := commandExemplars(t, reg, "get"); len(ex) != 0 {
		t.Fatalf("an unsampled command left exemplars %v", ex)
	}
	// A sampled request's command (one with no parent span is background
	// work, which starts no span).
	rctx, req := tp.Tracer("test").Start(context.Background(), "request")
	rdb.Get(rctx, "k")
	req.End()
	spans := sr.Ended()
	if len(spans) < 2 || spans[len(spans)-2].Name() != "get" {
		t.Fatalf("no span for the sampled get: %v", spans)
	}
	sc := spans[len(spans)-2].SpanContext()
	want := "span_id=" + sc.SpanID().String() + ",trace_id=" + sc.TraceID().String()
	if ex := commandExemplars(t, reg, "get"); len(ex) != 1 || ex[0] != want {
		t.Fatalf("exemplars %v, want [%s]", ex, want)
	}
}

// commandExemplars returns the exemplars on the buckets of command's
// duration series, each as sorted name=value pairs.
func commandExemplars(t *testing.T, reg *prometheus.Registry, command string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "studio_redis_command_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "command" && l.GetValue() == command }) {
				continue
			}
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
		}
	}
	return out
}
