package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/session/storetest"
)

// dialects are the configurations every dialect-independent test runs on.
// dsn is called once per test and may share a database between stores.
var dialects = []struct {
	name string
	dsn  func(tb testing.TB) string
	// fresh reports whether each open of the same dsn gets an empty database.
	fresh bool
}{
	{name: "sqlite", dsn: sqliteDSN},
	{name: "sqlite-memory", dsn: func(testing.TB) string { return "sqlite::memory:" }, fresh: true},
	{name: "postgres", dsn: postgresDSN},
}

func open(tb testing.TB, dsn string) *sqlstore.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return open(t, sqliteDSN(t)) })
}

func TestConformanceSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return open(t, "sqlite::memory:") })
}

func TestConformancePostgres(t *testing.T) {
	dsn := postgresDSN(t) // one database, a new pool per subtest
	storetest.Run(t, func(t *testing.T) session.Store { return open(t, dsn) })
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func TestDuplicateIsErrDuplicate(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, d.dsn(t))
			rec := storetest.NewRecord(t, "u1", now())
			if err := s.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			sameHash := storetest.NewRecord(t, "u1", now())
			sameHash.Hash = rec.Hash
			sameID := storetest.NewRecord(t, "u1", now())
			sameID.Session.ID = rec.Session.ID
			for name, dup := range map[string]session.Record{"hash": sameHash, "id": sameID} {
				err := s.Create(ctx, dup)
				if !errors.Is(err, sqlstore.ErrDuplicate) {
					t.Errorf("duplicate %s: error = %v, want ErrDuplicate", name, err)
					continue
				}
				if !strings.HasPrefix(err.Error(), "sqlstore: create: duplicate session") {
					t.Errorf("duplicate %s: error text %q", name, err)
				}
				t.Logf("duplicate %s: %v", name, err)
			}
		})
	}
}

func TestOpenBadDSN(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")
	tests := []struct {
		dsn  string
		want string // a substring of the error
	}{
		{"", "sqlstore: open: empty dsn: want postgres://…, postgresql://… or sqlite:PATH"},
		{"   ", "empty dsn"},
		{"mysql://u:secretpw@db/x", `unsupported dsn scheme "mysql"`},
		{"u:secretpw@db:5432/x", "unrecognised dsn"},
		{"secretpw", "unrecognised dsn"},
		{"host=db password=secretpw", "unrecognised dsn"},
		{"x y:secretpw://z", "unsupported dsn scheme: want"},
		{"sqlite:", "sqlite dsn has an empty path"},
		{"sqlite://studio.db", "not sqlite://"},
		{"sqlite:studio.db?_pragma=journal_mode(DELETE)", "must not contain '?'"},
		{"sqlite:file:studio.db", "not a file: URI"},
		{"sqlite:file::memory:", "not a file: URI"},
		{"sqlite:x:memory:", "an in-memory database is spelt sqlite::memory: and nothing else"},
		{"sqlite:" + missingDir, "sqlstore: open: sqlite " + missingDir + ": unable to open database file"},
		{"postgres://u:secretpw@db:notaport/x", `postgres dsn is not a valid URL: invalid port ":notaport" after host`},
		{"postgres://u:secret%zzpw@db/x", "postgres dsn is not a valid URL: invalid percent-escape"},
		{"postgresql://u:secretpw@[::1/x", "postgres dsn is not a valid URL"},
		{"postgres://u:secretpw@127.0.0.1:5432/x?sslmode=bogus", "invalid postgres dsn: failed to configure TLS (sslmode is invalid)"},
		{"postgres://u:secretpw@127.0.0.1:5432/x?connect_timeout=soon", "invalid postgres dsn: invalid connect_timeout"},
		{"postgres://u:secretpw@127.0.0.1:1/x?connect_timeout=5", "sqlstore: open: postgres:"},
		{"postgres://u:secretpw@nohost:1/x?connect_timeout=5", "sqlstore: open: postgres:"},
		{"postgres://postgres:secretpw@127.0.0.1:5432/studio_no_such_db_" + randHex(4) + "?sslmode=disable", "does not exist"},
		{"postgres://u@127.0.0.1:5432/x?password=secretpw&sslmode=disable", "sqlstore: open: postgres:"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.dsn, "/", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := sqlstore.Open(ctx, tc.dsn, sqlstore.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			msg := err.Error()
			t.Logf("%q → %s", tc.dsn, msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if !strings.HasPrefix(msg, "sqlstore: open: ") {
				t.Errorf("error %q does not start with %q", msg, "sqlstore: open: ")
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("error reveals the password: %q", msg)
			}
		})
	}
}

func TestOpenSQLiteMemoryIsPrivate(t *testing.T) {
	ctx := t.Context()
	a := open(t, "sqlite::memory:")
	b := open(t, "sqlite::memory:")
	rec := storetest.NewRecord(t, "u", now())
	if err := a.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup(ctx, rec.Hash); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("second in-memory store sees the first one's session: %v", err)
	}
}

// TestReopen checks that Open on an existing database keeps its data and
// that stores opened at the same time on one database all start.
func TestReopen(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			// Concurrent first opens race to migrate the empty database.
			stores := openAtOnce(t, dsn, 4, "concurrent Open")
			rec := storetest.NewRecord(t, "u", now())
			if err := stores[0].Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			for _, s := range stores {
				s.Close()
			}
			s := open(t, dsn)
			got, err := s.Lookup(ctx, rec.Hash)
			if err != nil {
				t.Fatalf("Lookup after reopen: %v", err)
			}
			if got.ID != rec.Session.ID {
				t.Fatalf("Lookup after reopen = %s, want %s", got.ID, rec.Session.ID)
			}
		})
	}
}

// TestSQLiteTwoStoresOneFile writes from two stores on one file at once, as
// two processes would: busy_timeout and BEGIN IMMEDIATE keep SQLITE_BUSY away.
func TestSQLiteTwoStoresOneFile(t *testing.T) {
	dsn := sqliteDSN(t)
	stores := []*sqlstore.Store{open(t, dsn), open(t, dsn)}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 8 {
		wg.Go(func() {
			s := stores[w%2]
			for range 25 {
				rec := storetest.NewRecord(t, fmt.Sprint("u", w), now())
				if err := s.Create(ctx, rec); err != nil {
					errs <- err
					return
				}
				ts := []session.Touch{{Hash: rec.Hash, At: now().Add(time.Second)}, {Hash: storetest.NewHash(t), At: now()}}
				if _, err := s.Touch(ctx, ts, now()); err != nil {
					errs <- err
					return
				}
				if _, err := stores[(w+1)%2].Lookup(ctx, rec.Hash); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.RevokeUser(ctx, fmt.Sprint("u", w), now()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSQLiteNewerSchemaRefused(t *testing.T) {
	dsn := sqliteDSN(t)
	s := open(t, dsn)
	s.Close()
	// Pretend a newer program migrated the file.
	raw := openRawSQLite(t, strings.TrimPrefix(dsn, "sqlite:"))
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("Open on a newer schema: error = %v, want one naming the version", err)
	}
}

func TestRecent(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			// A database of its own: Recent sees every session in it.
			s := open(t, d.dsn(t))
			ctx := t.Context()
			base := now()
			at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
			mk := func(lastSeen int, mod func(*session.Session)) session.Record {
				r := storetest.NewRecord(t, "u", at(-100))
				r.Session.LastSeenAt = at(lastSeen)
				r.Session.Metadata = map[string]string{"n": fmt.Sprint(lastSeen)}
				if mod != nil {
					mod(&r.Session)
				}
				if err := s.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
				return r
			}
			live := []session.Record{
				mk(-5, nil),
				mk(-1, nil),
				mk(-30, func(s *session.Session) { s.IdleTimeout = time.Minute }), // idle deadline at +30s
				mk(-3, nil),
			}
			mk(-2, func(s *session.Session) { s.RevokedAt = ptr(at(-1)) })         // revoked
			mk(-4, func(s *session.Session) { s.ExpiresAt = base })                // expires now
			mk(-6, func(s *session.Session) { s.ExpiresAt = at(-1) })              // expired
			mk(-70, func(s *session.Session) { s.IdleTimeout = time.Minute })      // idle since -10s
			mk(-60, func(s *session.Session) { s.IdleTimeout = 60 * time.Second }) // idle at exactly now

			// Most recently seen first.
			want := []session.Record{live[1], live[3], live[0], live[2]}
			var got []session.Record
			err := s.Recent(ctx, base, 100, func(r session.Record) error {
				got = append(got, r)
				return nil
			})
			if err != nil {
				t.Fatalf("Recent: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("Recent returned %d sessions, want %d: %v", len(got), len(want), ids(got))
			}
			for i := range want {
				if got[i].Hash != want[i].Hash || got[i].Session.ID != want[i].Session.ID ||
					!got[i].Session.LastSeenAt.Equal(want[i].Session.LastSeenAt) ||
					got[i].Session.Metadata["n"] != want[i].Session.Metadata["n"] ||
					got[i].Session.IdleTimeout != want[i].Session.IdleTimeout ||
					got[i].Session.ExpiresAt.Location() != time.UTC {
					t.Errorf("Recent[%d] = %s (last seen %v), want %s (last seen %v)", i,
						got[i].Session.ID, got[i].Session.LastSeenAt, want[i].Session.ID, want[i].Session.LastSeenAt)
				}
			}

			// The limit.
			got = nil
			if err := s.Recent(ctx, base, 2, func(r session.Record) error { got = append(got, r); return nil }); err != nil {
				t.Fatalf("Recent(limit 2): %v", err)
			}
			if len(got) != 2 || got[0].Hash != want[0].Hash || got[1].Hash != want[1].Hash {
				t.Errorf("Recent(limit 2) = %v, want %v", ids(got), ids(want[:2]))
			}
			for _, limit := range []int{0, -1} {
				if err := s.Recent(ctx, base, limit, func(session.Record) error {
					t.Errorf("Recent(limit %d) called fn", limit)
					return nil
				}); err != nil {
					t.Errorf("Recent(limit %d): %v", limit, err)
				}
			}

			// An error from fn stops the iteration and comes back as it is.
			stop := errors.New("stop here")
			calls := 0
			err = s.Recent(ctx, base, 100, func(session.Record) error {
				calls++
				if calls == 2 {
					return stop
				}
				return nil
			})
			if err != stop {
				t.Errorf("Recent with failing fn: error = %v, want %v", err, stop)
			}
			if calls != 2 {
				t.Errorf("fn called %d times after its error, want 2", calls)
			}

			// fn may use the store while the rows are read.
			n := 0
			err = s.Recent(ctx, base, 100, func(r session.Record) error {
				n++
				if _, err := s.Lookup(ctx, r.Hash); err != nil {
					return err
				}
				_, err := s.Touch(ctx, []session.Touch{{Hash: r.Hash, At: r.Session.LastSeenAt.Add(time.Millisecond)}}, now())
				return err
			})
			if err != nil || n != len(want) {
				t.Errorf("Recent with a store-using fn: %d calls, %v; want %d, nil", n, err, len(want))
			}

			// Later, the session with an idle timeout has gone idle.
			got = nil
			if err := s.Recent(ctx, at(31), 100, func(r session.Record) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Errorf("Recent(+31s) = %v, want the 3 sessions without an idle timeout", ids(got))
			}
		})
	}
}

func TestRevokedSince(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			s := open(t, d.dsn(t)) // a database of its own
			ctx := t.Context()
			base := now()
			at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
			mk := func(mod func(*session.Session)) session.Record {
				r := storetest.NewRecord(t, "u", at(-100))
				if mod != nil {
					mod(&r.Session)
				}
				if err := s.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
				return r
			}
			mk(nil)                                                                          // live
			mk(func(s *session.Session) { s.RevokedAt = ptr(at(-11)) })                      // revoked before since
			second := mk(func(s *session.Session) { s.RevokedAt = ptr(at(-5)) })             // the later of the two
			first := mk(func(s *session.Session) { s.RevokedAt = ptr(at(-10)) })             // exactly at since
			mk(func(s *session.Session) { s.RevokedAt = ptr(at(-8)); s.ExpiresAt = base })   // expires now
			mk(func(s *session.Session) { s.RevokedAt = ptr(at(-7)); s.ExpiresAt = at(-1) }) // expired

			// Revoke, the way a Service does, is seen too.
			byRevoke := mk(nil)
			if _, err := s.Revoke(ctx, byRevoke.Hash, at(-1)); err != nil {
				t.Fatal(err)
			}

			revokedSince := func(since time.Time) []session.Revocation {
				t.Helper()
				var got []session.Revocation
				if err := s.RevokedSince(ctx, since, base, func(r session.Revocation) error { got = append(got, r); return nil }); err != nil {
					t.Fatalf("RevokedSince: %v", err)
				}
				return got
			}
			got := revokedSince(at(-10))
			want := []session.Record{first, second, byRevoke} // oldest revocation first
			if len(got) != len(want) {
				t.Fatalf("RevokedSince returned %d sessions %v, want %d", len(got), got, len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.Hash != w.Hash || g.SessionID != w.Session.ID || !g.ExpiresAt.Equal(w.Session.ExpiresAt) || g.ExpiresAt.Location() != time.UTC {
					t.Errorf("RevokedSince[%d] = %s expiring %v, want %s expiring %v (UTC)", i, g.SessionID, g.ExpiresAt, w.Session.ID, w.Session.ExpiresAt)
				}
			}
			if got := revokedSince(at(1)); len(got) != 0 {
				t.Errorf("RevokedSince(the future) = %v, want none", got)
			}
			// fn's error stops the iteration and comes back as it is; fn
			// may use the Store (the read does not hold its only
			// connection, even for sqlite::memory:).
			stop := errors.New("stop")
			calls := 0
			err := s.RevokedSince(ctx, at(-10), base, func(r session.Revocation) error {
				calls++
				if _, err := s.Lookup(ctx, r.Hash); err != nil {
					return err
				}
				return stop
			})
			if err != stop || calls != 1 {
				t.Errorf("RevokedSince with a failing fn: %d calls, error %v; want 1, %v", calls, err, stop)
			}
		})
	}
}

// TestIndexesEnsuredAtOpen: the revoked_at index is not a schema version
// (an older binary keeps running on the database): Open creates it when it
// is missing (PostgreSQL: in the background, CONCURRENTLY), also when
// several processes open at once, and PostgreSQL rebuilds one a failed
// concurrent build left invalid.
func TestIndexesEnsuredAtOpen(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			exec, query := rawDB(t, dsn)
			indexQuery := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'sessions_revoked_at_idx'`
			if d.name == "postgres" {
				indexQuery = `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
					WHERE c.relname = 'sessions_revoked_at_idx' AND i.indisvalid`
			}
			waitIndex := func(what string) { t.Helper(); waitOne(t, query, indexQuery, what) }

			s := open(t, dsn)
			rec := storetest.NewRecord(t, "u", now())
			if err := s.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			waitIndex("the first Open")
			s.Close()
			version := query(`SELECT max(version) FROM schema_version`)
			if version != 1 {
				t.Errorf("schema version %d, want 1: an index is not a schema change", version)
			}

			// Missing (a database an older binary created), several
			// processes opening at once.
			exec(`DROP INDEX sessions_revoked_at_idx`)
			stores := openAtOnce(t, dsn, 4, "concurrent Open without the index")
			waitIndex("concurrent Opens")
			for _, st := range stores {
				st.Close()
			}
			if v := query(`SELECT max(version) FROM schema_version`); v != version {
				t.Errorf("schema version went from %d to %d", version, v)
			}

			if d.name == "postgres" {
				// What a CREATE INDEX CONCURRENTLY that failed leaves.
				exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'sessions_revoked_at_idx'::regclass`)
				if n := query(indexQuery); n != 0 {
					t.Fatal("could not mark the index invalid")
				}
				s = open(t, dsn)
				waitIndex("Open over an invalid index")
				s.Close()
			}
			s = open(t, dsn)
			if _, err := s.Lookup(ctx, rec.Hash); err != nil {
				t.Errorf("Lookup after the index was rebuilt: %v", err)
			}
		})
	}
}

// TestCloseStopsIndexBuild: Close does not wait for an index build to
// finish; the next Open builds it.
func TestCloseStopsIndexBuild(t *testing.T) {
	dsn := postgresDSN(t)
	exec, query := rawDB(t, dsn)
	const valid = `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = 'sessions_revoked_at_idx' AND i.indisvalid`
	waitBuilt := func(what string) { t.Helper(); waitOne(t, query, valid, what) }
	s := open(t, dsn)
	waitBuilt("the first Open")
	s.Close()
	exec(`DROP INDEX sessions_revoked_at_idx`)
	// A transaction that has read the table holds the build back
	// (CONCURRENTLY waits for older transactions): Close must not.
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// REPEATABLE READ keeps the snapshot for the whole transaction.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT count(*) FROM sessions`); err != nil {
		t.Fatal(err)
	}
	s = open(t, dsn)
	time.Sleep(300 * time.Millisecond) // the build starts and waits
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the index build")
	}
	tx.Rollback(ctx)
	if n := query(valid); n != 0 {
		t.Fatalf("the stopped build left %d valid indexes", n)
	}
	s = open(t, dsn)
	waitBuilt("the next Open")
}

// openAtOnce opens n stores on dsn concurrently, as processes starting
// together would, and closes them when the test ends.
func openAtOnce(t *testing.T, dsn string, n int, what string) []*sqlstore.Store {
	t.Helper()
	var wg sync.WaitGroup
	stores := make([]*sqlstore.Store, n)
	errs := make([]error, n)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = sqlstore.Open(t.Context(), dsn, sqlstore.Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s %d: %v", what, i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	return stores
}

// waitOne waits up to 15 s for q (a count) to be 1: a valid index, built
// in the background while the stores that build it stay open.
func waitOne(t *testing.T, query func(string) int64, q, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for query(q) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no valid sessions_revoked_at_idx after 15 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPGIndexes waits until every index Open builds in the background on
// PostgreSQL (pgIndexes) is valid.
func waitPGIndexes(t *testing.T, query func(string) int64) {
	t.Helper()
	names := make([]string, len(sqlstore.PGIndexNames))
	for i, n := range sqlstore.PGIndexNames {
		names[i] = "'" + n + "'"
	}
	q := `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indisvalid AND c.relname IN (` + strings.Join(names, ", ") + `)`
	for deadline := time.Now().Add(15 * time.Second); query(q) != int64(len(names)); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the background index builds (%s) not all valid after 15 s", strings.Join(names, ", "))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func ids(rs []session.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Session.ID)
	}
	return out
}

// recordingHook records the operations it sees.
type recordingHook struct {
	mu  sync.Mutex
	ops []string
}

type hookKey struct{}

func (h *recordingHook) QueryStart(ctx context.Context, q sqlstore.Query) context.Context {
	return context.WithValue(ctx, hookKey{}, q.Op)
}

func (h *recordingHook) QueryEnd(ctx context.Context, q sqlstore.Query, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := "ok"
	switch {
	case errors.Is(err, session.ErrNotFound):
		res = "not_found"
	case err != nil:
		res = "error"
	}
	if ctx.Value(hookKey{}) != q.Op {
		res = "lost context"
	}
	h.ops = append(h.ops, q.System+" "+q.Summary()+" "+q.Op+" "+res)
}

func TestQueryHook(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			hook := &recordingHook{}
			s, err := sqlstore.Open(ctx, d.dsn(t), sqlstore.Options{QueryHook: hook})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rec := storetest.NewRecord(t, "u", now())
			_ = s.Create(ctx, rec)
			_, _ = s.Lookup(ctx, rec.Hash)
			_, _ = s.Lookup(ctx, storetest.NewHash(t))
			_, _ = s.Touch(ctx, nil, now()) // no query, no call
			_, _ = s.Touch(ctx, []session.Touch{{Hash: rec.Hash, At: now()}}, now())
			_, _ = s.Revoke(ctx, rec.Hash, now())
			_, _ = s.RevokeUser(ctx, "u", now())
			_ = s.Recent(ctx, now(), 10, func(session.Record) error { return nil })
			_ = s.RevokedSince(ctx, now().Add(-time.Minute), now(), func(session.Revocation) error { return nil })
			// A consumer that stops the read is not a store failure.
			stopped := errors.New("consumer stopped")
			if err := s.RevokedSince(ctx, now().Add(-time.Minute), now(), func(session.Revocation) error { return stopped }); err != stopped {
				t.Fatalf("RevokedSince with a failing fn: %v, want %v", err, stopped)
			}
			_, _ = s.TokenTags(ctx)
			_ = s.Ping(ctx)
			sys := "sqlite"
			if d.name == "postgres" {
				sys = "postgresql"
			}
			want := []string{
				"INSERT sessions session.create ok", "SELECT sessions session.lookup ok", "SELECT sessions session.lookup not_found",
				"UPDATE sessions session.touch ok", "UPDATE sessions session.revoke ok", "UPDATE sessions session.revoke_user ok",
				"SELECT sessions session.recent ok", "SELECT sessions session.revoked_since ok",
				"SELECT sessions session.revoked_since ok", "SELECT token_mac_keys session.token_tags ok", "SELECT session.ping ok",
			}
			hook.mu.Lock()
			defer hook.mu.Unlock()
			if len(hook.ops) != len(want) {
				t.Fatalf("hook saw %q, want %d operations", hook.ops, len(want))
			}
			for i := range want {
				if w := sys + " " + want[i]; hook.ops[i] != w {
					t.Errorf("hook op %d = %q, want %q", i, hook.ops[i], w)
				}
			}
		})
	}
}

// TestTouchWritesOnlyRowsItMoves: a touch at or before the row's
// last_seen_at leaves the row unwritten (a write would cost the same I/O
// as a real one); a later touch writes it once. A trigger counts the
// row writes.
func TestTouchWritesOnlyRowsItMoves(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue // no second connection to an in-memory database
		}
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			s := open(t, dsn)
			exec, query := rawDB(t, dsn)
			exec(`CREATE TABLE touch_writes (n INTEGER NOT NULL)`)
			exec(`INSERT INTO touch_writes VALUES (0)`)
			if d.name == "postgres" {
				// CREATE TRIGGER's lock on sessions deadlocks with the
				// index builds Open starts in the background (CREATE INDEX
				// CONCURRENTLY): let them finish first.
				waitPGIndexes(t, query)
				exec(`CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS
					'BEGIN UPDATE touch_writes SET n = n + 1; RETURN NEW; END'`)
				exec(`CREATE TRIGGER count_touch AFTER UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION count_touch()`)
			} else {
				exec(`CREATE TRIGGER count_touch AFTER UPDATE ON sessions BEGIN UPDATE touch_writes SET n = n + 1; END`)
			}
			base := now()
			rec := storetest.NewRecord(t, "u1", base)
			rec.Session.LastSeenAt = base.Add(time.Minute)
			if err := s.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Time{base, base.Add(time.Minute)} {
				live, err := s.Touch(ctx, []session.Touch{{Hash: rec.Hash, At: at}}, base)
				if err != nil || len(live) != 1 || !live[0].LastSeenAt.Equal(base.Add(time.Minute)) {
					t.Fatalf("Touch at %v: %v, %v; want the session, last seen a minute later", at.Sub(base), live, err)
				}
			}
			if n := query(`SELECT n FROM touch_writes`); n != 0 {
				t.Fatalf("touches not moving last_seen_at wrote the row %d times", n)
			}
			if _, err := s.Touch(ctx, []session.Touch{{Hash: rec.Hash, At: base.Add(2 * time.Minute)}}, base); err != nil {
				t.Fatal(err)
			}
			if n := query(`SELECT n FROM touch_writes`); n != 1 {
				t.Fatalf("a touch moving last_seen_at wrote the row %d times, want 1", n)
			}
		})
	}
}
