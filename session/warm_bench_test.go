package session_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/loadgen"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// The benchmarks of issue 5, each beside its baseline in the same run,
// against one redis-server and one SQLite file of 100 000 live sessions
// created through Store.Create once per process (docs/CACHE-WARMING.md has
// the commands and the figures):
//
//	warm_100k            vs  bare_set_100k (the same SETs, pre-encoded, no
//	                         store read) and store_read_100k (the read alone)
//	replay_hit_rate          Redis-tier hit rate of a Zipf replay straight
//	                         after a restart, with and without warming
//	validate_p99             validation p99 idle, beside a rate-limited
//	                         warm (fixed rate, and with the adaptive
//	                         back-off) and beside an unlimited one; each
//	                         warm phase lasts at most 5 s
const warmBenchSessions = 100_000

type warmBenchEnv struct {
	srv   *redistest.Server
	store *sqlstore.Store
	toks  []string // most recently seen first
	svc   *session.Service
	bare  redis.UniversalClient
}

// BenchmarkWarm: see the comment above.
func BenchmarkWarm(b *testing.B) {
	var (
		once sync.Once
		e    warmBenchEnv
	)
	setup := func(sb *testing.B) *warmBenchEnv {
		once.Do(func() {
			e.srv = redistest.Start(b)
			st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "warm.db"), sqlstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			e.store = st
			start := time.Now()
			e.toks = seedSessions(b, st, warmBenchSessions, time.Now())
			b.Logf("fixture: %d sessions created in %s", warmBenchSessions, time.Since(start).Round(time.Millisecond))
			e.svc = benchService(b, b, e.srv.URL(), st, func(o *session.Options) { o.L1TTL = -1 })
			e.bare = benchBareClient(b, b, e.srv.URL())
		})
		if e.svc == nil {
			sb.Fatal("fixture set-up failed")
		}
		return &e
	}
	flush := func(b *testing.B, rdb redis.UniversalClient) {
		if err := rdb.FlushDB(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("warm_100k", func(b *testing.B) {
		e := setup(b)
		w := e.svc.NewWarmer(session.WarmOptions{Source: e.store})
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			flush(b, e.bare)
			b.StartTimer()
			res, err := w.Run(context.Background())
			if err != nil || res.Written != warmBenchSessions {
				b.Fatalf("warm: %+v, %v", res, err)
			}
			total += res.Duration
		}
		per := total / time.Duration(b.N)
		b.ReportMetric(float64(per.Milliseconds()), "ms/warm")
		b.ReportMetric(warmBenchSessions/per.Seconds(), "sessions/s")
	})

	b.Run("bare_set_100k", func(b *testing.B) {
		e := setup(b)
		// Pre-encode what the warmer writes: the values are read back from
		// a warmed Redis, so the bytes are the same.
		flush(b, e.bare)
		if _, err := e.svc.NewWarmer(session.WarmOptions{Source: e.store}).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		keys, vals := make([]string, 0, warmBenchSessions), make([]string, 0, warmBenchSessions)
		for _, tok := range e.toks {
			h, _ := session.ParseToken(tok)
			k := "studio:s:" + h.Hex()
			keys = append(keys, k)
			vals = append(vals, e.bare.Get(context.Background(), k).Val())
		}
		until := time.Now().Add(10 * time.Minute).UnixMilli()
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			flush(b, e.bare)
			b.StartTimer()
			start := time.Now()
			// Two pipelines of 1000 in flight, as the warmer's defaults.
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g * 1000; i < len(keys); i += 2000 {
						end := min(i+1000, len(keys))
						_, err := e.bare.Pipelined(context.Background(), func(p redis.Pipeliner) error {
							for j := i; j < end; j++ {
								p.Do(context.Background(), "set", keys[j], vals[j], "pxat", until, "nx")
							}
							return nil
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			total += time.Since(start)
		}
		per := total / time.Duration(b.N)
		b.ReportMetric(float64(per.Milliseconds()), "ms/warm")
		b.ReportMetric(warmBenchSessions/per.Seconds(), "sessions/s")
	})

	b.Run("store_read_100k", func(b *testing.B) {
		e := setup(b)
		for b.Loop() {
			n := 0
			err := e.store.Recent(context.Background(), time.Now(), warmBenchSessions, func(session.Record) error { n++; return nil })
			if err != nil || n != warmBenchSessions {
				b.Fatalf("read %d: %v", n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/read")
	})

	// replay_hit_rate: Redis restarts (SIGKILL, no persistence); the
	// replay of 200 000 validations (Zipf s=1.1 over the 20 000 most
	// recently seen sessions, rank 0 the most recent, 8 clients, no L1)
	// starts at once, while a default warm runs beside it (warm) or not
	// (cold). The hit rate is Redis hits / (Redis + store answers) over
	// the whole replay. The replay is the first minute of traffic squeezed
	// into a few seconds, which favours the cold run less than real time
	// would favour the warm one: the warm has less time to get ahead.
	b.Run("replay_hit_rate", func(b *testing.B) {
		e := setup(b)
		const (
			active  = 20_000
			replays = 200_000
			clients = 8
		)
		replay := func(b *testing.B, warm bool) float64 {
			if err := e.srv.Kill(); err != nil {
				b.Fatal(err)
			}
			if err := e.srv.Restart(context.Background()); err != nil {
				b.Fatal(err)
			}
			// A fresh Service, so its counters cover this replay only.
			svc := benchService(b, b, e.srv.URL(), e.store, func(o *session.Options) { o.L1TTL = -1 })
			var warmDone chan struct{}
			if warm {
				warmDone = make(chan struct{})
				go func() {
					defer close(warmDone)
					if _, err := svc.NewWarmer(session.WarmOptions{Source: e.store}).Run(context.Background()); err != nil {
						b.Error(err)
					}
				}()
			}
			var wg sync.WaitGroup
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					z := rand.NewZipf(rand.New(rand.NewPCG(uint64(c), 42)), 1.1, 1, active-1)
					for range replays / clients {
						if _, err := svc.Validate(context.Background(), e.toks[z.Uint64()]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if warmDone != nil {
				<-warmDone
			}
			st := svc.Stats()
			hits, store := st.Hits[session.TierRedis], st.Hits[session.TierStore]
			return 100 * float64(hits) / float64(hits+store)
		}
		var warmSum, coldSum float64
		for b.Loop() {
			coldSum += replay(b, false)
			warmSum += replay(b, true)
		}
		b.ReportMetric(warmSum/float64(b.N), "hit%_warm")
		b.ReportMetric(coldSum/float64(b.N), "hit%_cold")
	})

	// validate_p99: 8 clients validate 1000 hot sessions (Redis tier, no
	// L1) for as long as a warm of the other 99 000 runs, rate-limited to
	// 50 000/s (the setting docs/CACHE-WARMING.md recommends under load)
	// or unlimited, and for 2 s with no warm (idle) before each of those.
	// Each phase reports its p99 from a DDSketch (1 % relative accuracy);
	// the idle phases' mean, lowest and highest are the normal p99.
	b.Run("validate_p99", func(b *testing.B) {
		e := setup(b)
		hot := e.toks[warmBenchSessions-1000:] // the least recent: warmed last
		// A warm phase lasts until the warm ends or for 5 s, whichever is
		// first; written reports how many sessions it wrote per second.
		var written float64
		phase := func(b *testing.B, rateLimit float64, adaptive, warm bool) float64 {
			flush(b, e.bare)
			for _, tok := range hot {
				if _, err := e.svc.Validate(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			if warm {
				go func() {
					defer close(stop)
					w := e.svc.NewWarmer(session.WarmOptions{Source: e.store, Rate: rateLimit, Backoff: session.WarmBackoff{Off: !adaptive}})
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					res, err := w.Run(ctx)
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						b.Error(err)
					}
					written = float64(res.Written+res.Skipped) / res.Duration.Seconds()
				}()
			} else {
				time.AfterFunc(2*time.Second, func() { close(stop) })
			}
			sk := make([]*ddsketch.DDSketch, 8)
			var wg sync.WaitGroup
			for c := range sk {
				sk[c], _ = ddsketch.NewDefaultDDSketch(0.01)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := c; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						t0 := time.Now()
						if _, err := e.svc.Validate(context.Background(), hot[i%len(hot)]); err != nil {
							b.Error(err)
							return
						}
						_ = sk[c].Add(float64(time.Since(t0).Microseconds()))
					}
				}()
			}
			wg.Wait()
			for _, s := range sk[1:] {
				if err := sk[0].MergeWith(s); err != nil {
					b.Fatal(err)
				}
			}
			p99, err := sk[0].GetValueAtQuantile(0.99)
			if err != nil {
				b.Fatal(err)
			}
			return p99
		}
		type mode struct {
			name     string
			rate     float64
			adaptive bool
		}
		modes := []mode{
			{"fixed_5k/s", 5_000, false},
			{"adaptive_5k/s", 5_000, true},
			{"fixed_50k/s", 50_000, false},
			{"adaptive_50k/s", 50_000, true},
		}
		// An idle phase precedes every warm phase, so "normal" is a
		// spread measured in the same run, beside each warm.
		var idle, unlimited float64
		idleMin, idleMax, idles := math.Inf(1), 0.0, 0
		limited := make([]float64, len(modes))
		rates := make([]float64, len(modes))
		idlePhase := func() {
			p := phase(b, 0, false, false)
			idle += p
			idleMin, idleMax = min(idleMin, p), max(idleMax, p)
			idles++
		}
		for b.Loop() {
			for i, m := range modes {
				idlePhase()
				limited[i] += phase(b, m.rate, m.adaptive, true)
				rates[i] += written
			}
			idlePhase()
			unlimited += phase(b, 0, false, true)
		}
		n := float64(b.N)
		b.ReportMetric(idle/float64(idles), "p99_µs_idle")
		b.ReportMetric(idleMin, "p99_µs_idle_min")
		b.ReportMetric(idleMax, "p99_µs_idle_max")
		for i, m := range modes {
			b.ReportMetric(limited[i]/n, "p99_µs_warm_"+m.name)
			b.ReportMetric(rates[i]/n, "sessions/s_warm_"+m.name)
		}
		b.ReportMetric(unlimited/n, "p99_µs_warm_unlimited")
	})

	// validate_p99_open: the same question under load that does not
	// saturate the machine: an open loop of validations at a fixed rate
	// (latency from the intended start, loadgen), 5 s with no warm, then
	// 5 s beside a warm at 5 000/s fixed and with the adaptive back-off.
	b.Run("validate_p99_open", func(b *testing.B) {
		e := setup(b)
		const rate = 5000.0
		phase := func(b *testing.B, warm, adaptive bool) float64 {
			flush(b, e.bare)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			if warm {
				go func() {
					defer close(done)
					w := e.svc.NewWarmer(session.WarmOptions{Source: e.store, Rate: 5000, Backoff: session.WarmBackoff{Off: !adaptive}})
					_, _ = w.Run(ctx)
				}()
			} else {
				close(done)
			}
			res, err := loadgen.Run(context.Background(), loadgen.Options{
				Target: &loadgen.ServiceTarget{Service: e.svc}, Concurrency: 8, Rate: rate,
				Duration: 5 * time.Second, Warmup: 500 * time.Millisecond, Sessions: 1000, Zipf: 1.1, Seed: 1,
			})
			cancel()
			<-done
			if err != nil {
				b.Fatal(err)
			}
			if res.Validate.Errors > 0 {
				b.Fatalf("%d validations failed", res.Validate.Errors)
			}
			return res.Validate.P99US
		}
		var idle, fixed, adaptive float64
		for b.Loop() {
			idle += phase(b, false, false)
			fixed += phase(b, true, false)
			adaptive += phase(b, true, true)
		}
		n := float64(b.N)
		b.ReportMetric(idle/n, "p99_µs_idle")
		b.ReportMetric(fixed/n, "p99_µs_warm_fixed_5k/s")
		b.ReportMetric(adaptive/n, "p99_µs_warm_adaptive_5k/s")
	})
}

// BenchmarkWarmSweep: what the revocation sweep costs a run. Two SQLite
// files of 10 000 live sessions each; in one, 10 000 more sessions were
// revoked (in the store only) just before the benchmark, so every run's
// final sweep writes their 10 000 tombstones. The run over the other file
// (nothing revoked) is the baseline in the same process.
//
//	go test -run '^$' -bench 'BenchmarkWarmSweep' -benchtime 3x ./session
func BenchmarkWarmSweep(b *testing.B) {
	const live, revoked = 10_000, 10_000
	srv := redistest.Start(b)
	bare := benchBareClient(b, b, srv.URL())
	open := func(name string) *sqlstore.Store {
		st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), name), sqlstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	plain, swept := open("plain.db"), open("swept.db")
	seedSessions(b, plain, live, time.Now())
	seedSessions(b, swept, live, time.Now())
	doomed := seedSessions(b, swept, revoked, time.Now().Add(-time.Hour)) // seen earlier: after the live ones
	for _, tok := range doomed {
		h, _ := session.ParseToken(tok)
		if _, err := swept.Revoke(context.Background(), h, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		st      *sqlstore.Store
		revoked int
	}{{"nothing_revoked", plain, 0}, {"10k_revoked", swept, revoked}} {
		b.Run(c.name, func(b *testing.B) {
			svc := benchService(b, b, srv.URL(), c.st, func(o *session.Options) { o.L1TTL = -1 })
			w := svc.NewWarmer(session.WarmOptions{Source: c.st})
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := bare.FlushDB(context.Background()).Err(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := w.Run(context.Background())
				if err != nil || res.Written != live || res.Revoked != c.revoked {
					b.Fatalf("warm: %+v, %v; want %d written, %d swept", res, err, live, c.revoked)
				}
				total += res.Duration
			}
			b.ReportMetric(float64((total/time.Duration(b.N)).Microseconds())/1000, "ms/warm")
		})
	}
}
