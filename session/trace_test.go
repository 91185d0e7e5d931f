package session_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// spanTree renders the spans under root as "name(child,child(...))",
// children in start order.
func spanTree(spans []sdktrace.ReadOnlySpan, root sdktrace.ReadOnlySpan) string {
	var kids []string
	for _, s := range spans {
		if s.Parent().SpanID() == root.SpanContext().SpanID() {
			kids = append(kids, spanTree(spans, s))
		}
	}
	if len(kids) == 0 {
		return root.Name()
	}
	return root.Name() + "(" + strings.Join(kids, ",") + ")"
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.String()
		}
	}
	return ""
}

// TestValidationSpanTree: the span tree of each validation path, and no
// token or key text in any span.
func TestValidationSpanTree(t *testing.T) {
	e := newEnv(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	tr := tp.Tracer("test")
	rdb, err := redisconn.Open(redisconn.Config{URL: e.redis.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(redisconn.NewInstrumentation(redisconn.InstrumentOptions{Tracer: tr, Addr: e.redis.Addr()}))
	st, err := sqlstore.Open(bg, "sqlite:"+t.TempDir()+"/traced.db", sqlstore.Options{QueryHook: sqlstore.NewInstrumentation(tr, nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := session.NewService(session.Options{Store: st, Redis: rdb, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	tok, _, err := svc.Create(bg, session.CreateParams{UserID: "traced"})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Del(bg, svc.Key(mustHash(t, tok.Reveal())))

	// Each flow under its own request root span.
	flow := func(name string) (string, sdktrace.ReadOnlySpan) {
		t.Helper()
		before := len(sr.Ended())
		ctx, root := tr.Start(context.Background(), "request")
		if _, err := svc.Validate(ctx, tok.Reveal()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		root.End()
		waitFor(t, 2e9, "spans of "+name, func() bool {
			for _, s := range sr.Ended()[before:] {
				if s.SpanContext().SpanID() == root.SpanContext().SpanID() {
					return true
				}
			}
			return false
		})
		spans := sr.Ended()
		var rootSpan, validate sdktrace.ReadOnlySpan
		for _, s := range spans {
			if s.SpanContext().SpanID() == root.SpanContext().SpanID() {
				rootSpan = s
			}
		}
		for _, s := range spans {
			if s.Name() == "session.validate" && s.Parent().SpanID() == root.SpanContext().SpanID() {
				validate = s
			}
		}
		return spanTree(spans, rootSpan), validate
	}

	tree, v := flow("store miss")
	if tree != "request(session.validate(get,SELECT sessions,set))" || attr(v, session.AttrTier) != "store" || attr(v, session.AttrResult) != "valid" {
		t.Fatalf("store miss: %s tier=%s", tree, attr(v, session.AttrTier))
	}
	svc2, _ := session.NewService(session.Options{Store: st, Redis: rdb, Tracer: tr})
	t.Cleanup(func() { svc2.Close() })
	// Its subscription coming up flushes the L1: wait for that first.
	waitFor(t, 5*time.Second, "invalidation subscription", svc2.Subscribed)
	svc, svc2 = svc2, svc // a fresh L1: the next validation is a Redis hit
	tree, v = flow("redis hit")
	if tree != "request(session.validate(get))" || attr(v, session.AttrTier) != "redis" {
		t.Fatalf("redis hit: %s tier=%s", tree, attr(v, session.AttrTier))
	}
	tree, v = flow("l1 hit")
	if tree != "request(session.validate)" || attr(v, session.AttrTier) != "l1" {
		t.Fatalf("l1 hit: %s tier=%s", tree, attr(v, session.AttrTier))
	}
	for _, s := range sr.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), tok.Reveal()[4:20]) || strings.Contains(a.Value.String(), mustHash(t, tok.Reveal()).Hex()[:16]) {
				t.Fatalf("span %s attribute %s carries token or key text", s.Name(), a.Key)
			}
		}
	}
	// An unsampled caller gets no session span at all.
	before := len(sr.Ended())
	unsampled := trace.ContextWithSpanContext(bg, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1},
	}))
	svc.Validate(unsampled, tok.Reveal())
	if n := len(sr.Ended()) - before; n != 0 {
		t.Fatalf("unsampled caller produced %d spans", n)
	}
}
