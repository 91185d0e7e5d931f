package server_test

import (
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/telemetry"
)

// countingWriter counts what the logger writes and throws it away.
type countingWriter struct{ bytes, lines atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.bytes.Add(int64(len(p)))
	w.lines.Add(1)
	return len(p), nil
}

// BenchmarkAccessLog is what the access log costs a request through the
// whole middleware (request id, recovery, the access line through
// Studio's logger at info) on a route that does nothing (GET /healthz),
// per mode; "off" is the baseline of the same run. It reports the bytes
// and lines written per request and the size of a line, from which
// LOGGING.md gives the volume at 20 000 requests/s.
func BenchmarkAccessLog(b *testing.B) {
	for _, mode := range []server.AccessLogMode{server.AccessLogOff, server.AccessLogAll, server.AccessLogSampled, server.AccessLogErrors} {
		b.Run(string(mode), func(b *testing.B) {
			w := &countingWriter{}
			// As studio serve runs without export: each request gets
			// trace and span ids for its lines from a provider that
			// records nothing.
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
			s := server.New(server.Options{Logger: telemetry.NewLogger(w, slog.LevelInfo), AccessLog: mode, TracerProvider: tp})
			req := httptest.NewRequest("GET", "/healthz", nil)
			b.ReportAllocs()
			for b.Loop() {
				s.ServeHTTP(httptest.NewRecorder(), req)
			}
			b.ReportMetric(float64(w.bytes.Load())/float64(b.N), "logB/op")
			b.ReportMetric(float64(w.lines.Load())/float64(b.N), "lines/op")
			if n := w.lines.Load(); n > 0 {
				b.ReportMetric(float64(w.bytes.Load())/float64(n), "B/line")
			}
		})
	}
}
