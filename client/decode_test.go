package client

import (
	"errors"
	"strings"
	"testing"
)

// validateAnswer interprets one answer to GET /v1/session as Validate
// does, without the network.
func validateAnswer(status int, body []byte) (Session, error) {
	k := call{op: "validate", method: "GET", path: "/v1/session"}
	r, e := answer(k, status, body, nil)
	if e != nil {
		return Session{}, e
	}
	s, err := r.resp.Session.session()
	if err != nil {
		return Session{}, r.invalid(err)
	}
	return s, nil
}

const goodSession = `{"session":{"id":"s1","user_id":"u1","created_at":"2030-01-01T00:00:00Z","last_seen_at":"2030-01-01T00:00:00Z","expires_at":"2030-01-02T00:00:00Z"}}`

// Every bad answer Studio (or something in its place) could give, and the
// error each gets: never a session.
func TestDecodeBadInputs(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		class  error
		reason Reason
		detail string // in the error text
	}{
		{"empty 200", 200, ``, ErrUnavailable, "", "empty response body"},
		{"truncated JSON", 200, goodSession[:40], ErrUnavailable, "", "unexpected end of JSON"},
		{"not JSON", 200, `<html>ok</html>`, ErrUnavailable, "", "invalid character"},
		{"a JSON array", 200, `[]`, ErrUnavailable, "", "cannot unmarshal array"},
		{"null", 200, `null`, ErrUnavailable, "", "no session"},
		{"200 with no session", 200, `{}`, ErrUnavailable, "", "no session"},
		{"session without user", 200, `{"session":{"id":"s1","expires_at":"2030-01-02T00:00:00Z"}}`, ErrUnavailable, "", "no session"},
		{"session without expiry", 200, `{"session":{"id":"s1","user_id":"u1"}}`, ErrUnavailable, "", "no session"},
		{"wrong type: user_id a number", 200, `{"session":{"id":"s1","user_id":7,"expires_at":"2030-01-02T00:00:00Z"}}`, ErrUnavailable, "", "cannot unmarshal number"},
		{"wrong type: expires_at a number", 200, `{"session":{"id":"s1","user_id":"u","expires_at":1}}`, ErrUnavailable, "", "decode response"},
		{"negative idle_timeout", 200, `{"session":{"id":"s1","user_id":"u","expires_at":"2030-01-02T00:00:00Z","idle_timeout":-1}}`, ErrUnavailable, "", "out of range"},
		{"trailing data", 200, goodSession + `{}`, ErrUnavailable, "", "invalid character"},
		{"401 with a reason", 401, `{"error":{"code":"invalid_session","message":"m","reason":"revoked"}}`, ErrUnauthenticated, ReasonRevoked, "revoked"},
		{"401 invalid_token without a reason", 401, `{"error":{"code":"invalid_token","message":"m"}}`, ErrUnauthenticated, ReasonMalformed, "malformed"},
		{"401 with an unknown code", 401, `{"error":{"code":"brand_new","message":"m"}}`, ErrUnauthenticated, ReasonNone, "brand_new"},
		{"401 with an unknown reason", 401, `{"error":{"code":"invalid_session","message":"m","reason":"stolen"}}`, ErrUnauthenticated, "stolen", "stolen"},
		{"401 that is not Studio's", 401, `Unauthorized`, ErrUnavailable, "", "status 401"},
		{"401 without an error code", 401, `{"error":{}}`, ErrUnavailable, "", "without an error code"},
		{"403", 403, `{"error":{"code":"admin_disabled","message":"m"}}`, ErrForbidden, "", "admin_disabled"},
		{"404 of a wrong base URL", 404, `{"error":{"code":"not_found","message":"no such route"}}`, ErrBadRequest, "", "not_found"},
		{"503 from Studio", 503, `{"error":{"code":"unavailable","message":"m"}}`, ErrUnavailable, "", "status 503"},
		{"502 from a proxy", 502, `<html>bad gateway</html>`, ErrUnavailable, "", "status 502"},
		{"a redirect", 302, ``, ErrUnavailable, "", "status 302"},
		{"an unknown 4xx", 418, `{"error":{"code":"teapot","message":"m"}}`, ErrUnavailable, "", "teapot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := validateAnswer(tc.status, []byte(tc.body))
			var e *Error
			if !errors.Is(err, tc.class) || !errors.As(err, &e) {
				t.Fatalf("got %v, want %v", err, tc.class)
			}
			if s.UserID != "" {
				t.Fatal("a session came back with an error")
			}
			if e.Reason != tc.reason {
				t.Errorf("reason %q, want %q", e.Reason, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not mention %q", err, tc.detail)
			}
		})
	}
	if s, err := validateAnswer(200, []byte(goodSession)); err != nil || s.UserID != "u1" {
		t.Fatalf("a good answer: %+v %v", s, err)
	}
}

// FuzzDecodeResponse: whatever comes back, Validate either returns a
// session with an id, a user and an expiry, or an *Error of one class —
// never both, never a panic.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(goodSession))
	f.Add(401, []byte(`{"error":{"code":"invalid_session","message":"m","reason":"revoked"}}`))
	f.Add(200, []byte(`{"session":{"id":"s","user_id":"u","expires_at":"2030-01-02T00:00:00Z","metadata":{"a":"b"},"idle_timeout":120}}`))
	f.Add(503, []byte(`{"error":{"code":"unavailable","message":"m"}}`))
	f.Add(200, []byte(`{"session":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		s, err := validateAnswer(status, body)
		if err == nil {
			if status < 200 || status > 299 || s.ID == "" || s.UserID == "" || s.ExpiresAt.IsZero() {
				t.Fatalf("status %d %q: accepted %+v", status, body, s)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || s.UserID != "" {
			t.Fatalf("status %d %q: %v with %+v", status, body, err, s)
		}
		n := 0
		for _, c := range []error{ErrUnauthenticated, ErrForbidden, ErrUnavailable, ErrBadRequest} {
			if errors.Is(err, c) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("status %d %q: %v matches %d classes", status, body, err, n)
		}
	})
}
