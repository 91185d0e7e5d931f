// Package loadgen is Studio's load generator: it drives a Target (the HTTP
// API, a session.Service in process, or a baseline) with a mix of
// validate, create and revoke operations from many goroutines, over a pool
// of sessions picked with a Zipf distribution, and reports throughput,
// latency quantiles and errors by kind per operation.
//
// # Closed and open loop
//
// With Options.Rate zero the generator runs a closed loop: each of
// Concurrency workers sends its next operation as soon as the previous one
// returns, so the offered load adapts to the target and a latency is
// measured from the moment the operation was sent. That finds the
// target's throughput, but its latency quantiles hide queueing: while the
// target stalls, the workers send nothing, so the stall is recorded once
// instead of once per request that would have arrived during it
// ("coordinated omission").
//
// With Options.Rate > 0 the generator runs an open loop: operation k is
// scheduled at the fixed intended time start + k/Rate, whatever happened
// before; the next free worker takes it, waits until its intended time if
// it is early, and sends it. When no worker was free at the intended time
// (the target is slow), its latency is measured from the intended time,
// not from when it was sent, so time spent waiting for a free worker
// counts, as it would for a real client. When the worker was early and
// slept, up to 2 ms of its timer's lateness is forgiven (it is measured
// from the wake-up): Go's timers can fire up to about a millisecond late
// on an idle process (the runtime's poller sleeps in whole milliseconds),
// and that lateness is the generator's, not the target's. Lateness beyond
// that (a GC pause or CPU starvation that delays every wake-up) counts. The delay between intended and actual
// start, both kinds, is reported separately (Result.Schedule). Operations not started by the end of the run are
// counted as Schedule.NotSent. Concurrency must be large enough for
// Rate × latency; otherwise the schedule falls behind and NotSent grows.
//
// # The session pool
//
// Run first creates Options.Sessions sessions through the Target, or takes
// the tokens of existing ones from Options.Tokens (a store seeded
// beforehand). A
// validation picks one with a Zipf distribution over their ranks (rank 0
// the hottest), a revoke picks one uniformly and takes it out of the pool
// before revoking it, a create adds its new session in the slot a revoke
// freed (or, when none is free, in place of a random one). A validation
// refused because a concurrent revoke took its token is counted as
// Result.RevokeRaced, not as an error.
//
// A Spread drives several targets as one, each worker keeping to one of
// them (WorkerOf), as a load balancer spreads keep-alive connections over
// servers; Result.Shares then splits the validations by target.
//
// Each successfully revoked token is validated once more by a later
// validate operation of the mix (not an extra one), started after the
// revoke returned. It must be refused: that is counted in
// Result.RevokedChecked; if it succeeds it is the correctness error
// KindRevokedAccepted, counted in Result.RevokedAccepted and among the
// validate errors.
//
// The package reads no environment and keeps no global state.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultConcurrency      = 32
	DefaultDuration         = 10 * time.Second
	DefaultSessions         = 1000
	DefaultProgressInterval = 250 * time.Millisecond
	// DefaultZipf is the exponent the command line uses by default; a zero
	// Options.Zipf means uniform.
	DefaultZipf = 1.1
)

// Options configures a Run.
type Options struct {
	// Target is what to drive. Required.
	Target Target
	// Concurrency is the number of workers, each with at most one
	// operation in flight. Default DefaultConcurrency.
	Concurrency int
	// Rate is the target rate in operations per second for an open loop;
	// 0 runs a closed loop as fast as the target answers (see the package
	// documentation).
	Rate float64
	// Duration is the measured time. Default DefaultDuration.
	Duration time.Duration
	// Warmup runs the load for this long before measuring; its operations
	// are not in the results. Default 0.
	Warmup time.Duration
	// Sessions is the number of sessions created before the run.
	// Default DefaultSessions. With Tokens it must be 0 or len(Tokens).
	Sessions int
	// Tokens, if not empty, are the tokens of existing sessions: the pool
	// is made of them (Sessions becomes len(Tokens)) and none is created
	// before the run, so a run can validate a store seeded beforehand
	// (`studio bench --seed`). Run does not keep the slice.
	Tokens []string
	// Zipf is the exponent s of the Zipf distribution validations pick
	// sessions with (P(rank k) ∝ (1+k)^-s); it must be 0 (uniform) or
	// greater than 1. The command line's default is DefaultZipf.
	Zipf float64
	// Mix weighs the operations; the zero Mix means validations only.
	Mix Mix
	// OnProgress, if set, is called every ProgressInterval from one
	// goroutine while Run runs; it must return quickly.
	OnProgress func(Progress)
	// ProgressInterval is the period of OnProgress. Default
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// Seed seeds the workers' random choices; 0 picks one at random.
	Seed uint64
}

// Progress is a report of a running Run.
type Progress struct {
	// Phase is "setup" (creating the sessions), "warmup" or "run".
	Phase string
	// Elapsed is the time since the phase began; Length its planned
	// length (0 for setup).
	Elapsed, Length time.Duration
	// Done counts the sessions created (setup) or the operations
	// completed in the phase; Of is the number of sessions to create
	// (setup only).
	Done, Of int64
	// Errors counts the operations of the phase that failed.
	Errors int64
	// OpsPerSec is the completion rate since the previous report.
	OpsPerSec float64
}

func (o *Options) check() error {
	switch {
	case o.Target == nil:
		return errors.New("loadgen: Options.Target is required")
	case o.Concurrency < 0:
		return fmt.Errorf("loadgen: concurrency %d: must be positive", o.Concurrency)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("loadgen: rate %v: must be a finite number, 0 or more", o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("loadgen: duration %v: must be positive", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("loadgen: warmup %v: must not be negative", o.Warmup)
	case o.Sessions < 0:
		return fmt.Errorf("loadgen: sessions %d: must be positive", o.Sessions)
	case len(o.Tokens) > 0 && o.Sessions != 0 && o.Sessions != len(o.Tokens):
		return fmt.Errorf("loadgen: sessions %d with %d tokens: give one or the other", o.Sessions, len(o.Tokens))
	case o.Zipf != 0 && !(o.Zipf > 1) || math.IsInf(o.Zipf, 0):
		return fmt.Errorf("loadgen: zipf %v: must be 0 (uniform) or a finite number greater than 1", o.Zipf)
	}
	if !o.Mix.isZero() {
		if err := o.Mix.Check(); err != nil {
			return fmt.Errorf("loadgen: mix: %w", err)
		}
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if len(o.Tokens) > 0 {
		o.Sessions = len(o.Tokens)
	}
	if o.Sessions == 0 {
		o.Sessions = DefaultSessions
	}
	if o.Mix.isZero() {
		o.Mix = Mix{Validate: 100}
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
}

// Run creates Options.Sessions sessions, then drives the target for
// Warmup + Duration, and returns the measured results. It returns an error
// without a Result for bad options or when a session of the setup cannot
// be created. When ctx ends during the run it stops at once and returns
// the results so far (Interrupted set) with ctx's error. All its
// goroutines have stopped when it returns; sessions it created are left
// to expire.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	r := &runner{opts: opts, pool: newPool(opts.Sessions), revoked: make(chan string, 1024)}
	cum := 0.0
	for i, w := range opts.Mix.weights() {
		cum += w
		r.cum[i] = cum
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	return r.run(ctx)
}

type runner struct {
	opts    Options
	pool    *pool
	revoked chan string // revoked tokens waiting for their re-check
	cum     [numOps]float64

	start, measure, end time.Time
	ticket              atomic.Int64 // next open-loop operation
	workers             []*worker
}

// setup creates the pool's sessions with up to Concurrency goroutines, or
// fills the pool with Options.Tokens.
func (r *runner) setup(ctx context.Context) error {
	if len(r.opts.Tokens) > 0 {
		for i, tok := range r.opts.Tokens {
			r.pool.set(i, tok)
		}
		r.opts.Tokens = nil
		return ctx.Err()
	}
	n := r.opts.Sessions
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, created atomic.Int64
	var once sync.Once
	var firstErr error
	stop := r.report(func(p *Progress) {
		p.Phase, p.Done, p.Of = "setup", created.Load(), int64(n)
	})
	var wg sync.WaitGroup
	for range min(r.opts.Concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				tok, err := r.opts.Target.Create(ctx)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("loadgen: create session %d of %d: %w", i+1, n, err); cancel() })
					return
				}
				r.pool.set(i, tok)
				created.Add(1)
			}
		})
	}
	wg.Wait()
	stop()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// report calls OnProgress every ProgressInterval with what fill sets, and
// returns a function that stops it.
func (r *runner) report(fill func(*Progress)) (stop func()) {
	if r.opts.OnProgress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var p Progress
				fill(&p)
				r.opts.OnProgress(p)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	o := r.opts
	r.start = time.Now()
	r.measure = r.start.Add(o.Warmup)
	r.end = r.measure.Add(o.Duration)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r.workers = make([]*worker, o.Concurrency)
	for i := range r.workers {
		r.workers[i] = newWorker(r, o.Seed, uint64(i))
	}
	// Progress: completed operations and errors per phase.
	var phaseDone, phaseErrs, lastDone int64
	phase, lastT := "", r.start
	stop := r.report(func(p *Progress) {
		now := time.Now()
		var done, errs int64
		for _, w := range r.workers {
			done += w.done.Load()
			errs += w.errs.Load()
		}
		cur, begin, length := "run", r.measure, o.Duration
		if now.Before(r.measure) {
			cur, begin, length = "warmup", r.start, o.Warmup
		}
		if cur != phase {
			phase, phaseDone, phaseErrs = cur, done, errs
		}
		p.Phase, p.Elapsed, p.Length = cur, min(now.Sub(begin), length), length
		p.Done, p.Errors = done-phaseDone, errs-phaseErrs
		if dt := now.Sub(lastT).Seconds(); dt > 0 {
			p.OpsPerSec = float64(done-lastDone) / dt
		}
		lastDone, lastT = done, now
	})
	var wg sync.WaitGroup
	for i, w := range r.workers {
		// The worker's index rides in its context (WorkerOf); made once,
		// it shares ctx's Done channel, so a request costs nothing more.
		wctx := context.WithValue(ctx, workerKey{}, i)
		wg.Go(func() {
			if o.Rate > 0 {
				w.openLoop(wctx)
			} else {
				w.closedLoop(wctx)
			}
		})
	}
	wg.Wait()
	stop()
	finished := time.Now()
	res := r.result(finished, ctx.Err() != nil)
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	return res, nil
}

// worker is one goroutine's state: its random source and its own
// recorders, merged when the run ends.
type worker struct {
	r    *runner
	rng  *rand.Rand
	zipf *rand.Zipf
	rec  [numOps]recorder
	lag  recorder // open loop: actual start − intended start
	// Counters of the measured window.
	checked, accepted, raced int64
	// For progress, every phase.
	done, errs atomic.Int64
	_          [64]byte // keep the next worker's counters off this cache line
}

func newWorker(r *runner, seed, i uint64) *worker {
	w := &worker{r: r, rng: rand.New(rand.NewPCG(seed, i))}
	if r.opts.Zipf > 1 && len(r.pool.slots) > 1 {
		w.zipf = rand.NewZipf(w.rng, r.opts.Zipf, 1, uint64(len(r.pool.slots)-1))
	}
	for i := range w.rec {
		w.rec[i] = newRecorder()
	}
	w.lag = newRecorder()
	return w
}

// timerSlack is the most lateness of a sleeping worker's timer the open
// loop forgives: Go's timers fire up to about 1 ms late on an idle process.
const timerSlack = 2 * time.Millisecond

// makePacer makes each open-loop worker's pacer (a variable for tests).
var makePacer = newPacer

// closedLoop sends each operation as soon as the previous one returned:
// the end time of one is the start of the next (one clock read per
// operation instead of two).
func (w *worker) closedLoop(ctx context.Context) {
	t0 := time.Now()
	for t0.Before(w.r.end) && ctx.Err() == nil {
		t0 = w.one(ctx, t0)
	}
}

func (w *worker) openLoop(ctx context.Context) {
	r := w.r
	p := makePacer(ctx)
	defer func() { p.close() }()
	for {
		k := r.ticket.Add(1) - 1
		intended := r.start.Add(time.Duration(float64(k) / r.opts.Rate * float64(time.Second)))
		if !intended.Before(r.end) {
			return
		}
		slept := false
		if time.Until(intended) > 0 {
			if err := p.sleepUntil(intended); err != nil {
				if ctx.Err() != nil {
					return
				}
				// The precise pacer failed (it should not): finish the
				// run on a Go timer rather than drop this worker's load.
				p.close()
				p = newTimerPacer(ctx)
				if p.sleepUntil(intended) != nil {
					return
				}
			}
			slept = true
		}
		now := time.Now()
		if !now.Before(r.end) || ctx.Err() != nil {
			return // not sent: counted from the schedule
		}
		if !intended.Before(r.measure) {
			w.lag.add(now.Sub(intended))
		}
		// A worker that was early and slept is late by its timer's
		// lateness, the generator's own: up to timerSlack of it is
		// forgiven (measured from the wake-up), no more, so a longer stall
		// of the whole process (a GC pause, CPU starvation) still counts.
		// A worker that was busy is late because the target was slow:
		// measure from the intended time.
		from := intended
		if slept {
			from = intended.Add(timerSlack)
			if now.Before(from) {
				from = now
			}
		}
		_ = w.oneFrom(ctx, intended, from)
	}
}

// pickOp draws an operation by the mix's weights.
func (w *worker) pickOp() Op {
	x := w.rng.Float64() * w.r.cum[numOps-1]
	for i, c := range w.r.cum {
		if x < c {
			return Op(i)
		}
	}
	return OpValidate
}

func (w *worker) rank() int {
	if w.zipf != nil {
		return int(w.zipf.Uint64())
	}
	return w.rng.IntN(len(w.r.pool.slots))
}

// one runs one operation scheduled at intended (closed loop: sent at
// intended) and records it if intended falls in the measured window. It
// returns the time the operation ended (or, if it was skipped, now).
func (w *worker) one(ctx context.Context, intended time.Time) time.Time {
	return w.oneFrom(ctx, intended, intended)
}

// oneFrom is one with the latency measured from "from" instead of
// intended (see openLoop); intended still decides whether it is measured.
func (w *worker) oneFrom(ctx context.Context, intended, from time.Time) time.Time {
	r := w.r
	op := w.pickOp()
	measured := !intended.Before(r.measure)
	var err error
	var kind string
	switch op {
	case OpValidate:
		var tok string
		recheck := false
		slot, p := -1, (*string)(nil)
		select {
		case tok = <-r.revoked:
			recheck = true
		default:
			if slot, p = r.pool.pick(w.rank()); p == nil {
				w.skip(op, measured)
				return time.Now()
			}
			tok = *p
		}
		err = r.opts.Target.Validate(ctx, tok)
		kind = KindOf(err)
		switch {
		case recheck && err == nil:
			kind = KindRevokedAccepted
			if measured {
				w.accepted++
			}
		case recheck && kind == KindRejected:
			kind = ""
			if measured {
				w.checked++
			}
		case !recheck && kind == KindRejected && !r.pool.holds(slot, p):
			kind = ""
			if measured {
				w.raced++
			}
		}
	case OpCreate:
		var tok string
		tok, err = r.opts.Target.Create(ctx)
		kind = KindOf(err)
		if err == nil {
			r.pool.add(tok, w.rng.IntN(len(r.pool.slots)))
		}
	case OpRevoke:
		slot, p := r.pool.take(w.rng.IntN(len(r.pool.slots)))
		if p == nil {
			w.skip(op, measured)
			return time.Now()
		}
		err = r.opts.Target.Revoke(ctx, *p)
		kind = KindOf(err)
		r.pool.release(slot)
		if err == nil {
			select {
			case r.revoked <- *p:
			default:
			}
		}
	}
	end := time.Now()
	if err != nil && ctx.Err() != nil {
		return end // interrupted: not a result
	}
	w.done.Add(1)
	if kind != "" {
		w.errs.Add(1)
	}
	if measured {
		w.rec[op].record(end.Sub(from), kind)
	}
	return end
}

func (w *worker) skip(op Op, measured bool) {
	if measured {
		w.rec[op].skipped++
	}
}
