package session_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// BenchmarkForgedValidate: what one forged token (a well-formed token no
// Studio made, each one new) costs a Service on a real redis-server and a
// SQLite store, with the L1 on (the default): time, store lookups and new
// Redis keys per validation. Before token tags each one was a Redis GET,
// a store lookup and a SET of a 30 s "N" key; docs/PERFORMANCE.md has the
// figures of both.
func BenchmarkForgedValidate(b *testing.B) {
	srv, st := benchForgedEnv(b)
	svc := benchService(b, b, srv.URL(), st, func(o *session.Options) { o.CacheTTL = time.Hour })
	rdb := srv.Client(b)
	toks := make([]string, b.N)
	for i := range toks {
		toks[i] = forgedToken(b)
	}
	lookups, keys := st.lookups.Load(), rdb.DBSize(bg).Val()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Validate(bg, toks[i]); !errors.Is(err, session.ErrNotFound) {
			b.Fatalf("Validate(forged) = %v", err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(st.lookups.Load()-lookups)/float64(b.N), "lookups/op")
	b.ReportMetric(float64(rdb.DBSize(bg).Val()-keys)/float64(b.N), "redis-keys/op")
}

// benchForgedEnv starts a redis-server and opens a SQLite store whose
// lookups are counted, both released when b ends.
func benchForgedEnv(b *testing.B) (*redistest.Server, *countingStore) {
	b.Helper()
	srv := redistest.Start(b)
	st, err := sqlstore.Open(bg, "sqlite:"+filepath.Join(b.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return srv, &countingStore{Store: st}
}
