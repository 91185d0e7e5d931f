package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/studiohq/studio/client"
)

// conformance is clients/conformance/cases.json: the table both clients
// pass against a real Studio.
type conformance struct {
	About  string `json:"about"`
	Client struct {
		TimeoutMS int `json:"timeout_ms"`
		Retry     struct {
			Attempts    int `json:"attempts"`
			BaseDelayMS int `json:"base_delay_ms"`
			MaxDelayMS  int `json:"max_delay_ms"`
		} `json:"retry"`
	} `json:"client"`
	SlowDelayMS int `json:"slow_delay_ms"`
	Cases       []struct {
		Name  string `json:"name"`
		Steps []step `json:"steps"`
	} `json:"cases"`
}

type step struct {
	Op       string   `json:"op"`
	User     *string  `json:"user"`
	TTLS     float64  `json:"ttl_s"`
	As       string   `json:"as"`
	Token    string   `json:"token"`
	Literal  *string  `json:"literal"`
	Via      string   `json:"via"`
	Admin    string   `json:"admin"`
	MS       int      `json:"ms"`
	Requests *int64   `json:"requests"`
	Expect   expected `json:"expect"`
}

type expected struct {
	OK      bool   `json:"ok"`
	UserID  string `json:"user_id"`
	Revoked *int   `json:"revoked"`
	Error   string `json:"error"`
	Reason  string `json:"reason"`
	Timeout bool   `json:"timeout"`
}

func loadConformance(t *testing.T) conformance {
	t.Helper()
	b, err := os.ReadFile("../clients/conformance/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var c conformance
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	return c
}

var classes = map[string]error{
	"unauthenticated": client.ErrUnauthenticated,
	"forbidden":       client.ErrForbidden,
	"unavailable":     client.ErrUnavailable,
	"bad_request":     client.ErrBadRequest,
}

// TestConformance runs every case of the shared table against the real
// Studio, directly and through a closed port, a slow proxy and a lossy one.
func TestConformance(t *testing.T) {
	conf := loadConformance(t)
	srv := studio(t)
	for _, tc := range conf.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, conf, srv.URL)
			for i, s := range tc.Steps {
				r.step(t, i, s)
			}
		})
	}
}

type runner struct {
	conf        conformance
	slow, lossy *faultProxy
	bases       map[string]string
	tokens      map[string]string
	clients     map[string]*client.Client
	opts        []client.Option
	studioURL   string
	ctx         context.Context
}

func newRunner(t *testing.T, conf conformance, studioURL string) *runner {
	r := &runner{conf: conf, studioURL: studioURL, tokens: map[string]string{}, clients: map[string]*client.Client{}, ctx: t.Context()}
	r.slow = newFaultProxy(t, studioURL)
	r.slow.delay.Store(int64(time.Duration(conf.SlowDelayMS) * time.Millisecond))
	r.lossy = newFaultProxy(t, studioURL)
	r.bases = map[string]string{"": studioURL, "studio": studioURL, "down": "http://" + closedPort(t), "slow": r.slow.URL, "lossy": r.lossy.URL}
	c := conf.Client
	r.opts = []client.Option{
		client.WithTimeout(time.Duration(c.TimeoutMS) * time.Millisecond),
		client.WithRetry(client.RetryPolicy{Attempts: c.Retry.Attempts, BaseDelay: time.Duration(c.Retry.BaseDelayMS) * time.Millisecond, MaxDelay: time.Duration(c.Retry.MaxDelayMS) * time.Millisecond}),
	}
	return r
}

// client returns the client for a step's via and admin token.
func (r *runner) client(t *testing.T, s step) *client.Client {
	key := s.Via + "/" + s.Admin
	if c, ok := r.clients[key]; ok {
		return c
	}
	base, ok := r.bases[s.Via]
	if !ok {
		t.Fatalf("unknown via %q", s.Via)
	}
	opts := r.opts
	switch s.Admin {
	case "":
		opts = append(opts, client.WithAdminToken(adminToken))
	case "wrong":
		opts = append(opts, client.WithAdminToken("not-the-admin-token-at-all"))
	case "none":
	default:
		t.Fatalf("unknown admin %q", s.Admin)
	}
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.clients[key] = c
	return c
}

func (r *runner) token(t *testing.T, s step) string {
	if s.Literal != nil {
		return *s.Literal
	}
	tok, ok := r.tokens[s.Token]
	if !ok {
		t.Fatalf("no token named %q", s.Token)
	}
	return tok
}

func user(s step) string {
	if s.User == nil || *s.User == "" {
		return ""
	}
	return runID + *s.User
}

func (r *runner) step(t *testing.T, i int, s step) {
	t.Helper()
	c := r.client(t, s)
	r.lossy.requests.Store(0)
	r.slow.requests.Store(0)
	if s.Via == "lossy" {
		r.lossy.drop.Store(1)
	}
	var (
		err     error
		sess    client.Session
		revoked int
		start   = time.Now()
	)
	switch s.Op {
	case "create":
		var tok string
		tok, sess, err = c.Create(r.ctx, client.CreateRequest{UserID: user(s), TTL: time.Duration(s.TTLS * float64(time.Second))})
		if err == nil && s.As != "" {
			r.tokens[s.As] = tok
		}
	case "validate":
		sess, err = c.Validate(r.ctx, r.token(t, s))
	case "revoke":
		err = c.Revoke(r.ctx, r.token(t, s))
	case "revoke_user":
		revoked, err = c.RevokeUser(r.ctx, user(s))
	case "wait":
		time.Sleep(time.Duration(s.MS) * time.Millisecond)
		return
	default:
		t.Fatalf("step %d: unknown op %q", i, s.Op)
	}
	took := time.Since(start).Round(time.Millisecond)
	r.check(t, i, s, err, sess, revoked)
	if s.Requests != nil {
		p := map[string]*faultProxy{"slow": r.slow, "lossy": r.lossy}[s.Via]
		if got := p.requests.Load(); got != *s.Requests {
			t.Errorf("step %d %s via %s: %d requests reached the proxy, want %d", i, s.Op, s.Via, got, *s.Requests)
		}
	}
	t.Logf("step %d %s via %q: %v in %v", i, s.Op, s.Via, err, took)
}

func (r *runner) check(t *testing.T, i int, s step, err error, sess client.Session, revoked int) {
	t.Helper()
	want := s.Expect
	if want.Error == "" {
		if err != nil {
			t.Fatalf("step %d %s via %q: %v, want success", i, s.Op, s.Via, err)
		}
		if want.UserID != "" && sess.UserID != runID+want.UserID {
			t.Errorf("step %d %s: user_id %q, want %q", i, s.Op, sess.UserID, runID+want.UserID)
		}
		if want.Revoked != nil && revoked != *want.Revoked {
			t.Errorf("step %d %s: revoked %d, want %d", i, s.Op, revoked, *want.Revoked)
		}
		return
	}
	class, ok := classes[want.Error]
	if !ok {
		t.Fatalf("step %d: unknown error class %q", i, want.Error)
	}
	var e *client.Error
	if !errors.Is(err, class) || !errors.As(err, &e) {
		t.Fatalf("step %d %s via %q: %v, want %s", i, s.Op, s.Via, err, want.Error)
	}
	if sess.UserID != "" {
		t.Errorf("step %d: a session came back with an error", i)
	}
	if want.Reason != "" && string(e.Reason) != want.Reason {
		t.Errorf("step %d %s: reason %q, want %q (%v)", i, s.Op, e.Reason, want.Reason, err)
	}
	if want.Timeout != errors.Is(err, client.ErrTimeout) {
		t.Errorf("step %d %s: timeout %v, want %v (%v)", i, s.Op, !want.Timeout, want.Timeout, err)
	}
}
