package loadgen

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/session"
)

// The plain handlers are the baselines of Studio's validation at a scale
// its in-process cache cannot hold: what a plain net/http handler does
// with the same Redis copies and the same store, and nothing else. Both
// serve GET /v1/session with "Authorization: Bearer <token>", the request
// HTTPTarget sends Studio, so the client side of a comparison is the
// same; they refuse other methods (405) and create or revoke nothing.

// plainToken is the token hash of r's bearer token; false (and a 401
// written) when there is none or it is malformed.
func plainToken(w http.ResponseWriter, r *http.Request) (session.TokenHash, bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return session.TokenHash{}, false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "no bearer token", http.StatusUnauthorized)
		return session.TokenHash{}, false
	}
	h, err := session.ParseToken(tok)
	if err != nil {
		http.Error(w, "malformed token", http.StatusUnauthorized)
		return session.TokenHash{}, false
	}
	return h, true
}

// plainValue answers 200 with v.
func plainValue(w http.ResponseWriter, v []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v)
}

// PlainGetHandler is the baseline of Studio's Redis path: it parses the
// bearer token (session.ParseToken: shape, checksum, hash), does one GET
// of the key Studio keeps the session's copy under
// (session.SessionKey(keyPrefix, hash)), and answers 200 with the value's
// bytes as they are, 401 when there is no such key, 503 when Redis
// fails. It neither decodes the copy nor checks it (a tombstone answers
// 200 too): one round trip and nothing else. It is safe for concurrent
// use.
func PlainGetHandler(rdb redis.UniversalClient, keyPrefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := plainToken(w, r)
		if !ok {
			return
		}
		v, err := rdb.Get(r.Context(), session.SessionKey(keyPrefix, h)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			http.Error(w, "unknown session", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
		default:
			plainValue(w, v)
		}
	})
}

// ErrNoRow is returned by SessionRows.Row for a token hash no row has.
var ErrNoRow = errors.New("no session row")

// SessionRows reads session rows by token hash: the store side of
// PlainMissHandler (OpenSessionRows opens one on Studio's store).
type SessionRows interface {
	// Row appends the row of the session whose token hashes to h, as
	// text, to dst and returns it with whether the session is live
	// (neither revoked nor expired at now) and its expiry; ErrNoRow when
	// there is none.
	Row(ctx context.Context, h session.TokenHash, now time.Time, dst []byte) (row []byte, live bool, expires time.Time, err error)
}

// PlainMissHandler is the baseline of Studio's store path, when Redis has
// lost its copies: per request it parses the bearer token, GETs the key
// Studio uses (a hit answers 200 with its bytes, as PlainGetHandler);
// on a miss it reads the session's row from the store with one point
// SELECT by token hash, answers 401 for an unknown, revoked or expired
// session, and otherwise writes the row to the key with SET NX, expiring
// at cacheTTL from now or at the session's expiry, whichever is first,
// and answers 200 with it. A store or Redis failure is 503. No cache in
// process, no coalescing of concurrent misses, no revocation bookkeeping:
// the I/O of a miss by hand. It is safe for concurrent use.
func PlainMissHandler(rdb redis.UniversalClient, rows SessionRows, keyPrefix string, cacheTTL time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := plainToken(w, r)
		if !ok {
			return
		}
		ctx := r.Context()
		key := session.SessionKey(keyPrefix, h)
		v, err := rdb.Get(ctx, key).Bytes()
		switch {
		case err == nil:
			plainValue(w, v)
			return
		case !errors.Is(err, redis.Nil):
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
		now := time.Now()
		row, live, expires, err := rows.Row(ctx, h, now, make([]byte, 0, 256))
		switch {
		case errors.Is(err, ErrNoRow), err == nil && !live:
			http.Error(w, "unknown session", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		at := now.Add(cacheTTL)
		if expires.Before(at) {
			at = expires
		}
		if err := rdb.SetArgs(ctx, key, row, redis.SetArgs{Mode: "NX", ExpireAt: at}).Err(); err != nil && !errors.Is(err, redis.Nil) {
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
		plainValue(w, row)
	})
}
