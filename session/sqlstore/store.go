// Package sqlstore is the SQL system of record for sessions: one
// session.Store with two dialects, PostgreSQL (through pgx) and embedded
// SQLite (through modernc.org/sqlite, no cgo).
//
// Both dialects keep the same table, sessions, and give back identical
// values: every time is stored at millisecond precision and returned in UTC,
// an idle timeout is stored in whole milliseconds, and an empty metadata map
// comes back as nil. The schema is applied by Open and versioned in a
// schema_version table, so later migrations can be added.
//
// What an older binary can ignore is not a version, so that binary keeps
// running on the database (a rolling deploy, a rollback): the query-only
// indexes, and the token tags' part — the token_mac_keys table, which holds
// the one TokenKey of the database, and the sessions.token_mac column,
// true for the sessions this Store creates (their tokens carry a tag) and
// false, its default, for those stored before it existed or by an older
// binary that knows nothing of it (TokenTags.LegacyUntil is their latest
// expiry). Open ensures them, under the migration lock; see TokenTags.
//
// Errors start with "sqlstore:" and the operation ("sqlstore: lookup: …");
// they never contain token bytes, token hashes or DSN passwords.
package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/session"
)

// ErrDuplicate is wrapped by the error Create returns when the token hash or
// the session ID already exists. The existing session is left unchanged.
var ErrDuplicate = errors.New("duplicate session")

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives a few lines about opening and migrating the store
	// (never a token, hash or password). Nil discards them.
	Logger *slog.Logger
	// QueryHook, when set, is called around every store operation (one SQL
	// statement or one transaction), for tracing and metrics.
	QueryHook QueryHook
	// MaxConns bounds the connections the store opens. For PostgreSQL it is
	// the pool size (default: the greater of 4 and the number of CPUs, or the
	// DSN's pool_max_conns); for SQLite it bounds the readers (default 2×
	// GOMAXPROCS, at least 4), writes always use one connection. Zero means
	// the default.
	MaxConns int
}

// QueryHook observes store operations, for example to start an
// OpenTelemetry span per SQL query and record its duration.
//
// QueryStart is called before the operation runs and returns the context the
// operation uses; QueryEnd is called with that context and the error the
// Store method returns (nil on success; a wrapped session.ErrNotFound for an
// unknown hash, which a hook may choose not to count as a failure), except
// that a streamed read (Recent, RevokedSince) its callback stopped ends with
// nil: the store answered.
// Implementations must be safe for concurrent use.
type QueryHook interface {
	QueryStart(ctx context.Context, q Query) context.Context
	QueryEnd(ctx context.Context, q Query, err error)
}

// Query describes one store operation passed to a QueryHook.
type Query struct {
	// Op names the operation: "session.create", "session.create_batch",
	// "session.lookup",
	// "session.revoke", "session.revoke_user", "session.touch",
	// "session.recent", "session.revoked_since", "session.token_tags" or
	// "session.ping".
	Op string
	// System is the database, named as OpenTelemetry's db.system.name:
	// "postgresql" or "sqlite".
	System string
	// Operation is the SQL operation, as OpenTelemetry's
	// db.operation.name: "SELECT", "INSERT" or "UPDATE".
	Operation string
	// Collection is the table the operation works on: "sessions" ("" for
	// ping, which reads no table).
	Collection string
}

// Summary is the query summary (db.query.summary): the operation and the
// table, "SELECT sessions"; never the query text or a value.
func (q Query) Summary() string {
	if q.Collection == "" {
		return q.Operation
	}
	return q.Operation + " " + q.Collection
}

// Operation names passed in Query.Op.
const (
	opCreate       = "session.create"
	opCreateBatch  = "session.create_batch"
	opLookup       = "session.lookup"
	opRevoke       = "session.revoke"
	opRevokeUser   = "session.revoke_user"
	opTouch        = "session.touch"
	opRecent       = "session.recent"
	opRevokedSince = "session.revoked_since"
	opTokenTags    = "session.token_tags"
	opPing         = "session.ping"
)

// backend is one dialect. Its methods return unwrapped driver errors (or
// session.ErrNotFound / ErrDuplicate); Store adds the context.
type backend interface {
	system() string
	create(ctx context.Context, rec *session.Record) error
	createBatch(ctx context.Context, recs []session.Record) error
	lookup(ctx context.Context, h session.TokenHash) (session.Session, error)
	revoke(ctx context.Context, h session.TokenHash, at time.Time) (session.Session, error)
	revokeUser(ctx context.Context, userID string, at time.Time) ([]session.Revocation, error)
	touch(ctx context.Context, touches []session.Touch, now time.Time) ([]session.Touched, error)
	recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error
	revokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error
	tokenTags(ctx context.Context) (session.TokenTags, error)
	ping(ctx context.Context) error
	close() error
	// notApplied reports whether err, returned by one of the methods
	// above, says the operation certainly never reached the database.
	notApplied(err error) bool
}

// Store is a session.Store on PostgreSQL or SQLite. It is safe for
// concurrent use by multiple goroutines. Create it with Open and release it
// with Close; the zero value is not usable. After Close every method that
// reaches the database returns an error.
type Store struct {
	b    backend
	hook QueryHook
	sys  string

	closeOnce sync.Once
	closeErr  error
}

var _ session.Store = (*Store)(nil)

// Open connects to the database named by dsn, applies the schema (creating
// or migrating the tables as needed) and returns the store.
//
// dsn is one of:
//
//	postgres://user:password@host:port/database?sslmode=…   (or postgresql://)
//	sqlite:PATH               a database file, created if missing (its folder must exist)
//	sqlite::memory:           a private in-memory database, gone at Close
//
// A SQLite file is opened in WAL mode with synchronous=NORMAL and a busy
// timeout; reads run concurrently on several connections and writes are
// serialised on one, so concurrent writers never fail with SQLITE_BUSY. The
// in-memory database lives on a single connection, so all its calls are
// serialised.
//
// An unusable dsn, a database that does not answer or a schema newer than
// this code returns an error that names the problem; the error never
// contains the DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kind, rest, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	var b backend
	switch kind {
	case kindPostgres:
		b, err = openPostgres(ctx, dsn, opts, log)
	case kindSQLite:
		b, err = openSQLite(ctx, rest, opts, log)
		if err != nil {
			err = fmt.Errorf("sqlite %s: %w", rest, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", redactError(err, dsn))
	}
	return &Store{b: b, hook: opts.QueryHook, sys: b.system()}, nil
}

type dsnKind int

const (
	kindPostgres dsnKind = iota + 1
	kindSQLite
)

// parseDSN checks the form of dsn and returns its kind and, for SQLite, the
// path. Its errors never quote the dsn.
func parseDSN(dsn string) (dsnKind, string, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return 0, "", errors.New("empty dsn: want postgres://…, postgresql://… or sqlite:PATH")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			// url.Error quotes the whole URL, password included, and an
			// EscapeError quotes part of it: keep only safe reasons.
			var ee url.EscapeError
			var ue *url.Error
			switch {
			case errors.As(err, &ee):
				err = errors.New("invalid percent-escape")
			case errors.As(err, &ue):
				err = ue.Err
			}
			return 0, "", redactError(fmt.Errorf("postgres dsn is not a valid URL: %w", err), dsn)
		}
		return kindPostgres, "", nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		switch {
		case path == "":
			return 0, "", errors.New("sqlite dsn has an empty path: want sqlite:PATH")
		case strings.HasPrefix(path, "//"):
			return 0, "", errors.New("sqlite dsn must be sqlite:PATH (e.g. sqlite:studio.db or sqlite:/var/lib/studio.db), not sqlite://")
		case strings.ContainsAny(path, "?#"):
			return 0, "", errors.New("sqlite dsn path must not contain '?' or '#': connection options are set by studio")
		case strings.HasPrefix(path, "file:"):
			return 0, "", errors.New("sqlite dsn takes a plain path, not a file: URI")
		case strings.ContainsRune(path, 0):
			return 0, "", errors.New("sqlite dsn path contains a NUL byte")
		case path != memoryPath && strings.Contains(path, ":memory:"):
			return 0, "", errors.New("sqlite dsn: an in-memory database is spelt sqlite::memory: and nothing else")
		}
		return kindSQLite, path, nil
	case strings.Contains(dsn, "://"):
		scheme := dsn[:strings.Index(dsn, "://")]
		if isSchemeName(scheme) {
			return 0, "", fmt.Errorf("unsupported dsn scheme %q: want postgres://…, postgresql://… or sqlite:PATH", scheme)
		}
		return 0, "", errors.New("unsupported dsn scheme: want postgres://…, postgresql://… or sqlite:PATH")
	default:
		return 0, "", errors.New("unrecognised dsn: want postgres://…, postgresql://… or sqlite:PATH")
	}
}

// isSchemeName reports whether s looks like a URL scheme (so it is safe to
// quote in an error: a password would not be in it).
func isSchemeName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// redactError returns err with every password found in dsn masked (drivers
// try to redact their own errors, but only on a best-effort basis) and its
// text on one line (pgx lists each failed connection attempt on a line of
// its own).
func redactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := oneLine(msg)
	for _, s := range dsnSecrets(dsn) {
		clean = strings.ReplaceAll(clean, s, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// oneLine joins the lines of msg with "; ", dropping blank and repeated ones.
func oneLine(msg string) string {
	if !strings.ContainsAny(msg, "\r\n") {
		return msg
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, l)
	}
	s := strings.Join(out, "; ")
	return strings.ReplaceAll(s, ":; ", ": ")
}

// redactedError keeps the chain for errors.Is/As but prints a masked text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// dsnSecrets returns the password-like parts of a URL-shaped dsn, raw and
// percent-decoded, longest first. It works on malformed input too.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s && d != "" {
			out = append(out, d)
		}
	}
	i := strings.Index(dsn, "://")
	if i < 0 {
		return nil // sqlite:PATH, or garbage that is never quoted
	}
	rest := dsn[i+3:]
	// userinfo: everything before the last '@' that precedes the query.
	hostPart := rest
	if i := strings.IndexAny(hostPart, "?"); i >= 0 {
		hostPart = hostPart[:i]
	}
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		if c := strings.Index(hostPart[:at], ":"); c >= 0 {
			add(hostPart[c+1 : at])
		}
	}
	if i := strings.Index(rest, "?"); i >= 0 {
		for _, kv := range strings.Split(rest[i+1:], "&") {
			k, v, _ := strings.Cut(kv, "=")
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
			if k = strings.ToLower(k); k == "password" || k == "sslpassword" {
				add(v)
			}
		}
	}
	// Longest first, so a password that contains another is masked whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// sqlOperations is the SQL operation and table of each store operation
// (a revoke_user or touch is one UPDATE statement, or in SQLite one
// transaction of them).
var sqlOperations = map[string][2]string{
	opCreate:       {"INSERT", "sessions"},
	opCreateBatch:  {"INSERT", "sessions"},
	opLookup:       {"SELECT", "sessions"},
	opRevoke:       {"UPDATE", "sessions"},
	opRevokeUser:   {"UPDATE", "sessions"},
	opTouch:        {"UPDATE", "sessions"},
	opRecent:       {"SELECT", "sessions"},
	opRevokedSince: {"SELECT", "sessions"},
	opTokenTags:    {"SELECT", "token_mac_keys"},
	opPing:         {"SELECT", ""},
}

func (s *Store) query(op string) Query {
	o := sqlOperations[op]
	return Query{Op: op, System: s.sys, Operation: o[0], Collection: o[1]}
}

func (s *Store) start(ctx context.Context, op string) context.Context {
	if s.hook == nil {
		return ctx
	}
	return s.hook.QueryStart(ctx, s.query(op))
}

func (s *Store) end(ctx context.Context, op string, err error) {
	if s.hook != nil {
		s.hook.QueryEnd(ctx, s.query(op), err)
	}
}

// Create inserts rec. A token hash or session ID that already exists returns
// an error wrapping ErrDuplicate. Times are stored at millisecond precision
// and IdleTimeout in whole milliseconds; an empty Metadata map is stored as
// none.
func (s *Store) Create(ctx context.Context, rec session.Record) (err error) {
	ctx = s.start(ctx, opCreate)
	defer func() { s.end(ctx, opCreate, err) }()
	if err := s.b.create(ctx, &rec); err != nil {
		return s.writeError("create", err)
	}
	return nil
}

// CreateBatch inserts recs in one transaction, all of them or none: one
// COPY on PostgreSQL, one transaction of prepared INSERTs on SQLite (whose
// write connection then keeps a page cache of up to 256 MiB), each far
// cheaper per session than Create, the more so the larger the batch. A token hash or session ID that already
// exists, or appears twice in recs, fails the batch with an error
// wrapping ErrDuplicate, and nothing of it is stored. Values are stored
// as Create stores them; an empty batch does nothing.
func (s *Store) CreateBatch(ctx context.Context, recs []session.Record) (err error) {
	if len(recs) == 0 {
		return nil
	}
	ctx = s.start(ctx, opCreateBatch)
	defer func() { s.end(ctx, opCreateBatch, err) }()
	if err := s.b.createBatch(ctx, recs); err != nil {
		return s.writeError("create batch", err)
	}
	return nil
}

// Lookup returns the session whose token hashes to h, revoked and expired
// ones included, or an error wrapping session.ErrNotFound.
func (s *Store) Lookup(ctx context.Context, h session.TokenHash) (sess session.Session, err error) {
	ctx = s.start(ctx, opLookup)
	defer func() { s.end(ctx, opLookup, err) }()
	sess, err = s.b.lookup(ctx, h)
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlstore: lookup: %w", err)
	}
	return sess, nil
}

// Revoke marks the session revoked at at, keeping the earlier revocation time
// if it was already revoked, and returns it; or an error wrapping
// session.ErrNotFound.
func (s *Store) Revoke(ctx context.Context, h session.TokenHash, at time.Time) (sess session.Session, err error) {
	ctx = s.start(ctx, opRevoke)
	defer func() { s.end(ctx, opRevoke, err) }()
	sess, err = s.b.revoke(ctx, h, at)
	if err != nil {
		return session.Session{}, s.writeError("revoke", err)
	}
	return sess, nil
}

// RevokeUser revokes, in one atomic statement, every session of userID that
// is not revoked and expires after at, and returns exactly those. Zero
// sessions is not an error (the result is then empty).
func (s *Store) RevokeUser(ctx context.Context, userID string, at time.Time) (revs []session.Revocation, err error) {
	ctx = s.start(ctx, opRevokeUser)
	defer func() { s.end(ctx, opRevokeUser, err) }()
	revs, err = s.b.revokeUser(ctx, userID, at)
	if err != nil {
		return nil, s.writeError("revoke user", err)
	}
	return revs, nil
}

// Touch sets last_seen_at to the later of its current value and each
// entry's At, and returns the sessions named that are live at now (not
// revoked, expiring after now), read in the same statement or
// transaction. PostgreSQL: one statement for the batch. SQLite: one
// transaction, holding the file's write lock, with an UPDATE … FROM
// (VALUES …) per 2 000 sessions and, for the rows it did not move, a
// read. Only rows whose last_seen_at moves are written. Unknown hashes
// are ignored; an empty batch does nothing. When a hash appears more than
// once the latest At wins and the session is returned once.
func (s *Store) Touch(ctx context.Context, touches []session.Touch, now time.Time) (live []session.Touched, err error) {
	if len(touches) == 0 {
		return nil, nil
	}
	ctx = s.start(ctx, opTouch)
	defer func() { s.end(ctx, opTouch, err) }()
	live, err = s.b.touch(ctx, touches, now)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: touch: %w", err)
	}
	return live, nil
}

// Recent calls fn for the live sessions at now — not revoked, expiring after
// now, and not past their idle timeout — most recently seen first, at most
// limit of them (none when limit <= 0). Rows are streamed from the database,
// not loaded all at once (except for sqlite::memory:, which buffers at most
// limit rows), so fn runs while a read is open: it should be quick, and it
// may call the Store. An error from fn stops the iteration and is returned
// as it is; other errors are wrapped.
func (s *Store) Recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error {
	if limit <= 0 {
		return nil
	}
	return stream(ctx, s, opRecent, "recent", func(ctx context.Context, f func(session.Record) error) error {
		return s.b.recent(ctx, now, limit, f)
	}, fn)
}

// stream runs read, which calls its function for each row, as the store
// operation op (what names it in errors): an error from fn stops it and is
// returned as it is, the backend's is wrapped. The QueryHook sees only the
// backend's error: a consumer that stops the read (fn's error, say a Redis
// write that failed) is not a store failure.
func stream[T any](ctx context.Context, s *Store, op, what string, read func(context.Context, func(T) error) error, fn func(T) error) error {
	ctx = s.start(ctx, op)
	var fnErr error
	err := read(ctx, func(v T) error {
		fnErr = fn(v)
		return fnErr
	})
	if fnErr != nil {
		s.end(ctx, op, nil)
		return fnErr
	}
	if err != nil {
		err = fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	s.end(ctx, op, err)
	return err
}

// RevokedSince calls fn for the sessions revoked at or after since (by
// their revoked_at, the revoking instance's clock) that expire after now,
// oldest revocation first, each with its RevokedAt: what a Service's
// revocation index is loaded and polled from, and what a cache warmer
// sweeps as tombstones (see session.Warmer). Rows are streamed as
// Recent's are, on an index of the revoked rows. An error from fn stops
// the iteration and is returned as it is; other errors are wrapped.
func (s *Store) RevokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error {
	return stream(ctx, s, opRevokedSince, "revoked since", func(ctx context.Context, f func(session.Revocation) error) error {
		return s.b.revokedSince(ctx, since, now, f)
	}, fn)
}

// TokenTags returns the database's token key and the end of the legacy
// window: the latest expiry of the sessions whose token_mac is false
// (stored before the key existed, or by an older binary; this Store's
// Create sets it). Open creates the key if the database has none, in its
// migration transaction under the migration lock (PostgreSQL: an advisory
// lock; SQLite: BEGIN IMMEDIATE), so processes opening a new database at
// once all read the same one; a key removed by hand is created again here
// by an insert that keeps whichever row got there first. Never remove the
// key: the tokens tagged with it would be refused.
func (s *Store) TokenTags(ctx context.Context) (tt session.TokenTags, err error) {
	ctx = s.start(ctx, opTokenTags)
	defer func() { s.end(ctx, opTokenTags, err) }()
	tt, err = s.b.tokenTags(ctx)
	if err != nil {
		return session.TokenTags{}, fmt.Errorf("sqlstore: token tags: %w", err)
	}
	return tt, nil
}

// keyFrom checks that b, read from token_mac_keys, is a key.
func keyFrom(b []byte) (session.TokenKey, error) {
	var k session.TokenKey
	if len(b) != len(k) {
		return k, fmt.Errorf("stored token key has %d bytes, want %d", len(b), len(k))
	}
	copy(k[:], b)
	return k, nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx = s.start(ctx, opPing)
	defer func() { s.end(ctx, opPing, err) }()
	if err := s.b.ping(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// Close closes the database connections, waiting for operations in progress
// to return their connections. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.b.close(); err != nil {
			s.closeErr = fmt.Errorf("sqlstore: close: %w", err)
		}
	})
	return s.closeErr
}

// writeError is the error of a write (what names it), marked
// session.ErrNotApplied when the backend knows the write never reached the
// database; its text is the backend's with the operation in front.
func (s *Store) writeError(what string, err error) error {
	if s.b.notApplied(err) {
		err = notAppliedError{err}
	}
	return fmt.Errorf("sqlstore: %s: %w", what, err)
}

// notAppliedError is a backend error that also wraps session.ErrNotApplied,
// with the backend error's text.
type notAppliedError struct{ err error }

func (e notAppliedError) Error() string   { return e.err.Error() }
func (e notAppliedError) Unwrap() []error { return []error{e.err, session.ErrNotApplied} }

// ms returns t truncated to the millisecond, in UTC: the precision and
// location both dialects store and return.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// encodeMetadata returns the JSON of m, or nil for a nil or empty map.
func encodeMetadata(m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return b, nil
}

// decodeMetadata parses b, returning nil for SQL NULL or an empty object.
func decodeMetadata(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
