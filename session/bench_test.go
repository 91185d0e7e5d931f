package session_test

import (
	"context"
	"database/sql"
	"flag"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// The benchmarks of issue 2. Each figure is measured beside its baseline in
// the same process, against the same redis-server and the same database:
//
//	l1_hit, redis_hit           vs  bare_get
//	l1_hit_index_check_paired/…     L1 hits with and without the revocation
//	                                index check, alternately in one loop
//	l1_hit_parallel, …          vs  bare_get_parallel
//	redis_hit_paired                redis_hit and bare_get alternately in one loop
//	store_sqlite                vs  bare_point_select_sqlite, bare_miss_sqlite
//	store_sqlite_paired             store_sqlite and bare_miss_sqlite alternately
//	store_postgres              vs  bare_point_select_postgres, bare_miss_postgres
//	store_postgres_paired           store_postgres and bare_miss_postgres alternately
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
	// rotate through; see newBenchMissEnv for why there are many.
	benchMissSessions = 2000
	// benchParallelism × GOMAXPROCS goroutines run the _parallel forms
	// (32 on a 2-CPU machine, as many as the HTTP benchmark's clients).
	benchParallelism = 16
)

// benchRedisConfig is the Redis client of the bare baselines and, with
// the production circuit breaker added, of the Services: the client
// `studio serve` opens (redisconn.Open), so the two differ only by what
// Studio adds. The timeouts are 2s rather than the production 300ms
// because a benchmark on a shared 2-CPU machine can be starved that long;
// a deadline is set on every command either way, so a command costs the
// same.
func benchRedisConfig(url string) redisconn.Config {
	return redisconn.Config{
		URL:          url,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
	}
}

// benchBareClient opens the baselines' client: benchRedisConfig, no hook.
func benchBareClient(tb, cleanup testing.TB, url string) redis.UniversalClient {
	tb.Helper()
	rdb, err := redisconn.Open(benchRedisConfig(url))
	if err != nil {
		tb.Fatal(err)
	}
	cleanup.Cleanup(func() { rdb.Close() })
	return rdb
}

// benchService starts a Service on its own production client (with the
// circuit breaker). Errors fail tb; the client and the Service are
// released by cleanup's Cleanup (the parent benchmark's, so the Service
// outlives the sub-benchmark that made it).
func benchService(tb, cleanup testing.TB, url string, st session.Store, mod func(*session.Options)) *session.Service {
	tb.Helper()
	cfg := benchRedisConfig(url)
	cfg.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{})
	rdb, err := redisconn.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
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
	waitFor(tb, 5*time.Second, "revocation index loaded", func() bool { return indexCurrent(svc) })
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

// benchFinal reports whether the run that just ended is the reported one,
// not one of the short runs the testing package makes first to choose b.N
// (which RunParallel and b.N-style benchmarks see): it lasted -benchtime,
// or made its -benchtime=Nx iterations.
func benchFinal(b *testing.B) bool {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return true
	}
	v := f.Value.String()
	if n, ok := strings.CutSuffix(v, "x"); ok {
		want, err := strconv.Atoi(n)
		return err != nil || b.N >= want
	}
	d, err := time.ParseDuration(v)
	return err != nil || b.Elapsed() >= d || b.N >= 1e9
}

// benchMedian is the median of xs (which it sorts).
func benchMedian(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	redisURL := srv.URL()

	litePath := filepath.Join(b.TempDir(), "bench.db")
	lite, err := sqlstore.Open(ctx, "sqlite:"+litePath, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lite.Close() })

	// The L1 lifetime is an hour instead of the default 5s only so that no
	// entry expires during a run and every iteration is an L1 hit, which
	// each iteration checks; a hit costs the same whatever the lifetime.
	// The hot sessions are created through l1Svc, so its CacheTTL of a day
	// keeps their Redis copies for any -benchtime and -count.
	l1Svc := benchService(b, b, redisURL, lite, func(o *session.Options) {
		o.L1TTL = time.Hour
		o.CacheTTL = 24 * time.Hour
	})
	// L1 disabled: every validation is a Redis GET plus decoding.
	redisSvc := benchService(b, b, redisURL, lite, func(o *session.Options) { o.L1TTL = -1 })
	hotToks, hotHashes := benchCreate(b, l1Svc, benchHotSessions)
	hotKeys := make([]string, len(hotHashes))
	for i, h := range hotHashes {
		hotKeys[i] = l1Svc.Key(h) // the very keys the Services GET
	}
	bare := benchBareClient(b, b, redisURL)

	// perOp holds the ns/op of every measured run so far, by
	// sub-benchmark. A ratio compares the run that just ended with the
	// median of its baseline's runs: with -count N, all N runs of a
	// sub-benchmark come before the next sub-benchmark's.
	perOp := map[string][]float64{}
	record := func(b *testing.B, name string) {
		if benchFinal(b) {
			perOp[name] = append(perOp[name], benchPerOp(b))
		}
	}
	ratio := func(b *testing.B, base, unit string, inverse bool) {
		if len(perOp[base]) == 0 || b.N == 0 {
			return
		}
		v, ours := benchMedian(slices.Clone(perOp[base])), benchPerOp(b)
		if inverse {
			b.ReportMetric(v/ours, unit)
		} else {
			b.ReportMetric(ours/v, unit)
		}
	}

	b.Run("bare_get", func(b *testing.B) {
		if v, err := bare.Get(ctx, hotKeys[0]).Result(); err != nil || len(v) == 0 || v[0] != 0x01 { // the binary session layout
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
		record(b, "bare_get")
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
		ratio(b, "bare_get", "x_faster_than_bare_get", true)
	})

	b.Run("l1_hit_index_check_paired", func(b *testing.B) { benchIndexChecks(b, l1Svc, hotToks) })

	b.Run("redis_hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, tier, err := redisSvc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierRedis {
				b.Fatalf("validation %d: tier %v, err %v; want a Redis hit", i, tier, err)
			}
			i++
		}
		ratio(b, "bare_get", "x_bare_get", false)
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
		record(b, "bare_get_parallel")
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
		ratio(b, "bare_get_parallel", "x_faster_than_bare_get", true)
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
		ratio(b, "bare_get_parallel", "x_bare_get", false)
	})

	// redis_hit_paired runs the operations of bare_get and redis_hit
	// alternately in one loop; see benchPaired.
	b.Run("redis_hit_paired", func(b *testing.B) {
		benchPaired(b, "bare_get", func(i int) {
			if err := bare.Get(ctx, hotKeys[i%len(hotKeys)]).Err(); err != nil {
				b.Fatal(err)
			}
		}, "redis_hit", func(i int) {
			if _, tier, err := redisSvc.ValidateTier(ctx, hotToks[i%len(hotToks)]); err != nil || tier != session.TierRedis {
				b.Fatalf("validation %d: tier %v, err %v; want a Redis hit", i, tier, err)
			}
		})
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
					miss = newBenchMissEnv(sb, b, redisURL, lite, "sqlite:"+litePath)
				} else {
					miss = newBenchPostgresMissEnv(sb, b, redisURL)
				}
			}
			return miss
		}
		selName, missName, storeName := "bare_point_select_"+dialect, "bare_miss_"+dialect, "store_"+dialect
		b.Run(selName, func(sb *testing.B) {
			e := setup(sb)
			benchBareSelect(sb, e, benchSelector(sb, dialect, e.dsn))
			record(sb, selName)
		})
		b.Run(missName, func(sb *testing.B) {
			e := setup(sb)
			benchBareMiss(sb, e, bare, sessVal, benchSelector(sb, dialect, e.dsn))
			record(sb, missName)
		})
		b.Run(storeName, func(sb *testing.B) {
			e := setup(sb)
			benchCheckStoreHits(sb, e, func() {
				step := benchStoreMissStep(sb, e)
				i := 0
				for sb.Loop() {
					step(i)
					i++
				}
			})
			ratio(sb, selName, "x_bare_point_select", false)
			ratio(sb, missName, "x_bare_miss", false)
		})
		b.Run(storeName+"_paired", func(sb *testing.B) {
			e := setup(sb)
			bareStep := benchBareMissStep(sb, e, bare, sessVal, benchSelector(sb, dialect, e.dsn))
			benchCheckStoreHits(sb, e, func() {
				benchPaired(sb, "bare_miss", bareStep, "store", benchStoreMissStep(sb, e))
			})
		})
	}
}

// benchIndexChecks measures the revocation index check every L1 hit makes
// beside the same L1 hit without it, in one loop (benchIndexCheck): with
// the index empty, holding 10 000 revocations (about 15 a second over its
// 11-minute window) and full (1 000 000: nearly every filter slot taken,
// so nearly every check reads a shard's map). The index only grows, so
// the sizes run in that order.
func benchIndexChecks(b *testing.B, svc *session.Service, toks []string) {
	for _, n := range []struct {
		name    string
		entries int
	}{{"empty", 0}, {"10k", 10_000}, {"1m", 1_000_000}} {
		b.Run(n.name, func(b *testing.B) {
			session.FillRevocationIndex(svc, n.entries)
			benchWarmL1(b, svc, toks)
			benchIndexCheck(b, svc, toks)
		})
	}
}

// benchIndexCheck times L1 hits with and without the revocation index
// check (session.SkipL1IndexCheck) alternately, in blocks of 256
// validations (the order of the two alternating too), so both meet the
// same machine, caches and index; each timer covers a block, so its own
// cost is negligible. It reports the mean time of a hit without the
// check, with it, and the difference. ns/op is the time of one pair of
// blocks.
func benchIndexCheck(b *testing.B, svc *session.Service, toks []string) {
	const block = 256
	defer session.SkipL1IndexCheck(svc, false)
	var tBase, tOurs time.Duration
	ctx := context.Background()
	i, blocks := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		for step := range 2 {
			skip := (blocks+step)%2 == 0
			session.SkipL1IndexCheck(svc, skip)
			t0 := time.Now()
			for range block {
				if _, tier, err := svc.ValidateTier(ctx, toks[i%len(toks)]); err != nil || tier != session.TierL1 {
					b.Fatalf("validation %d: tier %v, err %v; want an L1 hit", i, tier, err)
				}
				i++
			}
			if d := time.Since(t0); skip {
				tBase += d
			} else {
				tOurs += d
			}
		}
		blocks++
	}
	calls := float64(blocks * block)
	base, ours := float64(tBase.Nanoseconds())/calls, float64(tOurs.Nanoseconds())/calls
	b.ReportMetric(base, "no_check-ns/hit")
	b.ReportMetric(ours, "check-ns/hit")
	b.ReportMetric(ours-base, "check_cost-ns")
}

// benchPaired runs base and ours alternately (the order alternating too)
// in one loop, timing each call, and reports the mean time of each and
// their ratio. Both meet the same machine at the same moments, so on a
// shared machine the ratio is much steadier than that of two separate
// sub-benchmarks run seconds apart. ns/op is the sum of the two.
func benchPaired(b *testing.B, baseName string, base func(i int), name string, ours func(i int)) {
	var tBase, tOurs time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for step := range 2 {
			t0 := time.Now()
			if (i+step)%2 == 0 {
				base(i)
				tBase += time.Since(t0)
			} else {
				ours(i)
				tOurs += time.Since(t0)
			}
		}
		i++
	}
	b.ReportMetric(float64(tBase.Nanoseconds())/float64(b.N), baseName+"-ns/op")
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(b.N), name+"-ns/op")
	b.ReportMetric(float64(tOurs)/float64(tBase), "x_"+baseName)
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

// benchBareMiss measures the I/O of a miss done with the bare clients.
func benchBareMiss(b *testing.B, e *benchMissEnv, rdb redis.UniversalClient, val string, sel func(h []byte, id *string) error) {
	step := benchBareMissStep(b, e, rdb, val, sel)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		step(i)
		i++
	}
}

// benchBareMissStep warms the select and returns a bare miss of session
// i%benchMissSessions: GET of an absent key (each key expires 1ms after its
// SET and comes round again only after benchMissSessions iterations, as in
// benchStoreMissStep), the point select, and SET key val PX 1 NX.
func benchBareMissStep(b *testing.B, e *benchMissEnv, rdb redis.UniversalClient, val string, sel func(h []byte, id *string) error) func(i int) {
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
	time.Sleep(5 * time.Millisecond) // the copies of an earlier run expire
	return func(i int) {
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
func newBenchMissEnv(tb, cleanup testing.TB, redisURL string, st session.Store, dsn string) *benchMissEnv {
	tb.Helper()
	svc := benchService(tb, cleanup, redisURL, st, func(o *session.Options) {
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
func newBenchPostgresMissEnv(tb, cleanup testing.TB, redisURL string) *benchMissEnv {
	tb.Helper()
	dsn := benchPostgresDSN(tb, cleanup)
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	cleanup.Cleanup(func() { st.Close() })
	return newBenchMissEnv(tb, cleanup, redisURL, st, dsn)
}

// benchStoreMissStep returns a validation of session i%benchMissSessions
// that must be answered by the store.
func benchStoreMissStep(b *testing.B, e *benchMissEnv) func(i int) {
	ctx := context.Background()
	time.Sleep(5 * time.Millisecond) // the copies of an earlier run expire
	return func(i int) {
		k := i % len(e.toks)
		sess, tier, err := e.svc.ValidateTier(ctx, e.toks[k])
		if err != nil || tier != session.TierStore || sess.ID != e.ids[k] {
			b.Fatalf("validation %d: tier %v, err %v; want a store lookup of session %s", i, tier, err, e.ids[k])
		}
	}
}

// benchCheckStoreHits runs run and checks that each of its b.N
// validations was a store hit and that every Redis fill succeeded.
func benchCheckStoreHits(b *testing.B, e *benchMissEnv, run func()) {
	before := e.svc.Stats()
	b.ReportAllocs()
	run()
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
// use, drops it at cleanup, and returns its DSN.
func benchPostgresDSN(tb, cleanup testing.TB) string {
	tb.Helper()
	return pgtest.Database(tb, cleanup, "studio_bench_")
}
