package session

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span attribute keys set by the Service.
const (
	AttrTier   = attribute.Key("studio.session.tier")
	AttrResult = attribute.Key("studio.session.result")
	AttrCount  = attribute.Key("studio.session.count")
)

// noSpan is a span that records nothing and belongs to nobody.
var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts a span unless nothing would record it: no tracer was
// given, or the caller's span was not sampled (Studio's samplers are
// parent-based, so no child would be). Skipping saves the context
// allocation on the L1 path.
func (s *Service) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !s.tracing {
		return ctx, noSpan
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsSampled() {
		return ctx, noSpan
	}
	return s.tracer.Start(ctx, name)
}

// startBackgroundSpan is startSpan for the Service's own work (warm runs):
// with no span in ctx it starts none unless Options.TraceBackground, so
// background work makes no root traces by default.
func (s *Service) startBackgroundSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !s.opts.TraceBackground && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, noSpan
	}
	return s.startSpan(ctx, name)
}

// endSpan marks the span failed unless err is nil or one of the expected
// refusals, and ends it.
func endSpan(span trace.Span, err error, expected ...error) {
	if err != nil && span.IsRecording() {
		failed := true
		for _, e := range expected {
			if errors.Is(err, e) {
				failed = false
			}
		}
		if failed {
			span.SetStatus(codes.Error, "failed")
			span.RecordError(err)
		}
	}
	span.End()
}
