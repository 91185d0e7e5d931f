package adminauth

import (
	"context"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is what a Guard decided about one admin attempt.
type Outcome uint8

// Outcomes of Guard.Check.
const (
	// Accepted: the token is an admin token. A right token is accepted
	// at once, whatever the failure counts.
	Accepted Outcome = iota + 1
	// Refused: a wrong token, within the budget (answer 401).
	Refused
	// Throttled: a wrong token over the budget (answer 429 with
	// Retry-After, after Guard.Delay).
	Throttled
)

var outcomeNames = [...]string{Accepted: "accepted", Refused: "refused", Throttled: "throttled"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return "unknown"
}

// Verdict is Guard.Check's answer.
type Verdict struct {
	Outcome Outcome
	// RetryAfter, when Throttled, is how long until a wrong attempt from
	// this client would be within the budget again (at least a second).
	RetryAfter time.Duration
}

// GuardOptions configure a Guard. Tokens is required; zero fields take
// the defaults.
type GuardOptions struct {
	Tokens   *Tokens
	Throttle ThrottleOptions
	// Delay is how long a throttled answer waits before it is sent
	// (default 1 s), so that a client retrying in a loop is slowed down;
	// MaxDelayed bounds the answers waiting at once (default 64): past
	// it they are sent at once, so a flood holds no more goroutines
	// than that.
	Delay      time.Duration
	MaxDelayed int
	// Registerer, if set, gets studio_admin_auth_attempts_total.
	Registerer prometheus.Registerer
}

// Guard is the one admin check every admin route (the API's bearer, the
// dashboard's login) goes through: the token against Tokens, and wrong
// tokens counted per client and in total by a Throttle. It never refuses
// a right token: throttling only changes the answer to wrong ones (429
// instead of 401, after a short delay). With admin tokens of at least
// MinBits of entropy, guessing is out of reach at any rate; the throttle
// keeps the noise and load of wrong attempts down. Safe for concurrent
// use.
type Guard struct {
	tokens   *Tokens
	throttle *Throttle
	delay    time.Duration
	slots    chan struct{}
	attempts *prometheus.CounterVec
}

// NewGuard returns a Guard.
func NewGuard(o GuardOptions) *Guard {
	if o.Tokens == nil {
		o.Tokens = New()
	}
	if o.Delay <= 0 {
		o.Delay = time.Second
	}
	if o.MaxDelayed <= 0 {
		o.MaxDelayed = 64
	}
	g := &Guard{tokens: o.Tokens, throttle: NewThrottle(o.Throttle), delay: o.Delay, slots: make(chan struct{}, o.MaxDelayed)}
	g.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "studio_admin_auth_attempts_total",
		Help: "Admin token checks (API bearer and dashboard login) by outcome: accepted, refused (wrong, within the budget: 401), throttled (wrong, over the budget: 429).",
	}, []string{"outcome"})
	for _, o := range []Outcome{Accepted, Refused, Throttled} {
		g.attempts.WithLabelValues(o.String())
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(g.attempts)
	}
	return g
}

// Tokens returns the tokens the Guard accepts (replace them with Set).
func (g *Guard) Tokens() *Tokens { return g.tokens }

// Enabled reports whether any admin token is accepted.
func (g *Guard) Enabled() bool { return g != nil && g.tokens.Enabled() }

// Check decides about one attempt with token from client (the address
// the trusted-proxy rules decided). A right token is Accepted without
// touching the counts; a wrong one is counted, then Refused or, over the
// budget, Throttled. Check never waits for more than the Redis round trip
// of a wrong attempt (bounded by ThrottleOptions.Timeout).
func (g *Guard) Check(ctx context.Context, client netip.Addr, token string) Verdict {
	if g.tokens.Check(token) {
		g.attempts.WithLabelValues(Accepted.String()).Inc()
		return Verdict{Outcome: Accepted}
	}
	if over, after := g.throttle.Fail(ctx, client); over {
		g.attempts.WithLabelValues(Throttled.String()).Inc()
		return Verdict{Outcome: Throttled, RetryAfter: after}
	}
	g.attempts.WithLabelValues(Refused.String()).Inc()
	return Verdict{Outcome: Refused}
}

// Delay waits before a throttled answer is sent: the configured delay, or
// less if ctx ends; not at all when MaxDelayed answers are already
// waiting.
func (g *Guard) Delay(ctx context.Context) {
	select {
	case g.slots <- struct{}{}:
	default:
		return
	}
	defer func() { <-g.slots }()
	t := time.NewTimer(g.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
