package session_test

import (
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

var _ session.WarmSource = (*sqlstore.Store)(nil)

// seedSessions creates n live sessions directly in the store (no Redis
// write), the i-th last seen i ms before now, and returns their tokens in
// that order (most recently seen first).
func seedSessions(tb testing.TB, st session.Store, n int, now time.Time) []string {
	tb.Helper()
	toks := make([]string, n)
	now = now.UTC().Truncate(time.Millisecond)
	tags, err := st.TokenTags(context.Background()) // tokens as the store's Services make them
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		tok, err := tags.Key.NewToken()
		if err != nil {
			tb.Fatal(err)
		}
		h, err := session.ParseToken(tok.Reveal())
		if err != nil {
			tb.Fatal(err)
		}
		rec := session.Record{Hash: h, Session: session.Session{
			ID:         hex.EncodeToString(h[:16]),
			UserID:     "user" + string(rune('a'+i%26)),
			CreatedAt:  now.Add(-time.Hour),
			LastSeenAt: now.Add(-time.Duration(i) * time.Millisecond),
			ExpiresAt:  now.Add(24 * time.Hour),
			Metadata:   map[string]string{"ip": "192.0.2.1", "ua": "warm"},
		}}
		if err := st.Create(context.Background(), rec); err != nil {
			tb.Fatal(err)
		}
		toks[i] = tok.Reveal()
	}
	return toks
}

// watch runs w.Watch every 100 ms until the test ends.
func watch(t *testing.T, w *session.Warmer) {
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { defer close(done); w.Watch(ctx, 100*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
}

// source is the env's real store, as the warmer's source.
func (e *env) source() session.WarmSource { return e.store.Store.(*sqlstore.Store) }

// sessionKeys counts the session keys in Redis.
func (e *env) sessionKeys() int {
	e.t.Helper()
	keys, err := e.rdb.Keys(bg, "studio:s:*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return len(keys)
}

// TestWarmWritesLiveSessions: a run writes every live session with the
// Service's deadline, skips what Redis already holds (a tombstone, a fresh
// copy) and what the store does not call live, reports progress and
// makes spans; later validations are Redis hits.
func TestWarmWritesLiveSessions(t *testing.T) {
	e := newEnv(t)
	sr := tracetest.NewSpanRecorder()
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
	svc := e.service(func(o *session.Options) { o.Tracer = tr; o.TraceBackground = true })
	now := e.clock.Now()
	toks := seedSessions(t, e.store, 250, now)

	// Dead sessions the store must not hand over: revoked, expired, idle.
	dead := seedSessions(t, e.store, 3, now.Add(-time.Hour)) // [1:] stay live
	if err := svc.Revoke(bg, dead[0]); err != nil {
		t.Fatal(err)
	}
	e.rdb.Del(bg, "studio:s:"+mustHash(t, dead[0]).Hex()) // keep only the store's word
	for i, tok := range dead[1:] {
		h := mustHash(t, tok)
		old := now.Add(-48 * time.Hour).UTC().Truncate(time.Millisecond)
		s := session.Session{ID: "dead" + h.Hex()[:8], UserID: "x", CreatedAt: old, LastSeenAt: old, ExpiresAt: old.Add(time.Hour)}
		if i == 1 {
			s.ExpiresAt, s.IdleTimeout = now.Add(time.Hour), 5*time.Minute
		}
		// A second record under a new hash: the seeded one stays live.
		nt, _ := svc.NewToken()
		nh, _ := session.ParseToken(nt.Reveal())
		if err := e.store.Create(bg, session.Record{Hash: nh, Session: s}); err != nil {
			t.Fatal(err)
		}
	}
	// A tombstone Redis holds for a session the store still calls live
	// (a revocation racing the read), and a copy a validation filled.
	tombKey := "studio:s:" + mustHash(t, toks[7]).Hex()
	e.rdb.Set(bg, tombKey, "R", time.Hour)
	if _, err := svc.Validate(bg, toks[9]); err != nil {
		t.Fatal(err)
	}

	var calls atomic.Int64
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), BatchSize: 100, OnProgress: func(session.WarmProgress) { calls.Add(1) }})
	if p := w.Progress(); p.State != session.WarmIdle || p.Limit != 100_000 || p.Total != 0 {
		t.Fatalf("before the run: %+v", p)
	}
	res, err := w.Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	// dead[0], revoked just now, is swept as a tombstone again.
	want := session.WarmResult{Considered: 252, Written: 250, Skipped: 2, Batches: 3, Revoked: 1}
	res.Duration = 0
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	if v, _ := e.rdb.Get(bg, tombKey).Result(); v != "R" {
		t.Fatalf("tombstone replaced by %q", v)
	}
	for _, tok := range []string{toks[0], toks[123], toks[249]} {
		v, ttl := e.redisValue(tok)
		if v == "" || v == "R" || ttl <= 9*time.Minute || ttl > 10*time.Minute {
			t.Fatalf("warmed value %q ttl %s", v, ttl)
		}
	}
	// Not warmed; the sweep gave it its tombstone back.
	if v, _ := e.redisValue(dead[0]); v != "R" {
		t.Fatalf("revoked session holds %q in redis, want the sweep's tombstone", v)
	}
	p := w.Progress()
	if p.State != session.WarmDone || p.Read != 252 || p.Done != 252 || p.Written != 250 || p.Runs != 1 ||
		p.Reason != "on demand" || p.LastError != "" || p.Finished.Before(p.Started) {
		t.Fatalf("progress %+v", p)
	}
	// Total counts what the run found, not the limit.
	if p.Total != 252 || p.Limit != 100_000 {
		t.Fatalf("progress total %d, limit %d; want 252 found of at most 100000", p.Total, p.Limit)
	}
	if n := calls.Load(); n != 5 { // start, 3 batches, end
		t.Fatalf("OnProgress called %d times, want 5", n)
	}

	// A fresh instance without an L1 answers from Redis, never the store.
	fresh := e.service(func(o *session.Options) { o.L1TTL = -1 })
	before := e.store.lookups.Load()
	for i, tok := range toks[:50] {
		if i == 7 {
			continue // tombstoned above
		}
		if _, tier, err := fresh.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
			t.Fatalf("validate after warm: tier %s, %v", tier, err)
		}
	}
	if _, err := fresh.Validate(bg, toks[7]); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("tombstoned session: %v", err)
	}
	if n := e.store.lookups.Load() - before; n != 0 {
		t.Fatalf("%d store lookups after warming", n)
	}

	var warm sdktrace.ReadOnlySpan
	batches := 0
	for _, s := range sr.Ended() {
		switch s.Name() {
		case "session.warm":
			warm = s
		case "session.warm.batch":
			batches++
		}
	}
	if warm == nil || attr(warm, "studio.warm.written") != "250" || attr(warm, "studio.warm.skipped") != "2" || batches != 3 {
		t.Fatalf("spans: warm %v, %d batch spans", warm != nil, batches)
	}
	for _, s := range sr.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), "studio:s:") {
				t.Fatalf("span %s carries a key: %s", s.Name(), a.Key)
			}
		}
	}

	// Limit keeps the most recently seen.
	e.rdb.FlushDB(bg)
	res, err = svc.NewWarmer(session.WarmOptions{Source: e.source(), Limit: 40, Rate: 1e6}).Run(bg)
	if err != nil || res.Written != 40 {
		t.Fatalf("limited run: %+v, %v", res, err)
	}
	if v, _ := e.redisValue(toks[39]); v == "" {
		t.Fatal("the 40th most recent session was not warmed")
	}
	if v, _ := e.redisValue(toks[41]); v != "" {
		t.Fatal("a session past the limit was warmed")
	}
}

// TestWarmNeverResurrectsRevoked: a revoker revokes a random third of the
// sessions while a rate-limited warm writes them all. Afterwards Redis
// holds a tombstone (or nothing) for every revoked session and fresh
// instances refuse each of them, from Redis and from their L1.
// TestWarmTracedOnlyInASpanOrWhenAsked: a warm run in the background (no
// span in its context) makes no root trace unless TraceBackground is set;
// a run inside a span is traced as its child.
func TestWarmTracedOnlyInASpanOrWhenAsked(t *testing.T) {
	e := newEnv(t)
	seedSessions(t, e.store, 3, e.clock.Now())
	for _, background := range []bool{false, true} {
		sr := tracetest.NewSpanRecorder()
		tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
		svc := e.service(func(o *session.Options) { o.Tracer = tr; o.TraceBackground = background })
		w := svc.NewWarmer(session.WarmOptions{Source: e.source(), Rate: 1e6})
		if _, err := w.Run(bg); err != nil {
			t.Fatal(err)
		}
		ctx, parent := tr.Start(bg, "admin request")
		if _, err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
		parent.End()
		roots, children := 0, 0
		for _, s := range sr.Ended() {
			switch {
			case s.Name() != "session.warm":
			case s.Parent().IsValid():
				children++
			default:
				roots++
			}
		}
		if want := map[bool]int{false: 0, true: 1}[background]; roots != want || children != 1 {
			t.Errorf("TraceBackground=%v: %d root and %d child warm spans, want %d and 1", background, roots, children, want)
		}
	}
}

func TestWarmNeverResurrectsRevoked(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	const n = 3000
	toks := seedSessions(t, e.store, n, e.clock.Now())
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), BatchSize: 25, Concurrency: 2, Rate: 5000})

	order := rand.Perm(n)[:n/3]
	var (
		revoked  = make([]bool, n)
		during   atomic.Int64 // revocations that finished while the run went
		running  atomic.Bool
		wg       sync.WaitGroup
		warmDone = make(chan struct{})
	)
	running.Store(true)
	wg.Add(2)
	go func() { // two revokers, so Redis sees revocations in bursts
		defer wg.Done()
		for i, idx := range order {
			if i%2 == 0 {
				continue
			}
			if err := svc.Revoke(bg, toks[idx]); err != nil {
				t.Error(err)
				return
			}
			if running.Load() {
				during.Add(1)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i, idx := range order {
			if i%2 == 1 {
				continue
			}
			if err := svc.Revoke(bg, toks[idx]); err != nil {
				t.Error(err)
				return
			}
			if running.Load() {
				during.Add(1)
			}
			select {
			case <-warmDone:
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	res, err := w.Run(bg)
	running.Store(false)
	close(warmDone)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range order {
		revoked[idx] = true
	}
	t.Logf("warm %+v; %d of %d revocations landed while it ran", res, during.Load(), len(order))
	if during.Load() < int64(len(order))/10 {
		t.Fatalf("only %d revocations overlapped the warm: the test did not race", during.Load())
	}
	if res.Skipped == 0 {
		t.Log("no SET NX met a tombstone this time")
	}

	withL1 := e.service()
	noL1 := e.service(func(o *session.Options) { o.L1TTL = -1 })
	live := 0
	for i, tok := range toks {
		v, _ := e.redisValue(tok)
		if !revoked[i] {
			if v != "" && v != "R" {
				live++
			}
			continue
		}
		if v != "" && v != "R" {
			t.Fatalf("revoked session %d has a live copy in redis", i)
		}
		for round := range 2 { // the second answer comes from the L1
			if _, err := withL1.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("revoked session %d accepted (round %d): %v", i, round, err)
			}
		}
		if _, tier, err := noL1.ValidateTier(bg, tok); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("revoked session %d accepted by the redis tier: tier %s, %v", i, tier, err)
		}
	}
	if live < n-len(order)-10 {
		t.Fatalf("only %d of %d unrevoked sessions were warmed", live, n-len(order))
	}
}

// revokingSource reads its whole snapshot from the store first, then runs
// between (revocations the snapshot predates), then hands the snapshot to
// the warmer: the order of a revocation that lands during a run.
type revokingSource struct {
	session.WarmSource
	between func()
}

func (s revokingSource) Recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error {
	var snap []session.Record
	if err := s.WarmSource.Recent(ctx, now, limit, func(r session.Record) error { snap = append(snap, r); return nil }); err != nil {
		return err
	}
	s.between()
	for _, r := range snap {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// TestWarmSweepsRevocationsWithoutTombstones: sessions revoked in the store
// after the warmer's read, by an instance whose tombstones never reached
// Redis (revoked in the store only), are warmed from the stale snapshot;
// the run's revocation sweep replaces every such copy with a tombstone
// before the run returns, and fresh instances refuse them.
func TestWarmSweepsRevocationsWithoutTombstones(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	const n = 300
	toks := seedSessions(t, e.store, n, e.clock.Now())
	var revoked []string
	src := revokingSource{WarmSource: e.source(), between: func() {
		for i := 0; i < n; i += 3 {
			revoked = append(revoked, toks[i])
		}
		e.revokeInStore(t, revoked...)
	}}
	res, err := svc.NewWarmer(session.WarmOptions{Source: src}).Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != n || res.Revoked != len(revoked) {
		t.Fatalf("warm %+v: want %d written (the stale snapshot) and %d revocations swept", res, n, len(revoked))
	}
	noL1 := e.service(func(o *session.Options) { o.L1TTL = -1 })
	for _, tok := range revoked {
		if v, _ := e.redisValue(tok); v != "R" {
			t.Fatalf("a session revoked during the run holds %q in redis, want the tombstone", v)
		}
		if _, tier, err := noL1.ValidateTier(bg, tok); !errors.Is(err, session.ErrRevoked) || tier != session.TierRedis {
			t.Fatalf("a session revoked during the run: tier %s, %v; want ErrRevoked from redis", tier, err)
		}
	}
	if _, err := noL1.Validate(bg, toks[1]); err != nil {
		t.Fatalf("an unrevoked session: %v", err)
	}

	// A second run sweeps only what was revoked since its own snapshot
	// (less the clock-skew margin), here the same sessions again, and the
	// tombstones stay.
	res, err = svc.NewWarmer(session.WarmOptions{Source: e.source()}).Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 0 || res.Skipped != n-len(revoked) || res.Revoked != len(revoked) {
		t.Fatalf("second warm %+v: want nothing written, %d already in redis, the %d revocations swept again", res, n-len(revoked), len(revoked))
	}
	for _, tok := range revoked {
		if v, _ := e.redisValue(tok); v != "R" {
			t.Fatalf("after a second run a revoked session holds %q", v)
		}
	}
}

// failingSweepSource is a source whose RevokedSince runs before first
// (when set) and fails with err (when set).
type failingSweepSource struct {
	session.WarmSource
	before func()
	err    error
}

func (s *failingSweepSource) RevokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error {
	if s.before != nil {
		s.before()
	}
	if s.err != nil {
		return s.err
	}
	return s.WarmSource.RevokedSince(ctx, since, now, fn)
}

// revokeInStore revokes toks in the store only, as an instance whose
// tombstones never reached Redis would. It reports failures with t.Error:
// it runs inside the warmer's goroutines too.
func (e *env) revokeInStore(t *testing.T, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		h, err := session.ParseToken(tok)
		if err == nil {
			_, err = e.store.Revoke(bg, h, e.clock.Now())
		}
		if err != nil {
			t.Error(err)
		}
	}
}

// TestWarmFinalSweepAfterCancel: a run cancelled after writing copies of
// sessions revoked since its read still tombstones them before it returns
// (the final sweep), long before an intermediate sweep would have.
func TestWarmFinalSweepAfterCancel(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	toks := seedSessions(t, e.store, 2000, e.clock.Now())
	revoked := toks[:50] // the most recently seen: written first
	src := revokingSource{WarmSource: e.source(), between: func() { e.revokeInStore(t, revoked...) }}
	w := svc.NewWarmer(session.WarmOptions{Source: src, Rate: 1000, Backoff: session.WarmBackoff{Off: true}})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	done := make(chan struct{})
	var (
		res session.WarmResult
		err error
	)
	go func() { defer close(done); res, err = w.Run(ctx) }()
	waitFor(t, 10*time.Second, "the revoked sessions warmed", func() bool { v, _ := e.redisValue(revoked[len(revoked)-1]); return v != "" })
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if res.Revoked != len(revoked) || res.Written >= 2000 {
		t.Fatalf("warm %+v: want a partial run that swept %d revocations", res, len(revoked))
	}
	for i, tok := range revoked {
		if v, _ := e.redisValue(tok); v != "R" {
			t.Fatalf("revoked session %d holds %q after the cancelled run, want the tombstone", i, v)
		}
	}
}

// TestWarmFinalSweepRedisRefuses: when Redis refuses the final sweep's
// tombstones (writes paused past the batch timeout) the run fails saying
// so, the Service refuses those sessions at once (its retrier holds them),
// and the retrier writes the tombstones once Redis takes writes again.
func TestWarmFinalSweepRedisRefuses(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	toks := seedSessions(t, e.store, 200, e.clock.Now())
	revoked := toks[:20]
	src := &failingSweepSource{
		WarmSource: revokingSource{WarmSource: e.source(), between: func() { e.revokeInStore(t, revoked...) }},
		before: func() {
			if err := e.rdb.Do(bg, "client", "pause", 1500, "write").Err(); err != nil {
				t.Error(err)
			}
		},
	}
	// Unlimited: the run ends long before an intermediate sweep.
	res, err := svc.NewWarmer(session.WarmOptions{Source: src, BatchTimeout: 300 * time.Millisecond}).Run(bg)
	if err == nil || !strings.Contains(err.Error(), "20 tombstones queued for retry") {
		t.Fatalf("Run with the final sweep refused: %v, want an error counting the queued tombstones", err)
	}
	if res.Written != 200 || res.Revoked != 0 {
		t.Fatalf("warm %+v: want 200 written, none swept", res)
	}
	for i, tok := range revoked {
		if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("revoked session %d while its tombstone is queued: %v, want ErrRevoked", i, err)
		}
	}
	waitFor(t, 15*time.Second, "the retrier's tombstones", func() bool {
		for _, tok := range revoked {
			if v, _ := e.redisValue(tok); v != "R" {
				return false
			}
		}
		return true
	})
}

// TestWarmSweepBacklog: when the final sweep cannot read the store, the
// next run sweeps from the failed run's lower bound, even though its own
// snapshot is minutes later.
func TestWarmSweepBacklog(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	toks := seedSessions(t, e.store, 200, e.clock.Now())
	revoked := toks[:30]
	broken := errors.New("store unreachable")
	src := &failingSweepSource{WarmSource: revokingSource{WarmSource: e.source(), between: func() { e.revokeInStore(t, revoked...) }}, err: broken}
	w := svc.NewWarmer(session.WarmOptions{Source: src})
	res, err := w.Run(bg)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "the next run sweeps from") {
		t.Fatalf("Run with an unreadable sweep: %v", err)
	}
	if v, _ := e.redisValue(revoked[0]); v == "" || v == "R" {
		t.Fatalf("the failed sweep's revoked copy holds %q; the test needs the stale copy", v)
	}
	t.Logf("first run %+v", res)

	e.advance(3 * time.Minute) // past the next run's own reach-back
	w2 := svc.NewWarmer(session.WarmOptions{Source: e.source()})
	if res, err := w2.Run(bg); err != nil || res.Revoked != 0 {
		t.Fatalf("a new Warmer without the backlog: %+v, %v; want nothing swept (the revocations are older than its reach)", res, err)
	}
	src.err = nil // the store answers again
	res, err = w.Run(bg)
	if err != nil || res.Revoked != len(revoked) {
		t.Fatalf("the next run %+v, %v: want the %d revocations the failed sweep left", res, err, len(revoked))
	}
	for i, tok := range revoked {
		if v, _ := e.redisValue(tok); v != "R" {
			t.Fatalf("revoked session %d holds %q after the backlog sweep", i, v)
		}
	}
	// Swept: the run after that does not reach back any more.
	if res, err := w.Run(bg); err != nil || res.Revoked != 0 {
		t.Fatalf("the run after the backlog sweep: %+v, %v; want nothing swept", res, err)
	}
}

// TestWarmSweepsWhileItRuns: in a long rate-limited run, a copy warmed
// before its session was revoked (in the store only) is replaced by a
// tombstone while the run is still writing, not only at its end.
func TestWarmSweepsWhileItRuns(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	const n = 4000
	toks := seedSessions(t, e.store, n, e.clock.Now())
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), Rate: 1000, Backoff: session.WarmBackoff{Off: true}})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := w.Run(ctx); done <- err }()

	// toks[0] is the most recently seen: among the first written.
	waitFor(t, 10*time.Second, "the first session warmed", func() bool { v, _ := e.redisValue(toks[0]); return v != "" })
	if v, _ := e.redisValue(toks[0]); v == "R" {
		t.Fatal("the first session holds a tombstone before it was revoked")
	}
	e.revokeInStore(t, toks[0])
	waitFor(t, 10*time.Second, "the sweep's tombstone", func() bool { v, _ := e.redisValue(toks[0]); return v == "R" })
	if p := w.Progress(); p.State != session.WarmRunning || p.Done >= n {
		t.Fatalf("the tombstone came after the run: progress %+v", p)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// TestWarmWatchRewarmsAfterRestart: Redis restarts empty (no persistence);
// Watch notices the new run_id and the missing marker and warms again
// without anyone asking, even though a validation already refilled one key.
func TestWarmWatchRewarmsAfterRestart(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	toks := seedSessions(t, e.store, 500, e.clock.Now())
	w := svc.NewWarmer(session.WarmOptions{Source: e.source()})
	if _, err := w.Run(bg); err != nil {
		t.Fatal(err)
	}
	if n := e.sessionKeys(); n != 500 {
		t.Fatalf("%d keys after the first run", n)
	}
	watch(t, w)

	// Nothing changed: no run.
	time.Sleep(350 * time.Millisecond)
	if p := w.Progress(); p.Runs != 1 {
		t.Fatalf("Watch warmed an intact redis: %+v", p)
	}

	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := e.redis.Restart(bg); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	// Traffic refills a hot key before Watch looks (most of the time).
	waitFor(t, 5*time.Second, "validation after restart", func() bool {
		_, err := svc.Validate(bg, toks[0])
		return err == nil
	})
	waitFor(t, 10*time.Second, "re-warm", func() bool {
		n, _ := e.rdb.Keys(bg, "studio:s:*").Result()
		return len(n) == 500 && w.Progress().State == session.WarmDone
	})
	p := w.Progress()
	t.Logf("re-warmed %d sessions %s after the restart (%s)", p.Written, time.Since(restarted).Round(time.Millisecond), p.Reason)
	if p.Runs != 2 || !strings.Contains(p.Reason, "run_id changed") {
		t.Fatalf("progress %+v", p)
	}
	// And not again.
	time.Sleep(350 * time.Millisecond)
	if p := w.Progress(); p.Runs != 2 {
		t.Fatalf("Watch warmed again: %+v", p)
	}
}

// TestWarmGoodNeighbour: validations running beside a rate-limited warm
// all succeed. (The latency comparison is BenchmarkWarm/validate_p99.)
func TestWarmGoodNeighbour(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.L1TTL = -1 })
	toks := seedSessions(t, e.store, 2000, e.clock.Now())
	hot := toks[:100]
	for _, tok := range hot {
		if _, err := svc.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), Rate: 8000, Concurrency: 2})
	done := make(chan struct{})
	var ok, during atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := svc.Validate(bg, hot[i%len(hot)]); err != nil {
					t.Errorf("validation during warm: %v", err)
					return
				}
				ok.Add(1)
				if w.Progress().State == session.WarmRunning {
					during.Add(1)
				}
			}
		}()
	}
	res, err := w.Run(bg)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 1900 || res.Skipped != 100 {
		t.Fatalf("result %+v", res)
	}
	if during.Load() == 0 {
		t.Fatal("no validation overlapped the warm")
	}
	t.Logf("%d validations succeeded, %d during a %s warm", ok.Load(), during.Load(), res.Duration.Round(time.Millisecond))
}

// TestWarmFailsWithoutRedis: a run against a dead Redis fails fast, says
// so in Progress, and Watch retries it once Redis is back.
func TestWarmFailsWithoutRedis(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	seedSessions(t, e.store, 20, e.clock.Now())
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), BatchTimeout: time.Second})
	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(bg); err == nil {
		t.Fatal("run against a dead redis succeeded")
	}
	if p := w.Progress(); p.State != session.WarmFailed || p.LastError == "" {
		t.Fatalf("progress %+v", p)
	}
	if err := e.redis.Restart(bg); err != nil {
		t.Fatal(err)
	}
	watch(t, w)
	waitFor(t, 10*time.Second, "retried warm", func() bool { return w.Progress().State == session.WarmDone })
	if n := e.sessionKeys(); n != 20 {
		t.Fatalf("%d keys after the retry", n)
	}
}

// OnResult is told about every finished run, with the run's result.
func TestWarmOnResult(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	seedSessions(t, e.store, 40, e.clock.Now())
	var got []session.WarmResult
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), OnResult: func(reason string, res session.WarmResult, err error) {
		if err != nil || reason == "" {
			t.Errorf("OnResult(%q, %+v, %v)", reason, res, err)
		}
		got = append(got, res)
	}})
	res, err := w.Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != res || res.Written != 40 {
		t.Fatalf("OnResult saw %+v; Run returned %+v", got, res)
	}
}

// TestWarmBacksOffUnderLoad: while Redis answers slowly (another client
// keeps it busy with DEBUG SLEEP), a rate-limited warm slows to its floor;
// once the load goes, it climbs back to its full rate.
func TestWarmBacksOffUnderLoad(t *testing.T) {
	e := newEnvWith(t, redistest.WithArgs("--enable-debug-command", "local"))
	svc := e.service(func(o *session.Options) { o.L1TTL = -1 })
	seedSessions(t, e.store, 6000, e.clock.Now())
	const full = 1000.0
	w := svc.NewWarmer(session.WarmOptions{Source: e.source(), Rate: full, Backoff: session.WarmBackoff{MinRate: 20, Tolerance: 3.0}}) // tolerant: the machine may be busy with other tests; DEBUG SLEEP 10 ms is far above it
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { _, err := w.Run(ctx); runDone <- err }()
	waitFor(t, 5*time.Second, "warm running at full rate", func() bool {
		p := w.Progress()
		return p.State == session.WarmRunning && p.RateNow == full
	})

	busy, stopBusy := context.WithCancel(bg)
	busyDone := make(chan struct{})
	go func() {
		defer close(busyDone)
		for busy.Err() == nil {
			_ = e.rdb.Do(bg, "debug", "sleep", "0.01").Err()
		}
	}()
	waitFor(t, 10*time.Second, "back-off to the floor", func() bool {
		p := w.Progress()
		return p.Backoffs > 0 && p.RateNow == 20
	})
	stopBusy()
	<-busyDone
	waitFor(t, 15*time.Second, "rate climbing back after the load", func() bool { return w.Progress().RateNow >= full/2 })
	cancel()
	if err := <-runDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("run ended with %v, want context.Canceled", err)
	}
	t.Logf("progress at the end: %+v", w.Progress())
}
