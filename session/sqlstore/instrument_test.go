package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

// TestQueryExemplar: a store operation whose span is sampled leaves its
// trace and span ids as an exemplar on the query-duration histogram; one
// under an unsampled caller leaves none.
func TestQueryExemplar(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())), sdktrace.WithSpanProcessor(sr))
	m := telemetry.NewMetrics(prometheus.NewRegistry(), telemetry.Build{Version: "test"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlstore.Open(ctx, sqliteDSN(t), sqlstore.Options{QueryHook: sqlstore.NewInstrumentation(tp.Tracer("test"), m.StoreQueryDuration)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	unsampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, Remote: true}))
	if err := s.Ping(unsampled); err != nil {
		t.Fatal(err)
	}
	if ex := exemplars(t, m.StoreQueryDuration.WithLabelValues("ping", "ok")); len(ex) != 0 {
		t.Fatalf("an unsampled ping left exemplars %v", ex)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	spans := sr.Ended()
	if len(spans) == 0 {
		t.Fatal("no span for the sampled ping")
	}
	sc := spans[len(spans)-1].SpanContext()
	ex := exemplars(t, m.StoreQueryDuration.WithLabelValues("ping", "ok"))
	if want := sc.TraceID().String() + "/" + sc.SpanID().String(); len(ex) != 1 || ex[0] != want {
		t.Fatalf("exemplars %v, want [%s]", ex, want)
	}
}

// exemplars returns trace_id/span_id of each exemplar on o's buckets.
func exemplars(t *testing.T, o prometheus.Observer) []string {
	t.Helper()
	h, ok := o.(prometheus.Histogram)
	if !ok {
		t.Fatalf("%T is not a histogram", o)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range m.GetHistogram().GetBucket() {
		if e := b.GetExemplar(); e != nil {
			l := map[string]string{}
			for _, p := range e.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out = append(out, l["trace_id"]+"/"+l["span_id"])
		}
	}
	return out
}
