package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// CommonStoreTarget is the comparison baseline: a session store built the
// common way, as typical Redis session middleware is (express-session with
// connect-redis, gorilla/sessions with redistore):
//
//   - the token is the session id, and the Redis key is KeyPrefix + token
//     (connect-redis: "sess:" + sid), holding the session as JSON;
//   - Create writes the JSON with SET … EX IdleTimeout (capped at the
//     session's absolute expiry);
//   - Validate is one GET, a JSON decode and an expiry check, then, for the
//     idle timeout, one EXPIRE that slides the key's TTL to IdleTimeout
//     from now (capped at the absolute expiry): two round trips, one after
//     the other, as the middleware loads the session at the start of a
//     request and touches it at the end;
//   - Revoke is one DEL. A missing key is KindRejected.
//
// The sliding write is EXPIRE, what connect-redis's touch sends for an
// unmodified session (express-session's default with resave: false, and
// rolling sessions). Stores that re-save the whole session on every
// request (redistore's Save, connect-redis with resave: true) send
// SET … EX with the JSON instead, which costs Redis a little more; EXPIRE
// is the cheaper of the two, so a comparison with it does not flatter
// Studio. There is no local cache and no tombstone: a DEL is the
// revocation. It is safe for concurrent use.
type CommonStoreTarget struct {
	Redis redis.UniversalClient
	// KeyPrefix starts every key; default "sess:".
	KeyPrefix string
	// TTL is the absolute lifetime of the sessions Create makes; default 1h.
	TTL time.Duration
	// IdleTimeout is how long a session lives unused; each validation
	// slides it. Default 30m.
	IdleTimeout time.Duration
	// UserID is the user of the sessions Create makes; default "loadgen".
	UserID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ Target = (*CommonStoreTarget)(nil)

// CommonSession is the JSON value CommonStoreTarget keeps in Redis: about
// what session middleware stores (an id, the user, times, a little data).
type CommonSession struct {
	ID        string            `json:"id"`
	UserID    string            `json:"user_id"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// String names the target in results.
func (t *CommonStoreTarget) String() string { return "common-way store" }

func (t *CommonStoreTarget) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *CommonStoreTarget) key(token string) string {
	if t.KeyPrefix == "" {
		return "sess:" + token
	}
	return t.KeyPrefix + token
}

func (t *CommonStoreTarget) idle() time.Duration {
	if t.IdleTimeout <= 0 {
		return 30 * time.Minute
	}
	return t.IdleTimeout
}

// Validate GETs the session, checks its absolute expiry and slides its
// idle expiry with EXPIRE.
func (t *CommonStoreTarget) Validate(ctx context.Context, token string) error {
	_, err := t.Lookup(ctx, token)
	return err
}

// Lookup is Validate returning the session.
func (t *CommonStoreTarget) Lookup(ctx context.Context, token string) (*CommonSession, error) {
	if token == "" {
		return nil, &Error{Kind: KindRejected, Err: errors.New("empty token")}
	}
	key := t.key(token)
	b, err := t.Redis.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, &Error{Kind: KindRejected, Err: err}
	}
	if err != nil {
		return nil, err
	}
	var s CommonSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &Error{Kind: KindOther, Err: fmt.Errorf("stored session is not JSON: %w", err)}
	}
	left := s.ExpiresAt.Sub(t.now())
	if left <= 0 {
		return nil, &Error{Kind: KindRejected, Err: errors.New("session expired")}
	}
	ok, err := t.Redis.Expire(ctx, key, min(t.idle(), left)).Result()
	if err != nil {
		return nil, err
	}
	if !ok { // revoked (or idle-expired) between the GET and the EXPIRE
		return nil, &Error{Kind: KindRejected, Err: errors.New("session gone")}
	}
	return &s, nil
}

// Create writes a new session with SET … EX and returns its token.
func (t *CommonStoreTarget) Create(ctx context.Context) (string, error) {
	tok, _, err := t.create(ctx, t.UserID, t.TTL)
	return tok, err
}

func (t *CommonStoreTarget) create(ctx context.Context, user string, ttl time.Duration) (string, *CommonSession, error) {
	if user == "" {
		user = "loadgen"
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := t.now().UTC()
	s := &CommonSession{ID: tok[:16], UserID: user, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	v, err := json.Marshal(s)
	if err != nil {
		return "", nil, err
	}
	if err := t.Redis.Set(ctx, t.key(tok), v, min(t.idle(), ttl)).Err(); err != nil {
		return "", nil, err
	}
	return tok, s, nil
}

// Revoke DELs the session; a session that was not there is KindRejected.
func (t *CommonStoreTarget) Revoke(ctx context.Context, token string) error {
	n, err := t.Redis.Del(ctx, t.key(token)).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return &Error{Kind: KindRejected, Err: errors.New("no such session")}
	}
	return nil
}

// CommonStoreHandler serves a CommonStoreTarget on rdb (default options)
// with the routes of Studio's API that HTTPTarget drives, so the same
// generator can compare the two over HTTP:
//
//	GET /v1/session      Bearer <token>  200 {"session":{…}}, or 401
//	POST /v1/sessions    {"user_id","ttl"}  201 {"token","session":{…}}
//	DELETE /v1/session   Bearer <token>  204, or 401
//
// It is a benchmark baseline: creates are not authorised (any bearer
// will do), so serve it on loopback only. Redis failures are 503.
func CommonStoreHandler(rdb redis.UniversalClient) http.Handler {
	t := &CommonStoreTarget{Redis: rdb}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/session", func(w http.ResponseWriter, r *http.Request) {
		s, err := t.Lookup(r.Context(), bearer(r))
		if err != nil {
			commonError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"session": s})
	})
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserID string `json:"user_id"`
			TTL    string `json:"ttl"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.UserID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid_request", "message": "want {\"user_id\",\"ttl\"}"}})
			return
		}
		var ttl time.Duration
		if in.TTL != "" {
			d, err := time.ParseDuration(in.TTL)
			if err != nil || d <= 0 {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid_request", "message": "bad ttl"}})
				return
			}
			ttl = d
		}
		tok, s, err := t.create(r.Context(), in.UserID, ttl)
		if err != nil {
			commonError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "session": s})
	})
	mux.HandleFunc("DELETE /v1/session", func(w http.ResponseWriter, r *http.Request) {
		if err := t.Revoke(r.Context(), bearer(r)); err != nil {
			commonError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// ServeCommonStore serves CommonStoreHandler(rdb) on a loopback listener
// with the http.Server timeouts of `studio serve`, and returns its base URL
// and a function that stops it.
func ServeCommonStore(rdb redis.UniversalClient) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the common-way store: %w", err)
	}
	return "http://" + ln.Addr().String(), Serve(ln, CommonStoreHandler(rdb)), nil
}

func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return tok
}

func commonError(w http.ResponseWriter, err error) {
	code, status := "unavailable", http.StatusServiceUnavailable
	if KindOf(err) == KindRejected {
		code, status = "unauthorized", http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": http.StatusText(status)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
