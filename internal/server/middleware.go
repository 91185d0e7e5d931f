package server

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/telemetry"
)

// hdrRequestID is X-Request-ID in canonical form: spelled so, header
// lookups and sets need no canonicalizing copy of the name.
const hdrRequestID = "X-Request-Id"

// maxRequestIDLen bounds an X-Request-ID taken from a client.
const maxRequestIDLen = 128

// validRequestID accepts 1-128 visible ASCII characters other than quotes
// and backslashes, so an id can be echoed and logged safely.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodLabel bounds the method label of the HTTP metric.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// unmatchedPath is the path of the route label of a request that matched
// no route (a 404): one constant, so that unknown paths cannot grow the
// label set.
const unmatchedPath = "/{unmatched}"

// routeLabel is a request's route as the HTTP metric, the access log and
// the span name show it, always "METHOD /pattern": the pattern it matched
// in routes.go ("GET /v1/session"); for a known path under another method
// (a 405) or a mounted subtree, the method (bounded by methodLabel) and the
// path pattern ("PATCH /v1/session", "GET /studio/redis/"); for a request
// that matched nothing (a 404, or a redirect the mux answers itself), the
// method and unmatchedPath ("GET /{unmatched}").
func routeLabel(r *http.Request) string {
	p := r.Pattern
	switch {
	case p == "" || p == "/":
		return methodLabel(r.Method) + " " + unmatchedPath
	case strings.IndexByte(p, ' ') >= 0:
		return p
	}
	return methodLabel(r.Method) + " " + p
}

// middleware gives every request a request id (echoed in X-Request-ID and
// carried in the context for every log line), its client as the trusted
// proxies decide (in the context and the access log), the caller's W3C
// trace context (and an otelhttp server span when tracing is on), turns panics
// into a JSON 500, records the request's duration and writes its
// access-log line, if Options.AccessLog gives it one (accesslog.go). A
// request whose trace is sampled leaves its trace id as an exemplar on the
// duration histogram (OpenMetrics scrapes show it).
func (s *Server) middleware(next http.Handler) http.Handler {
	tracing := s.opts.TracerProvider != nil && s.opts.ExportSpans
	var idTracer trace.Tracer // a span for the ids alone
	if s.opts.TracerProvider != nil && !tracing {
		idTracer = s.opts.TracerProvider.Tracer("github.com/studiohq/studio/internal/server")
	}
	// The headers the propagator reads, canonical: a request carrying none
	// of them (most do not) skips the extraction.
	var fields []string
	for _, f := range s.opts.Propagator.Fields() {
		fields = append(fields, http.CanonicalHeaderKey(f))
	}
	carries := func(h http.Header) bool {
		for _, f := range fields {
			if len(h[f]) > 0 {
				return true
			}
		}
		return false
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(hdrRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header()[hdrRequestID] = []string{id}
		if s.draining.Load() {
			// Keep-alive clients reconnect, through their load balancer,
			// to an instance that is not stopping.
			w.Header()["Connection"] = []string{"close"}
		}
		client := s.opts.Proxies.Resolve(r)
		ctx := clientaddr.With(telemetry.WithRequestID(r.Context(), id), client)
		if !tracing {
			if carries(r.Header) {
				ctx = s.opts.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
			}
			if idTracer != nil {
				var span trace.Span
				ctx, span = idTracer.Start(ctx, "http.server", trace.WithSpanKind(trace.SpanKindServer))
				defer span.End()
			}
		}
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "handler panic", "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal", "internal error")
				}
			}
			d := time.Since(start)
			route := routeLabel(r)
			if tracing {
				span := trace.SpanFromContext(ctx)
				span.SetName(route)
				// otelhttp's url.path is the raw path, with ids in it
				// (/v1/users/{user_id}/sessions): the route's template
				// replaces it (unmatchedPath for a request that matched
				// nothing), so no user id reaches a span.
				_, path, _ := strings.Cut(route, " ")
				if path != unmatchedPath {
					span.SetAttributes(semconv.HTTPRoute(path))
				}
				span.SetAttributes(semconv.URLPath(path))
			}
			if s.opts.Metrics != nil {
				obs := s.opts.Metrics.HTTPRequestDuration.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(sw.status))
				telemetry.ObserveTrace(obs, d.Seconds(), trace.SpanContextFromContext(ctx))
			}
			s.access.write(ctx, r.Method, route, client, sw.status, sw.bytes, d, start)
		}()
		next.ServeHTTP(sw, r)
	})
	if !tracing {
		return h
	}
	return otelhttp.NewHandler(h, "http.server",
		otelhttp.WithTracerProvider(s.opts.TracerProvider),
		otelhttp.WithPropagators(s.opts.Propagator),
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()),
	)
}
