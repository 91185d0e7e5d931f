// Package pgtest gives tests a throw-away PostgreSQL database on the server
// named by STUDIO_TEST_POSTGRES_URL (default: this machine's,
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Like
// internal/redistest it is test tooling: only tests import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URLEnv names the PostgreSQL server the tests use. Its database is only
// used to create and drop a throw-away database per test.
const URLEnv = "STUDIO_TEST_POSTGRES_URL"

// DefaultURL is used when URLEnv is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Database creates a fresh database on the test server, named with prefix
// and a random suffix, drops it (closing its connections) when cleanup's
// test ends, and returns its URL. A server that does not answer fails tb:
// PostgreSQL is never skipped silently. cleanup is usually tb; a benchmark
// that outlives one of its runs passes its parent.
func Database(tb, cleanup testing.TB, prefix string) string {
	tb.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s is not a URL: %v", URLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s=%s does not answer: %v\n"+
			"start PostgreSQL there or point %s at a server whose user may CREATE DATABASE",
			URLEnv, u.Redacted(), err, URLEnv)
	}
	defer admin.Close(context.Background())

	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	db := prefix + hex.EncodeToString(rnd[:])
	name := pgx.Identifier{db}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database on %s: %v", u.Redacted(), err)
	}
	cleanup.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			cleanup.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			cleanup.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + db
	return u.String()
}
