package loadgen_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/loadgen"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// get sends GET /v1/session with bearer tok (none when empty) and returns
// the status and body.
func get(t *testing.T, base, method, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/v1/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// unknownToken is a well-formed token of no session (the plain handlers
// check no tag: any key does).
func unknownToken(t *testing.T) string {
	k, err := session.NewTokenKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}

// TestPlainGetHandler: one GET of the key Studio keeps the copy under,
// answered with its bytes; 401 for no key or a bad token.
func TestPlainGetHandler(t *testing.T) {
	e := newEnv(t)
	rdb := e.redis.Client(t)
	tok, _, err := e.svc.Create(t.Context(), session.CreateParams{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := session.ParseToken(tok.Reveal())
	copyOf, err := rdb.Get(t.Context(), e.svc.Key(h)).Result()
	if err != nil {
		t.Fatalf("no Redis copy after Create: %v", err)
	}
	ts := httptest.NewServer(loadgen.PlainGetHandler(rdb, ""))
	t.Cleanup(ts.Close)
	if code, body := get(t, ts.URL, "GET", tok.Reveal()); code != 200 || body != copyOf {
		t.Fatalf("a session with a copy: %d %q, want 200 and the copy's bytes", code, body)
	}
	for name, tok := range map[string]string{"unknown": unknownToken(t), "malformed": "stu_nope", "none": ""} {
		if code, body := get(t, ts.URL, "GET", tok); code != 401 {
			t.Errorf("%s token: %d %q, want 401", name, code, body)
		}
	}
	if code, _ := get(t, ts.URL, "DELETE", tok.Reveal()); code != 405 {
		t.Errorf("DELETE: %d, want 405", code)
	}
	// Another key prefix: the copy is not under it.
	other := httptest.NewServer(loadgen.PlainGetHandler(rdb, "other:"))
	t.Cleanup(other.Close)
	if code, _ := get(t, other.URL, "GET", tok.Reveal()); code != 401 {
		t.Errorf("prefix other: %d, want 401", code)
	}
}

// testPlainMiss checks PlainMissHandler on the store at dsn: a miss reads
// the row, caches it for at most cacheTTL and answers it; the next
// request is a Redis hit; unknown, revoked and expired sessions are 401
// and cache nothing.
func testPlainMiss(t *testing.T, dsn string) {
	ctx := t.Context()
	rs := redistest.Start(t)
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, err := redisconn.Open(redisconn.Config{URL: rs.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	svc, err := session.NewService(session.Options{Store: st, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	toks, err := svc.CreateBatch(ctx, session.CreateParams{UserID: "u", TTL: time.Hour}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Revoke(ctx, toks[1].Reveal()); err != nil {
		t.Fatal(err)
	}
	var expired session.Record
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	expiredTok := unknownToken(t)
	expired.Hash = mustParse(t, expiredTok)
	expired.Session = session.Session{ID: "expired-1", UserID: "u", CreatedAt: past.Add(-time.Hour), LastSeenAt: past, ExpiresAt: past}
	if err := st.Create(ctx, expired); err != nil {
		t.Fatal(err)
	}
	rows, closeRows, err := loadgen.OpenSessionRows(ctx, dsn, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeRows)
	check := rs.Client(t)
	if err := check.FlushDB(ctx).Err(); err != nil { // the copies are gone
		t.Fatal(err)
	}
	ts := httptest.NewServer(loadgen.PlainMissHandler(rdb, rows, "", 10*time.Second))
	t.Cleanup(ts.Close)

	live := toks[0].Reveal()
	key := session.SessionKey("", mustParse(t, live))
	code, body := get(t, ts.URL, "GET", live)
	if code != 200 || !strings.Contains(body, "\tu\t") {
		t.Fatalf("a live session missing from Redis: %d %q, want 200 and its row", code, body)
	}
	if v, err := check.Get(ctx, key).Result(); err != nil || v != body {
		t.Fatalf("Redis after the miss: %q %v, want the row answered", v, err)
	}
	if ttl := check.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("the copy's TTL is %v, want at most the cache TTL of 10s", ttl)
	}
	if err := check.Set(ctx, key, "from-redis", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, ts.URL, "GET", live); code != 200 || body != "from-redis" {
		t.Fatalf("a session with a copy: %d %q, want the copy", code, body)
	}
	for name, tok := range map[string]string{"revoked": toks[1].Reveal(), "expired": expiredTok, "unknown": unknownToken(t), "malformed": "stu_x"} {
		if code, body := get(t, ts.URL, "GET", tok); code != 401 {
			t.Errorf("%s session: %d %q, want 401", name, code, body)
		}
	}
	if n := check.DBSize(ctx).Val(); n != 1 {
		t.Errorf("%d Redis keys, want only the live session's", n)
	}
}

func mustParse(t *testing.T, tok string) session.TokenHash {
	t.Helper()
	h, err := session.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPlainMissHandlerSQLite(t *testing.T) {
	testPlainMiss(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
}

func TestPlainMissHandlerPostgres(t *testing.T) {
	testPlainMiss(t, pgtest.Database(t, t, "loadgen_plain_"))
}

func TestOpenSessionRowsBadInput(t *testing.T) {
	dir := t.TempDir()
	notStudio := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", notStudio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct{ dsn, want string }{
		{"", "want a sqlite:PATH or postgres:// DSN"},
		{"mysql://u:secret@h/db", "want a sqlite:PATH or postgres:// DSN"},
		{"sqlite:", "want sqlite:PATH of an existing database file"},
		{"sqlite::memory:", "want sqlite:PATH of an existing database file"},
		{"sqlite:x.db?mode=ro", "want sqlite:PATH of an existing database file"},
		{"sqlite:" + filepath.Join(dir, "missing.db"), "no such file"},
		{"sqlite:" + notStudio, "is it a Studio store?"},
		{"postgres://u:secret@127.0.0.1:5432/db?pool_max_conns=x", "invalid postgres dsn"},
		{"postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", "is it a Studio store?"},
	} {
		rows, closeRows, err := loadgen.OpenSessionRows(context.Background(), tc.dsn, 0)
		if err == nil {
			closeRows()
			t.Errorf("%q: opened %T", tc.dsn, rows)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error %q, want %q and no password", tc.dsn, err, tc.want)
		}
	}
}
