package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/telemetry"
)

// TestAccessLogLevels is the table of which request gets which line, per
// mode: "info", "debug" (only written at the debug level) or "" (none).
func TestAccessLogLevels(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	type req struct {
		route  string
		status int
		d      time.Duration
		at     time.Time
	}
	ok := req{"GET /v1/session", 200, time.Millisecond, t0}
	okSameSecond := req{"GET /v1/session", 200, time.Millisecond, t0.Add(500 * time.Millisecond)}
	okOtherRoute := req{"GET /healthz", 200, time.Millisecond, t0.Add(600 * time.Millisecond)}
	okNextSecond := req{"GET /v1/session", 200, time.Millisecond, t0.Add(time.Second)}
	sessionGone := req{"GET /v1/session", 401, time.Millisecond, t0.Add(1200 * time.Millisecond)}
	adminRefused := req{"GET /health/redis", 401, time.Millisecond, t0.Add(1300 * time.Millisecond)}
	notFound := req{"/", 404, time.Millisecond, t0.Add(1400 * time.Millisecond)}
	badInput := req{"POST /v1/sessions", 400, time.Millisecond, t0.Add(1500 * time.Millisecond)}
	failed := req{"GET /v1/session", 503, time.Millisecond, t0.Add(1600 * time.Millisecond)}
	slow := req{"GET /v1/session", 200, 300 * time.Millisecond, t0.Add(1700 * time.Millisecond)}
	seq := []req{ok, okSameSecond, okOtherRoute, okNextSecond, sessionGone, adminRefused, notFound, badInput, failed, slow}
	want := map[AccessLogMode][]string{
		AccessLogSampled: {"info", "debug", "info", "info", "debug", "info", "info", "info", "info", "info"},
		AccessLogAll:     {"info", "info", "info", "info", "info", "info", "info", "info", "info", "info"},
		AccessLogErrors:  {"debug", "debug", "debug", "debug", "debug", "info", "debug", "info", "info", "info"},
		AccessLogOff:     {"", "", "", "", "", "", "", "", "", ""},
	}
	for mode, levels := range want {
		l := newAccessLog(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelDebug})), mode, 0)
		for i, r := range seq {
			lvl, logged := l.level(context.Background(), r.route, r.status, r.d, r.at)
			got := ""
			if logged {
				got = strings.ToLower(lvl.String())
			}
			if got != levels[i] {
				t.Errorf("%s: request %d (%s %d, %v): %q, want %q", mode, i, r.route, r.status, r.d, got, levels[i])
			}
		}
	}
	// The first 404 of the catch-all in a second is its sample.
	l := newAccessLog(slog.New(slog.DiscardHandler), AccessLogSampled, 0)
	if lvl, _ := l.level(context.Background(), "/", 404, 0, t0); lvl != slog.LevelInfo {
		t.Errorf("first 404 of the second: %v", lvl)
	}
}

// TestAccessLogSampledThroughTheMiddleware: 2000 requests of one route in
// a burst make a line per second at info, an admin-token refusal always
// makes one, and at debug every request is logged.
func TestAccessLogSampledThroughTheMiddleware(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs bytes.Buffer
		s := New(Options{Logger: telemetry.NewLogger(&logs, level), AdminToken: "access-log-admin-token-0123"})
		start := time.Now()
		for range 2000 {
			s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
		}
		for range 3 {
			s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/health/redis", nil))
		}
		seconds := int(time.Since(start)/time.Second) + 2
		healthz := strings.Count(logs.String(), `"route":"GET /healthz"`)
		refused := strings.Count(logs.String(), `"route":"GET /health/redis","status":401`)
		switch level {
		case slog.LevelInfo:
			if healthz < 1 || healthz > seconds || refused != 3 {
				t.Errorf("info: %d healthz lines (at most %d seconds), %d admin refusals (want 3)", healthz, seconds, refused)
			}
		case slog.LevelDebug:
			if healthz != 2000 || refused != 3 {
				t.Errorf("debug: %d healthz lines, %d refusals; want 2000 and 3", healthz, refused)
			}
		}
	}
}
