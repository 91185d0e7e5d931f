package client

import (
	"errors"
	"strconv"
	"strings"
)

// The classes of error every method returns, for errors.Is. Each error a
// Client returns is an *Error matching exactly one class.
var (
	// ErrUnauthenticated: Studio refused the session token. The *Error's
	// Reason says why; the reason sentinels below match it too.
	ErrUnauthenticated = errors.New("studio: unauthenticated")
	// ErrForbidden: an admin operation without a valid admin token, or on
	// a Studio whose admin routes are disabled.
	ErrForbidden = errors.New("studio: forbidden")
	// ErrUnavailable: Studio did not give a usable answer (connection
	// refused or reset, timeout, 5xx, a response that is not Studio's
	// JSON). The outcome of a create is then unknown; a session is never
	// taken as valid.
	ErrUnavailable = errors.New("studio: unavailable")
	// ErrBadRequest: Studio refused the request itself (400, 413, 415, an
	// unknown route), e.g. an empty user_id. Retrying will not help.
	ErrBadRequest = errors.New("studio: bad request")
)

// ErrTimeout matches an ErrUnavailable error whose last attempt ran out
// of time (the per-attempt timeout or the caller's deadline).
var ErrTimeout = errors.New("studio: timeout")

// Reason says why Studio refused a session token: the "reason" field of
// its 401 answer.
type Reason string

// The reasons Studio gives. An unauthenticated error with a reason this
// package does not know keeps it as is; one without any has ReasonNone.
const (
	ReasonNone      Reason = ""
	ReasonMalformed Reason = "malformed" // not a token Studio issued
	ReasonUnknown   Reason = "unknown"   // no session has this token
	ReasonRevoked   Reason = "revoked"   // the session was revoked
	ReasonExpired   Reason = "expired"   // past the session's expiry
	ReasonIdle      Reason = "idle"      // unused for longer than its idle timeout
)

// Sentinels for the reasons, for errors.Is; each also matches
// ErrUnauthenticated.
var (
	ErrMalformed = errors.New("studio: malformed session token")
	ErrUnknown   = errors.New("studio: unknown session")
	ErrRevoked   = errors.New("studio: session revoked")
	ErrExpired   = errors.New("studio: session expired")
	ErrIdle      = errors.New("studio: session idle timeout")
)

var reasonErrs = map[Reason]error{
	ReasonMalformed: ErrMalformed,
	ReasonUnknown:   ErrUnknown,
	ReasonRevoked:   ErrRevoked,
	ReasonExpired:   ErrExpired,
	ReasonIdle:      ErrIdle,
}

// Error is every error a Client returns. errors.Is matches it against its
// class (Class), its reason's sentinel, ErrTimeout when it timed out, and
// whatever Err matches. Its text never holds a token.
type Error struct {
	// Op is the operation: "validate", "create", "revoke", "revoke user".
	Op string
	// Class is ErrUnauthenticated, ErrForbidden, ErrUnavailable or
	// ErrBadRequest.
	Class error
	// Status is the HTTP status, or 0 when Studio gave none.
	Status int
	// Code and Message are Studio's {"error":{"code","message"}}, when
	// it sent them.
	Code, Message string
	// Reason is set for ErrUnauthenticated.
	Reason Reason
	// Timeout reports that the last attempt ran out of time.
	Timeout bool
	// Attempts is how many requests were sent (0: refused locally).
	Attempts int
	// Err is the underlying cause (a network or decoding error), or nil.
	Err error

	transport bool // the attempt failed in transit (retryable)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("studio ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch e.Class {
	case ErrUnauthenticated:
		b.WriteString("unauthenticated")
		if e.Reason != ReasonNone {
			b.WriteString(" (" + string(e.Reason) + ")")
		}
	case ErrForbidden:
		b.WriteString("forbidden")
	case ErrBadRequest:
		b.WriteString("bad request")
	default:
		b.WriteString("unavailable")
		if e.Timeout {
			b.WriteString(" (timeout)")
		}
	}
	if e.Status != 0 {
		b.WriteString(": status " + strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Attempts > 1 {
		b.WriteString(" (after " + strconv.Itoa(e.Attempts) + " attempts)")
	}
	return b.String()
}

// Is matches the error's class, its reason's sentinel and ErrTimeout.
func (e *Error) Is(target error) bool {
	switch {
	case target == e.Class:
		return true
	case target == ErrTimeout:
		return e.Timeout
	case e.Class == ErrUnauthenticated:
		r, ok := reasonErrs[e.Reason]
		return ok && target == r
	}
	return false
}

// Unwrap returns the underlying cause, or nil.
func (e *Error) Unwrap() error { return e.Err }
