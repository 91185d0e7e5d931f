package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Correlation keys the LogHandler adds to every record.
const (
	RequestIDKey = "request_id"
	TraceIDKey   = "trace_id"
	SpanIDKey    = "span_id"
)

type requestIDKey struct{}

// WithRequestID returns a copy of ctx carrying the request id id, which a
// LogHandler adds to every record logged with that context.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ParseLevel parses a log level name: debug, info, warn or error, in any
// case, with surrounding spaces ignored. The error is one line naming the
// allowed values.
//
// To change the level at run time, build the JSON handler with a
// *slog.LevelVar as HandlerOptions.Level and call its Set method; the
// LevelVar is safe for concurrent use.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %s: must be debug, info, warn or error", quoteShort(s))
}

// ServiceNameKey is the attribute naming the service on every line of a
// logger made by NewLogger, as OpenTelemetry's resource attribute does on
// every span.
const ServiceNameKey = "service.name"

// NewLogger returns the logger Studio uses: one JSON object per line on w,
// filtered by level (pass a *slog.LevelVar to change it at run time),
// through a LogHandler, every line carrying service.name "studio"
// (DefaultServiceName). A nil level means info.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return NewServiceLogger(w, level, DefaultServiceName)
}

// NewServiceLogger is NewLogger with every line's service.name set to
// service (TraceConfig.ServiceName, so that logs and traces name the
// service alike); "" means DefaultServiceName.
func NewServiceLogger(w io.Writer, level slog.Leveler, service string) *slog.Logger {
	if service == "" {
		service = DefaultServiceName
	}
	return slog.New(NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).WithService(service))
}

// LogHandler is a slog.Handler that adds correlation ids and redacts
// secrets before passing records to the handler it wraps.
//
// To every record it adds, when known and not already present, request_id
// (from WithRequestID), and trace_id and span_id (from the valid OTel span
// context in the record's context), then service.name (see WithService). It redacts the message and every
// attribute value, recursively through groups, after resolving
// slog.LogValuer values; see Redact for the rules on text, and
// SensitiveKey for the keys whose values are replaced whole. An error
// value is logged as its redacted Error() text and an fmt.Stringer as its
// redacted String() text; other composite values (structs, maps, slices)
// are checked through their JSON form and replaced by the redacted JSON
// form when anything in them needed redacting.
//
// WithAttrs redacts the attributes once and passes them on; WithGroup
// passes through, so records logged through a Logger.WithGroup logger get
// their correlation ids inside that group, like their other attributes.
//
// A LogHandler is safe for concurrent use if the wrapped handler is.
type LogHandler struct {
	next slog.Handler
	// has records which correlation keys WithAttrs already added.
	has idSet
	// service, if set, is added to every record as service.name.
	service string
}

var _ slog.Handler = (*LogHandler)(nil)

// NewLogHandler returns a LogHandler wrapping next, normally
// slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: levelVar}).
func NewLogHandler(next slog.Handler) *LogHandler {
	return &LogHandler{next: next}
}

// WithService returns a copy of h that adds service.name = name to every
// record that has none, after the correlation ids.
func (h *LogHandler) WithService(name string) *LogHandler {
	c := *h
	c.service = name
	return &c
}

// idSet is a bit set of the correlation keys.
type idSet uint8

const (
	hasRequestID idSet = 1 << iota
	hasTraceID
	hasSpanID
	hasService
	hasAll = hasRequestID | hasTraceID | hasSpanID
)

func idBit(key string) idSet {
	switch key {
	case RequestIDKey:
		return hasRequestID
	case TraceIDKey:
		return hasTraceID
	case SpanIDKey:
		return hasSpanID
	case ServiceNameKey:
		return hasService
	}
	return 0
}

// Enabled reports whether the wrapped handler handles records at level.
func (h *LogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// WithAttrs returns a handler whose records carry attrs, redacted.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	has := h.has
	for i, a := range attrs {
		has |= idBit(a.Key)
		out[i], _ = redactAttr(a)
	}
	return &LogHandler{next: h.next.WithAttrs(out), has: has, service: h.service}
}

// WithGroup returns a handler that puts the attributes that follow in the
// group name.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name), has: h.has, service: h.service}
}

// Handle adds the correlation ids, redacts r and passes it on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	has := h.has
	dirty := false
	if r.NumAttrs() > 0 {
		r.Attrs(func(a slog.Attr) bool {
			has |= idBit(a.Key)
			if !dirty && attrMayNeedRedaction(a) {
				dirty = true
			}
			return true
		})
	}

	var extra [4]slog.Attr
	n := 0
	if has&hasRequestID == 0 {
		if id := RequestID(ctx); id != "" {
			id, _ = redact(id)
			extra[n] = slog.String(RequestIDKey, id)
			n++
		}
	}
	if has&(hasTraceID|hasSpanID) != hasTraceID|hasSpanID {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			if has&hasTraceID == 0 {
				extra[n] = slog.String(TraceIDKey, sc.TraceID().String())
				n++
			}
			if has&hasSpanID == 0 {
				extra[n] = slog.String(SpanIDKey, sc.SpanID().String())
				n++
			}
		}
	}
	if h.service != "" && has&hasService == 0 {
		extra[n] = slog.String(ServiceNameKey, h.service)
		n++
	}

	msg, msgChanged := redact(r.Message)
	if !dirty {
		if n == 0 && !msgChanged {
			return h.next.Handle(ctx, r)
		}
		// Clone so that appending never writes into an array the caller's
		// copy of the record shares.
		r = r.Clone()
		r.Message = msg
		r.AddAttrs(extra[:n]...)
		return h.next.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		a, _ = redactAttr(a)
		nr.AddAttrs(a)
		return true
	})
	nr.AddAttrs(extra[:n]...)
	return h.next.Handle(ctx, nr)
}

// attrMayNeedRedaction is the cheap check Handle makes on every attribute:
// false means redactAttr would return a unchanged.
func attrMayNeedRedaction(a slog.Attr) bool {
	if SensitiveKey(a.Key) {
		return true
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return mayHoldSecret(a.Value.String())
	case slog.KindAny, slog.KindLogValuer:
		return true
	case slog.KindGroup:
		for _, g := range a.Value.Group() {
			if attrMayNeedRedaction(g) {
				return true
			}
		}
	}
	return false
}

// quoteShort quotes s for an error message, shortened to 64 bytes.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
