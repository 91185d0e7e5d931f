package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/studiohq/studio/internal/clientaddr"
)

// AccessLogMode says which requests get an access-log line ("request") at
// info. Whatever the mode (but off), a request without such a line is
// logged at debug, so the debug level logs every request.
type AccessLogMode string

// Access-log modes.
const (
	// AccessLogSampled, the default: every error and slow request, and
	// the first request of each route in each second.
	AccessLogSampled AccessLogMode = "sampled"
	// AccessLogAll: every request.
	AccessLogAll AccessLogMode = "all"
	// AccessLogErrors: errors and slow requests only.
	AccessLogErrors AccessLogMode = "errors"
	// AccessLogOff: no access log at all, at any level.
	AccessLogOff AccessLogMode = "off"
)

// DefaultSlowRequest is Options.SlowRequest's default.
const DefaultSlowRequest = 250 * time.Millisecond

// ParseAccessLogMode parses all, sampled, errors or off (any case); the
// error is one line naming them.
func ParseAccessLogMode(s string) (AccessLogMode, error) {
	switch m := AccessLogMode(strings.ToLower(strings.TrimSpace(s))); m {
	case AccessLogAll, AccessLogSampled, AccessLogErrors, AccessLogOff:
		return m, nil
	}
	return "", fmt.Errorf("must be all, sampled, errors or off")
}

// accessLog decides, per request, whether and at which level the access
// line is written. Safe for concurrent use.
type accessLog struct {
	log  *slog.Logger
	mode AccessLogMode
	slow time.Duration
	// last holds, per route, the unix second of its last sampled line
	// (*atomic.Int64). Routes are the mux's patterns: a fixed set.
	last sync.Map
}

func newAccessLog(log *slog.Logger, mode AccessLogMode, slow time.Duration) *accessLog {
	if mode == "" {
		mode = AccessLogSampled
	}
	if slow <= 0 {
		slow = DefaultSlowRequest
	}
	return &accessLog{log: log, mode: mode, slow: slow}
}

// notable reports whether a request is always worth a line: a server
// error, a client error other than the routine ones, or a slow request.
// Routine are a 404 and the 401 of a session token that is no longer (or
// never was) valid, which clients meet every day as sessions end.
func (l *accessLog) notable(route string, status int, d time.Duration) bool {
	switch {
	case d >= l.slow || status >= 500:
		return true
	case status == http.StatusNotFound:
		return false
	case status == http.StatusUnauthorized:
		return !strings.HasSuffix(route, " /v1/session")
	}
	return status >= 400
}

// sample reports whether this request is its route's first in its second.
func (l *accessLog) sample(route string, start time.Time) bool {
	v, ok := l.last.Load(route)
	if !ok {
		v, _ = l.last.LoadOrStore(route, new(atomic.Int64))
	}
	last, sec := v.(*atomic.Int64), start.Unix()
	old := last.Load()
	return old != sec && last.CompareAndSwap(old, sec)
}

// level is the level of the request's line; ok false means no line.
func (l *accessLog) level(ctx context.Context, route string, status int, d time.Duration, start time.Time) (slog.Level, bool) {
	switch l.mode {
	case AccessLogOff:
		return 0, false
	case AccessLogAll:
		return slog.LevelInfo, true
	}
	if l.notable(route, status, d) || l.mode == AccessLogSampled && l.sample(route, start) {
		return slog.LevelInfo, true
	}
	return slog.LevelDebug, l.log.Enabled(ctx, slog.LevelDebug)
}

// write writes the request's line, if it gets one.
func (l *accessLog) write(ctx context.Context, method, route string, client clientaddr.Client, status, bytes int, d time.Duration, start time.Time) {
	if !l.log.Enabled(ctx, slog.LevelInfo) {
		return // at warn or error, no request is logged
	}
	lvl, ok := l.level(ctx, route, status, d, start)
	if !ok || !l.log.Enabled(ctx, lvl) {
		return
	}
	l.log.LogAttrs(ctx, lvl, "request",
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int("bytes", bytes),
		slog.Duration("duration", d),
		slog.String("client", client.String()),
	)
}
