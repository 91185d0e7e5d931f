package loadgen

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"syscall"
)

// Target is what the generator drives. Implementations must be safe for
// concurrent use by Options.Concurrency goroutines.
//
// An error may be (or wrap) an *Error to name its kind in the results;
// otherwise the kind is derived from the error (see KindOf).
type Target interface {
	// Validate checks a session token; a token the target refuses must
	// return an error of kind KindRejected.
	Validate(ctx context.Context, token string) error
	// Create makes a new session and returns its token.
	Create(ctx context.Context) (token string, err error)
	// Revoke ends the session of a token.
	Revoke(ctx context.Context, token string) error
}

// Error kinds, as counted in OpStats.Errors. Targets may use other short
// names too (the HTTP target reports unexpected statuses as "http_NNN").
const (
	// KindRejected: the target refused the token (HTTP 401; not found,
	// revoked, expired or malformed in process). A validation of a pool
	// token is never expected to be refused unless a concurrent revoke
	// took that token (counted in Result.RevokeRaced, not as an error).
	KindRejected = "rejected"
	// KindRevokedAccepted: a validation that started after the token's
	// revoke returned succeeded. A correctness error.
	KindRevokedAccepted = "revoked_accepted"
	// KindUnavailable: the target answered that it cannot serve now
	// (HTTP 503; a store or Redis failure in process).
	KindUnavailable = "unavailable"
	// KindTimeout: a deadline passed (client timeout, context deadline).
	KindTimeout = "timeout"
	// KindRefused: the connection was refused or reset.
	KindRefused = "conn_refused"
	// KindTransport: any other network failure.
	KindTransport = "transport"
	// KindInvalid: the target refused the request as malformed.
	KindInvalid = "invalid_request"
	// KindOther: an error of no known kind.
	KindOther = "other"
)

// Error is an operation's error with its kind. Err may be nil.
type Error struct {
	Kind string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind
	}
	return e.Kind + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf names the kind of an operation's error: the Kind of an *Error in
// its chain, else KindTimeout for a deadline, KindRefused for a refused or
// reset connection, KindTransport for other network errors, KindOther for
// the rest. It returns "" for nil.
func KindOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != "" {
		return e.Kind
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindRefused
	}
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &ne) {
		return KindTransport
	}
	return KindOther
}
