package session_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// The benchmarks of issue 2. Each figure is measured beside its baseline in
// the same process, against the same redis-server and the same database:
//
//	l1_hit, redis_hit (and their _parallel forms)  vs  bare_get(_parallel)
//	redis_hit_paired (both, alternately, in one loop)
//	store_sqlite                    vs  bare_point_select_sqlite, bare_miss_sqlite
//	store_postgres                  vs  bare_point_select_postgres, bare_miss_postgres
//
// Every iteration checks that the validation succeeded and came from the
// tier the benchmark is named after, so a benchmark that silently measures
// the wrong path fails instead (this also holds with -benchtime=1x).
// docs/PERFORMANCE.md has the commands and the figures.

const (
	// benchHotSessions is how many sessions the L1 and Redis benchmarks
	// rotate through (all of them stay cached).
	benchHotSessions = 64
	// benchMissSessions is how many sessions the store-tier benchmarks
	// rotate through; see benchStoreMiss for why there are many.
	benchMissSessions = 2000
	// benchParallelism × GOMAXPROCS goroutines run the _parallel forms
	// (32 on a 2-CPU machine, as many as the HTTP benchmark's clients).
	benchParallelism = 16
)

// benchRedisOptions are the client options of both the Service and the
// bare-GET baseline, so the two differ only by what the Service adds. No
// retries, so a failure cannot hide in the figures; timeouts of 2s rather
// than the tests' 300ms, because a benchmark on a shared 2-CPU machine can
// be starved that long (a deadline is set on every command either way, so
// the cost per command is the same).
func benchRedisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:         addr,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		MaxRetries:   -1,
	}
}

// benchService starts a Service on its own go-redis client. Errors fail tb;
// the client and the Service are released by cleanup's Cleanup (the parent
// benchmark's, so the Service outlives the sub-benchmark that made it).
func benchService(tb, cleanup testing.TB, addr string, st session.Store, mod func(*session.Options)) *session.Service {
	tb.Helper()
	rdb := redis.NewClient(benchRedisOptions(addr))
	cleanup.Cleanup(func() { rdb.Close() })
	opts := session.Options{Store: st, Redis: rdb}
	if mod != nil {
		mod(&opts)
	}
	svc, err := session.NewService(opts)
	if err != nil {
		tb.Fatal(err)
	}
	cleanup.Cleanup(func() { svc.Close() })
	waitFor(tb, 5*time.Second, "invalidation subscription", svc.Subscribed)
	return svc
}

// benchCreate creates n sessions shaped like a typical login (a day's TTL,
// two metadata entries, no idle timeout) and returns their tokens and
// hashes.
func benchCreate(tb testing.TB, svc *session.Service, n int) ([]string, []session.TokenHash) {
	tb.Helper()
	toks := make([]string, n)
	hashes := make([]session.TokenHash, n)
	for i := range n {
		tok, _, err := svc.Create(context.Background(), session.CreateParams{
			UserID:   "user_" + string(rune('a'+i%26)),
			TTL:      24 * time.Hour,
			Metadata: map[string]string{"ip": "192.0.2.1", "ua": "bench"},
		})
		if err != nil {
			tb.Fatal(err)
		}
		toks[i] = tok.Reveal()
		if hashes[i], err = session.ParseToken(toks[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return toks, hashes
}

// benchPerOp is the mean time of one operation of the run that just ended.
func benchPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	addr := srv.Addr()

	litePath := filepath.Join(b.TempDir(), "bench.db")
	lite, err := sqlstore.Open(ctx, "sqlite:"+litePath, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lite.Close() })

	// The L1 lifetime is a minute instead of the default 5s only so that no
	// entry expires during a run and every iteration is an L1 hit, which
	// each iteration checks; a hit costs the same whatever the lifetime.
	l1Svc := benchService(b, b, addr, lite, func(o *session.Options) { o.L1TTL = time.Minute })
	// L1 disabled: every validation is a Redis GET plus decoding.
	redisSvc := benchService(b, b, addr, lite, func(o *session.Options) { o.L1TTL = -1 })
	hotToks, hotHashes := benchCreate(b, l1Svc, benchHotSessions)
	hotKeys := make([]string, len(hotHashes))
	for i, h := range hotHashes {
		hotKeys[i] = l1Svc.Key(h) // the very keys the Services GET
	}
	bare := redis.NewClient(benchRedisOptions(addr))
	b.Cleanup(func() { bare.Close() })

	// perOp holds this run's ns/op by sub-benchmark, for the ratios.
	perOp := map[string]float64{}
	ratio := func(b *testing.B, name, base, unit string, inverse bool) {
		perOp[name] = benchPerOp(b)
		if v, ok := perOp[base]; ok && perOp[name] > 0 {
			if inverse {
				b.ReportMetric(v/perOp[name], unit)
			} else {
				b.ReportMetric(perOp[name]/v, unit)
			}
		}
	}

	b.Run("bare_get", func(b *testing.B) {
		if v, err := bare.Get(ctx, hotKeys[0]).Result(); err != nil || len(v) == 0 || v[0] != '{' {
			b.Fatalf("bare GET of a session key: %q, %v", v, err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := bare.Get(ctx, hotKeys[i%len(hotKeys)]).Err(); err != nil {
				b.Fatal(err)
			}
			i++
		}
		ratio(b, "bare_get", "", "", false)
	})

	b.Run("l1_hit", func(b *testing.B) {
		benchWarmL1(b, l1Svc, hotToks)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, tier, err := l1Svc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierL1 {
				b.Fatalf("validation %d: tier %v, err %v; want an L1 hit", i, tier, err)
			}
			i++
		}
		ratio(b, "l1_hit", "bare_get", "x_faster_than_bare_get", true)
	})

	b.Run("redis_hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, tier, err := redisSvc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierRedis {
				b.Fatalf("validation %d: tier %v, err %v; want a Redis hit", i, tier, err)
			}
			i++
		}
		ratio(b, "redis_hit", "bare_get", "x_bare_get", false)
	})

	b.Run("bare_get_parallel", func(b *testing.B) {
		var start atomic.Int64
		b.SetParallelism(benchParallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(1))
			for pb.Next() {
				if err := bare.Get(ctx, hotKeys[i%len(hotKeys)]).Err(); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		ratio(b, "bare_get_parallel", "", "", false)
	})

	b.Run("l1_hit_parallel", func(b *testing.B) {
		benchWarmL1(b, l1Svc, hotToks)
		var start atomic.Int64
		b.SetParallelism(benchParallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(1))
			for pb.Next() {
				if _, tier, err := l1Svc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierL1 {
					b.Errorf("tier %v, err %v; want an L1 hit", tier, err)
					return
				}
				i++
			}
		})
		ratio(b, "l1_hit_parallel", "bare_get_parallel", "x_faster_than_bare_get", true)
	})

	b.Run("redis_hit_parallel", func(b *testing.B) {
		var start atomic.Int64
		b.SetParallelism(benchParallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(1))
			for pb.Next() {
				if _, tier, err := redisSvc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierRedis {
					b.Errorf("tier %v, err %v; want a Redis hit", tier, err)
					return
				}
				i++
			}
		})
		ratio(b, "redis_hit_parallel", "bare_get_parallel", "x_bare_get", false)
	})

	// redis_hit_paired measures the same two operations as bare_get and
	// redis_hit, but alternately within one loop, so both see the same
	// machine at the same moments: on a shared machine its ratio is the
	// steadier figure. The order alternates too.
	b.Run("redis_hit_paired", func(b *testing.B) {
		var tBare, tSvc time.Duration
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(hotToks)
			for step := range 2 {
				t0 := time.Now()
				if (i+step)%2 == 0 {
					if err := bare.Get(ctx, hotKeys[k]).Err(); err != nil {
						b.Fatal(err)
					}
					tBare += time.Since(t0)
				} else {
					if _, tier, err := redisSvc.ValidateTier(ctx, hotToks[k]); err != nil || tier != session.TierRedis {
						b.Fatalf("validation %d: tier %v, err %v; want a Redis hit", i, tier, err)
					}
					tSvc += time.Since(t0)
				}
			}
			i++
		}
		b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare_get-ns/op")
		b.ReportMetric(float64(tSvc.Nanoseconds())/float64(b.N), "redis_hit-ns/op")
		b.ReportMetric(float64(tSvc)/float64(tBare), "x_bare_get")
	})

	// The store tier, per dialect: the bare driver's point select; a bare
	// miss (the same client's GET of an absent key, the same point select,
	// and a SET … NX of a session-sized value: the I/O any miss needs);
	// and the Service's miss. The sessions are made lazily (PostgreSQL
	// takes a few seconds to fill) and shared by the dialect's three
	// sub-benchmarks.
	sessVal, err := bare.Get(ctx, hotKeys[0]).Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		var miss *benchMissEnv
		setup := func(sb *testing.B) *benchMissEnv {
			if miss == nil {
				if dialect == "sqlite" {
					miss = newBenchMissEnv(sb, b, addr, lite, "sqlite:"+litePath)
				} else {
					miss = newBenchPostgresMissEnv(sb, b, addr)
				}
			}
			return miss
		}
		selName, missName, storeName := "bare_point_select_"+dialect, "bare_miss_"+dialect, "store_"+dialect
		b.Run(selName, func(sb *testing.B) {
			e := setup(sb)
			benchBareSelect(sb, e, benchSelector(sb, dialect, e.dsn))
			ratio(sb, selName, "", "", false)
		})
		b.Run(missName, func(sb *testing.B) {
			e := setup(sb)
			benchBareMiss(sb, e, bare, sessVal, benchSelector(sb, dialect, e.dsn))
			ratio(sb, missName, "", "", false)
		})
		b.Run(storeName, func(sb *testing.B) {
			benchStoreMiss(sb, setup(sb))
			ratio(sb, storeName, selName, "x_bare_point_select", false)
			ratio(sb, storeName, missName, "x_bare_miss", false)
		})
	}
}

// benchSelector opens the bare driver on the database of dsn and returns a
// point select of one column by token_hash, as session/sqlstore's
// BenchmarkBarePointSelect does (a prepared statement for SQLite; pgx's
// statement cache for PostgreSQL). The connections close when b ends.
func benchSelector(b *testing.B, dialect, dsn string) func(h []byte, id *string) error {
	b.Helper()
	ctx := context.Background()
	if dialect == "sqlite" {
		db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		stmt, err := db.PrepareContext(ctx, `SELECT id FROM sessions WHERE token_hash = ?`)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stmt.Close() })
		return func(h []byte, id *string) error { return stmt.QueryRowContext(ctx, h).Scan(id) }
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return func(h []byte, id *string) error {
		return pool.QueryRow(ctx, `SELECT id FROM sessions WHERE token_hash = $1`, h).Scan(id)
	}
}

// benchBareMiss is the I/O of a miss done with the bare clients: GET of an
// absent key (each key expires 1ms after its SET and comes round again only
// after benchMissSessions iterations, as in benchStoreMiss), the point
// select, and SET key val PX 1 NX.
func benchBareMiss(b *testing.B, e *benchMissEnv, rdb *redis.Client, val string, sel func(h []byte, id *string) error) {
	ctx := context.Background()
	keys := make([]string, len(e.hashes))
	for i, h := range e.hashes {
		keys[i] = "bench:miss:" + h.Hex()
	}
	var id string
	for k := range e.hashes { // warm the connections, statement and pages
		if err := sel(e.hashes[k][:], &id); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // the copies of the previous run expire
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(keys)
		if err := rdb.Get(ctx, keys[k]).Err(); err != redis.Nil {
			b.Fatalf("GET %d: %v; want redis.Nil", i, err)
		}
		if err := sel(e.hashes[k][:], &id); err != nil || id != e.ids[k] {
			b.Fatalf("select %d: id %q, err %v; want %q", i, id, err, e.ids[k])
		}
		if err := rdb.Do(ctx, "set", keys[k], val, "px", 1, "nx").Err(); err != nil {
			b.Fatalf("SET %d: %v", i, err)
		}
		i++
	}
}

// benchWarmL1 validates every token until it is an L1 hit.
func benchWarmL1(b *testing.B, svc *session.Service, toks []string) {
	b.Helper()
	for _, tok := range toks {
		if _, err := svc.Validate(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
		if _, tier, err := svc.ValidateTier(context.Background(), tok); err != nil || tier != session.TierL1 {
			b.Fatalf("warm-up: tier %v, err %v; want an L1 hit", tier, err)
		}
	}
}

// benchMissEnv is a store holding benchMissSessions sessions, and a Service
// over it whose every validation misses the L1 and Redis.
type benchMissEnv struct {
	dsn    string
	svc    *session.Service
	toks   []string
	hashes []session.TokenHash
	ids    []string
}

// newBenchMissEnv fills st through a Service made for the store-tier
// benchmarks. How each validation is made to miss Redis honestly:
//
//   - The L1 is disabled (L1TTL -1).
//   - CacheTTL is 1ms, so every Redis copy — the one Create writes and the
//     one each store lookup fills with SET … PXAT … NX — expires within a
//     millisecond. The fill is still sent and executed every time, so its
//     round trip is in the figure, as it is in production's miss.
//   - The benchmark rotates through benchMissSessions sessions, so a
//     session comes round again only after at least 2000 misses (each two
//     Redis round trips plus a query: tens of milliseconds), long after its
//     copy expired. Each iteration checks that the store answered, so a
//     copy that survived would fail the benchmark rather than flatter it.
//
// Nothing is deleted or flushed inside the timed loop, and Redis is a real,
// reachable server: the figure is GET (nil) + store lookup + SET NX, the
// whole cost of a miss. FlushInterval is an hour so the batched last_seen
// writes (background work, not part of a validation) stay out of the run.
func newBenchMissEnv(tb, cleanup testing.TB, addr string, st session.Store, dsn string) *benchMissEnv {
	tb.Helper()
	svc := benchService(tb, cleanup, addr, st, func(o *session.Options) {
		o.L1TTL = -1
		o.CacheTTL = time.Millisecond
		o.FlushInterval = time.Hour
	})
	e := &benchMissEnv{dsn: dsn, svc: svc}
	e.toks, e.hashes = benchCreate(tb, svc, benchMissSessions)
	e.ids = make([]string, len(e.toks))
	time.Sleep(5 * time.Millisecond) // let the copies Create wrote expire
	for i, tok := range e.toks {
		// Also a warm-up pass: the database pages are read once before any
		// timing, for the store and its bare baseline alike.
		sess, tier, err := svc.ValidateTier(context.Background(), tok)
		if err != nil || tier != session.TierStore {
			tb.Fatalf("set-up: tier %v, err %v; want a store lookup", tier, err)
		}
		e.ids[i] = sess.ID
	}
	return e
}

// newBenchPostgresMissEnv is newBenchMissEnv on a throw-away database of
// the PostgreSQL server named by STUDIO_TEST_POSTGRES_URL.
func newBenchPostgresMissEnv(tb, cleanup testing.TB, addr string) *benchMissEnv {
	tb.Helper()
	dsn := benchPostgresDSN(tb, cleanup)
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	cleanup.Cleanup(func() { st.Close() })
	return newBenchMissEnv(tb, cleanup, addr, st, dsn)
}

// benchStoreMiss measures validations answered by the store.
func benchStoreMiss(b *testing.B, e *benchMissEnv) {
	ctx := context.Background()
	time.Sleep(5 * time.Millisecond) // the warm-up's fills expire
	before := e.svc.Stats()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(e.toks)
		sess, tier, err := e.svc.ValidateTier(ctx, e.toks[k])
		if err != nil || tier != session.TierStore || sess.ID != e.ids[k] {
			b.Fatalf("validation %d: tier %v, err %v; want a store lookup of session %s", i, tier, err, e.ids[k])
		}
		i++
	}
	after := e.svc.Stats()
	if n := after.Hits[session.TierStore] - before.Hits[session.TierStore]; n != uint64(b.N) {
		b.Fatalf("store hits %d, want %d", n, b.N)
	}
	if after.RedisErrors != before.RedisErrors {
		b.Fatalf("%d redis errors during the run: the fills failed", after.RedisErrors-before.RedisErrors)
	}
}

// benchBareSelect measures the bare driver selecting one column by
// token_hash, as session/sqlstore's BenchmarkBarePointSelect does.
func benchBareSelect(b *testing.B, e *benchMissEnv, sel func(h []byte, id *string) error) {
	for i := range e.hashes { // warm the statement and the pages
		var id string
		if err := sel(e.hashes[i][:], &id); err != nil || id != e.ids[i] {
			b.Fatalf("bare select: id %q, err %v; want %q", id, err, e.ids[i])
		}
	}
	b.ReportAllocs()
	i := 0
	var id string
	for b.Loop() {
		if err := sel(e.hashes[i%len(e.hashes)][:], &id); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchPostgresDSN creates a database on the PostgreSQL server the tests
// use (as session/sqlstore's tests do), drops it at cleanup, and returns
// its DSN. A server that does not answer fails the benchmark.
func benchPostgresDSN(tb, cleanup testing.TB) string {
	tb.Helper()
	base := os.Getenv("STUDIO_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("STUDIO_TEST_POSTGRES_URL is not a URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s does not answer: %v (set STUDIO_TEST_POSTGRES_URL)", u.Redacted(), err)
	}
	defer admin.Close(context.Background())
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	db := "studio_bench_" + hex.EncodeToString(rnd[:])
	name := pgx.Identifier{db}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create benchmark database on %s: %v", u.Redacted(), err)
	}
	cleanup.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			cleanup.Errorf("drop benchmark database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			cleanup.Errorf("drop benchmark database %s: %v", name, err)
		}
	})
	u.Path = "/" + db
	return u.String()
}
