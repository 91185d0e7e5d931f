package redisconn

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// ErrCircuitOpen is the error of a command refused, without touching the
// network, because the breaker is open (or half-open with its probes
// already in flight).
var ErrCircuitOpen = errors.New("redis circuit breaker open")

// openError is what a refused command gets: ErrCircuitOpen, with the
// failure that last counted against the breaker, so that a health check
// or a log line says why (an expired certificate, a refused connection)
// rather than only that the breaker is open. It matches ErrCircuitOpen
// under errors.Is and deliberately does not unwrap to the old failure: a
// refusal is not a timeout of its own.
type openError struct{ last error }

func (e *openError) Error() string {
	return ErrCircuitOpen.Error() + "; last failure: " + e.last.Error()
}

func (e *openError) Is(target error) bool { return target == ErrCircuitOpen }

// BreakerOptions tunes a Breaker; zero fields take the defaults in
// parentheses.
type BreakerOptions struct {
	// FailureThreshold consecutive failures open the breaker (5).
	FailureThreshold uint32
	// OpenTimeout is how long it stays open before letting a probe through
	// (200ms). It bounds how late the client notices that Redis is back,
	// or that a Sentinel failover has named a new master: the failover
	// drill measured the write-unavailability window growing by up to one
	// OpenTimeout past the switch. A probe against a dead server costs one
	// failed command, so probing often is cheap.
	OpenTimeout time.Duration
	// Probes is how many commands a half-open breaker lets through; that
	// many consecutive successes close it (1).
	Probes uint32
	// OnStateChange, if set, is called on every transition with the state
	// names ("closed", "open", "half-open"). It runs with the breaker's lock
	// held: it must be quick and must not use the client.
	OnStateChange func(from, to string)

	// Logger, if set, gets a few lines per outage rather than one per
	// transition: a warning when the breaker opens, with the failure that
	// opened it; while it stays open, at most one summary per
	// SummaryInterval (DefaultBreakerSummaryInterval) with the commands
	// refused so far and the latest failure; and an info line when it
	// closes, with how long it was open and how many commands it refused.
	// The half-open probes it lets through make no lines of their own.
	Logger          *slog.Logger
	SummaryInterval time.Duration
	// Name tells breakers apart in those lines ("redis" by default).
	Name string
	// Now is the clock of the log lines' durations; nil means time.Now.
	Now func() time.Time
}

// Breaker is a circuit breaker around every command of a go-redis client,
// installed as a redis.Hook. Connection errors and timeouts count as
// failures; a miss (redis.Nil), an error reply from a healthy server and a
// caller's cancellation do not. It is safe for concurrent use.
type Breaker struct {
	cb       atomic.Pointer[gobreaker.CircuitBreaker[struct{}]]
	settings gobreaker.Settings
	onChange func(from, to string)
	// gen numbers the gobreaker instances Reset swaps in; a state change
	// reported by a replaced one (a probe that finished after the swap)
	// is not passed on.
	gen     atomic.Uint64
	resetMu sync.Mutex // serialises Reset
	// refusal is the error refused commands get: ErrCircuitOpen until a
	// failure is counted, then an openError naming the latest failure.
	refusal atomic.Pointer[error]
	log     *breakerLog
}

var _ redis.Hook = (*Breaker)(nil)

// NewBreaker returns a closed Breaker.
func NewBreaker(o BreakerOptions) *Breaker {
	if o.FailureThreshold == 0 {
		o.FailureThreshold = 5
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 200 * time.Millisecond
	}
	if o.Probes == 0 {
		o.Probes = 1
	}
	st := gobreaker.Settings{
		Name:        "redis",
		MaxRequests: o.Probes,
		Timeout:     o.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= o.FailureThreshold
		},
		IsSuccessful: isHealthy,
		IsExcluded:   excluded,
	}
	b := &Breaker{settings: st, onChange: o.OnStateChange, log: newBreakerLog(o)}
	b.refusal.Store(&ErrCircuitOpen)
	b.settings.OnStateChange = func(name string, from, to gobreaker.State) {
		if name == b.name(b.gen.Load()) {
			b.changed(stateName(from), stateName(to))
		}
	}
	b.cb.Store(b.newCB(0))
	return b
}

func (b *Breaker) name(gen uint64) string { return "redis#" + strconv.FormatUint(gen, 10) }

func (b *Breaker) newCB(gen uint64) *gobreaker.CircuitBreaker[struct{}] {
	st := b.settings
	st.Name = b.name(gen)
	return gobreaker.NewCircuitBreaker[struct{}](st)
}

// State returns "closed", "open" or "half-open".
func (b *Breaker) State() string { return stateName(b.cb.Load().State()) }

// Reset closes the breaker at once, as when a Sentinel has just announced
// a new master: waiting out the open timeout would only delay the first
// command to it (see MasterFollower). A closed breaker is left alone.
func (b *Breaker) Reset() {
	b.resetMu.Lock()
	defer b.resetMu.Unlock()
	old := b.cb.Load()
	if old.State() == gobreaker.StateClosed {
		return
	}
	b.cb.Store(b.newCB(b.gen.Add(1)))
	b.changed(stateName(old.State()), "closed")
}

// changed reports a state change to OnStateChange and the log.
func (b *Breaker) changed(from, to string) {
	if b.onChange != nil {
		b.onChange(from, to)
	}
	b.log.changed(to, b.cause())
}

// cause is the latest failure counted, or ErrCircuitOpen before any.
func (b *Breaker) cause() error {
	if oe, ok := (*b.refusal.Load()).(*openError); ok {
		return oe.last
	}
	return ErrCircuitOpen
}

// Refused returns how many commands (a pipeline counting once) the
// breaker has refused since it was made.
func (b *Breaker) Refused() uint64 { return b.log.refused.Load() }

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half-open"
	}
	return "closed"
}

// excluded reports whether err is the caller's cancellation, which the
// breaker does not count either way.
func excluded(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// note remembers err as the latest failure if the breaker counts it as one.
func (b *Breaker) note(err error) {
	if !isHealthy(err) && !excluded(err) {
		var e error = &openError{last: err}
		b.refusal.Store(&e)
	}
}

// isHealthy reports whether err leaves the server looking healthy: no
// error, a miss, or an error reply other than the ones a server gives when
// it cannot serve (loading, no master, cluster down, read-only replica).
func isHealthy(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) && !isNetError(err) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
			if strings.HasPrefix(msg, p) {
				return false
			}
		}
		return true
	}
	return false
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// DialHook implements redis.Hook; dials are not wrapped (a failed dial fails
// the command that needed it, which is counted).
func (b *Breaker) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (b *Breaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isHandshake(cmd) {
			return next(ctx, cmd)
		}
		var err error
		_, berr := b.cb.Load().Execute(func() (struct{}, error) {
			err = next(ctx, cmd)
			b.note(err)
			return struct{}{}, err
		})
		if refused(berr) {
			rerr := *b.refusal.Load()
			b.log.refusal(b.cause())
			cmd.SetErr(rerr)
			return rerr
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook; a pipeline counts as one
// request.
func (b *Breaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && isHandshake(cmds[0]) {
			return next(ctx, cmds)
		}
		var err error
		_, berr := b.cb.Load().Execute(func() (struct{}, error) {
			err = next(ctx, cmds)
			b.note(err)
			return struct{}{}, err
		})
		if refused(berr) {
			rerr := *b.refusal.Load()
			b.log.refusal(b.cause())
			for _, c := range cmds {
				c.SetErr(rerr)
			}
			return rerr
		}
		return err
	}
}

// isHandshake reports whether cmd is one go-redis sends itself while
// setting up a new connection (through the same hooks). Those must pass: a
// half-open breaker's probe opens a connection, and refusing its handshake
// would fail the probe and keep the breaker open forever.
func isHandshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}

func refused(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
