package main

import (
	"context"
	"errors"
	"time"

	"github.com/studiohq/studio/session"
)

// dashboardUser is the user id of the dashboard's login sessions.
const dashboardUser = "studio-dashboard"

// dashboardSessions keeps the dashboard's logins as Studio sessions of the
// user "studio-dashboard": every instance on the same Redis and store
// accepts them, they survive restarts, and a logout revokes one everywhere
// at once (the same invalidation broadcast as any session). It implements
// dashboard.SessionStore.
type dashboardSessions struct {
	svc    *session.Service
	maxTTL time.Duration // the Service's longest TTL
}

// Create starts a session for the dashboard; max is capped at the
// Service's longest TTL.
func (d dashboardSessions) Create(ctx context.Context, idle, max time.Duration) (string, error) {
	max = min(max, d.maxTTL)
	idle = min(idle, max)
	tok, _, err := d.svc.Create(ctx, session.CreateParams{
		UserID: dashboardUser, TTL: max, IdleTimeout: idle,
		Metadata: map[string]string{"purpose": "dashboard login"},
	})
	if err != nil {
		return "", err
	}
	return tok.Reveal(), nil
}

// Touch validates the cookie as a session token (which records the use).
// A cookie that is no live session is false; other errors are returned.
func (d dashboardSessions) Touch(ctx context.Context, cookie string) (bool, error) {
	sess, err := d.svc.Validate(ctx, cookie)
	switch {
	case err == nil:
		// Only the dashboard's own sessions open it: an application
		// session's token is no admin login.
		return sess.UserID == dashboardUser, nil
	case errors.Is(err, session.ErrMalformedToken), errors.Is(err, session.ErrNotFound),
		errors.Is(err, session.ErrRevoked), errors.Is(err, session.ErrExpired), errors.Is(err, session.ErrIdle):
		return false, nil
	}
	return false, err
}

// Remove revokes the session behind the cookie; an unknown or malformed
// cookie, or a session of another user, is left alone.
func (d dashboardSessions) Remove(ctx context.Context, cookie string) error {
	if ok, err := d.Touch(ctx, cookie); !ok || err != nil {
		return err
	}
	err := d.svc.Revoke(ctx, cookie)
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrMalformedToken) {
		return nil
	}
	return err
}
