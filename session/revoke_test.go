package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

func TestRevokeEverywhere(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(), e.service()
	tok, sess := e.create(a, session.CreateParams{TTL: time.Hour})
	for _, svc := range []*session.Service{a, b, a, b} { // fill both L1s
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Revoke(bg, tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := a.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("revoking instance: %v, want ErrRevoked", err)
	}
	waitFor(t, time.Second, "the other instance to refuse", func() bool {
		_, err := b.Validate(bg, tok)
		return errors.Is(err, session.ErrRevoked)
	})
	v, ttl := e.redisValue(tok)
	if v != "R" || ttl < time.Hour-time.Minute || ttl > time.Hour {
		t.Fatalf("tombstone %q ttl %v, want R for the session's remaining life", v, ttl)
	}
	stored, err := e.store.Store.Lookup(bg, mustHash(t, tok))
	if err != nil || stored.RevokedAt == nil || stored.ID != sess.ID {
		t.Fatalf("store after revoke: %+v %v", stored, err)
	}
	// Idempotent, and unknown tokens are told apart.
	if err := b.Revoke(bg, tok); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	unknown, _ := a.NewToken()
	if err := a.Revoke(bg, unknown.Reveal()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRevokeUser(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(), e.service()
	var mine []string
	for range 3 {
		tok, _ := e.create(a, session.CreateParams{UserID: "bob"})
		mine = append(mine, tok)
	}
	theirs, _ := e.create(a, session.CreateParams{UserID: "carol"})
	for _, tok := range append(mine, theirs) {
		if _, err := b.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	n, err := a.RevokeUser(bg, "bob")
	if err != nil || n != 3 {
		t.Fatalf("RevokeUser = %d, %v; want 3", n, err)
	}
	for _, tok := range mine {
		waitFor(t, time.Second, "bob's sessions refused on b", func() bool {
			_, err := b.Validate(bg, tok)
			return errors.Is(err, session.ErrRevoked)
		})
	}
	if _, err := b.Validate(bg, theirs); err != nil {
		t.Fatalf("carol's session: %v", err)
	}
	if n, err := a.RevokeUser(bg, "bob"); err != nil || n != 0 {
		t.Fatalf("second RevokeUser = %d, %v; want 0", n, err)
	}
	if _, err := a.RevokeUser(bg, ""); !errors.Is(err, session.ErrInvalidInput) {
		t.Fatalf("RevokeUser(\"\") = %v", err)
	}
}
