// Package server is Studio's HTTP API: routes, handlers and middleware.
package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

// Sessions is what the API needs from the session layer.
type Sessions interface {
	Create(ctx context.Context, p session.CreateParams) (session.Token, session.Session, error)
	Validate(ctx context.Context, token string) (session.Session, error)
	Revoke(ctx context.Context, token string) error
	RevokeUser(ctx context.Context, userID string) (int, error)
	Health(ctx context.Context) session.Health
}

var _ Sessions = (*session.Service)(nil)

// Options configures a Server. Sessions is required.
type Options struct {
	Sessions Sessions
	// AdminToken guards the admin routes when Admin is nil. Empty
	// disables them: they answer 403 admin_disabled.
	AdminToken string
	// Admin, if set, is the admin check (the tokens and the throttle of
	// wrong ones) the API shares with the dashboard; nil builds one from
	// AdminToken, counting wrong attempts in this process's memory.
	Admin *adminauth.Guard
	// Proxies decides each request's client address and scheme (for the
	// admin throttle and the access log) from the trusted proxies'
	// X-Forwarded-For and X-Forwarded-Proto; nil trusts none.
	Proxies *clientaddr.Resolver
	// Logger receives the access log and errors; nil discards.
	Logger *slog.Logger
	// AccessLog says which requests get an access-log line at info
	// (default AccessLogSampled: errors other than a 404 or a session
	// token's 401, requests of at least SlowRequest, and each route's
	// first request in each second); the others are logged at debug.
	// SlowRequest defaults to DefaultSlowRequest.
	AccessLog   AccessLogMode
	SlowRequest time.Duration
	// MaxBodyBytes caps request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// ReadyTimeout bounds the dependency checks of /readyz. Default 1s.
	ReadyTimeout time.Duration

	// Metrics records HTTP request durations; nil records nothing.
	Metrics *telemetry.Metrics
	// MetricsHandler serves GET /metrics; nil answers 404.
	MetricsHandler http.Handler
	// MetricsAdminOnly puts /metrics behind the admin token.
	MetricsAdminOnly bool
	// Health returns the health Snapshot served at GET /health/redis; nil
	// answers 503.
	Health func(ctx context.Context) health.Snapshot
	// Warming, if set, reports the cache warmer's progress in /readyz.
	Warming func() health.WarmProgress
	// LogLevel, if set, is read and changed at /v1/admin/log-level.
	LogLevel *slog.LevelVar
	// TracerProvider, if set, gives every request a server span, child of
	// the caller's W3C traceparent when it sends one, so every log line of
	// the request carries trace_id and span_id. With ExportSpans the span
	// is otelhttp's, with the full HTTP semantic conventions; without, a
	// bare span for the ids (the provider is expected not to record).
	TracerProvider trace.TracerProvider
	ExportSpans    bool
	// Propagator extracts incoming trace context; default W3C trace
	// context and baggage.
	Propagator propagation.TextMapPropagator

	// Alerts serves the admin routes /v1/alerts and /v1/alerts/silences
	// (usually an *alert.Engine); nil answers 503 alerts_disabled.
	Alerts AlertAPI
	// Runbooks holds the runbooks served without authentication at
	// /docs/runbooks/{name}, as files named like redis-down.md at its root
	// (e.g. fs.Sub(docs.Runbooks, "runbooks")); nil answers 404.
	Runbooks fs.FS
	// Dashboard serves every method and path under /studio/redis (usually
	// a *dashboard.Handler, which checks its own session cookie); nil
	// answers 404 there.
	Dashboard http.Handler
	// ReservedUserIDs are user ids POST /v1/sessions refuses (400
	// reserved_user_id): the dashboard's own logins are sessions of such a
	// user, and a session the API could create for it would open the
	// dashboard. Revoking their sessions through the API stays allowed.
	ReservedUserIDs []string
}

// Server serves the HTTP API. It is safe for concurrent use.
type Server struct {
	opts      Options
	sessions  Sessions
	admin     *adminauth.Guard
	log       *slog.Logger
	maxBody   int64
	readyWait time.Duration
	handler   http.Handler
	access    *accessLog
	draining  atomic.Bool
}

// Drain starts a graceful stop: from now on /readyz answers 503
// "draining", so load balancers stop sending new requests, and every
// response closes its connection, so keep-alive clients reconnect
// elsewhere. Requests are still served in full. Drain cannot be undone;
// calling it again does nothing. The caller stops the HTTP server once
// load balancers had time to notice.
func (s *Server) Drain() { s.draining.Store(true) }

// New returns a Server; its routes are fixed at construction.
func New(opts Options) *Server {
	if opts.Propagator == nil {
		opts.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	s := &Server{
		opts:      opts,
		sessions:  opts.Sessions,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		readyWait: opts.ReadyTimeout,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 10
	}
	if s.readyWait <= 0 {
		s.readyWait = time.Second
	}
	s.admin = opts.Admin
	if s.admin == nil {
		s.admin = adminauth.NewGuard(adminauth.GuardOptions{Tokens: adminauth.New(opts.AdminToken)})
	}
	s.access = newAccessLog(s.log, opts.AccessLog, opts.SlowRequest)
	s.handler = s.middleware(s.newMux())
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// codeTwoAuthorizations is bearer's code for a request with more than one
// Authorization header: refused with 400, since a proxy that reads the
// other one would decide differently.
const codeTwoAuthorizations = "invalid_request"

// bearer extracts the token of an "Authorization: Bearer <token>" header.
// On failure it returns the error code and message to send (see
// refuseBearer).
func bearer(r *http.Request) (token, code, msg string) {
	if len(r.Header.Values("Authorization")) > 1 {
		return "", codeTwoAuthorizations, "more than one Authorization header"
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "missing_token", "an Authorization: Bearer token is required"
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", "invalid_auth_scheme", "the Authorization scheme must be Bearer"
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", "missing_token", "the Bearer token is empty"
	}
	return tok, "", ""
}

func unauthorized(w http.ResponseWriter, code, msg string) {
	refused(w, code, msg, "")
}

// refuseBearer answers bearer's failure: 400 for two Authorization
// headers, else 401.
func refuseBearer(w http.ResponseWriter, code, msg string) {
	if code == codeTwoAuthorizations {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	unauthorized(w, code, msg)
}

// refused answers 401 for a session token, with the reason it was refused.
func refused(w http.ResponseWriter, code, msg, reason string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeErrorReason(w, http.StatusUnauthorized, code, msg, reason)
}

// requireAdmin lets the request through only with an admin bearer token,
// compared in constant time. A wrong token is 401, or 429 with
// Retry-After (after a short delay) once its client, or every client
// together, is over the budget of wrong attempts; a right token is never
// throttled.
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.admin.Enabled() {
			writeError(w, http.StatusForbidden, "admin_disabled", "admin routes are disabled: set STUDIO_ADMIN_TOKEN")
			return
		}
		tok, code, msg := bearer(r)
		if code != "" {
			refuseBearer(w, code, msg)
			return
		}
		switch v := s.admin.Check(r.Context(), clientaddr.FromRequest(r).Addr, tok); v.Outcome {
		case adminauth.Accepted:
			next(w, r)
		case adminauth.Throttled:
			s.admin.Delay(r.Context())
			w.Header().Set("Retry-After", strconv.Itoa(int(v.RetryAfter/time.Second)))
			writeError(w, http.StatusTooManyRequests, "too_many_attempts", "too many wrong admin tokens; try again later")
		default:
			unauthorized(w, "invalid_admin_token", "the admin token is not valid")
		}
	}
}

// isAdmin reports whether r carries a right admin bearer token, for
// routes that show more to the admin (a wrong token is counted like any
// other, and simply shows less).
func (s *Server) isAdmin(r *http.Request) bool {
	tok, code, _ := bearer(r)
	return code == "" && s.admin.Enabled() &&
		s.admin.Check(r.Context(), clientaddr.FromRequest(r).Addr, tok).Outcome == adminauth.Accepted
}

// outcome is what a 503 store_unavailable tells the caller to assume about
// its call: when the store certainly did not apply it, and when it may
// have (session.ErrOutcomeUnknown).
type outcome struct{ notApplied, unknown string }

// The outcomes of each route's store failures.
var (
	outcomeValidate = outcome{"try again", "try again"}
	// A create whose insert may still commit made a session nobody has
	// the token of: nothing usable was created either way.
	outcomeCreate = outcome{"nothing was changed", "nothing was changed"}
	outcomeLogout = outcome{"the logout was not recorded; retry", "the logout may not have been recorded; retry"}
	outcomeRevoke = outcome{"no session was revoked; retry", "the sessions may not have been revoked; retry"}
)

// sessionError maps a session-layer error to an HTTP answer; o words a
// 503 store_unavailable (never a success: a logout the store has not
// recorded is never answered 204).
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error, o outcome) {
	switch {
	case errors.Is(err, session.ErrStoreUnavailable):
		// Before the context cases: the store's own deadline wraps
		// context.DeadlineExceeded too.
		s.log.WarnContext(r.Context(), "session store unavailable", "route", r.Pattern, "error", err)
		msg := "the session store is unavailable; "
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "the session store did not answer in time; "
		}
		if errors.Is(err, session.ErrOutcomeUnknown) {
			msg += o.unknown
		} else {
			msg += o.notApplied
		}
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", msg)
		return
	case errors.Is(err, session.ErrMalformedToken):
		refused(w, "invalid_token", "the session token is malformed", reasonMalformed)
	case errors.Is(err, session.ErrNotFound):
		refused(w, "invalid_session", "no session has this token", reasonUnknown)
	case errors.Is(err, session.ErrRevoked):
		refused(w, "invalid_session", "the session was revoked", reasonRevoked)
	case errors.Is(err, session.ErrExpired):
		refused(w, "invalid_session", "the session has expired", reasonExpired)
	case errors.Is(err, session.ErrIdle):
		refused(w, "invalid_session", "the session timed out after inactivity", reasonIdle)
	case errors.Is(err, session.ErrInvalidInput):
		writeError(w, http.StatusBadRequest, "invalid_request", strings.TrimPrefix(err.Error(), session.ErrInvalidInput.Error()+": "))
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeError(w, 499, "client_closed", "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "timeout", "the session store did not answer in time")
	default:
		s.log.ErrorContext(r.Context(), "session operation failed", "route", r.Pattern, "error", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable; try again")
	}
}
