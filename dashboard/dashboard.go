// Package dashboard serves the Studio Redis page: a live view of the health
// Snapshot (status, cards, charts over the last hour, hot keys, alerts and
// the Sentinel topology) for operators, embedded in the binary with its
// assets (uPlot is vendored under static/; there is no build step).
//
// Every path below Prefix (/studio/redis) belongs to the Handler:
//
//	GET  /studio/redis                 the page (401 with a login form without a session)
//	GET  /studio/redis/login?token=…   exchanges the admin token for a session cookie, then 303 to the page
//	POST /studio/redis/login           the same from the login form (token=…, form-encoded)
//	POST /studio/redis/logout          ends the session, clears the cookie, 303 to the page
//	GET  /studio/redis/events          Server-Sent Events: "history" once, then "snapshot" every Interval
//	GET  /studio/redis/data            the same snapshot frame as JSON (the polling fallback)
//	GET  /studio/redis/history         the history frame as JSON (for a page that polls)
//	GET  /studio/redis/static/{name}   the embedded assets (no session needed: they hold no data)
//
// The session cookie, studio_session, names a login session kept by
// Options.Sessions, never the admin token. `studio serve` keeps the logins
// as Studio sessions of the user studio-dashboard: every instance on the
// same Redis and store accepts them, they are kept across restarts, and a
// logout ends one everywhere. With Options.Sessions nil they are held in
// this process's memory. The cookie is HttpOnly, SameSite=Strict,
// Path=/studio/redis, Secure on https requests (directly or through a
// trusted proxy) and always with Options.SecureCookie. Wrong admin tokens
// at the login are throttled by the Guard the API shares; the right one
// is never refused. Every response carries a
// strict Content-Security-Policy (no inline script or style), nosniff and
// no-referrer; data answers are not cached.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/apierror"
	"github.com/studiohq/studio/monitor"
)

// Prefix is the path the Handler serves under.
const Prefix = "/studio/redis"

// CSP is the Content-Security-Policy of every response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// DefaultMaxStreams bounds the open event streams when Options.MaxStreams
// is 0.
const DefaultMaxStreams = 256

//go:embed static
var staticFiles embed.FS

//go:embed login.html
var loginHTML string

// Options configures a Handler. Snapshot and AdminToken are required for
// the page to show anything: without AdminToken every route but the static
// assets answers 403.
type Options struct {
	// Snapshot returns the current health, alerts included.
	Snapshot func() health.Snapshot
	// History returns the points after since, oldest first
	// (monitor.Monitor.History); nil sends no history.
	History func(since time.Time) []monitor.Point
	// HotKeyTrends returns each current hot key's recent per-minute rates,
	// oldest first (monitor.Monitor.HotKeyTrends); the history event
	// carries them so that a page just opened draws the trends at once.
	// nil sends none.
	HotKeyTrends func() map[string][]float64
	// AdminToken is the token exchanged for a session cookie, when Admin
	// is nil.
	AdminToken string
	// Admin, if set, is the admin check (the tokens and the throttle of
	// wrong ones) the dashboard shares with the API; nil builds one from
	// AdminToken, counting wrong attempts in this process's memory.
	Admin *adminauth.Guard
	// SecureCookie marks the session cookie Secure on every response, as
	// when Studio's external URL is https; otherwise it is Secure when the
	// request came over https (TLS to Studio, or X-Forwarded-Proto from a
	// trusted proxy: see clientaddr).
	SecureCookie bool
	// Logger receives logins, logouts and refused streams; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Interval is the time between two snapshot events (default 1s).
	Interval time.Duration
	// MaxStreams bounds the open event streams (default
	// DefaultMaxStreams); a stream over the bound is refused with 503 and
	// the page falls back to polling.
	MaxStreams int
	// SessionIdle and SessionMax bound a dashboard session: it ends after
	// SessionIdle without a request (an open event stream counts) and
	// SessionMax after login (defaults 24h and 30 days).
	SessionIdle, SessionMax time.Duration
	// Sessions keeps the login sessions; nil keeps them in this process's
	// memory (at most 1024, the least recently used dropped first).
	Sessions SessionStore
	// SessionRecheck is how often an open event stream checks its session
	// (default 5s): a logout elsewhere ends the stream within that time,
	// and each check counts as a use of the session.
	SessionRecheck time.Duration
}

// Handler serves the dashboard. It is safe for concurrent use. Its event
// streams end when the client goes away or Close is called; a producer
// goroutine runs only while at least one stream is open.
type Handler struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	admin     *adminauth.Guard
	sessions  SessionStore
	static    map[string]asset
	hub       hub
	done      chan struct{}
	closeOnce sync.Once
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 24 * time.Hour
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = 30 * 24 * time.Hour
	}
	if opts.SessionRecheck <= 0 {
		opts.SessionRecheck = 5 * time.Second
	}
	h := &Handler{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		sessions: opts.Sessions,
		static:   map[string]asset{},
		done:     make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.sessions == nil {
		h.sessions = newMemSessions(1024, h.now)
	}
	h.admin = opts.Admin
	if h.admin == nil {
		h.admin = adminauth.NewGuard(adminauth.GuardOptions{Tokens: adminauth.New(opts.AdminToken)})
	}
	h.hub.init(h)
	sub, _ := fs.Sub(staticFiles, "static")
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.static[p] = asset{body: b, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h
}

// Close ends every open event stream (call it when the HTTP server shuts
// down: http.Server.Shutdown does not cancel streaming requests). Later
// streams are refused. Close is idempotent.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.done) }) }

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".png"):
		return "image/png"
	case strings.HasSuffix(name, ".svg"):
		return "image/svg+xml"
	}
	return "text/plain; charset=utf-8"
}

// securityHeaders are set on every response.
func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// ServeHTTP implements http.Handler for every path under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store") // static assets override it
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
		return
	}
	if len(r.Header.Values("Authorization")) > 1 {
		// A proxy in front that reads the other one would decide
		// differently.
		writeError(w, http.StatusBadRequest, "invalid_request", "more than one Authorization header")
		return
	}
	if name, ok := strings.CutPrefix(rest, "/static/"); ok {
		h.serveStatic(w, r, name)
		return
	}
	if !h.admin.Enabled() {
		writeError(w, http.StatusForbidden, "admin_disabled", "the dashboard is disabled: set STUDIO_ADMIN_TOKEN")
		return
	}
	switch rest {
	case "", "/":
		if !allow(w, r, "GET", "HEAD") {
			return
		}
		switch ok, err := h.authorized(r); {
		case err != nil:
			h.loginPage(w, http.StatusServiceUnavailable, errSessionCheck)
			return
		case !ok:
			h.loginPage(w, http.StatusUnauthorized, "")
			return
		}
		h.servePage(w, r)
	case "/login":
		h.handleLogin(w, r)
	case "/logout":
		if !allow(w, r, "POST") {
			return
		}
		h.handleLogout(w, r)
	case "/events":
		if !allow(w, r, "GET") || !h.requireSession(w, r) {
			return
		}
		h.serveEvents(w, r)
	case "/data":
		if !allow(w, r, "GET", "HEAD") || !h.requireSession(w, r) {
			return
		}
		writeJSON(w, h.hub.current())
	case "/history":
		if !allow(w, r, "GET", "HEAD") || !h.requireSession(w, r) {
			return
		}
		writeJSON(w, h.historyJSON())
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	}
}

// allow answers 405 with Allow unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here")
	return false
}

// requireSession answers 401 JSON unless r carries a valid session cookie,
// 503 when the session store cannot answer.
func (h *Handler) requireSession(w http.ResponseWriter, r *http.Request) bool {
	switch ok, err := h.authorized(r); {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "session_check_failed", errSessionCheck)
		return false
	case !ok:
		writeError(w, http.StatusUnauthorized, "login_required", "log in to the dashboard first: "+Prefix+"/login")
		return false
	}
	return true
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	a := h.static["index.html"]
	w.Header().Set("Content-Type", a.ctype)
	if r.Method == "HEAD" {
		return
	}
	_, _ = w.Write(a.body)
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	if !allow(w, r, "GET", "HEAD") {
		return
	}
	a, ok := h.static[name]
	if !ok || name == "index.html" {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	// Revalidated on every load (a 304 when unchanged): the names carry no
	// version, and a new binary must not run an old script.
	w.Header().Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == "HEAD" {
		return
	}
	_, _ = w.Write(a.body)
}

// writeError writes Studio's JSON error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	apierror.Write(w, status, apierror.Error{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
