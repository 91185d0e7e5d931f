package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPTarget drives Studio's HTTP API:
//
//	validate  GET /v1/session      Authorization: Bearer <session token>   200
//	create    POST /v1/sessions    Authorization: Bearer <AdminToken>      201 {"token":…}
//	revoke    DELETE /v1/session   Authorization: Bearer <session token>   204
//
// 401 is KindRejected, 400 KindInvalid, 503 KindUnavailable, any other
// unexpected status "http_NNN", whichever client sends the requests.
// Response bodies are read to the end so connections are reused. Use it
// by pointer; it is safe for concurrent use once its fields are set.
type HTTPTarget struct {
	// Base is the API's base URL, e.g. "http://127.0.0.1:8080".
	Base string
	// AdminToken authorises creates.
	AdminToken string
	// Client sends the requests. It must keep at least Concurrency idle
	// connections per host (see NewHTTPClient), or every request beyond
	// that opens a new connection. Nil means a client from
	// NewHTTPClient(256, 10s), made on first use. Unused when Raw is set.
	Client *http.Client
	// Raw makes it send the requests with a RawClient for Base (made on
	// first use, 10 s timeout per request) instead of Client: a lean
	// HTTP/1.1 keep-alive client, one connection per concurrent caller,
	// that allocates almost nothing per request, so the load tool takes
	// less of the CPU it shares with the server under test. Base must
	// then be an http:// URL; otherwise every operation fails with the
	// reason (kind KindOther).
	Raw bool
	// UserID is the user of the sessions it creates; default "loadgen".
	UserID string
	// TTL is the lifetime of the sessions it creates; default 1h.
	TTL time.Duration

	once   sync.Once
	client *http.Client
	raw    *RawClient
	rawErr error // from NewRawClient
	body   []byte
}

var _ Target = (*HTTPTarget)(nil)

// NewHTTPClient returns a keep-alive HTTP/1.1 client for conns concurrent
// connections to one host, with timeout per request.
func NewHTTPClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

func (t *HTTPTarget) init() {
	t.once.Do(func() {
		if t.Raw {
			t.raw, t.rawErr = NewRawClient(t.Base)
		} else {
			t.client = t.Client
			if t.client == nil {
				t.client = NewHTTPClient(256, 10*time.Second)
			}
		}
		user := t.UserID
		if user == "" {
			user = "loadgen"
		}
		ttl := t.TTL
		if ttl <= 0 {
			ttl = time.Hour
		}
		t.body, _ = json.Marshal(map[string]any{"user_id": user, "ttl": ttl.String()})
	})
}

// String names the target in results.
func (t *HTTPTarget) String() string { return "http " + t.Base }

// Validate sends GET /v1/session.
func (t *HTTPTarget) Validate(ctx context.Context, token string) error {
	_, err := t.do(ctx, http.MethodGet, "/v1/session", token, nil, http.StatusOK, false)
	return err
}

// Create sends POST /v1/sessions and returns the new token.
func (t *HTTPTarget) Create(ctx context.Context) (string, error) {
	t.init()
	body, err := t.do(ctx, http.MethodPost, "/v1/sessions", t.AdminToken, t.body, http.StatusCreated, true)
	if err != nil {
		return "", err
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		return "", &Error{Kind: KindOther, Err: fmt.Errorf("create: response has no token")}
	}
	return out.Token, nil
}

// Revoke sends DELETE /v1/session.
func (t *HTTPTarget) Revoke(ctx context.Context, token string) error {
	_, err := t.do(ctx, http.MethodDelete, "/v1/session", token, nil, http.StatusNoContent, false)
	return err
}

// CloseIdleConnections closes the idle connections of the client it
// uses; requests in flight are not affected, and it stays usable.
func (t *HTTPTarget) CloseIdleConnections() {
	t.init()
	if t.raw != nil {
		t.raw.CloseIdleConnections()
	}
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
}

// do sends a request with bearer's Authorization (and body as JSON if
// not nil) and maps the response's status (see checkStatus). With keep
// it returns the body of a response with status want.
func (t *HTTPTarget) do(ctx context.Context, method, path, bearer string, body []byte, want int, keep bool) ([]byte, error) {
	t.init()
	if t.Raw {
		return t.doRaw(ctx, method, path, bearer, body, want, keep)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.Base+path, rd)
	if err != nil {
		return nil, &Error{Kind: KindOther, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := checkStatus(method, path, resp.StatusCode, want); err != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, err
	}
	if keep {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return b, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return nil, err
}

// doRaw is do with the RawClient.
func (t *HTTPTarget) doRaw(ctx context.Context, method, path, bearer string, body []byte, want int, keep bool) ([]byte, error) {
	if t.rawErr != nil {
		return nil, &Error{Kind: KindOther, Err: t.rawErr}
	}
	req := RawRequest{Method: method, Path: path, Bearer: bearer, Body: body}
	if body != nil {
		req.ContentType = "application/json"
	}
	var dst []byte
	if keep {
		dst = make([]byte, 0, 512)
	}
	status, b, err := t.raw.Do(ctx, &req, dst)
	if err != nil {
		return nil, err
	}
	if err := checkStatus(method, path, status, want); err != nil {
		return nil, err
	}
	return b, nil
}

// checkStatus maps a response's status to an operation's outcome, for
// both clients: want is success; any other status is an *Error of kind
// statusKind(got).
func checkStatus(method, path string, got, want int) error {
	if got == want {
		return nil
	}
	return &Error{Kind: statusKind(got), Err: fmt.Errorf("%s %s: status %d", method, path, got)}
}

// statusKind names the error kind of an unexpected status: 401
// KindRejected, 400 KindInvalid, 503 KindUnavailable, any other
// "http_NNN".
func statusKind(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return KindRejected
	case http.StatusBadRequest:
		return KindInvalid
	case http.StatusServiceUnavailable:
		return KindUnavailable
	}
	return "http_" + strconv.Itoa(code)
}

// EmptyHandler is the baseline server for HTTPTarget: it answers every
// GET with 200 and a 3-byte body (as BenchmarkHTTP's empty handler does),
// POST /v1/sessions with 201 and a made-up token, and DELETE with 204,
// doing no other work. It keeps no sessions, so it accepts revoked tokens:
// drive it with validations only. It is safe for concurrent use.
func EmptyHandler() http.Handler {
	var n atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"token":"empty_`+strconv.FormatUint(n.Add(1), 10)+`"}`)
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "ok\n")
		}
	})
}

// ServeEmpty serves EmptyHandler on a loopback listener with the
// http.Server timeouts of `studio serve`, and returns its base URL and a
// function that stops it.
func ServeEmpty() (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the empty handler: %w", err)
	}
	return "http://" + ln.Addr().String(), Serve(ln, EmptyHandler()), nil
}

// Serve serves h on ln, with the http.Server timeouts of `studio serve`,
// until the function it returns is called; that function shuts the
// server down (waiting up to 5 s for requests in flight) and returns when
// it has stopped. A baseline served this way, in this process or in one of
// its own (`studio bench --serve`), runs on the same server settings as
// Studio.
func Serve(ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
