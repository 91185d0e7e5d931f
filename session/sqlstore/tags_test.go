package sqlstore_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/session/storetest"
)

// TestConformanceShared: stores opened together on a new SQLite file or a
// new PostgreSQL database all get the same token key.
func TestConformanceShared(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue // a private in-memory database is never shared
		}
		t.Run(d.name, func(t *testing.T) {
			storetest.RunShared(t, func(t *testing.T) func(context.Context) (session.Store, error) {
				dsn := d.dsn(t)
				return func(ctx context.Context) (session.Store, error) {
					return sqlstore.Open(ctx, dsn, sqlstore.Options{})
				}
			})
		})
	}
}

// olderBinary is what a Studio without token tags does to a database: its
// schema (version 1) and its inserts, which name no token_mac column.
type olderBinary struct {
	dialect string
	exec    func(string)
}

func (o olderBinary) createSchema() {
	if o.dialect == "postgres" {
		o.exec(`CREATE TABLE schema_version (version integer NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
		o.exec(sqlstore.SchemaV1["postgres"])
		o.exec(`INSERT INTO schema_version (version) VALUES (1)`)
		return
	}
	o.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	o.exec(sqlstore.SchemaV1["sqlite"])
	o.exec(`INSERT INTO schema_version (version, applied_at) VALUES (1, 0)`)
}

func (o olderBinary) create(rec session.Record) {
	s := rec.Session
	h := hex.EncodeToString(rec.Hash[:])
	if o.dialect == "postgres" {
		ts := func(t time.Time) string { return fmt.Sprintf("to_timestamp(%d / 1000.0)", t.UnixMilli()) }
		o.exec(fmt.Sprintf(`INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at)
			VALUES ('\x%s'::bytea, '%s', '%s', %s, %s, %s)`, h, s.ID, s.UserID, ts(s.CreatedAt), ts(s.LastSeenAt), ts(s.ExpiresAt)))
		return
	}
	o.exec(fmt.Sprintf(`INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at)
		VALUES (X'%s', '%s', '%s', %d, %d, %d)`, h, s.ID, s.UserID, s.CreatedAt.UnixMilli(), s.LastSeenAt.UnixMilli(), s.ExpiresAt.UnixMilli()))
}

func recordExpiring(t *testing.T, in time.Duration) session.Record {
	rec := storetest.NewRecord(t, "legacy", now())
	rec.Session.ExpiresAt = now().Add(in)
	return rec
}

func tokenTags(t *testing.T, s *sqlstore.Store) session.TokenTags {
	t.Helper()
	tt, err := s.TokenTags(t.Context())
	if err != nil {
		t.Fatalf("TokenTags: %v", err)
	}
	return tt
}

// TestLegacyUntil: on a database an older binary created, Open adds the
// token tags' schema without a new schema version; LegacyUntil is the
// latest expiry of the sessions whose tokens have no tag — those there
// before, and those an older binary still running adds after — and never
// counts the sessions Create stores.
func TestLegacyUntil(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			exec, query := rawDB(t, dsn)
			old := olderBinary{dialect: d.name, exec: exec}
			old.createSchema()
			before := []session.Record{recordExpiring(t, time.Hour), recordExpiring(t, 5*time.Hour), recordExpiring(t, 2*time.Hour)}
			for _, r := range before {
				old.create(r)
			}

			s := open(t, dsn)
			tt := tokenTags(t, s)
			if want := before[1].Session.ExpiresAt; !tt.LegacyUntil.Equal(want) {
				t.Fatalf("LegacyUntil = %v, want the latest expiry of the sessions already there, %v", tt.LegacyUntil, want)
			}
			if v := query(`SELECT max(version) FROM schema_version`); v != 1 {
				t.Errorf("schema version %d, want 1: an older binary must keep running on the database", v)
			}
			if got, err := s.Lookup(ctx, before[0].Hash); err != nil || got.ID != before[0].Session.ID {
				t.Fatalf("Lookup of a session from before: %v, %v", got.ID, err)
			}

			// Create stores tagged sessions: the window does not move.
			if err := s.Create(ctx, recordExpiring(t, 100*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := tokenTags(t, s).LegacyUntil; !got.Equal(tt.LegacyUntil) {
				t.Fatalf("LegacyUntil moved to %v after Create", got)
			}
			// An older binary still running (a rolling deploy, a rollback)
			// stores an untagged one: the window follows it.
			later := recordExpiring(t, 50*time.Hour)
			old.create(later)
			if got := tokenTags(t, s).LegacyUntil; !got.Equal(later.Session.ExpiresAt) {
				t.Fatalf("LegacyUntil = %v after an older binary's session, want %v", got, later.Session.ExpiresAt)
			}

			// Opening again keeps the key and the column's values.
			s.Close()
			s2 := open(t, dsn)
			again := tokenTags(t, s2)
			if again.Key != tt.Key || !again.LegacyUntil.Equal(later.Session.ExpiresAt) {
				t.Fatalf("reopened: same key %v, LegacyUntil %v", again.Key == tt.Key, again.LegacyUntil)
			}
		})
	}
}

// TestTokenKeyRemovedByHand: a key row deleted by hand is made again, once
// (the tokens tagged with the old key would be refused: see TokenTags).
func TestTokenKeyRemovedByHand(t *testing.T) {
	for _, d := range dialects {
		if d.fresh {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			dsn := d.dsn(t)
			s := open(t, dsn)
			first := tokenTags(t, s)
			exec, query := rawDB(t, dsn)
			exec(`DELETE FROM token_mac_keys`)
			second := tokenTags(t, s)
			if second.Key == (session.TokenKey{}) || second.Key == first.Key {
				t.Fatal("no new key after the row was removed")
			}
			if third := tokenTags(t, s); third.Key != second.Key {
				t.Fatal("the new key changed at the next call")
			}
			if n := query(`SELECT count(*) FROM token_mac_keys`); n != 1 {
				t.Fatalf("%d key rows, want 1", n)
			}
		})
	}
}
