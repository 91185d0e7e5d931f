package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middleware)

// WithClient sets the Client that validates tokens. Required.
func WithClient(c *Client) MiddlewareOption { return func(m *middleware) { m.c = c } }

// WithCookie also takes the token from the cookie of that name when the
// request has no Authorization header.
func WithCookie(name string) MiddlewareOption { return func(m *middleware) { m.cookie = name } }

type middleware struct {
	next   http.Handler
	c      *Client
	cookie string
}

type sessionKey struct{}

// SessionFrom returns the Session Middleware put in ctx, and whether there
// is one.
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(Session)
	return s, ok
}

// Middleware validates the session token of each request, taken from
// "Authorization: Bearer <token>" or else from the cookie named by
// WithCookie, and calls next with the Session in the request's context
// (SessionFrom). Otherwise it answers in Studio's JSON error form
// ({"error":{"code","message","reason"}}): 401 without a token or when
// Studio refuses it (with Studio's code and reason), 503 "unavailable"
// when Studio cannot answer — never passing the request on unchecked.
// It panics when WithClient is missing, as http.Handle does for a nil
// handler. The handler is safe for concurrent use.
func Middleware(next http.Handler, opts ...MiddlewareOption) http.Handler {
	m := &middleware{next: next}
	for _, o := range opts {
		o(m)
	}
	if m.c == nil || next == nil {
		panic("studio client: Middleware needs a next handler and WithClient")
	}
	return m
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := m.token(r)
	if tok == "" {
		writeAPIError(w, http.StatusUnauthorized, "missing_token", "a session token is required", "")
		return
	}
	s, err := m.c.Validate(r.Context(), tok)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Class == ErrUnauthenticated {
			code := e.Code
			if code == "" {
				code = "invalid_session"
				if e.Reason == ReasonMalformed {
					code = "invalid_token"
				}
			}
			writeAPIError(w, http.StatusUnauthorized, code, e.Message, string(e.Reason))
			return
		}
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", "the session service is unavailable; try again", "")
		return
	}
	m.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
}

// token returns the request's bearer token, or its cookie, or "".
func (m *middleware) token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	if m.cookie != "" {
		if ck, err := r.Cookie(m.cookie); err == nil {
			return ck.Value
		}
	}
	return ""
}

// writeAPIError answers as Studio does: {"error":{"code","message","reason"}}.
func writeAPIError(w http.ResponseWriter, status int, code, message, reason string) {
	if message == "" {
		message = http.StatusText(status)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{apiError{code, message, reason}})
}

// errorBody is Studio's error JSON.
type errorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}
