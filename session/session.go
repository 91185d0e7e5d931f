package session

import (
	"context"
	"errors"
	"time"
)

// Session is one login. The zero value is not a valid session.
type Session struct {
	// ID is a random, non-secret identifier safe to show in logs and pages.
	ID     string `json:"id"`
	UserID string `json:"user_id"`

	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// ExpiresAt is the absolute expiry; a session is never valid at or after it.
	ExpiresAt time.Time `json:"expires_at"`
	// IdleTimeout, when positive, ends the session once it has not been used
	// for that long. Zero means no idle timeout.
	IdleTimeout time.Duration `json:"-"`
	// RevokedAt is set once the session is revoked; nil while it is live.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`

	Metadata map[string]string `json:"metadata,omitempty"`
}

// Revoked reports whether the session has been revoked.
func (s *Session) Revoked() bool { return s.RevokedAt != nil }

// deadline is the instant after which the session is no longer valid when
// nothing else touches it: the earlier of its absolute expiry and its idle
// deadline.
func (s *Session) deadline() time.Time {
	d := s.ExpiresAt
	if s.IdleTimeout > 0 {
		if idle := s.LastSeenAt.Add(s.IdleTimeout); idle.Before(d) {
			d = idle
		}
	}
	return d
}

// check returns nil if the session is valid at now, or the error that says
// why it is not.
func (s *Session) check(now time.Time) error {
	switch {
	case s.RevokedAt != nil:
		return ErrRevoked
	case !now.Before(s.ExpiresAt):
		return ErrExpired
	case s.IdleTimeout > 0 && !now.Before(s.LastSeenAt.Add(s.IdleTimeout)):
		return ErrIdle
	}
	return nil
}

// Errors returned by Service and Store. Callers branch with errors.Is.
var (
	// ErrMalformedToken: the token is not one Studio issued (wrong prefix,
	// length, alphabet or checksum). No I/O was done.
	ErrMalformedToken = errors.New("malformed session token")
	// ErrNotFound: no session has this token.
	ErrNotFound = errors.New("session not found")
	// ErrRevoked: the session was revoked.
	ErrRevoked = errors.New("session revoked")
	// ErrExpired: the session passed its absolute expiry.
	ErrExpired = errors.New("session expired")
	// ErrIdle: the session was unused for longer than its idle timeout.
	ErrIdle = errors.New("session idle timeout")
	// ErrInvalidInput: a Create request was refused before any write.
	ErrInvalidInput = errors.New("invalid session input")
	// ErrStoreUnavailable: the store failed or did not answer within
	// Options.StoreTimeout. A Create that returns it created no session
	// anyone can use (its token was never returned). A Revoke or
	// RevokeUser was not recorded, unless the error also wraps
	// ErrOutcomeUnknown: then it may or may not have been; either way it
	// should be retried. The error also wraps the store's own
	// (context.DeadlineExceeded when the deadline passed).
	ErrStoreUnavailable = errors.New("session store unavailable")
	// ErrOutcomeUnknown: a write the store failed may still have been
	// applied (the deadline passed while it was in flight, or the
	// connection broke); wrapped with ErrStoreUnavailable.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrNotApplied is wrapped by a Store's error when the operation
	// certainly never reached the database (the connection could not be
	// made, say). Without it the Service takes a failed write as one that
	// may have been applied.
	ErrNotApplied = errors.New("not applied")
)

// Record is what a Store keeps: a session and the SHA-256 of its token.
type Record struct {
	Hash    TokenHash
	Session Session
}

// Touch records that the session with this token hash was used at At.
type Touch struct {
	Hash TokenHash
	At   time.Time
}

// Touched is a session that Store.Touch found live: what the Service
// needs to bound the life of its Redis copy by the session's deadline.
type Touched struct {
	Hash        TokenHash
	LastSeenAt  time.Time // after the touch
	ExpiresAt   time.Time
	IdleTimeout time.Duration
}

// deadline is the session's deadline as Session.deadline computes it.
func (t *Touched) deadline() time.Time {
	s := Session{LastSeenAt: t.LastSeenAt, ExpiresAt: t.ExpiresAt, IdleTimeout: t.IdleTimeout}
	return s.deadline()
}

// Revocation names a session that a Store revoked, with what Redis needs to
// keep a tombstone for the rest of the session's life and when it was
// revoked (the revoking instance's clock).
type Revocation struct {
	Hash      TokenHash
	SessionID string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// TokenTags is what a Store keeps for the tags of tokens (see "Token tags"
// in the package documentation).
type TokenTags struct {
	// Key tags the tokens of every session Create stores. Every caller of
	// TokenTags on the same database, in any process, gets the same key.
	Key TokenKey
	// LegacyUntil is the latest ExpiresAt of the stored sessions whose
	// tokens carry no tag: those stored before the key existed, or by a
	// Studio that makes no tags (an older version still running, or run
	// again, on the same database). Zero when there are none.
	LegacyUntil time.Time
}

// Store is the system of record for sessions. Implementations must be safe
// for concurrent use and must apply their own schema when opened. An error
// after which the store certainly did not apply a write should wrap
// ErrNotApplied.
type Store interface {
	// Create inserts a new session whose token carries a tag made with
	// the key TokenTags returns (so it does not count in LegacyUntil).
	// The hash and the session ID are unique.
	Create(ctx context.Context, rec Record) error
	// CreateBatch inserts the sessions of recs, all of them or none (an
	// empty batch does nothing): Create for many sessions at once, for
	// seeding a store in bulk, their tokens tagged as Create's are (none
	// counts in LegacyUntil). A hash or session ID already stored, or
	// repeated in recs, fails the whole batch.
	CreateBatch(ctx context.Context, recs []Record) error
	// Lookup returns the session whose token hashes to h, revoked or expired
	// ones included, or ErrNotFound.
	Lookup(ctx context.Context, h TokenHash) (Session, error)
	// Revoke marks the session revoked at at (keeping an earlier revocation
	// time if already revoked) and returns it, or ErrNotFound.
	Revoke(ctx context.Context, h TokenHash, at time.Time) (Session, error)
	// RevokeUser revokes every live (unrevoked, unexpired at at) session of
	// the user and returns them. Zero sessions is not an error.
	RevokeUser(ctx context.Context, userID string, at time.Time) ([]Revocation, error)
	// RevokedSince calls fn for the sessions revoked at or after since (by
	// revoked_at) that expire after now, oldest revocation first, with
	// their RevokedAt; an error from fn stops the iteration and is
	// returned. The Service's revocation index is loaded and kept current
	// from it, so it must see a revocation as soon as its transaction has
	// committed.
	RevokedSince(ctx context.Context, since, now time.Time, fn func(Revocation) error) error
	// Touch moves last_seen_at forward (never backward) for each entry in
	// one batch, and returns the sessions among them that are live at now
	// (not revoked, expiring after now), each with its last_seen_at after
	// the write, once however often the batch names it. Whether a session
	// is live is read in the same statement or transaction as its write:
	// a revocation committed before that read is never returned (the
	// Service extends the Redis copies of the sessions returned on the
	// strength of this read). A session the batch names may be missing
	// from the result when another writer moved its last_seen_at past the
	// entry's At meanwhile. Unknown hashes are ignored.
	Touch(ctx context.Context, touches []Touch, now time.Time) ([]Touched, error)
	// TokenTags returns the key of the tags in tokens, creating it if the
	// store has none yet — concurrent first calls, in any process, must all
	// end up with the one key that is kept — and the end of the legacy
	// window. The Service reads it when it starts, and LegacyUntil again
	// every few seconds. A store must never change or drop a key it has
	// returned: every token tagged with it would be refused.
	TokenTags(ctx context.Context) (TokenTags, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
