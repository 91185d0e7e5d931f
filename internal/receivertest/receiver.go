// Package receivertest provides local HTTP receivers that stand in for
// PagerDuty, Slack, a generic Alertmanager-format webhook and an
// Alertmanager in tests. Each one checks every request against the
// documented payload schema (reporting a violation with t.Errorf and
// answering as the real service does to a bad payload), records every
// request with its arrival time, and can be told to answer the next N
// requests with a given status, headers, body or delay.
//
// A receiver runs an httptest.Server that is closed when the test ends.
// Receivers are safe for concurrent use.
package receivertest

import (
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Reply is an answer a receiver gives instead of its normal one.
type Reply struct {
	// Status is the HTTP status code; 0 means 200.
	Status int
	// Header is added to the response (e.g. Retry-After).
	Header http.Header
	// Body is the response body.
	Body string
	// Delay holds the answer back (until the client gives up, if sooner);
	// use it to make a client time out.
	Delay time.Duration
}

// Status returns a Reply with code and an empty body.
func Status(code int) Reply { return Reply{Status: code} }

// TooManyRequests returns a 429 Reply with the given Retry-After header
// value ("" for none): delay-seconds ("2") or an HTTP-date.
func TooManyRequests(retryAfter string) Reply {
	r := Reply{Status: http.StatusTooManyRequests, Body: "rate_limited"}
	if retryAfter != "" {
		r.Header = http.Header{"Retry-After": {retryAfter}}
	}
	return r
}

// Delivery is one request a receiver got.
type Delivery[P any] struct {
	// At is when it arrived, by the receiver's clock (see SetNow).
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Payload is the decoded body (its zero value if it did not decode).
	Payload P
	// Violations lists how the request broke the schema.
	Violations []string
	// Status is what the receiver answered; 0 while a delayed answer
	// (Reply.Delay) is held back, and for good if the client gave up first.
	Status int
}

// Accepted reports whether the receiver answered with a 2xx status.
func (d Delivery[P]) Accepted() bool { return d.Status >= 200 && d.Status < 300 }

// Receiver is a local stand-in for one receiving service, whose requests
// decode to P. Use NewPagerDuty, NewSlack, NewWebhook or NewAlertmanager.
type Receiver[P any] struct {
	tb       testing.TB
	kind     string
	srv      *httptest.Server
	url      string
	path     string
	validate func(body []byte) (P, []string)
	ok       func(P) Reply
	bad      func(violations []string) Reply

	mu         sync.Mutex
	now        func() time.Time
	strict     bool
	minGap     time.Duration
	script     []Reply
	deliveries []Delivery[P]
	changed    chan struct{}
}

// newReceiver starts a receiver serving path (and only path) and returns
// it; the server is closed when tb's test ends.
func newReceiver[P any](tb testing.TB, kind, path string, validate func([]byte) (P, []string), ok func(P) Reply, bad func([]string) Reply) *Receiver[P] {
	tb.Helper()
	r := &Receiver[P]{
		tb: tb, kind: kind, path: path,
		validate: validate, ok: ok, bad: bad,
		now: time.Now, strict: true, changed: make(chan struct{}),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.url = r.srv.URL + path
	tb.Cleanup(r.srv.Close)
	return r
}

// token returns a random path segment standing for a secret in a URL.
func token() string { return rand.Text() }

// URL is where to send requests. For PagerDuty, Slack and the webhook it
// holds a random token in its path, as the real URLs do, so tests can check
// that it never shows in an error. For NewAlertmanager it is the base URL.
func (r *Receiver[P]) URL() string { return r.url }

// Close shuts the server down (it is also closed when the test ends);
// requests then fail to connect.
func (r *Receiver[P]) Close() { r.srv.Close() }

// SetNow sets the clock that stamps arrivals (default time.Now), e.g. a
// Clock's Now shared with the code under test.
func (r *Receiver[P]) SetNow(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// AllowInvalid stops reporting schema violations with t.Errorf: for tests
// that send a bad payload on purpose. Violations are still recorded and
// answered as the real service would.
func (r *Receiver[P]) AllowInvalid() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.strict = false
}

// ExpectMinGap makes a request arriving less than d after the previous one
// a violation (Slack's one message per second per webhook). With a real
// clock allow for jitter between sending and arrival (e.g. 900ms for 1s).
func (r *Receiver[P]) ExpectMinGap(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.minGap = d
}

// ReplyNext makes the next n requests get rep instead of the normal
// answer (they are still checked and recorded). Calls queue up in order.
func (r *Receiver[P]) ReplyNext(n int, rep Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.script = append(r.script, rep)
	}
}

// Deliveries returns every request received so far, in arrival order.
func (r *Receiver[P]) Deliveries() []Delivery[P] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// Accepted returns the payloads of the requests answered with a 2xx
// status, in arrival order.
func (r *Receiver[P]) Accepted() []P {
	var out []P
	for _, d := range r.Deliveries() {
		if d.Accepted() {
			out = append(out, d.Payload)
		}
	}
	return out
}

// Violations returns every schema violation seen so far.
func (r *Receiver[P]) Violations() []string {
	var out []string
	for _, d := range r.Deliveries() {
		out = append(out, d.Violations...)
	}
	return out
}

// Wait waits until at least n requests have arrived or timeout passes, and
// returns the deliveries and whether there were n.
func (r *Receiver[P]) Wait(n int, timeout time.Duration) ([]Delivery[P], bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		r.mu.Lock()
		if len(r.deliveries) >= n {
			d := slices.Clone(r.deliveries)
			r.mu.Unlock()
			return d, true
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return r.Deliveries(), false
		}
	}
}

// Gaps returns the time between consecutive arrivals.
func (r *Receiver[P]) Gaps() []time.Duration {
	ds := r.Deliveries()
	var out []time.Duration
	for i := 1; i < len(ds); i++ {
		out = append(out, ds[i].At.Sub(ds[i-1].At))
	}
	return out
}

const maxRequestBody = 4 << 20

func (r *Receiver[P]) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	at := r.now()
	r.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
	var vs []string
	if err != nil {
		vs = append(vs, fmt.Sprintf("read body: %v", err))
	}
	if len(body) > maxRequestBody {
		vs = append(vs, fmt.Sprintf("body larger than %d bytes", maxRequestBody))
	}
	if req.Method != http.MethodPost {
		vs = append(vs, fmt.Sprintf("method %s, want POST", req.Method))
	}
	if req.URL.Path != r.path {
		vs = append(vs, fmt.Sprintf("path %q, want %q", req.URL.Path, r.path))
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		vs = append(vs, fmt.Sprintf("Content-Type %q, want application/json", req.Header.Get("Content-Type")))
	}
	p, pvs := r.validate(body)
	vs = append(vs, pvs...)

	r.mu.Lock()
	if n := len(r.deliveries); r.minGap > 0 && n > 0 {
		if gap := at.Sub(r.deliveries[n-1].At); gap < r.minGap {
			vs = append(vs, fmt.Sprintf("arrived %v after the previous request, want at least %v", gap, r.minGap))
		}
	}
	var rep Reply
	switch {
	case len(r.script) > 0:
		rep, r.script = r.script[0], r.script[1:]
	case len(vs) > 0:
		rep = r.bad(vs)
	default:
		rep = r.ok(p)
	}
	if rep.Status == 0 {
		rep.Status = http.StatusOK
	}
	idx := len(r.deliveries)
	status := rep.Status
	if rep.Delay > 0 {
		status = 0 // set when the answer goes
	}
	r.deliveries = append(r.deliveries, Delivery[P]{
		At: at, Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(),
		Body: body, Payload: p, Violations: vs, Status: status,
	})
	close(r.changed)
	r.changed = make(chan struct{})
	strict := r.strict
	r.mu.Unlock()

	if strict {
		for _, v := range vs {
			r.tb.Errorf("%s receiver: %s", r.kind, v)
		}
	}
	if rep.Delay > 0 {
		t := time.NewTimer(rep.Delay)
		select {
		case <-t.C:
			r.mu.Lock()
			r.deliveries[idx].Status = rep.Status
			r.mu.Unlock()
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	for k, v := range rep.Header {
		w.Header()[k] = slices.Clone(v)
	}
	w.WriteHeader(rep.Status)
	_, _ = io.WriteString(w, rep.Body)
}
