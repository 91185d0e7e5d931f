package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/health"
)

// WarmSource is where a Warmer reads sessions from. *sqlstore.Store
// satisfies it. A run calls its methods concurrently (its sweeps read
// revocations while it reads sessions), so it must be safe for concurrent
// use.
type WarmSource interface {
	// Recent calls fn for the live sessions at now (not revoked, not
	// expired, not idle), most recently seen first, at most limit of
	// them. An error from fn stops the iteration and is returned.
	Recent(ctx context.Context, now time.Time, limit int, fn func(Record) error) error
	// RevokedSince calls fn for the sessions revoked at or after since
	// that expire after now, oldest revocation first: what the run's
	// revocation sweeps turn into tombstones. An error from fn stops the
	// iteration and is returned.
	RevokedSince(ctx context.Context, since, now time.Time, fn func(Revocation) error) error
}

// WarmOptions configures a Warmer. Source is required; every other field
// has a default.
type WarmOptions struct {
	// Source is read once per run. The Warmer does not close it.
	Source WarmSource
	// Limit is the most sessions one run writes. Default 100 000.
	Limit int
	// BatchSize is the number of SET commands in one pipeline. Default
	// 1000. With a Rate, a batch holds at most Rate/200 sessions (5 ms
	// worth), so writes arrive evenly rather than in one burst a second.
	BatchSize int
	// Concurrency is the number of pipelines in flight. Default 2.
	Concurrency int
	// Rate caps the sessions written per second; 0 means no cap.
	Rate float64
	// Backoff slows a rate-limited run while request latency rises (see
	// WarmBackoff); it is on by default whenever Rate is set.
	Backoff WarmBackoff
	// BatchTimeout bounds one pipeline. Default 5s.
	BatchTimeout time.Duration
	// Logger receives one line per run and the reasons for automatic
	// runs; nil means the Service's logger.
	Logger *slog.Logger
	// OnProgress, when set, is called after every batch and when a run
	// ends, never concurrently with itself. It must be quick.
	OnProgress func(WarmProgress)
	// OnResult, when set, is called once at the end of every run (start-up,
	// on demand or automatic) with why it ran, its result and its error,
	// for cumulative metrics. It must be quick.
	OnResult func(reason string, res WarmResult, err error)
}

// The warmer's state and progress are the health package's types.
type (
	WarmState    = health.WarmState
	WarmProgress = health.WarmProgress
)

// Warmer states.
const (
	WarmIdle    = health.WarmIdle
	WarmRunning = health.WarmRunning
	WarmDone    = health.WarmDone
	WarmFailed  = health.WarmFailed
)

// WarmResult summarises one run.
type WarmResult struct {
	// Considered counts the sessions read from the store.
	Considered int
	// Written counts SETs Redis accepted.
	Written int
	// Skipped counts SETs Redis refused because the key existed (a newer
	// copy, a tombstone or an "absent" marker).
	Skipped int
	// Expired counts sessions not written because their deadline passed
	// before they could be.
	Expired int
	// Batches counts the pipelines sent; Errors the SETs that failed.
	Batches int
	Errors  int
	// Revoked counts the revocations the run's sweeps wrote as tombstones,
	// each once. They are not among the sessions counted above, and as a
	// sweep reaches back a minute before the run's snapshot, consecutive
	// runs may each count the same revocation.
	Revoked int
	// Duration is the run's wall time.
	Duration time.Duration
}

// ErrRedisChanged is returned by Run when the Redis server it writes to
// was replaced (restart or failover) during the run. The run stops so the
// next one starts from a fresh read of the store; Watch starts it.
var ErrRedisChanged = errors.New("session warm: redis server changed during the run")

// Warmer copies the most recently active live sessions from the store
// into Redis, so that after a start-up or a Redis restart validations hit
// Redis instead of the store. Create it with Service.NewWarmer; the zero
// value is not usable. It is safe for concurrent use: runs are serialised
// (a Run called during another waits for it), and Progress may be called
// at any time.
//
// Each session is written with SET key value PXAT deadline NX, deadline
// being the Service's own rule (CacheTTL from now, never past the
// session's expiry or idle deadline), so a run never replaces a copy
// written by Create or a fill, a tombstone or an "absent" marker. A run
// also writes the tombstones of the sessions revoked since a minute before
// its snapshot, every second while it writes and once more after it,
// whatever stopped it: a copy it wrote of a session revoked meanwhile is
// replaced within about a second, and none outlives a run that returns no
// error. The package documentation ("Warming") gives the argument and its
// limits; docs/CACHE-WARMING.md the details.
type Warmer struct {
	// What NewWarmer takes from the Service; the Warmer uses nothing else
	// of it.
	svc          warmService
	rdb          redis.UniversalClient // Options.Redis
	now          func() time.Time      // Options.Now
	prefix       string                // Options.KeyPrefix
	redisTimeout time.Duration         // Options.RedisTimeout

	opts WarmOptions
	log  *slog.Logger

	runMu sync.Mutex // held for the whole of a run

	mu       sync.Mutex // guards the fields below
	prog     WarmProgress
	knownID  string // run_id of the server the last run started on
	knownSet bool
	// knownMasters maps each Cluster master's node ID to its run_id, as
	// the last run or check saw them (Cluster only; nil: not recorded).
	knownMasters map[string]string
	// failedSlots are the slots of the last run when it failed (nil: all),
	// so its retry covers what it did.
	failedSlots *slotSet
	failures    int             // consecutive failed runs
	ctl         *warmController // the current run's back-off, or nil
	// sweepBacklog is the lower bound of a last sweep that failed (zero:
	// none): the next run sweeps from there at the latest.
	sweepBacklog time.Time

	cbMu sync.Mutex // serialises OnProgress
}

// warmService is the seam between a Warmer and its Service: what a
// Warmer does through the Service rather than with plain Redis commands.
// *Service implements it.
type warmService interface {
	// Key and redisDeadline are the cache layout: a session's Redis key,
	// and when its copy must leave Redis (CacheTTL from now, never past
	// the session's own deadline), as fills write them.
	Key(h TokenHash) string
	redisDeadline(sess *Session, now time.Time) time.Time
	// applyRevocations writes tombstones and their invalidation messages
	// as Revoke does; invalidateLocal drops a session from this
	// instance's L1; queueRevocations hands tombstones Redis refused to
	// the revocation retrier; countRedisError counts a failed Redis step
	// in Stats.RedisErrors.
	applyRevocations(ctx context.Context, revs []Revocation) error
	invalidateLocal(h TokenHash)
	queueRevocations(revs []Revocation)
	countRedisError()
	// startBackgroundSpan starts a span with the Service's tracer (a
	// no-op span without one, or without a parent span unless
	// Options.TraceBackground); validationLatency is the histogram of the
	// validations' Redis round trips, which the back-off steers by.
	startBackgroundSpan(ctx context.Context, name string) (context.Context, trace.Span)
	validationLatency() *latHist
}

var _ warmService = (*Service)(nil)

// NewWarmer returns a Warmer that writes through the Service's Redis
// client with the Service's key layout and cache deadlines. It starts no
// goroutine; Run and Watch do the work. It panics if opts.Source is nil.
func (s *Service) NewWarmer(opts WarmOptions) *Warmer {
	if opts.Source == nil {
		panic("session: WarmOptions.Source is required")
	}
	if opts.Limit <= 0 {
		opts.Limit = 100_000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Rate < 0 {
		opts.Rate = 0
	}
	if opts.Rate > 0 {
		opts.BatchSize = max(1, min(opts.BatchSize, int(opts.Rate/200)))
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = 5 * time.Second
	}
	if opts.Rate > 0 {
		opts.Backoff.setDefaults(opts.Rate)
	}
	log := opts.Logger
	if log == nil {
		log = s.log
	}
	return &Warmer{
		svc: s, rdb: s.rdb, now: s.now, prefix: s.opts.KeyPrefix, redisTimeout: s.opts.RedisTimeout,
		opts: opts, log: log, prog: WarmProgress{Limit: opts.Limit},
	}
}

// Progress returns the current state of the Warmer.
func (w *Warmer) Progress() WarmProgress {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.prog
}

// Span attribute keys of the session.warm span.
var (
	attrWarmReason  = attribute.Key("studio.warm.reason")
	attrWarmRead    = attribute.Key("studio.warm.considered")
	attrWarmWritten = attribute.Key("studio.warm.written")
	attrWarmSkipped = attribute.Key("studio.warm.skipped")
	attrWarmExpired = attribute.Key("studio.warm.expired")
	attrWarmBatches = attribute.Key("studio.warm.batches")
	attrWarmErrors  = attribute.Key("studio.warm.errors")
	attrWarmRevoked = attribute.Key("studio.warm.revoked")
)

// Run warms Redis once: it reads up to Limit live sessions from the
// Source, most recently seen first, and writes them in pipelined batches
// of SET … PXAT … NX, Concurrency pipelines at a time, at most Rate
// sessions a second. Sessions whose deadline has passed are not written.
//
// Run returns when every batch has been answered or the run stopped: on
// ctx's end, a store error, a pipeline that failed as a whole (Redis
// unreachable), or ErrRedisChanged. Individual SETs that fail are counted
// in WarmResult.Errors and the run goes on; Run then returns an error
// too. After the last batch, also when the run failed or ctx ended, the
// final revocation sweep runs (for at most a minute, or BatchTimeout once
// ctx has ended); an error of its own is joined to Run's. The result
// counts what was done either way. The goroutines of the run have stopped
// when Run returns. The run is recorded in a session.warm span when the
// Service has a tracer.
func (w *Warmer) Run(ctx context.Context) (WarmResult, error) {
	return w.run(ctx, "on demand", nil)
}

// RunBecause is Run with the reason Progress, the span and the logs give
// for the run (Run's is "on demand"); studio serve's first run says
// "start-up".
func (w *Warmer) RunBecause(ctx context.Context, reason string) (WarmResult, error) {
	return w.run(ctx, reason, nil)
}

// warmRun holds the counters of one run.
type warmRun struct {
	read, done, written, skipped, expired, batches, errors, revoked atomic.Int64
	lastErr                                                         atomic.Value // string
}

// result is the run's WarmResult as counted so far.
func (c *warmRun) result(took time.Duration) WarmResult {
	return WarmResult{
		Considered: int(c.read.Load()), Written: int(c.written.Load()), Skipped: int(c.skipped.Load()),
		Expired: int(c.expired.Load()), Batches: int(c.batches.Load()), Errors: int(c.errors.Load()),
		Revoked: int(c.revoked.Load()), Duration: took,
	}
}

// failedWrites is the error of a run some of whose SETs failed, or nil.
func (c *warmRun) failedWrites() error {
	failed := c.errors.Load()
	if failed == 0 {
		return nil
	}
	last, _ := c.lastErr.Load().(string)
	return fmt.Errorf("session warm: %d of %d writes failed, last: %s",
		failed, c.written.Load()+c.skipped.Load()+failed, last)
}

// run is Run with a reason, and only the keys in slots when slots is not
// nil (a Cluster master that lost its data: the other masters kept
// theirs). Sessions of other slots count as considered, not written.
//
// Whatever stops the run, its end is recorded in this order: the result,
// Progress (with OnProgress), the span, the log line, then OnResult.
func (w *Warmer) run(ctx context.Context, reason string, slots *slotSet) (WarmResult, error) {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	began := time.Now()
	ctx, span := w.svc.startBackgroundSpan(ctx, "session.warm")
	var c warmRun
	w.begin(reason)
	err := w.warm(ctx, slots, &c)
	res := c.result(time.Since(began))
	w.end(&c, slots, err)
	endWarmSpan(span, reason, res, err)
	w.logEnd(reason, res, err)
	if w.opts.OnResult != nil {
		w.opts.OnResult(reason, res, err)
	}
	return res, err
}

// warm is the work of a run, in phases: mark the server; start the
// back-off; take the snapshot and write it while intermediate revocation
// sweeps run; then, however the writes ended (done, failed or
// cancelled), the final sweep; then stop the back-off. A run that cannot
// mark the server writes and sweeps nothing. It returns the error that
// stopped the run (marking the server, the read or the writes) or, if
// none did, the count of SETs that failed; the final sweep's error is
// joined to either.
func (w *Warmer) warm(ctx context.Context, slots *slotSet, c *warmRun) error {
	runID, err := w.markServer(ctx)
	if err != nil {
		return err
	}
	lim, ctl := w.startBackoff(ctx)
	// The store is read as of snap. What is revoked from a little before
	// it on is swept as tombstones while the run writes and after it (see
	// warm_sweep.go).
	snap := w.now()
	sw := w.newSweep(snap)
	stopSweeps := w.startSweeps(ctx, sw, c)
	err = w.writeSnapshot(ctx, snap, slots, lim, runID, c)
	stopSweeps()
	// Always, even after a failure or a cancellation: copies the run
	// wrote must not outlive a revocation.
	sweepErr := w.finalSweep(ctx, sw, c)
	w.stopBackoff(ctl)
	if err == nil {
		err = c.failedWrites()
	}
	if sweepErr != nil {
		err = errors.Join(err, fmt.Errorf("session warm: %w", sweepErr))
	}
	return err
}

// begin records the start of a run in Progress and the log.
func (w *Warmer) begin(reason string) {
	w.mu.Lock()
	w.prog = WarmProgress{State: WarmRunning, Reason: reason, Limit: w.opts.Limit, Runs: w.prog.Runs + 1, Started: w.now()}
	w.mu.Unlock()
	w.notify()
	w.log.Info("cache warm started", "reason", reason, "limit", w.opts.Limit, "rate", w.opts.Rate, "concurrency", w.opts.Concurrency)
}

// markServer reads the identity of the server the run starts on (every
// batch checks it against the run_id returned; "" in a Cluster), refuses
// a replica, remembers the server for Watch and writes the warm marker.
func (w *Warmer) markServer(ctx context.Context) (runID string, err error) {
	idCtx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
	runID, role, err := w.identity(idCtx)
	cancel()
	if err != nil {
		return "", fmt.Errorf("session warm: read redis identity: %w", err)
	}
	if role != "" && role != "master" {
		return "", fmt.Errorf("session warm: redis is a %s, not a master", role)
	}
	w.mu.Lock()
	w.knownID, w.knownSet = runID, true
	w.mu.Unlock()
	if runID != "" {
		// The marker tells Watch whether this server still holds what was
		// warmed (see Watch). It has no TTL and no session key's name.
		mctx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
		err = w.rdb.Set(mctx, w.markerKey(), runID, 0).Err()
		cancel()
		if err != nil {
			return "", fmt.Errorf("session warm: write marker: %w", err)
		}
	} else if cc, ok := w.rdb.(*redis.ClusterClient); ok {
		// One marker per master (see Watch). Without them Watch cannot
		// tell a restart later, but the sessions can still be warmed: a
		// master that does not answer fails its own batches only.
		mctx, cancel := context.WithTimeout(ctx, w.opts.BatchTimeout)
		err = w.writeClusterMarkers(mctx, cc)
		cancel()
		if err != nil {
			w.log.Warn("cache warm: cluster markers not written; warming anyway", "error", err)
		}
	}
	return runID, nil
}

// end records the end of a run in Progress (and tells OnProgress), and
// for Watch's retry how many runs in a row failed and over which slots.
func (w *Warmer) end(c *warmRun, slots *slotSet, err error) {
	w.mu.Lock()
	w.fillProgress(c)
	w.prog.Finished = w.now()
	w.prog.State = WarmDone
	if err != nil {
		w.prog.State = WarmFailed
		w.prog.LastError = err.Error()
		w.failures++ // consecutive: the retry delay doubles with it
		w.failedSlots = slots
	} else {
		w.failures = 0
		w.failedSlots = nil
	}
	w.mu.Unlock()
	w.notify()
}

// endWarmSpan sets the run's counts and status on its span and ends it.
func endWarmSpan(span trace.Span, reason string, res WarmResult, err error) {
	if span.IsRecording() {
		span.SetAttributes(attrWarmReason.String(reason), attrWarmRead.Int(res.Considered),
			attrWarmWritten.Int(res.Written), attrWarmSkipped.Int(res.Skipped), attrWarmExpired.Int(res.Expired),
			attrWarmBatches.Int(res.Batches), attrWarmErrors.Int(res.Errors), attrWarmRevoked.Int(res.Revoked))
		if err != nil {
			span.SetStatus(codes.Error, "warm failed")
			span.RecordError(err)
		}
	}
	span.End()
}

// logEnd writes the run's one log line.
func (w *Warmer) logEnd(reason string, res WarmResult, err error) {
	attrs := []any{"reason", reason, "considered", res.Considered, "written", res.Written, "skipped", res.Skipped,
		"expired", res.Expired, "batches", res.Batches, "errors", res.Errors, "revoked", res.Revoked, "duration", res.Duration}
	if err != nil {
		w.log.Warn("cache warm failed", append(attrs, "error", err)...)
	} else {
		w.log.Info("cache warm done", attrs...)
	}
}

// fillProgress copies the run's counters into w.prog. w.mu must be held.
func (w *Warmer) fillProgress(c *warmRun) {
	w.prog.Read = int(c.read.Load())
	w.prog.Done = int(c.done.Load())
	w.prog.Written = int(c.written.Load())
	if w.ctl != nil {
		w.prog.RateNow = float64(w.ctl.rateNow.Load())
		w.prog.Backoffs = w.ctl.backoffs.Load()
	}
}

func (w *Warmer) notify() {
	if w.opts.OnProgress == nil {
		return
	}
	w.cbMu.Lock()
	defer w.cbMu.Unlock()
	w.opts.OnProgress(w.Progress())
}
