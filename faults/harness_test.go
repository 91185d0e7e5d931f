package faults_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// Shape of the workload and of every fault run. Small on purpose: the
// whole package must run in about two minutes on two shared cores.
const (
	poolSize      = 300                    // sessions created before the run (Zipf-validated)
	preRevoked    = 20                     // of which revoked before the run
	validators    = 3                      // Zipf validators
	validatePace  = time.Millisecond       // pause between one validator's calls
	createEvery   = 25 * time.Millisecond  // the creator's pace
	revokeEvery   = 100 * time.Millisecond // the revoker's pace
	callTimeout   = 3 * time.Second        // a caller's own deadline per call
	warmup        = 1500 * time.Millisecond
	settle        = 1500 * time.Millisecond // workload kept running after recovery
	recoveryBound = 15 * time.Second        // the generous bound asserted
	drainBound    = 15 * time.Second        // queued revocations must reach Redis within
)

// env is one Studio instance's session layer, built the way `studio serve`
// builds it: redisconn.Open with a circuit breaker and Studio's short
// timeouts (dial 500 ms, read/write 300 ms, one retry), a MasterFollower
// in Sentinel mode, and a SQL store.
type env struct {
	t       *testing.T
	rc      redisconn.Config // without Breaker; each client gets its own
	breaker *redisconn.Breaker
	rdb     redis.UniversalClient
	store   *sqlstore.Store
	svc     *session.Service
	// svcOpts adjust the Options of every Service the env opens.
	svcOpts []func(*session.Options)
}

// newEnv opens the store (dsn "" means a SQLite file in a temp dir) and a
// Service on rc. With rc.Sentinels a MasterFollower is started, as serve
// does. opts adjust the Options of every Service it opens.
func newEnv(t *testing.T, rc redisconn.Config, dsn string, opts ...func(*session.Options)) *env {
	t.Helper()
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "sessions.db")
	}
	store, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, rc: rc, store: store, svcOpts: opts}
	e.breaker = redisconn.NewBreaker(redisconn.BreakerOptions{})
	orc := rc
	orc.Breaker = e.breaker
	if rc.Mode() == "sentinel" {
		f, err := redisconn.NewMasterFollower(orc, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		orc.Follower = f
		e.rc.Follower = f
	}
	e.rdb, e.svc = e.open(orc)
	return e
}

// open returns a Redis client and a Service on it, both closed when the
// test ends.
func (e *env) open(rc redisconn.Config) (redis.UniversalClient, *session.Service) {
	e.t.Helper()
	rdb, err := redisconn.Open(rc)
	if err != nil {
		e.t.Fatalf("open redis: %v", err)
	}
	e.t.Cleanup(func() { rdb.Close() })
	o := session.Options{Store: e.store, Redis: rdb}
	for _, f := range e.svcOpts {
		f(&o)
	}
	svc, err := session.NewService(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { svc.Close() })
	return rdb, svc
}

// fresh returns a second Service on the same store and Redis with its own
// client and breaker: a cold L1, as a newly started instance has.
func (e *env) fresh() *session.Service {
	rc := e.rc
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{})
	_, svc := e.open(rc)
	return svc
}

// redisAnswers is the recovery probe of the Redis faults: a SET through
// the Service's own client (so through its breaker) succeeds within the
// read timeout, and the breaker is closed.
func (e *env) redisAnswers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := e.rdb.Set(ctx, "faults:probe", time.Now().UnixNano(), time.Minute).Err(); err != nil {
		return err
	}
	if st := e.breaker.State(); st != "closed" {
		return fmt.Errorf("breaker %s", st)
	}
	return nil
}

// token is one session the workload knows. Times are unix nanoseconds.
type token struct {
	tok       string
	revStart  atomic.Int64 // a Revoke of it started; 0 never
	revDone   atomic.Int64 // a Revoke of it returned nil; 0 never
	revFailed atomic.Bool  // a Revoke returned an error: its state is unknown
	created   bool         // created during the run (an acknowledged create)
}

// live reports whether the token must still validate: no Revoke was ever
// started on it.
func (k *token) live() bool { return k.revStart.Load() == 0 }

// revoked reports whether a Revoke of it returned nil.
func (k *token) revoked() bool { return k.revDone.Load() != 0 }

// Phases of a run, for latency sketches.
const (
	phaseBefore = iota
	phaseDuring // from the fault's start to recovery
	phaseAfter
	numPhases
)

// opStats records one kind of operation: latency by phase (DDSketch, 1 %
// relative accuracy), outcomes and errors by kind.
type opStats struct {
	mu     sync.Mutex
	sk     [numPhases]*ddsketch.DDSketch
	ok     [numPhases]int
	failed [numPhases]int
	kinds  map[string]int
	sample map[string]string
}

func newOpStats() *opStats {
	s := &opStats{kinds: map[string]int{}, sample: map[string]string{}}
	for i := range s.sk {
		sk, err := ddsketch.NewDefaultDDSketch(0.01)
		if err != nil {
			panic(err)
		}
		s.sk[i] = sk
	}
	return s
}

func (s *opStats) record(phase int, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.sk[phase].Add(float64(d) / float64(time.Millisecond))
	if err == nil {
		s.ok[phase]++
		return
	}
	s.failed[phase]++
	k := errKind(err)
	s.kinds[k]++
	if _, ok := s.sample[k]; !ok {
		s.sample[k] = err.Error()
	}
}

func (s *opStats) totals() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range numPhases {
		ok += s.ok[p]
		failed += s.failed[p]
	}
	return ok, failed
}

func (s *opStats) failedIn(phase int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[phase]
}

// p99 returns the 99th percentile latency of a phase in milliseconds (0
// when nothing ran then).
func (s *opStats) p99(phase int) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sk[phase].IsEmpty() {
		return 0
	}
	v, _ := s.sk[phase].GetValueAtQuantile(0.99)
	return v
}

func (s *opStats) errors() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kinds) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s×%d (%q)", k, s.kinds[k], truncate(s.sample[k], 120))
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errKind names an error's kind for counting.
func errKind(err error) string {
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, errRevokedAccepted):
		return "revoked-accepted"
	case errors.Is(err, errWrongRefusal):
		return "live-session-refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "caller-deadline"
	case errors.Is(err, redisconn.ErrCircuitOpen):
		return "circuit-open"
	case strings.Contains(msg, "connection refused"):
		return "connection-refused"
	case strings.Contains(msg, "OOM"):
		return "redis-oom"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(msg, "sqlstore:"):
		return "store-unavailable"
	}
	return "other"
}

var (
	errRevokedAccepted = errors.New("a session whose Revoke had returned was accepted")
	errWrongRefusal    = errors.New("a live session was refused")
)

// workload runs validators, a creator, a revoker and a prober of revoked
// sessions against one Service, and checks every answer as it comes.
type workload struct {
	svc   *session.Service
	phase atomic.Int32

	mu     sync.RWMutex
	hot    []*token // the initial pool, Zipf-validated (index 0 hottest)
	all    []*token // hot plus every acknowledged create
	revs   []*token // tokens whose Revoke returned nil, in order
	userNo atomic.Int64

	validate, create, revoke *opStats
	revokedAccepted          atomic.Int64
	acceptedSample           atomic.Value // string
	acceptedTokens           sync.Map     // *token → struct{}
	faultStart, faultEnd     atomic.Int64 // unix nanoseconds; 0 not yet
	tiers                    [session.NumTiers]atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// newWorkload creates the pool (poolSize sessions, preRevoked of them
// revoked) through svc; Redis and the store must be up.
func newWorkload(t *testing.T, svc *session.Service) *workload {
	t.Helper()
	w := &workload{svc: svc, validate: newOpStats(), create: newOpStats(), revoke: newOpStats(), stop: make(chan struct{})}
	ctx := t.Context()
	for i := range poolSize {
		tok, _, err := svc.Create(ctx, session.CreateParams{UserID: fmt.Sprintf("pool-%d", i)})
		if err != nil {
			t.Fatalf("create pool session: %v", err)
		}
		w.hot = append(w.hot, &token{tok: string(tok)})
	}
	w.all = slices.Clone(w.hot)
	// Revoke a spread of the pool up front, hot ones included, so the
	// prober has work from the start.
	for i := 0; i < preRevoked; i++ {
		k := w.hot[i*poolSize/preRevoked]
		k.revStart.Store(time.Now().UnixNano())
		if err := svc.Revoke(ctx, k.tok); err != nil {
			t.Fatalf("revoke pool session: %v", err)
		}
		k.revDone.Store(time.Now().UnixNano())
		w.revs = append(w.revs, k)
	}
	return w
}

func (w *workload) start() {
	for i := range validators {
		w.wg.Add(1)
		go w.validator(uint64(i))
	}
	w.wg.Add(3)
	go w.prober()
	go w.creator()
	go w.revoker()
}

// halt stops the workload and waits for it.
func (w *workload) halt() {
	close(w.stop)
	w.wg.Wait()
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// check validates k once through svc, records it and reports a revoked
// session accepted or a live one refused.
func (w *workload) check(svc *session.Service, k *token, st *opStats) {
	start := time.Now()
	phase := int(w.phase.Load())
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	_, tier, err := svc.ValidateTier(ctx, k.tok)
	cancel()
	d := time.Since(start)
	w.tiers[tier].Add(1)
	switch res := session.ResultOf(err); {
	case res == session.ResultValid:
		if done := k.revDone.Load(); done != 0 && done < start.UnixNano() {
			w.revokedAccepted.Add(1)
			w.acceptedTokens.Store(k, struct{}{})
			w.acceptedSample.CompareAndSwap(nil, fmt.Sprintf("tier %s, %.0f ms after its Revoke returned; Revoke returned %s, validation started %s",
				tier, float64(start.UnixNano()-done)/1e6, w.when(done), w.when(start.UnixNano())))
			err = errRevokedAccepted
		}
	case res == session.ResultRevoked && !k.live():
		err = nil // expected refusal
	case res == session.ResultError:
		// no tier answered: a failed validation
	default:
		if k.revFailed.Load() {
			err = nil // a Revoke that returned an error may have happened
		} else {
			err = fmt.Errorf("%w: %v (tier %s)", errWrongRefusal, err, tier)
		}
	}
	st.record(phase, d, err)
}

// when says where a moment falls relative to the fault.
func (w *workload) when(ns int64) string {
	fs, fe := w.faultStart.Load(), w.faultEnd.Load()
	switch {
	case fs == 0 || ns < fs:
		return "before the fault"
	case fe == 0 || ns < fe:
		return fmt.Sprintf("%.0f ms into the fault", float64(ns-fs)/1e6)
	}
	return fmt.Sprintf("%.0f ms after the fault ended", float64(ns-fe)/1e6)
}

func (w *workload) validator(seed uint64) {
	defer w.wg.Done()
	r := rand.New(rand.NewPCG(seed, 42))
	zipf := rand.NewZipf(r, 1.1, 1, poolSize-1)
	for !w.stopped() {
		var k *token
		w.mu.RLock()
		if r.IntN(10) == 0 { // one call in ten: any known session, new ones included
			k = w.all[r.IntN(len(w.all))]
		} else {
			k = w.hot[zipf.Uint64()]
		}
		w.mu.RUnlock()
		w.check(w.svc, k, w.validate)
		time.Sleep(validatePace)
	}
}

// prober validates the revoked sessions round-robin: each must be refused.
func (w *workload) prober() {
	defer w.wg.Done()
	for i := 0; !w.stopped(); i++ {
		w.mu.RLock()
		k := w.revs[i%len(w.revs)]
		w.mu.RUnlock()
		w.check(w.svc, k, w.validate)
		time.Sleep(validatePace)
	}
}

func (w *workload) creator() {
	defer w.wg.Done()
	t := time.NewTicker(createEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		phase := int(w.phase.Load())
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		tok, _, err := w.svc.Create(ctx, session.CreateParams{UserID: fmt.Sprintf("new-%d", w.userNo.Add(1))})
		cancel()
		w.create.record(phase, time.Since(start), err)
		if err == nil {
			w.mu.Lock()
			w.all = append(w.all, &token{tok: string(tok), created: true})
			w.mu.Unlock()
		}
	}
}

// revoker revokes pool sessions, hot ones more often (Zipf), so revoked
// sessions are the ones validators keep asking about.
func (w *workload) revoker() {
	defer w.wg.Done()
	r := rand.New(rand.NewPCG(7, 7))
	zipf := rand.NewZipf(r, 1.1, 1, poolSize-1)
	t := time.NewTicker(revokeEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		var k *token
		for range 50 {
			if c := w.hot[zipf.Uint64()]; c.live() {
				k = c
				break
			}
		}
		if k == nil {
			continue
		}
		phase := int(w.phase.Load())
		start := time.Now()
		k.revStart.Store(start.UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := w.svc.Revoke(ctx, k.tok)
		cancel()
		w.revoke.record(phase, time.Since(start), err)
		if err != nil {
			k.revFailed.Store(true)
			continue
		}
		k.revDone.Store(time.Now().UnixNano())
		w.mu.Lock()
		w.revs = append(w.revs, k)
		w.mu.Unlock()
	}
}

// verdict is what the final checks found on one Service.
type verdict struct {
	lost            int // acknowledged, never revoked, does not validate
	revokedAccepted int // Revoke returned nil, but it validates
	uncertain       int // a Revoke returned an error: not checked
	checked         int
	sample          string
}

// verify validates every known session once through svc: every session
// no Revoke was started on must validate, every one whose Revoke returned
// nil must be refused with ErrRevoked.
func (w *workload) verify(svc *session.Service) verdict {
	w.mu.RLock()
	all := slices.Clone(w.all)
	w.mu.RUnlock()
	var v verdict
	for _, k := range all {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, tier, err := svc.ValidateTier(ctx, k.tok)
		cancel()
		switch {
		case k.revoked():
			v.checked++
			if !errors.Is(err, session.ErrRevoked) {
				v.revokedAccepted++
				if v.sample == "" {
					v.sample = fmt.Sprintf("revoked session: tier %s, err %v", tier, err)
				}
			}
		case k.revFailed.Load() || !k.live():
			v.uncertain++
		default:
			v.checked++
			if err != nil {
				v.lost++
				if v.sample == "" {
					v.sample = fmt.Sprintf("acknowledged session: tier %s, err %v", tier, err)
				}
			}
		}
	}
	return v
}

// fault describes one fault run.
type fault struct {
	name   string
	inject func(t *testing.T) // starts the fault
	hold   time.Duration      // how long it lasts
	heal   func(t *testing.T) // ends it; nil when nothing is undone (a kill)
	// probe reports whether the system has recovered; polled every 20 ms
	// from the moment the fault ends (from its start when heal is nil).
	probe func(ctx context.Context) error
	// Goals asserted besides "no acknowledged session lost" and "no
	// revoked session accepted", which always are.
	noFailedValidations bool
	noFailedWrites      bool // creates and revokes must all succeed
}

// result is what one run measured.
type result struct {
	w                    *workload
	recovery             time.Duration
	drain                time.Duration
	orig, cold           verdict
	validOK, validFailed int
	createOK, createFail int
	revokeOK, revokeFail int
}

// run drives one fault: the pool, warm-up, the fault under load,
// recovery, more load, then the checks on the original Service and on a
// fresh one (cold L1). It logs the MEASURED line and asserts the goals.
func run(t *testing.T, e *env, f fault) *result {
	t.Helper()
	w := newWorkload(t, e.svc)
	w.start()
	defer func() {
		if !w.stopped() {
			w.halt()
		}
	}()
	sleep(t, warmup)

	w.phase.Store(phaseDuring)
	start := time.Now()
	w.faultStart.Store(start.UnixNano())
	f.inject(t)
	ended := start
	if f.heal != nil {
		sleep(t, f.hold)
		f.heal(t)
		ended = time.Now()
	}
	w.faultEnd.Store(ended.UnixNano())
	r := &result{w: w}
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		lastErr = f.probe(ctx)
		cancel()
		if lastErr == nil {
			r.recovery = time.Since(ended)
			break
		}
		if time.Since(ended) > 2*recoveryBound {
			w.halt()
			t.Fatalf("%s: not recovered %s after the fault ended: %v", f.name, time.Since(ended), lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.phase.Store(phaseAfter)
	sleep(t, settle)
	w.halt()

	// Revocations Redis refused during the fault must reach it.
	drainStart := time.Now()
	for e.svc.Stats().RevocationsQueued > 0 && time.Since(drainStart) < drainBound {
		time.Sleep(20 * time.Millisecond)
	}
	r.drain = time.Since(drainStart)
	queued := e.svc.Stats().RevocationsQueued

	r.orig = w.verify(e.svc)
	r.cold = w.verify(e.fresh())
	r.validOK, r.validFailed = w.validate.totals()
	r.createOK, r.createFail = w.create.totals()
	r.revokeOK, r.revokeFail = w.revoke.totals()
	st := e.svc.Stats()

	accepted := w.revokedAccepted.Load()
	sample, _ := w.acceptedSample.Load().(string)
	acceptedTokens := 0
	w.acceptedTokens.Range(func(any, any) bool { acceptedTokens++; return true })
	r.validFailed -= int(accepted) // counted on their own below
	t.Logf("MEASURED fault=%q validations ok=%d failed=%d p99_ms before=%.2f during=%.2f after=%.2f | creates ok=%d failed=%d%s p99_during_ms=%.2f | revokes ok=%d failed=%d%s | revoked_accepted=%d (sessions %d) | lost=%d/%d (cold L1 %d/%d) | recovery=%s revocations_drained=%s | tiers l1=%d redis=%d store=%d",
		f.name, r.validOK, r.validFailed, w.validate.p99(phaseBefore), w.validate.p99(phaseDuring), w.validate.p99(phaseAfter),
		r.createOK, r.createFail, expectedNote(!f.noFailedWrites, r.createFail), w.create.p99(phaseDuring),
		r.revokeOK, r.revokeFail, expectedNote(!f.noFailedWrites, r.revokeFail),
		accepted+int64(r.orig.revokedAccepted+r.cold.revokedAccepted), acceptedTokens,
		r.orig.lost, r.orig.checked, r.cold.lost, r.cold.checked,
		r.recovery.Round(time.Millisecond), r.drain.Round(time.Millisecond),
		w.tiers[session.TierL1].Load(), w.tiers[session.TierRedis].Load(), w.tiers[session.TierStore].Load())
	t.Logf("errors: validations: %s | creates: %s | revokes: %s | service: redis_errors=%d store_errors=%d l1_flushes=%d",
		w.validate.errors(), w.create.errors(), w.revoke.errors(), st.RedisErrors, st.StoreErrors, st.L1Flushes)

	if accepted != 0 {
		t.Errorf("%d validations accepted %d distinct sessions whose Revoke had already returned (first: %s)", accepted, acceptedTokens, sample)
	}
	if r.orig.revokedAccepted+r.cold.revokedAccepted != 0 {
		t.Errorf("after recovery, revoked sessions validate: %d on the original service, %d on a fresh one (%s %s)",
			r.orig.revokedAccepted, r.cold.revokedAccepted, r.orig.sample, r.cold.sample)
	}
	if r.orig.lost+r.cold.lost != 0 {
		t.Errorf("acknowledged sessions lost: %d on the original service, %d on a fresh one (%s %s)",
			r.orig.lost, r.cold.lost, r.orig.sample, r.cold.sample)
	}
	if queued != 0 {
		t.Errorf("%d revocations still queued for Redis %s after recovery", queued, drainBound)
	}
	if f.noFailedValidations && r.validFailed != 0 {
		t.Errorf("%d of %d validations failed (revoked-accepted aside); want none: %s", r.validFailed, r.validOK+r.validFailed, w.validate.errors())
	}
	if f.noFailedWrites && r.createFail+r.revokeFail != 0 {
		t.Errorf("%d creates and %d revokes failed; want none: creates %s, revokes %s", r.createFail, r.revokeFail, w.create.errors(), w.revoke.errors())
	}
	if r.recovery > recoveryBound {
		t.Errorf("recovered %s after the fault ended; want within %s", r.recovery, recoveryBound)
	}
	if r.validOK == 0 || r.createOK == 0 || r.revokeOK == 0 {
		t.Errorf("the workload did nothing: %d validations, %d creates, %d revokes", r.validOK, r.createOK, r.revokeOK)
	}
	return r
}

func expectedNote(expected bool, n int) string {
	if n == 0 {
		return ""
	}
	if expected {
		return " (expected: the store is down)"
	}
	return " (UNEXPECTED)"
}

func sleep(t *testing.T, d time.Duration) {
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}
