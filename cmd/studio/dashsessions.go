package main

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/session"
)

// dashboardUser is the user id of the dashboard's login sessions; the API
// refuses to create sessions for it (server.Options.ReservedUserIDs).
const dashboardUser = "studio-dashboard"

// untraced is a valid, unsampled span context: work under it is not
// traced (samplers follow an unsampled parent).
var untraced = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID: trace.TraceID{0x5d, 0xa5, 0xb0, 0xa2, 0xd0}, SpanID: trace.SpanID{0x5d, 0xa5},
})

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
	// Not traced: an open page checks its session every few seconds for
	// hours, and under a sampled stream request each check would add a
	// span to one ever-growing trace. An unsampled parent makes the
	// Service and the Redis hooks record nothing.
	ctx = trace.ContextWithSpanContext(ctx, untraced)
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
