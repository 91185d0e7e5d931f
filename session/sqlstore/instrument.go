package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
type Instrumentation struct {
	tracer trace.Tracer
	dur    *prometheus.HistogramVec
}

var _ QueryHook = (*Instrumentation)(nil)

// NewInstrumentation returns a hook for Options.QueryHook. dur, if set, is
// labelled operation and outcome (telemetry.Metrics.StoreQueryDuration);
// an operation whose span is sampled leaves its trace id as an exemplar.
func NewInstrumentation(tracer trace.Tracer, dur *prometheus.HistogramVec) *Instrumentation {
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Instrumentation{tracer: tracer, dur: dur}
}

type startKey struct{}

// QueryStart implements QueryHook.
func (in *Instrumentation) QueryStart(ctx context.Context, q Query) context.Context {
	op := strings.TrimPrefix(q.Op, "session.")
	ctx, span := in.tracer.Start(ctx, op+" "+q.Collection, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			semconv.DBSystemNameKey.String(q.System),
			semconv.DBOperationName(op),
			semconv.DBCollectionName(q.Collection),
		)
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
