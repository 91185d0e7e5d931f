package session_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// touchBenchSessions is how many sessions BenchmarkValidateTouch seeds.
const touchBenchSessions = 1_000_000

// BenchmarkValidateTouch: validations uniformly at random over 1 000 000
// sessions (seeded in SQLite in one transaction, copied to Redis by a warm
// run), 32 goroutines, default options but a 1 s FlushInterval, with the
// recording of uses on (touch_on: nearly every validation records one,
// and the flusher writes them to SQLite every second and extends the Redis
// copies) and off (touch_off, the baseline, run first so that no backlog
// of touch_on is being written meanwhile). Each reports the p50 and p99
// of single validations (µs) and touches/s written.
func BenchmarkValidateTouch(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	path := filepath.Join(b.TempDir(), "touch.db")
	st, err := sqlstore.Open(ctx, "sqlite:"+path, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	tags, err := st.TokenTags(ctx)
	if err != nil {
		b.Fatal(err)
	}
	toks := bulkSeed(b, path, tags.Key, touchBenchSessions, time.Now())
	svc := benchService(b, b, srv.URL(), st, func(o *session.Options) { o.FlushInterval = time.Second })
	w := svc.NewWarmer(session.WarmOptions{Source: st, Limit: touchBenchSessions})
	if res, err := w.Run(ctx); err != nil || res.Written != touchBenchSessions {
		b.Fatalf("warm: %+v, %v", res, err)
	}
	for _, mode := range []string{"touch_off", "touch_on"} {
		b.Run(mode, func(b *testing.B) {
			session.SkipTouches(svc, mode == "touch_off")
			if err := session.FlushTouches(ctx, svc); err != nil {
				b.Fatal(err)
			}
			before := svc.Stats().TouchesWritten
			lat := benchUniform(b, svc, toks)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
			b.ReportMetric(float64(svc.Stats().TouchesWritten-before)/b.Elapsed().Seconds(), "touches/s")
		})
	}
}

// benchUniform validates tokens picked uniformly at random from 32
// goroutines and returns the sorted latencies.
func benchUniform(b *testing.B, svc *session.Service, toks []string) []time.Duration {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			tok := toks[rand.IntN(len(toks))]
			t0 := time.Now()
			if _, err := svc.Validate(context.Background(), tok); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) == 0 {
		b.Fatal("no validation")
	}
	slices.Sort(all)
	return all
}

// bulkSeed inserts n live sessions into the SQLite store at path in one
// transaction (a Create each would take minutes) and returns their
// tokens, tagged with key (the store's). The rows are laid out as
// sqlstore writes them.
func bulkSeed(tb testing.TB, path string, key session.TokenKey, n int, now time.Time) []string {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.Prepare(`INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, revoked_at, metadata, token_mac)
		VALUES (?, ?, ?, ?, ?, ?, 0, NULL, '{"ip":"192.0.2.1","ua":"bench"}', 1)`)
	if err != nil {
		tb.Fatal(err)
	}
	ms := now.UnixMilli()
	toks := make([]string, n)
	for i := range n {
		tok, err := key.NewToken()
		if err != nil {
			tb.Fatal(err)
		}
		h, err := session.ParseToken(tok.Reveal())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := stmt.Exec(h[:], hex.EncodeToString(h[:16]), "user"+string(rune('a'+i%26)), ms-3_600_000, ms-int64(i), ms+86_400_000); err != nil {
			tb.Fatal(err)
		}
		toks[i] = tok.Reveal()
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return toks
}
