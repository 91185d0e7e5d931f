package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/session/storetest"
)

// benchSessions is how many sessions the benchmark databases hold.
const benchSessions = 5000

// benchDB opens a store on a fresh database of the dialect and fills it.
func benchDB(b *testing.B, dialect string) (dsn string, s *sqlstore.Store, hashes []session.TokenHash) {
	b.Helper()
	switch dialect {
	case "sqlite":
		dsn = sqliteDSN(b)
	case "postgres":
		dsn = postgresDSN(b)
	}
	s = open(b, dsn)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range benchSessions {
		rec := storetest.NewRecord(b, "user_"+string(rune('a'+i%26)), base)
		rec.Session.Metadata = map[string]string{"ip": "192.0.2.1", "ua": "bench"}
		rec.Session.IdleTimeout = time.Hour
		if err := s.Create(ctx, rec); err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, rec.Hash)
	}
	return dsn, s, hashes
}

// BenchmarkLookup measures Store.Lookup (one point select, all columns,
// decoded into a session.Session). Compare with BenchmarkBarePointSelect,
// the same select of one column with the same driver and no store around it.
func BenchmarkLookup(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			_, s, hashes := benchDB(b, dialect)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Lookup(ctx, hashes[i%len(hashes)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkBarePointSelect is the baseline for BenchmarkLookup: the bare
// driver selecting one column by token_hash (prepared/cached statement).
func BenchmarkBarePointSelect(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		dsn, s, hashes := benchDB(b, "sqlite")
		s.Close()
		db := openRawSQLite(b, strings.TrimPrefix(dsn, "sqlite:"))
		stmt, err := db.Prepare(`SELECT id FROM sessions WHERE token_hash = ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		var id string
		for b.Loop() {
			if err := stmt.QueryRowContext(ctx, hashes[i%len(hashes)][:]).Scan(&id); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("postgres", func(b *testing.B) {
		dsn, s, hashes := benchDB(b, "postgres")
		s.Close()
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		b.ReportAllocs()
		i := 0
		var id string
		for b.Loop() {
			if err := pool.QueryRow(ctx, `SELECT id FROM sessions WHERE token_hash = $1`, hashes[i%len(hashes)][:]).Scan(&id); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
