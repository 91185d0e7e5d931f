package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresURLEnv names the PostgreSQL server the tests use. Its database is
// only used to create and drop a throw-away database per test.
const (
	postgresURLEnv     = "STUDIO_TEST_POSTGRES_URL"
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// postgresDSN creates a fresh database on the test server, drops it when the
// test ends, and returns its DSN. A server that does not answer fails the
// test: the PostgreSQL dialect is never skipped silently.
func postgresDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(postgresURLEnv)
	if base == "" {
		base = defaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s is not a URL: %v", postgresURLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s=%s does not answer: %v\n"+
			"start PostgreSQL there or point %s at a server whose user may CREATE DATABASE",
			postgresURLEnv, u.Redacted(), err, postgresURLEnv)
	}
	defer admin.Close(context.Background())

	name := "studio_test_" + randHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database on %s: %v", u.Redacted(), err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
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
