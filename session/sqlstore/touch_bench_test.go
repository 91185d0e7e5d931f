package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/studiohq/studio/session"
)

// touchBenchRows is how many sessions BenchmarkTouch seeds: about what a
// million active sessions leave in the table.
const touchBenchRows = 1_000_000

// BenchmarkTouch measures what the last-seen flusher asks of the store:
// Store.Touch of batches of distinct sessions drawn uniformly at random
// from a million live ones, each use later than the row's last_seen_at
// (so every row moves, as at steady use). It reports uses written per
// second ("uses/s") and, for SQLite, which runs in this process, the
// process's CPU time per use ("cpu_µs/use": user and system, the figure
// that stays put when other work shares the machine); each batch must
// return every session as live.
//
// The rows are seeded with plain multi-row inserts (SQLite) or COPY
// (PostgreSQL), laid out as Create writes them.
func BenchmarkTouch(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var dsn string
			if dialect == "sqlite" {
				dsn = sqliteDSN(b)
			} else {
				dsn = postgresDSN(b)
			}
			s := open(b, dsn)
			base := time.Now().UTC().Truncate(time.Millisecond)
			hashes := seedTouchBench(b, dsn, touchBenchRows, base)
			at := base
			for _, batch := range []int{500, 2000, 10000} {
				b.Run(fmt.Sprintf("batch_%d", batch), func(b *testing.B) {
					ctx := context.Background()
					ts := make([]session.Touch, batch)
					rng := mrand.New(mrand.NewPCG(1, uint64(batch)))
					b.ReportAllocs()
					cpu0 := processCPU()
					for b.Loop() {
						at = at.Add(time.Millisecond)
						// Distinct sessions: a stride from a random start.
						start, step := rng.IntN(len(hashes)), 1+rng.IntN(len(hashes)/batch)
						for i := range ts {
							ts[i] = session.Touch{Hash: hashes[(start+i*step)%len(hashes)], At: at}
						}
						live, err := s.Touch(ctx, ts, at)
						if err != nil {
							b.Fatal(err)
						}
						if len(live) != batch {
							b.Fatalf("Touch returned %d live sessions of %d", len(live), batch)
						}
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "uses/s")
					if dialect == "sqlite" {
						b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N*batch), "cpu_µs/use")
					}
				})
			}
		})
	}
}

// seedTouchBench inserts n live sessions, last seen before base, and
// returns their hashes.
func seedTouchBench(b *testing.B, dsn string, n int, base time.Time) []session.TokenHash {
	b.Helper()
	hashes := make([]session.TokenHash, n)
	rows := make([][]any, n)
	for i := range hashes {
		rand.Read(hashes[i][:])
		rows[i] = []any{
			hashes[i][:], hex.EncodeToString(hashes[i][:16]), "user" + string(rune('a'+i%26)),
			base.Add(-time.Hour), base.Add(-time.Duration(n-i) * time.Millisecond), base.Add(24 * time.Hour),
			int64(0), `{"ip":"192.0.2.1","ua":"bench"}`,
		}
	}
	ctx := context.Background()
	cols := []string{"token_hash", "id", "user_id", "created_at", "last_seen_at", "expires_at", "idle_timeout_ms", "metadata"}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		seedSQLite(b, path, cols, rows)
		return hashes
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, cols, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE sessions"); err != nil {
		b.Fatal(err)
	}
	return hashes
}

// seedSQLite inserts rows (times as time.Time) into a SQLite file, 100 a
// statement, in one transaction.
func seedSQLite(b *testing.B, path string, cols []string, rows [][]any) {
	b.Helper()
	const per = 100
	db := openRawSQLite(b, path)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	stmt, err := tx.Prepare("INSERT INTO sessions (" + strings.Join(cols, ",") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+",", per), ","))
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, per*len(cols))
	for i, r := range rows {
		for _, v := range r {
			if t, ok := v.(time.Time); ok {
				v = t.UnixMilli()
			}
			args = append(args, v)
		}
		if (i+1)%per != 0 {
			continue
		}
		if _, err := stmt.Exec(args...); err != nil {
			b.Fatal(err)
		}
		args = args[:0]
	}
	if len(args) != 0 {
		b.Fatalf("seed %d rows: not a multiple of %d", len(rows), per)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
