// Package client is the Go client of Studio's HTTP API, for the web
// applications that ask Studio whether a session is valid.
//
// A Client keeps connections alive, bounds every attempt with a timeout,
// maps Studio's answers to typed errors (see Error), retries only what is
// safe to repeat (Validate and Revoke; never Create), and can keep a
// short, bounded cache of positive answers that revocations clear (see
// WithCache and WithInvalidation). Middleware puts the Session of a
// request's token into its context.
//
// A Client never reports a session as valid unless Studio said so (or,
// with the cache on, said so within the cache's bound): a timeout, a
// refused connection, a 5xx or an answer that is not Studio's JSON is an
// error matching ErrUnavailable. Raw tokens never appear in errors or in
// the String of any type here.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client calls one Studio. It is safe for concurrent use; make one per
// Studio and share it. Close releases the cache's subscription; a Client
// without WithInvalidation needs no Close.
type Client struct {
	base    string // scheme://host[:port][/path], no trailing slash
	hc      *http.Client
	admin   string
	ua      string
	timeout time.Duration
	retry   RetryPolicy
	cache   *cache // nil: no cache

	closeOnce sync.Once
}

// New returns a Client for the Studio at baseURL (http or https, e.g.
// "http://studio.internal:8080"). It fails on a bad URL or option. With
// WithInvalidation it also starts the goroutine that applies Studio's
// invalidations; Close stops it.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("studio client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("studio client: base URL %q: want http(s)://host[:port][/path] with no user, query or fragment", u.Redacted())
	}
	st := settings{
		timeout:     DefaultTimeout,
		dialTimeout: DefaultDialTimeout,
		ua:          "studio-go-client/1",
		retry:       defaultRetry,
		channel:     DefaultInvalidationChannel,
	}
	for _, o := range opts {
		if err := o(&st); err != nil {
			return nil, fmt.Errorf("studio client: %w", err)
		}
	}
	if st.rdb != nil && st.cacheSize == 0 {
		return nil, errors.New("studio client: WithInvalidation needs WithCache")
	}
	c := &Client{
		base:    strings.TrimSuffix(u.String(), "/"),
		hc:      st.httpClient(),
		admin:   st.admin,
		ua:      st.ua,
		timeout: st.timeout,
		retry:   st.retry,
	}
	if st.cacheSize > 0 {
		c.cache, err = newCache(st.cacheTTL, st.cacheSize, st.rdb, st.channel)
		if err != nil {
			return nil, fmt.Errorf("studio client: %w", err)
		}
	}
	return c, nil
}

// Close stops the invalidation subscription and empties the cache for
// good. The Client still works afterwards, asking Studio every time. Calls after the first
// do nothing; it always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.cache != nil {
			c.cache.close()
		}
	})
	return nil
}

// Validate asks Studio whether token belongs to a live session and
// returns it. A refusal matches ErrUnauthenticated and the reason's
// sentinel (ErrRevoked, ErrExpired, …); no answer matches ErrUnavailable.
// It is retried per the RetryPolicy. With the cache on, a positive answer
// may come from it (see WithCache).
func (c *Client) Validate(ctx context.Context, token string) (Session, error) {
	if !plausibleToken(token) {
		return Session{}, &Error{Op: "validate", Class: ErrUnauthenticated, Reason: ReasonMalformed, Message: "the session token is malformed"}
	}
	if c.cache == nil {
		return c.validate(ctx, token)
	}
	h := sha256.Sum256([]byte(token))
	if s, ok := c.cache.get(h); ok {
		s.Metadata = maps.Clone(s.Metadata)
		return s, nil
	}
	gen := c.cache.generation(h)
	s, err := c.validate(ctx, token)
	if err == nil {
		c.cache.put(h, gen, s)
	}
	return s, err
}

func (c *Client) validate(ctx context.Context, token string) (Session, error) {
	r, err := c.do(ctx, call{op: "validate", method: http.MethodGet, path: "/v1/session", auth: token, retry: true})
	if err != nil {
		return Session{}, err
	}
	s, err := r.resp.Session.session()
	if err != nil {
		return Session{}, r.invalid(err)
	}
	return s, nil
}

// Create makes a session (an admin operation: see WithAdminToken) and
// returns its token and the session. It is sent once and never retried:
// when it fails with ErrUnavailable the session may or may not exist.
func (c *Client) Create(ctx context.Context, req CreateRequest) (string, Session, error) {
	body, err := req.MarshalJSON()
	if err != nil {
		return "", Session{}, &Error{Op: "create", Class: ErrBadRequest, Err: err}
	}
	r, err := c.do(ctx, call{op: "create", method: http.MethodPost, path: "/v1/sessions", auth: c.admin, admin: true, body: body})
	if err != nil {
		return "", Session{}, err
	}
	s, err := r.resp.Session.session()
	if err == nil && (r.resp.Token == nil || *r.resp.Token == "") {
		err = errors.New("response holds no token")
	}
	if err != nil {
		return "", Session{}, r.invalid(err)
	}
	return *r.resp.Token, s, nil
}

// Revoke ends the session of token everywhere. Revoking a revoked session
// succeeds, so Revoke is retried per the RetryPolicy like Validate; an
// unknown token matches ErrUnauthenticated and ErrUnknown. This Client's
// cache drops the session whatever the outcome.
func (c *Client) Revoke(ctx context.Context, token string) error {
	if !plausibleToken(token) {
		return &Error{Op: "revoke", Class: ErrUnauthenticated, Reason: ReasonMalformed, Message: "the session token is malformed"}
	}
	_, err := c.do(ctx, call{op: "revoke", method: http.MethodDelete, path: "/v1/session", auth: token, retry: true})
	if c.cache != nil {
		c.cache.invalidate(sha256.Sum256([]byte(token)))
	}
	return err
}

// RevokeUser revokes every live session of userID (an admin operation)
// and returns how many it revoked. It is not retried: a repeat would
// answer 0 and hide the first count. This Client's cache is emptied
// whatever the outcome.
func (c *Client) RevokeUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, &Error{Op: "revoke user", Class: ErrBadRequest, Message: "user_id is empty"}
	}
	r, err := c.do(ctx, call{op: "revoke user", method: http.MethodDelete, path: "/v1/users/" + url.PathEscape(userID) + "/sessions", auth: c.admin, admin: true})
	if c.cache != nil {
		c.cache.flush()
	}
	if err != nil {
		return 0, err
	}
	if r.resp.Revoked == nil || *r.resp.Revoked < 0 {
		return 0, r.invalid(errors.New("response holds no revoked count"))
	}
	return *r.resp.Revoked, nil
}

// plausibleToken refuses what cannot be a token without sending it: empty,
// oversized, or holding bytes an HTTP header cannot carry.
func plausibleToken(t string) bool {
	if t == "" || len(t) > 1024 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// call is one API request.
type call struct {
	op, method, path string
	auth             string // bearer token; "" for none
	admin            bool   // auth is the admin token: a 401 means forbidden
	body             []byte
	retry            bool // safe to repeat
}

// result is a successful answer.
type result struct {
	op       string
	status   int
	attempts int
	resp     response
}

// invalid turns a success answer whose content is unusable into an
// ErrUnavailable error.
func (r result) invalid(err error) *Error {
	return &Error{Op: r.op, Class: ErrUnavailable, Status: r.status, Attempts: r.attempts, Err: err}
}

// do sends k, retrying per the policy when k.retry allows, and returns a
// 2xx answer or the *Error for the last attempt.
func (c *Client) do(ctx context.Context, k call) (result, error) {
	attempts := 1
	if k.retry {
		attempts = max(c.retry.Attempts, 1)
	}
	for i := 1; ; i++ {
		status, body, err := c.once(ctx, k)
		r, e := answer(k, status, body, err)
		if e == nil {
			r.attempts = i
			return r, nil
		}
		e.Attempts = i
		if i >= attempts || !retryable(e) || ctx.Err() != nil {
			return result{}, e
		}
		if !c.retry.wait(ctx, i) {
			return result{}, e
		}
	}
}

// answer interprets one attempt: a 2xx with a JSON body (or 204) is a
// result; anything else is the *Error to return or retry on.
func answer(k call, status int, body []byte, err error) (result, *Error) {
	r := result{op: k.op, status: status, attempts: 1}
	if err != nil || status < 200 || status > 299 {
		return r, classify(k, status, body, err)
	}
	if status == http.StatusNoContent {
		return r, nil
	}
	r.resp, err = decodeResponse(body)
	if err != nil {
		return r, r.invalid(err)
	}
	return r, nil
}

// maxBody bounds what is read of an answer; Studio's are far smaller.
const maxBody = 1 << 20

// once sends one attempt, bounded by the per-attempt timeout, and reads
// the whole body so the connection can be reused.
func (c *Client) once(ctx context.Context, k call) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.base+k.path, body)
	if err != nil {
		return 0, nil, err
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k.auth != "" {
		req.Header.Set("Authorization", "Bearer "+k.auth)
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, b, nil
}

// classify makes the *Error for a failed attempt: a transport error
// (err != nil) or a non-2xx answer.
func classify(k call, status int, body []byte, err error) *Error {
	if err != nil {
		return &Error{Op: k.op, Class: ErrUnavailable, Status: status, Timeout: isTimeout(err), Err: stripURL(err), transport: true}
	}
	e := &Error{Op: k.op, Status: status}
	r, derr := decodeResponse(body)
	if derr == nil && r.Error != nil {
		e.Code, e.Message = r.Error.Code, r.Error.Message
	}
	studio := derr == nil && r.Error != nil && r.Error.Code != ""
	switch {
	case !studio:
		// Not Studio's error JSON: a proxy's page, a truncated body.
		e.Class = ErrUnavailable
		if derr == nil {
			derr = errors.New("error response without an error code")
		}
		e.Err = fmt.Errorf("status %d: %w", status, derr)
	case status == http.StatusUnauthorized && k.admin, status == http.StatusForbidden,
		status == http.StatusTooManyRequests && k.admin && r.Error.Code == "too_many_attempts":
		// A 429 too_many_attempts answers a wrong admin token over
		// Studio's budget (a right one is never throttled): retrying it
		// would only spend the budget again.
		e.Class = ErrForbidden
	case status == http.StatusUnauthorized:
		e.Class = ErrUnauthenticated
		e.Reason = Reason(r.Error.Reason)
		if e.Reason == ReasonNone && r.Error.Code == "invalid_token" {
			e.Reason = ReasonMalformed
		}
	case status == http.StatusBadRequest, status == http.StatusNotFound, status == http.StatusMethodNotAllowed,
		status == http.StatusRequestEntityTooLarge, status == http.StatusUnsupportedMediaType, status == http.StatusUnprocessableEntity:
		e.Class = ErrBadRequest
	default:
		e.Class = ErrUnavailable
	}
	return e
}

// retryable reports whether another attempt may get a different answer.
func retryable(e *Error) bool {
	if e.Class != ErrUnavailable {
		return false
	}
	if e.transport {
		return true
	}
	switch e.Status {
	case 0, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// stripURL drops the *url.Error wrapper (method and URL) from a transport
// error: Error already names the operation, and a URL may carry a path
// parameter the caller would rather not log.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
