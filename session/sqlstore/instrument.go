package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

// Instrumentation is a QueryHook that starts a client span per store
// operation (current semantic conventions; never a token, hash or user id)
// and records its duration. Either dependency may be nil. Safe for
// concurrent use.
//
// An operation whose context holds no span is background work (the
// last-seen flusher, warming): it starts no span, so it makes no root
// trace, unless TraceBackground(true) was given.
type Instrumentation struct {
	tracer trace.Tracer
	dur    *prometheus.HistogramVec
	roots  bool
}

var _ QueryHook = (*Instrumentation)(nil)

// InstrumentationOption configures an Instrumentation.
type InstrumentationOption func(*Instrumentation)

// TraceBackground sets whether operations without a parent span start a
// (root) span; the default is false.
func TraceBackground(on bool) InstrumentationOption {
	return func(in *Instrumentation) { in.roots = on }
}

// NewInstrumentation returns a hook for Options.QueryHook. dur, if set, is
// labelled operation and outcome (telemetry.Metrics.StoreQueryDuration);
// an operation whose span is sampled leaves its trace id as an exemplar.
func NewInstrumentation(tracer trace.Tracer, dur *prometheus.HistogramVec, opts ...InstrumentationOption) *Instrumentation {
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	in := &Instrumentation{tracer: tracer, dur: dur}
	for _, o := range opts {
		o(in)
	}
	return in
}

type startKey struct{}

// AttrStoreOperation is the span attribute naming the store operation
// (lookup, recent, touch, …), which tells apart operations that share a
// query summary.
const AttrStoreOperation = attribute.Key("studio.store.operation")

// QueryStart implements QueryHook. The span is named by the query summary
// ("SELECT sessions") and carries the database semantic conventions:
// db.system.name, db.operation.name (the SQL operation), db.collection.name
// (the table), db.query.summary — never the query text or its values.
func (in *Instrumentation) QueryStart(ctx context.Context, q Query) context.Context {
	if in.roots || trace.SpanContextFromContext(ctx).IsValid() {
		var span trace.Span
		ctx, span = in.tracer.Start(ctx, q.Summary(), trace.WithSpanKind(trace.SpanKindClient))
		if span.IsRecording() {
			attrs := []attribute.KeyValue{
				semconv.DBSystemNameKey.String(q.System),
				semconv.DBOperationName(q.Operation),
				semconv.DBQuerySummary(q.Summary()),
				AttrStoreOperation.String(strings.TrimPrefix(q.Op, "session.")),
			}
			if q.Collection != "" {
				attrs = append(attrs, semconv.DBCollectionName(q.Collection))
			}
			span.SetAttributes(attrs...)
		}
	}
	if in.dur != nil {
		ctx = context.WithValue(ctx, startKey{}, time.Now())
	}
	return ctx
}

// QueryEnd implements QueryHook. An unknown token is an answer, not an
// error.
func (in *Instrumentation) QueryEnd(ctx context.Context, q Query, err error) {
	outcome := "ok"
	switch {
	case err == nil, errors.Is(err, session.ErrNotFound):
	case errors.Is(err, context.Canceled):
		outcome = "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
	default:
		outcome = "error"
	}
	span := trace.SpanFromContext(ctx)
	if outcome != "ok" && span.IsRecording() {
		span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
	if in.dur != nil {
		if start, ok := ctx.Value(startKey{}).(time.Time); ok {
			obs := in.dur.WithLabelValues(strings.TrimPrefix(q.Op, "session."), outcome)
			telemetry.ObserveTrace(obs, time.Since(start).Seconds(), span.SpanContext())
		}
	}
}
