package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/loadgen"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

const adminToken = "loadgen-test-admin-token"

// env is a real redis-server, a real SQLite store and a Service on them.
type env struct {
	redis *redistest.Server
	store *sqlstore.Store
	svc   *session.Service
}

func newEnv(t *testing.T, mod ...func(*session.Options)) *env {
	t.Helper()
	rs := redistest.Start(t)
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, err := redisconn.Open(redisconn.Config{URL: rs.URL(), Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	opts := session.Options{Store: st, Redis: rdb}
	for _, m := range mod {
		m(&opts)
	}
	svc, err := session.NewService(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	for deadline := time.Now().Add(5 * time.Second); !svc.Subscribed(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("invalidation subscription not up after 5s")
		}
	}
	return &env{redis: rs, store: st, svc: svc}
}

// httpTarget serves the real API for e.svc on a loopback listener, driven
// with the raw client if raw is set, else with net/http.
func (e *env) httpTarget(t *testing.T, conns int, raw bool) *loadgen.HTTPTarget {
	t.Helper()
	ts := httptest.NewServer(server.New(server.Options{Sessions: e.svc, AdminToken: adminToken}))
	t.Cleanup(ts.Close)
	if raw {
		tg := &loadgen.HTTPTarget{Base: ts.URL, AdminToken: adminToken, Raw: true}
		t.Cleanup(tg.CloseIdleConnections)
		return tg
	}
	return &loadgen.HTTPTarget{Base: ts.URL, AdminToken: adminToken, Client: loadgen.NewHTTPClient(conns, 10*time.Second)}
}

// clients names the two ways HTTPTarget sends requests.
var clients = []struct {
	name string
	raw  bool
}{{"net_http", false}, {"raw", true}}

// checkConsistent checks what holds for every result: counts add up,
// error kinds add up, quantiles are ordered.
func checkConsistent(t *testing.T, res *loadgen.Result) {
	t.Helper()
	var sum int64
	for _, op := range []loadgen.Op{loadgen.OpValidate, loadgen.OpCreate, loadgen.OpRevoke} {
		s := res.Op(op)
		sum += s.Count
		if s.OK+s.Errors != s.Count {
			t.Errorf("%s: ok %d + errors %d != count %d", op, s.OK, s.Errors, s.Count)
		}
		var kinds int64
		for _, n := range s.ErrorKinds {
			kinds += n
		}
		if kinds != s.Errors {
			t.Errorf("%s: error kinds %v add up to %d, errors %d", op, s.ErrorKinds, kinds, s.Errors)
		}
		if s.Count > 0 && !(s.P50US <= s.P95US && s.P95US <= s.P99US && s.P99US <= s.P999US && s.P999US <= s.MaxUS) {
			t.Errorf("%s: quantiles out of order: %+v", op, s)
		}
	}
	if sum != res.Total.Count {
		t.Errorf("ops add up to %d, total %d", sum, res.Total.Count)
	}
	if res.Validate.ErrorKinds[loadgen.KindRevokedAccepted] != res.RevokedAccepted {
		t.Errorf("revoked_accepted: %d among validate errors, %d in the result", res.Validate.ErrorKinds[loadgen.KindRevokedAccepted], res.RevokedAccepted)
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil || !strings.Contains(b.String(), "total") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
}

// share is op's fraction of all operations.
func share(res *loadgen.Result, op loadgen.Op) float64 {
	return float64(res.Op(op).Count) / float64(res.Total.Count)
}

// TestRunService drives a real in-process Service (real Redis, SQLite)
// with a closed loop and a 80/10/10 mix.
func TestRunService(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	phases := map[string]bool{}
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: &loadgen.ServiceTarget{Service: e.svc}, Concurrency: 8, Sessions: 100,
		Duration: 700 * time.Millisecond, Warmup: 200 * time.Millisecond, Zipf: 1.1,
		Mix: loadgen.Mix{Validate: 80, Create: 10, Revoke: 10}, ProgressInterval: 20 * time.Millisecond,
		OnProgress: func(p loadgen.Progress) { mu.Lock(); phases[p.Phase] = true; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	t.Logf("in process: %d ops, %.0f ops/s, validate p99 %.1f µs; revoked re-checked %d, raced %d",
		res.Total.Count, res.Total.OpsPerSec, res.Validate.P99US, res.RevokedChecked, res.RevokeRaced)
	if res.Total.Count < 100 || res.Total.Errors != 0 || res.RevokedAccepted != 0 {
		t.Fatalf("want ≥ 100 ops, no errors, no revoked_accepted: %+v", res)
	}
	if v, c, r := share(res, loadgen.OpValidate), share(res, loadgen.OpCreate), share(res, loadgen.OpRevoke); v < 0.6 || v > 0.95 || c < 0.03 || c > 0.2 || r < 0.03 || r > 0.2 {
		t.Fatalf("mix 80/10/10 came out as %.2f/%.2f/%.2f", v, c, r)
	}
	if res.RevokedChecked == 0 {
		t.Fatal("no revoked token was re-validated")
	}
	if res.Mode != "closed" || res.Schedule != nil || res.Target != "inprocess" {
		t.Fatalf("mode %q, schedule %+v, target %q", res.Mode, res.Schedule, res.Target)
	}
	mu.Lock()
	defer mu.Unlock()
	if !phases["run"] {
		t.Fatalf("progress phases %v: no run phase", phases)
	}
}

// TestRunHTTPOpenLoop drives the real HTTP API at a fixed rate, with each
// client, and checks the schedule kept it (generous bounds: the machine
// is shared).
func TestRunHTTPOpenLoop(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) { testRunHTTPOpenLoop(t, cl.raw) })
	}
}

func testRunHTTPOpenLoop(t *testing.T, raw bool) {
	e := newEnv(t)
	const rate = 400
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: e.httpTarget(t, 16, raw), Concurrency: 16, Rate: rate, Sessions: 50,
		Duration: time.Second, Warmup: 250 * time.Millisecond, Zipf: 1.1,
		Mix: loadgen.Mix{Validate: 90, Create: 5, Revoke: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	s := res.Schedule
	if res.Mode != "open" || s == nil {
		t.Fatalf("mode %q, schedule %+v", res.Mode, s)
	}
	t.Logf("open loop at %d/s: %d intended, %d sent (%.0f/s), not sent %d; start lag p99 %.0f µs; validate p50 %.0f µs p99 %.0f µs",
		rate, s.Intended, s.Sent, s.AchievedRate, s.NotSent, s.StartLagP99US, res.Validate.P50US, res.Validate.P99US)
	if s.Intended != rate {
		t.Fatalf("intended %d operations in 1s at %d/s", s.Intended, rate)
	}
	if s.Sent < rate/2 || s.Sent > s.Intended || s.AchievedRate < rate/2 || s.AchievedRate > rate*1.05 {
		t.Fatalf("schedule not kept: %+v", s)
	}
	if res.Total.Errors != 0 || res.RevokedAccepted != 0 {
		t.Fatalf("errors %v/%v/%v, revoked_accepted %d", res.Validate.ErrorKinds, res.Create.ErrorKinds, res.Revoke.ErrorKinds, res.RevokedAccepted)
	}
	if res.Create.Count == 0 || res.Revoke.Count == 0 {
		t.Fatalf("mix 90/5/5 sent no create or no revoke: %+v", res)
	}
}

// TestRunHTTPRedisAndStoreDown breaks Redis and the store after the setup
// (at the start of the warmup): every operation must then fail with 503,
// counted as "unavailable", with each client.
func TestRunHTTPRedisAndStoreDown(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) { testRunHTTPRedisAndStoreDown(t, cl.raw) })
	}
}

func testRunHTTPRedisAndStoreDown(t *testing.T, raw bool) {
	e := newEnv(t, func(o *session.Options) { o.L1TTL = -1 })
	var once sync.Once
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: e.httpTarget(t, 4, raw), Concurrency: 4, Sessions: 20,
		Duration: 300 * time.Millisecond, Warmup: 300 * time.Millisecond,
		Mix:              loadgen.Mix{Validate: 80, Create: 10, Revoke: 10},
		ProgressInterval: 10 * time.Millisecond,
		OnProgress: func(p loadgen.Progress) {
			if p.Phase == "warmup" {
				once.Do(func() {
					if err := e.redis.Stop(); err != nil {
						t.Error(err)
					}
					e.store.Close()
				})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Total.Count == 0 || res.Total.Errors != res.Total.Count {
		t.Fatalf("want every operation to fail: %+v", res.Total)
	}
	for _, op := range []loadgen.Op{loadgen.OpValidate, loadgen.OpCreate, loadgen.OpRevoke} {
		s := res.Op(op)
		if s.Count > 0 && s.ErrorKinds[loadgen.KindUnavailable] != s.Errors {
			t.Fatalf("%s errors by kind %v; want all %d unavailable", op, s.ErrorKinds, s.Errors)
		}
	}
}

// TestRunBaselines drives the two baselines briefly: the empty handler
// over HTTP with each client (validations only: it keeps no sessions, so
// it accepts revoked tokens) and bare Redis GETs.
func TestRunBaselines(t *testing.T) {
	base, stop, err := loadgen.ServeEmpty()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	rs := redistest.Start(t)
	for _, tc := range []struct {
		target loadgen.Target
		mix    loadgen.Mix
	}{
		{&loadgen.HTTPTarget{Base: base, Client: loadgen.NewHTTPClient(4, 5*time.Second)}, loadgen.Mix{Validate: 1}},
		{&loadgen.HTTPTarget{Base: base, Raw: true}, loadgen.Mix{Validate: 1}},
		{&loadgen.RedisGetTarget{Redis: rs.Client(t)}, loadgen.Mix{Validate: 90, Create: 5, Revoke: 5}},
	} {
		t.Run(fmt.Sprint(tc.target), func(t *testing.T) {
			res, err := loadgen.Run(t.Context(), loadgen.Options{
				Target: tc.target, Concurrency: 4, Sessions: 20, Duration: 300 * time.Millisecond, Mix: tc.mix,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkConsistent(t, res)
			if res.Total.Count == 0 || res.Total.Errors != 0 {
				t.Fatalf("%+v", res.Total)
			}
		})
	}
}

// memTarget is an in-memory target with faults on purpose, to test the
// generator's own accounting.
type memTarget struct {
	mu            sync.Mutex
	live          map[string]bool // token → not revoked
	n             atomic.Int64
	acceptRevoked bool // the bug revoked_accepted must catch
	failEvery     int64
}

func newMemTarget() *memTarget { return &memTarget{live: map[string]bool{}} }

func (m *memTarget) Validate(ctx context.Context, tok string) error {
	if m.failEvery > 0 && m.n.Add(1)%m.failEvery == 0 {
		return &url.Error{Op: "Get", URL: "http://x", Err: syscall.ECONNREFUSED}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live, ok := m.live[tok]
	if !ok || (!live && !m.acceptRevoked) {
		return &loadgen.Error{Kind: loadgen.KindRejected}
	}
	return nil
}

func (m *memTarget) Create(ctx context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.live) >= 200 && m.failEvery > 0 {
		return "", errors.New("full")
	}
	tok := fmt.Sprintf("t%d", len(m.live))
	m.live[tok] = true
	return tok, nil
}

func (m *memTarget) Revoke(ctx context.Context, tok string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[tok] = false
	return nil
}

func TestRunErrorAccounting(t *testing.T) {
	m := newMemTarget()
	m.acceptRevoked, m.failEvery = true, 7
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: m, Concurrency: 4, Sessions: 100, Duration: 200 * time.Millisecond,
		Mix: loadgen.Mix{Validate: 50, Create: 25, Revoke: 25},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	v := res.Validate
	if res.RevokedAccepted == 0 || res.RevokedChecked != 0 {
		t.Fatalf("a target accepting revoked tokens: revoked_accepted %d, checked %d", res.RevokedAccepted, res.RevokedChecked)
	}
	if v.ErrorKinds[loadgen.KindRefused] == 0 || res.Create.ErrorKinds[loadgen.KindOther] == 0 {
		t.Fatalf("validate kinds %v, create kinds %v", v.ErrorKinds, res.Create.ErrorKinds)
	}
	if !strings.Contains(res.Target, "memTarget") {
		t.Fatalf("target %q", res.Target)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	res, err := loadgen.Run(ctx, loadgen.Options{Target: newMemTarget(), Concurrency: 2, Sessions: 10, Duration: time.Minute, Warmup: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || !res.Interrupted {
		t.Fatalf("err %v, result %+v", err, res)
	}
	checkConsistent(t, res)
	if res.DurationS <= 0 || res.DurationS > 1 || res.Total.Count == 0 {
		t.Fatalf("interrupted after ~100ms of measurement: duration %.3fs, %d ops", res.DurationS, res.Total.Count)
	}
}

func TestRunSetupFails(t *testing.T) {
	m := newMemTarget()
	m.failEvery = 1
	for i := range 200 {
		m.live[fmt.Sprint("x", i)] = true
	}
	_, err := loadgen.Run(t.Context(), loadgen.Options{Target: m, Sessions: 10})
	if err == nil || !strings.Contains(err.Error(), "create session") || !strings.Contains(err.Error(), "full") {
		t.Fatalf("err %v", err)
	}
}

func TestRunBadOptions(t *testing.T) {
	tg := newMemTarget()
	for _, tc := range []struct {
		opts loadgen.Options
		want string
	}{
		{loadgen.Options{}, "Target is required"},
		{loadgen.Options{Target: tg, Concurrency: -1}, "concurrency -1"},
		{loadgen.Options{Target: tg, Rate: -5}, "rate -5"},
		{loadgen.Options{Target: tg, Duration: -time.Second}, "duration -1s"},
		{loadgen.Options{Target: tg, Warmup: -time.Second}, "warmup -1s"},
		{loadgen.Options{Target: tg, Sessions: -1}, "sessions -1"},
		{loadgen.Options{Target: tg, Zipf: 1}, "zipf 1"},
		{loadgen.Options{Target: tg, Zipf: 0.5}, "zipf 0.5"},
		{loadgen.Options{Target: tg, Mix: loadgen.Mix{Validate: -1}}, "mix: validate weight -1"},
		{loadgen.Options{Target: tg, Tokens: []string{"a", "b"}, Sessions: 3}, "sessions 3 with 2 tokens"},
	} {
		if _, err := loadgen.Run(t.Context(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v; want %q", tc.opts, err, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&loadgen.Error{Kind: "x"}, "x"},
		{fmt.Errorf("wrapped: %w", &loadgen.Error{Kind: loadgen.KindRejected}), loadgen.KindRejected},
		{context.DeadlineExceeded, loadgen.KindTimeout},
		{&url.Error{Op: "Get", URL: "u", Err: syscall.ECONNREFUSED}, loadgen.KindRefused},
		{&url.Error{Op: "Get", URL: "u", Err: errors.New("tls: bad certificate")}, loadgen.KindTransport},
		{errors.New("boom"), loadgen.KindOther},
	} {
		if got := loadgen.KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}
