package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/studiohq/studio/internal/pgtest"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// postgresDSN creates a fresh database on the test server, drops it when the
// test ends, and returns its DSN.
func postgresDSN(tb testing.TB) string {
	tb.Helper()
	return pgtest.Database(tb, tb, "studio_test_")
}

// sqliteDSN returns the DSN of a new database file in a temporary folder.
func sqliteDSN(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + filepath.Join(tb.TempDir(), "studio.db")
}

// openRawSQLite opens a database file with the bare driver, bypassing the store.
func openRawSQLite(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// rawDB connects to a test database with the bare driver, bypassing the
// store, and returns a statement runner and a one-integer query; both fail
// the test on error.
func rawDB(tb testing.TB, dsn string) (exec func(stmt string), query func(q string) int64) {
	tb.Helper()
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		db := openRawSQLite(tb, path)
		return func(stmt string) {
				tb.Helper()
				if _, err := db.Exec(stmt); err != nil {
					tb.Fatalf("%s: %v", stmt, err)
				}
			}, func(q string) int64 {
				tb.Helper()
				var n int64
				if err := db.QueryRow(q).Scan(&n); err != nil {
					tb.Fatalf("%s: %v", q, err)
				}
				return n
			}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return func(stmt string) {
			tb.Helper()
			if _, err := conn.Exec(ctx, stmt); err != nil {
				tb.Fatalf("%s: %v", stmt, err)
			}
		}, func(q string) int64 {
			tb.Helper()
			var n int64
			if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
				tb.Fatalf("%s: %v", q, err)
			}
			return n
		}
}
