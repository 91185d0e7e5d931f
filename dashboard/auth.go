package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
)

// CookieName is the dashboard's session cookie.
const CookieName = "studio_session"

const (
	// maxTokenLen bounds an admin token given to the login.
	maxTokenLen = 512
	// maxLoginBody bounds the login form's body.
	maxLoginBody = 4 << 10
	// sessionBytes is the random part of a session cookie.
	sessionBytes = 32
)

// SessionStore keeps the dashboard's login sessions; the cookie is the
// value Create returns. The default (Options.Sessions nil) keeps them in
// this process's memory: a restart, or another instance behind the same
// load balancer, asks for the admin token again. `studio serve` keeps them
// as Studio sessions instead, shared by every instance, surviving restarts,
// and ended everywhere at once by a logout. Implementations are safe for
// concurrent use; an error means the answer is unknown, and the dashboard
// then refuses (fails closed).
type SessionStore interface {
	// Create starts a session that ends after idle without a Touch, or
	// max after its creation, and returns its cookie value.
	Create(ctx context.Context, idle, max time.Duration) (cookie string, err error)
	// Touch reports whether cookie names a live session, and marks it
	// used. A cookie that is not one of its values is not an error.
	Touch(ctx context.Context, cookie string) (bool, error)
	// Remove ends the session; an unknown cookie is not an error.
	Remove(ctx context.Context, cookie string) error
}

// memSessions is the in-memory SessionStore: it maps session cookies (by
// their SHA-256, so the map holds no usable cookie) to their times, holds
// at most max sessions, and drops the least recently used when full.
type memSessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*sessionTimes
	max int
	now func() time.Time
}

type sessionTimes struct {
	created, seen time.Time
	idle, ttl     time.Duration
}

func newMemSessions(max int, now func() time.Time) *memSessions {
	return &memSessions{m: map[[sha256.Size]byte]*sessionTimes{}, max: max, now: now}
}

// Create implements SessionStore; it never fails.
func (s *memSessions) Create(_ context.Context, idle, ttl time.Duration) (string, error) {
	b := make([]byte, sessionBytes)
	_, _ = rand.Read(b) // never fails (Go 1.24+ crashes instead)
	v := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, t := range s.m {
			if t.expired(now) {
				delete(s.m, k)
				continue
			}
			if at.IsZero() || t.seen.Before(at) {
				oldest, at = k, t.seen
			}
		}
		if len(s.m) >= s.max {
			delete(s.m, oldest)
		}
	}
	s.m[sha256.Sum256([]byte(v))] = &sessionTimes{created: now, seen: now, idle: idle, ttl: ttl}
	return v, nil
}

func (t *sessionTimes) expired(now time.Time) bool {
	return now.Sub(t.seen) > t.idle || now.Sub(t.created) > t.ttl
}

// Touch implements SessionStore; it never fails.
func (s *memSessions) Touch(_ context.Context, v string) (bool, error) {
	if len(v) != base64.RawURLEncoding.EncodedLen(sessionBytes) {
		return false, nil
	}
	k := sha256.Sum256([]byte(v))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[k]
	if !ok {
		return false, nil
	}
	if t.expired(now) {
		delete(s.m, k)
		return false, nil
	}
	t.seen = now
	return true, nil
}

// Remove implements SessionStore; it never fails.
func (s *memSessions) Remove(_ context.Context, v string) error {
	k := sha256.Sum256([]byte(v))
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
	return nil
}

// errSessionCheck is the message when the session store cannot answer.
const errSessionCheck = "the dashboard cannot check sessions right now (its session store did not answer); try again shortly"

// authorized reports whether r carries a live session cookie; an error
// means the store could not tell (logged here), and the caller refuses.
func (h *Handler) authorized(r *http.Request) (bool, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return false, nil
	}
	ok, err := h.sessions.Touch(r.Context(), c.Value)
	if err != nil && r.Context().Err() == nil {
		h.log.Warn("dashboard session check failed", "error", err)
	}
	return ok, err
}

// loginError is why a login was refused: the HTTP status and the message
// shown on the login form.
type loginError struct {
	Status int
	Code   string
	Msg    string
}

func (e *loginError) Error() string { return e.Code + ": " + e.Msg }

// errNoToken is a login request without a token: GET shows the form.
var errNoToken = &loginError{http.StatusBadRequest, "missing_token", "enter the admin token"}

// parseLogin extracts the admin token from a login request: the token
// query parameter of a GET, or the token field of a form-encoded POST
// (query parameters are ignored on a POST). The token appears exactly
// once, 1 to maxTokenLen printable characters; the body is at most
// maxLoginBody bytes (body may hold more: it is read up to one byte past
// the bound).
func parseLogin(method, rawQuery, contentType string, body io.Reader) (string, *loginError) {
	var vals url.Values
	var err error
	switch method {
	case "GET", "HEAD":
		vals, err = url.ParseQuery(rawQuery)
	case "POST":
		mt, _, merr := mime.ParseMediaType(contentType)
		if merr != nil || mt != "application/x-www-form-urlencoded" {
			return "", &loginError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the login form as application/x-www-form-urlencoded"}
		}
		b, rerr := io.ReadAll(io.LimitReader(body, maxLoginBody+1))
		if rerr != nil {
			return "", &loginError{http.StatusBadRequest, "bad_body", "the login form could not be read"}
		}
		if len(b) > maxLoginBody {
			return "", &loginError{http.StatusRequestEntityTooLarge, "body_too_large", "the login form is too large"}
		}
		vals, err = url.ParseQuery(string(b))
	default:
		return "", &loginError{http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST"}
	}
	if err != nil {
		return "", &loginError{http.StatusBadRequest, "bad_encoding", "the login request is not valid URL encoding"}
	}
	toks := vals["token"]
	switch {
	case len(toks) == 0 || (len(toks) == 1 && toks[0] == ""):
		return "", errNoToken
	case len(toks) > 1:
		return "", &loginError{http.StatusBadRequest, "duplicate_token", "give the token once"}
	}
	tok := toks[0]
	if len(tok) > maxTokenLen {
		return "", &loginError{http.StatusBadRequest, "token_too_long", "the token is too long"}
	}
	for _, c := range tok {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) || c == ' ' {
			return "", &loginError{http.StatusBadRequest, "invalid_token_characters", "the token holds characters no admin token has"}
		}
	}
	return tok, nil
}

// secure reports whether the session cookie of r's answer is Secure.
func (h *Handler) secure(r *http.Request) bool {
	return h.opts.SecureCookie || clientaddr.FromRequest(r).HTTPS
}

func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != "GET" && r.Method != "POST" {
		allow(w, r, "GET", "POST")
		return
	}
	client := clientaddr.FromRequest(r)
	tok, lerr := parseLogin(r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Body)
	switch {
	case lerr == errNoToken && r.Method == "GET":
		h.loginPage(w, http.StatusOK, "")
		return
	case lerr != nil:
		if lerr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		h.log.Info("dashboard login refused", "client", client.String(), "code", lerr.Code)
		h.loginPage(w, lerr.Status, lerr.Msg)
		return
	}
	switch v := h.admin.Check(r.Context(), client.Addr, tok); v.Outcome {
	case adminauth.Throttled:
		h.admin.Delay(r.Context())
		h.log.Warn("dashboard login refused", "client", client.String(), "code", "too_many_attempts")
		w.Header().Set("Retry-After", strconv.Itoa(int(v.RetryAfter/time.Second)))
		h.loginPage(w, http.StatusTooManyRequests, "That is not the admin token, and there were too many wrong ones; try again later.")
		return
	case adminauth.Refused:
		h.log.Warn("dashboard login refused", "client", client.String(), "code", "invalid_admin_token")
		h.loginPage(w, http.StatusUnauthorized, "That is not the admin token.")
		return
	}
	h.startSession(w, r, client)
}

// startSession creates a login session, sets its cookie and sends the
// browser to the page.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, client clientaddr.Client) {
	v, err := h.sessions.Create(r.Context(), h.opts.SessionIdle, h.opts.SessionMax)
	if err != nil {
		h.log.Error("dashboard login: the session could not be created", "client", client.String(), "error", err)
		h.loginPage(w, http.StatusServiceUnavailable, "The dashboard could not start a session; try again shortly (the server's log says why).")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    v,
		Path:     Prefix,
		MaxAge:   int(h.opts.SessionMax / time.Second),
		HttpOnly: true,
		Secure:   h.secure(r),
		SameSite: http.SameSiteStrictMode,
	})
	h.log.Info("dashboard login", "client", client.String())
	// A fixed target: the token leaves the address bar and the history,
	// and nothing in the request chooses where the browser goes.
	w.Header().Set("Location", Prefix)
	w.WriteHeader(http.StatusSeeOther)
}

func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		if err := h.sessions.Remove(r.Context(), c.Value); err != nil {
			// The cookie is cleared below either way; if the store never
			// hears of the logout the session lives on until its idle or
			// absolute limit (longer while another page keeps using it).
			h.log.Warn("dashboard logout: the session could not be ended", "client", clientaddr.FromRequest(r).String(), "error", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
	w.Header().Set("Location", Prefix)
	w.WriteHeader(http.StatusSeeOther)
}

var loginTmpl = template.Must(template.New("login").Parse(loginHTML))

// loginPage writes the login form (no script) with status and message.
func (h *Handler) loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, struct {
		Prefix, Message string
	}{Prefix, strings.TrimSpace(msg)})
}
