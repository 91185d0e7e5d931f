// Package notify holds what Studio's alert receivers (alert/pagerduty,
// alert/slack, alert/webhook) share: one JSON POST to a receiver whose URL
// and credentials are secrets, the retry policy for its outcome, Retry-After
// parsing, and text helpers that keep errors short, printable and free of
// those secrets.
//
// Retry policy (as data: see Retryable): a transport failure (refused
// connection, DNS failure, timeout, cancelled context) is worth retrying, and
// so are 408, 429 and every 5xx response; any other non-2xx response is not.
// A retryable response carrying a Retry-After header is reported as an
// *alert.RetryAfterError so the dispatcher waits at least that long.
//
// Secrets: an error returned by a Sender never contains the receiver URL (net/http's
// *url.Error, which embeds it, is stripped), nor any header value given to the
// Sender, nor any string listed in Config.Secrets: every error text and every
// response detail passes through the Sender's scrubber.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
)

// DefaultTimeout bounds one request made by a client from NewHTTPClient.
const DefaultTimeout = 10 * time.Second

// UserAgent is sent with every request.
const UserAgent = "Studio-Alert/1"

// Limits on what is read from a response.
const (
	maxResponseBody = 64 << 10 // kept for the detail of an error
	maxDrain        = 256 << 10
	// MaxDetail is the most bytes of a response's detail put in an error.
	MaxDetail = 512
)

// NewHTTPClient returns the client a receiver uses when its Config has none:
// DefaultTimeout per request, and redirects are not followed (a receiver
// endpoint does not redirect; following one would carry the payload, which
// may hold a routing key, to another place). A 3xx response is therefore
// reported as a non-retryable error.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Timeout: DefaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Config configures a Sender.
type Config struct {
	// URL is where requests are POSTed. Required. The whole URL, its path,
	// query, password and long path segments are treated as secrets.
	URL *url.URL
	// Client sends the requests; nil means NewHTTPClient().
	Client *http.Client
	// Header is added to every request (e.g. Authorization). Its values are
	// treated as secrets.
	Header http.Header
	// Secrets lists more strings (e.g. a routing key) that must never
	// appear in an error.
	Secrets []string
	// Now is the clock used to turn a Retry-After HTTP-date into a wait;
	// nil means time.Now.
	Now func() time.Time
}

// Sender POSTs JSON bodies to one URL and classifies the outcome. It is safe
// for concurrent use; its zero value is not usable (use NewSender).
type Sender struct {
	client *http.Client
	url    string
	header http.Header
	now    func() time.Time
	scrub  *strings.Replacer
}

// NewSender returns a Sender for cfg. It panics if cfg.URL is nil: the
// receivers validate their URL before they build a Sender.
func NewSender(cfg Config) *Sender {
	if cfg.URL == nil {
		panic("notify: NewSender with a nil URL")
	}
	s := &Sender{
		client: cfg.Client,
		url:    cfg.URL.String(),
		header: cfg.Header.Clone(),
		now:    cfg.Now,
	}
	if s.client == nil {
		s.client = NewHTTPClient()
	}
	if s.now == nil {
		s.now = time.Now
	}
	secrets := append([]string{s.url}, urlSecrets(cfg.URL)...)
	for _, vs := range cfg.Header {
		for _, v := range vs {
			// The whole value and each long word of it ("Bearer <token>").
			secrets = append(secrets, v, Clean(v))
			for _, w := range strings.Fields(v) {
				if len(w) >= 8 {
					secrets = append(secrets, w)
				}
			}
		}
	}
	secrets = append(secrets, cfg.Secrets...)
	s.scrub = newScrubber(secrets)
	return s
}

// urlSecrets lists the parts of u that may carry a credential: the path
// (Slack's webhook token lives there), the query, the password and any
// token-like path segment (so an echo with escaped slashes is still caught).
func urlSecrets(u *url.URL) []string {
	var out []string
	if len(u.Path) > 1 {
		out = append(out, u.Path)
	}
	if len(u.RawPath) > 1 {
		out = append(out, u.RawPath)
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	if u.User != nil && u.User.Username() != "" {
		out = append(out, u.User.String())
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if len(seg) >= 16 {
			out = append(out, seg)
		}
	}
	return out
}

// newScrubber replaces every secret with "<redacted>", longest first so a
// whole URL is replaced before its path.
func newScrubber(secrets []string) *strings.Replacer {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return s == "" })
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	secrets = slices.Compact(secrets)
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "<redacted>")
	}
	return strings.NewReplacer(pairs...)
}

// Redact returns text with every secret the Sender knows replaced by
// "<redacted>".
func (s *Sender) Redact(text string) string { return s.scrub.Replace(text) }

// Response is what a receiver answered. Body holds at most the first 64 KiB.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Post sends body with Content-Type application/json. A non-nil error is a
// transport failure (the request may or may not have reached the receiver);
// its text never holds the URL or another secret, and it still matches
// context.Canceled / context.DeadlineExceeded with errors.Is.
func (s *Sender) Post(ctx context.Context, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, s.redactErr("build request", err)
	}
	for k, vs := range s.header {
		req.Header[k] = slices.Clone(vs)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.redactErr("send", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// DetailFunc extracts a human-readable reason from an error response's body
// (e.g. PagerDuty's "errors" array). Its result is sanitized, truncated to
// MaxDetail bytes and scrubbed of secrets by the Sender.
type DetailFunc func(body []byte) string

// Send POSTs body and classifies the outcome: retry=false and a nil error
// for a 2xx response; otherwise the error and whether trying again may help
// (see Retryable). detail may be nil (the body's text is used).
func (s *Sender) Send(ctx context.Context, body []byte, detail DetailFunc) (retry bool, err error) {
	resp, err := s.Post(ctx, body)
	if err != nil {
		return true, err
	}
	return s.Check(resp, detail)
}

// Check classifies resp as Send does.
func (s *Sender) Check(resp *Response, detail DetailFunc) (retry bool, err error) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	if detail == nil {
		detail = func(b []byte) string { return string(b) }
	}
	se := &StatusError{
		StatusCode: resp.StatusCode,
		Detail:     s.clean(detail(resp.Body)),
	}
	retry = Retryable(resp.StatusCode)
	if !retry {
		return false, se
	}
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), s.now()); ok && d > 0 {
		return true, &alert.RetryAfterError{After: d, Err: se}
	}
	return true, se
}

// Retryable reports whether a response with this status code is worth
// sending again: 408 Request Timeout, 429 Too Many Requests and every 5xx.
// Any other 4xx (and an unfollowed 3xx) means the request itself, the URL or
// the credentials are wrong, and sending it again cannot help.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || (code >= 500 && code <= 599)
}

// StatusError is a non-2xx response. Detail is sanitized and free of
// secrets.
type StatusError struct {
	StatusCode int
	Detail     string
}

func (e *StatusError) Error() string {
	status := fmt.Sprintf("HTTP %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		status += " " + t
	}
	if e.Detail == "" {
		return status
	}
	return status + ": " + e.Detail
}

// redactedError is a transport error whose text has been stripped of the
// URL and scrubbed of secrets. It unwraps to the error net/http wrapped in
// its *url.Error, so errors.Is(err, context.DeadlineExceeded) still works.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Timeout reports whether the underlying error is a timeout.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout() || errors.Is(e.err, context.DeadlineExceeded)
}

func (s *Sender) redactErr(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if err == nil {
		err = errors.New("unknown error")
	}
	return &redactedError{msg: op + ": " + s.clean(err.Error()), err: err}
}

// clean makes outside text fit for an error: normalized first (so a secret
// split by odd white space is whole again), then scrubbed, then cut to
// MaxDetail bytes.
func (s *Sender) clean(text string) string {
	return Truncate(s.Redact(Clean(text)), MaxDetail)
}
