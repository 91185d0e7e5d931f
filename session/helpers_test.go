package session_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// env is one real Redis and one real SQLite store shared by the Services
// of a test.
type env struct {
	t      *testing.T
	dbPath string // the SQLite file
	redis  *redistest.Server
	rdb    *redis.Client // for the test's own inspection
	store  *countingStore
	clock  *clock
	svcs   []*session.Service // started by service, for advance
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t)
}

// newEnvWith is newEnv with options for its redis-server.
func newEnvWith(t *testing.T, opts ...redistest.Option) *env {
	t.Helper()
	srv := redistest.Start(t, opts...)
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := sqlstore.Open(context.Background(), "sqlite:"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, dbPath: path, redis: srv, rdb: srv.Client(t), store: &countingStore{Store: st}, clock: &clock{}}
}

// service starts a Service on the env with test-friendly defaults; mod
// can change its options.
func (e *env) service(mod ...func(*session.Options)) *session.Service {
	e.t.Helper()
	// The production client: short timeouts and a circuit breaker.
	rdb, err := redisconn.Open(redisconn.Config{URL: e.redis.URL(), Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { rdb.Close() })
	// The revocation index reads the store every 50 ms, so that after the
	// clock jumps (advance) it is current again within 50 ms.
	opts := session.Options{Store: e.store, Redis: rdb, Now: e.clock.Now, RevocationPoll: 50 * time.Millisecond}
	for _, m := range mod {
		m(&opts)
	}
	svc, err := session.NewService(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { svc.Close() })
	waitFor(e.t, 5*time.Second, "invalidation subscription", svc.Subscribed)
	waitFor(e.t, 5*time.Second, "revocation index loaded", func() bool { return indexCurrent(svc) })
	e.svcs = append(e.svcs, svc)
	return svc
}

func indexCurrent(svc *session.Service) bool {
	return svc.Stats().RevocationIndex == session.RevocationsCurrent
}

// advance moves the env's clock forward by d and waits until the
// revocation index of every Service it started has read the store at the
// new time: an index that has not read the store for five poll intervals
// (of the clock) is stale, and Redis copies are then not trusted.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.clock.Advance(d)
	for _, svc := range e.svcs {
		waitFor(e.t, 5*time.Second, "revocation index current after the clock moved", func() bool { return indexCurrent(svc) })
	}
}

func (e *env) create(svc *session.Service, p session.CreateParams) (string, session.Session) {
	e.t.Helper()
	if p.UserID == "" {
		p.UserID = "u1"
	}
	tok, sess, err := svc.Create(context.Background(), p)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return tok.Reveal(), sess
}

func (e *env) redisValue(tok string) (string, time.Duration) {
	e.t.Helper()
	h, err := session.ParseToken(tok)
	if err != nil {
		e.t.Fatal(err)
	}
	key := "studio:s:" + h.Hex()
	v, err := e.rdb.Get(context.Background(), key).Result()
	if err == redis.Nil {
		return "", 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return v, e.rdb.PTTL(context.Background(), key).Val()
}

// clock is an adjustable clock: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// countingStore is the real store, counting calls so tests can see how
// often each tier reached it. Lookup can be slowed down; while hang is set
// its calls for callers (Create, CreateBatch, Lookup, Revoke, RevokeUser) wait until
// their context ends, as on a link that passes no bytes; while
// failRevokedSince is set RevokedSince fails.
type countingStore struct {
	session.Store
	lookups, creates, batches, touches, touched, revokes atomic.Int64
	lookupDelay                                          atomic.Int64
	hang, failRevokedSince                               atomic.Bool
	// afterTouch, when set, runs after each Touch has returned from the
	// store and before its result reaches the Service.
	afterTouch atomic.Pointer[func()]
}

// wait blocks until ctx ends while s.hang is set.
func (s *countingStore) wait(ctx context.Context) error {
	if !s.hang.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *countingStore) Lookup(ctx context.Context, h session.TokenHash) (session.Session, error) {
	s.lookups.Add(1)
	if d := time.Duration(s.lookupDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	if err := s.wait(ctx); err != nil {
		return session.Session{}, err
	}
	return s.Store.Lookup(ctx, h)
}

func (s *countingStore) Create(ctx context.Context, r session.Record) error {
	s.creates.Add(1)
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Create(ctx, r)
}

func (s *countingStore) CreateBatch(ctx context.Context, rs []session.Record) error {
	s.batches.Add(1)
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.CreateBatch(ctx, rs)
}

func (s *countingStore) Revoke(ctx context.Context, h session.TokenHash, at time.Time) (session.Session, error) {
	s.revokes.Add(1)
	if err := s.wait(ctx); err != nil {
		return session.Session{}, err
	}
	return s.Store.Revoke(ctx, h, at)
}

func (s *countingStore) RevokeUser(ctx context.Context, user string, at time.Time) ([]session.Revocation, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.RevokeUser(ctx, user, at)
}

var errRevokedSince = errors.New("revoked since: the test made it fail")

func (s *countingStore) RevokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error {
	if s.failRevokedSince.Load() {
		return errRevokedSince
	}
	return s.Store.RevokedSince(ctx, since, now, fn)
}

func (s *countingStore) Touch(ctx context.Context, ts []session.Touch, now time.Time) ([]session.Touched, error) {
	s.touches.Add(1)
	s.touched.Add(int64(len(ts)))
	live, err := s.Store.Touch(ctx, ts, now)
	if f := s.afterTouch.Load(); f != nil {
		(*f)()
	}
	return live, err
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var bg = context.Background()

// createAsOlderBinary stores a session under tok the way a Studio without
// token tags does: straight into the sessions table, naming no token_mac
// column (so it takes its default: no tag). tok is a token of that
// Studio's shape: 32 random bytes (forgedToken makes one).
func (e *env) createAsOlderBinary(tok string, expires time.Time) {
	e.t.Helper()
	h := mustHash(e.t, tok)
	db, err := sql.Open("sqlite", e.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	created := e.clock.Now().Add(-time.Minute).UnixMilli()
	if _, err := db.Exec(`INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, h[:], "legacy-"+h.Hex()[:16], "u-legacy", created, created, expires.UnixMilli()); err != nil {
		e.t.Fatal(err)
	}
}

// forgedToken returns what a forger can make without the store's key: a
// well-formed token (prefix, length, alphabet, CRC-32C checksum — all
// public) around 32 random bytes.
func forgedToken(tb testing.TB) string {
	tb.Helper()
	var body [32]byte
	if _, err := rand.Read(body[:]); err != nil {
		tb.Fatal(err)
	}
	b := base64.RawURLEncoding.AppendEncode([]byte(session.TokenPrefix), body[:])
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	b = base64.RawURLEncoding.AppendEncode(b, binary.BigEndian.AppendUint32(nil, sum))
	tok := string(b)
	if _, err := session.ParseToken(tok); err != nil {
		tb.Fatalf("forged token refused as malformed: %v", err)
	}
	return tok
}

func mustHash(t *testing.T, tok string) session.TokenHash {
	t.Helper()
	h, err := session.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
