package session

import (
	"encoding/json"
	"fmt"
	"time"
)

// Values kept under a session key in Redis. A live session is stored as a
// JSON object; the markers below are single bytes so they can never be
// mistaken for one.
const (
	// tombstone marks a revoked session. Revocation writes it unconditionally
	// (plain SET), and every cache fill uses NX, so no racing fill can
	// replace it.
	tombstone = "R"
	// absent marks a well-formed token that no session has, so repeated
	// guesses do not reach the store. It lives for Options.NegativeTTL.
	absent = "N"
)

// wireSession is the Redis encoding of a Session: short names, times as
// Unix milliseconds.
type wireSession struct {
	ID       string            `json:"i"`
	UserID   string            `json:"u"`
	Created  int64             `json:"c"`
	LastSeen int64             `json:"l"`
	Expires  int64             `json:"e"`
	Idle     int64             `json:"t,omitempty"`
	Metadata map[string]string `json:"m,omitempty"`
}

func encodeSession(s *Session) ([]byte, error) {
	b, err := json.Marshal(wireSession{
		ID:       s.ID,
		UserID:   s.UserID,
		Created:  s.CreatedAt.UnixMilli(),
		LastSeen: s.LastSeenAt.UnixMilli(),
		Expires:  s.ExpiresAt.UnixMilli(),
		Idle:     s.IdleTimeout.Milliseconds(),
		Metadata: s.Metadata,
	})
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return b, nil
}

// decodeCached turns a Redis value into a session or the error it stands
// for (ErrRevoked for a tombstone, ErrNotFound for the absent marker).
func decodeCached(v string) (Session, error) {
	switch v {
	case tombstone:
		return Session{}, ErrRevoked
	case absent:
		return Session{}, ErrNotFound
	}
	var w wireSession
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return Session{}, fmt.Errorf("decode cached session: %w", err)
	}
	if w.ID == "" || w.Expires == 0 {
		return Session{}, fmt.Errorf("decode cached session: missing id or expiry")
	}
	if len(w.Metadata) == 0 {
		w.Metadata = nil
	}
	return Session{
		ID:          w.ID,
		UserID:      w.UserID,
		CreatedAt:   time.UnixMilli(w.Created).UTC(),
		LastSeenAt:  time.UnixMilli(w.LastSeen).UTC(),
		ExpiresAt:   time.UnixMilli(w.Expires).UTC(),
		IdleTimeout: time.Duration(w.Idle) * time.Millisecond,
		Metadata:    w.Metadata,
	}, nil
}
