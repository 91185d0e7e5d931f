package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Session is a live login as Studio reports it. It holds no token.
type Session struct {
	ID         string    // random, not secret; safe in logs
	UserID     string    // the user the session belongs to
	CreatedAt  time.Time // creation time
	LastSeenAt time.Time // last use Studio recorded (to about a minute)
	ExpiresAt  time.Time // the session is never valid at or after it
	// IdleTimeout, when positive, ends the session once it has gone unused
	// for that long; zero means none.
	IdleTimeout time.Duration
	// Metadata is what was given at creation; nil when empty.
	Metadata map[string]string
}

// deadline is when the session stops being valid unless it is used: the
// earlier of its expiry and its idle deadline.
func (s *Session) deadline() time.Time {
	d := s.ExpiresAt
	if s.IdleTimeout > 0 {
		if idle := s.LastSeenAt.Add(s.IdleTimeout); idle.Before(d) {
			d = idle
		}
	}
	return d
}

// CreateRequest is what Create sends. Only UserID is required.
type CreateRequest struct {
	UserID string
	// TTL is the session's lifetime: 1 s to 366 days; zero means Studio's
	// default (24 h). It is sent in whole milliseconds.
	TTL time.Duration
	// IdleTimeout, when positive, ends the session after that long unused
	// (at least 2 minutes, at most TTL).
	IdleTimeout time.Duration
	Metadata    map[string]string
}

// MarshalJSON encodes the request as POST /v1/sessions takes it: ttl and
// idle_timeout in seconds, zero fields left out.
func (r CreateRequest) MarshalJSON() ([]byte, error) {
	type body struct {
		UserID      string            `json:"user_id"`
		TTL         float64           `json:"ttl,omitempty"`
		IdleTimeout float64           `json:"idle_timeout,omitempty"`
		Metadata    map[string]string `json:"metadata,omitempty"`
	}
	return json.Marshal(body{
		UserID:      r.UserID,
		TTL:         float64(r.TTL.Milliseconds()) / 1000,
		IdleTimeout: float64(r.IdleTimeout.Milliseconds()) / 1000,
		Metadata:    r.Metadata,
	})
}

// wireSession is the JSON of a session in Studio's answers.
type wireSession struct {
	ID          *string           `json:"id"`
	UserID      *string           `json:"user_id"`
	CreatedAt   time.Time         `json:"created_at"`
	LastSeenAt  time.Time         `json:"last_seen_at"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	IdleTimeout int64             `json:"idle_timeout"`
	Metadata    map[string]string `json:"metadata"`
}

// errNoSession: a success answer without a usable session in it.
var errNoSession = errors.New("response holds no session")

func (w *wireSession) session() (Session, error) {
	if w == nil || w.ID == nil || w.UserID == nil || w.ExpiresAt == nil || *w.ID == "" || *w.UserID == "" {
		return Session{}, errNoSession
	}
	if w.IdleTimeout < 0 || w.IdleTimeout > int64(367*24*time.Hour/time.Second) {
		return Session{}, fmt.Errorf("idle_timeout %d out of range", w.IdleTimeout)
	}
	return Session{
		ID:          *w.ID,
		UserID:      *w.UserID,
		CreatedAt:   w.CreatedAt,
		LastSeenAt:  w.LastSeenAt,
		ExpiresAt:   *w.ExpiresAt,
		IdleTimeout: time.Duration(w.IdleTimeout) * time.Second,
		Metadata:    w.Metadata,
	}, nil
}

// response is every field of every answer this package reads.
type response struct {
	Token   *string      `json:"token"`
	Session *wireSession `json:"session"`
	Revoked *int         `json:"revoked"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

// decodeResponse parses a body of Studio's. Anything that is not one JSON
// object of the expected shape is an error (the caller's ErrUnavailable).
func decodeResponse(body []byte) (response, error) {
	var r response
	if len(bytes.TrimSpace(body)) == 0 {
		return r, errors.New("empty response body")
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return response{}, fmt.Errorf("decode response: %w", err)
	}
	return r, nil
}
