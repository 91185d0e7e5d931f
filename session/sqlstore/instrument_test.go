package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/session/storetest"
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
	// A request's operation (one with no parent span is background work,
	// which starts no span).
	rctx, req := tp.Tracer("test").Start(ctx, "request")
	if err := s.Ping(rctx); err != nil {
		t.Fatal(err)
	}
	req.End()
	spans := sr.Ended()
	if len(spans) == 0 {
		t.Fatal("no span for the sampled ping")
	}
	sc := spans[len(spans)-2].SpanContext() // the ping's, ended before its request's
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

// TestInstrumentationSpans: inside a request's span every store operation
// is a client span named by its query summary with the current database
// semantic conventions and no value (no user id, no token hash); an
// operation without a parent span (background work) makes no span unless
// TraceBackground(true).
func TestInstrumentationSpans(t *testing.T) {
	ctx := t.Context()
	sr := tracetest.NewSpanRecorder()
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "spans.db")
	s, err := sqlstore.Open(ctx, dsn, sqlstore.Options{QueryHook: sqlstore.NewInstrumentation(tr, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const user = "user-secret-4711"
	rec := storetest.NewRecord(t, user, now())

	_, _ = s.Touch(ctx, []session.Touch{{Hash: rec.Hash, At: now()}}, now()) // background: no parent span
	if n := len(sr.Ended()); n != 0 {
		t.Fatalf("%d spans from an operation without a parent span", n)
	}
	rctx, req := tr.Start(ctx, "request")
	_ = s.Create(rctx, rec)
	_, _ = s.Lookup(rctx, rec.Hash)
	_, _ = s.RevokeUser(rctx, user, now())
	_ = s.Ping(rctx)
	req.End()

	want := map[string][3]string{ // span name → db.operation.name, db.collection.name, studio.store.operation
		"INSERT sessions": {"INSERT", "sessions", "create"},
		"SELECT sessions": {"SELECT", "sessions", "lookup"},
		"UPDATE sessions": {"UPDATE", "sessions", "revoke_user"},
		"SELECT":          {"SELECT", "", "ping"},
	}
	seen := 0
	for _, sp := range sr.Ended() {
		if sp.Name() == "request" {
			continue
		}
		seen++
		attrs := map[attribute.Key]string{}
		for _, a := range sp.Attributes() {
			attrs[a.Key] = a.Value.String()
			if strings.Contains(a.Value.String(), user) || strings.Contains(a.Value.String(), rec.Hash.Hex()[:16]) {
				t.Errorf("span %s attribute %s holds a value", sp.Name(), a.Key)
			}
		}
		w, ok := want[sp.Name()]
		if !ok {
			t.Errorf("unexpected span %q", sp.Name())
			continue
		}
		if attrs["db.system.name"] != "sqlite" || attrs["db.operation.name"] != w[0] || attrs["db.collection.name"] != w[1] ||
			attrs["db.query.summary"] != sp.Name() || attrs["studio.store.operation"] != w[2] || !sp.Parent().IsValid() {
			t.Errorf("span %s attributes %v", sp.Name(), attrs)
		}
		if _, ok := attrs["db.query.text"]; ok {
			t.Errorf("span %s records the query text", sp.Name())
		}
	}
	if seen != 4 {
		t.Fatalf("%d store spans, want 4", seen)
	}

	// With TraceBackground the background operation is a root span.
	sr2 := tracetest.NewSpanRecorder()
	tr2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr2)).Tracer("test")
	s2, err := sqlstore.Open(ctx, dsn, sqlstore.Options{QueryHook: sqlstore.NewInstrumentation(tr2, nil, sqlstore.TraceBackground(true))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, _ = s2.Touch(ctx, []session.Touch{{Hash: rec.Hash, At: now()}}, now())
	if ended := sr2.Ended(); len(ended) != 1 || ended[0].Name() != "UPDATE sessions" || ended[0].Parent().IsValid() {
		t.Fatalf("background spans with TraceBackground: %v", ended)
	}
}
