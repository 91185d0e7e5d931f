package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/studiohq/studio/session"
)

// memoryPath is the SQLite path of a private in-memory database.
const memoryPath = ":memory:"

// sqliteBusyTimeoutMS is how long a SQLite connection waits for a lock held
// by another connection (in this process or another) before SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// sqliteWriteCacheKiB is the page cache of the one write connection
// (SQLite's default is 2 MiB). A batch of last-seen writes dirties about
// two pages per session, and the cache must hold them until the commit,
// with the B-trees' interior pages, or SQLite spills them to the WAL early
// and reads them back: at a million sessions a 2 000-session batch needs
// about 16 MiB. Memory is taken only as pages are read.
const sqliteWriteCacheKiB = 32 << 10

// sqliteMigrations are applied in order; migration i brings the schema to
// version i+1. Never edit one that has shipped: append a new one. Times are
// INTEGER Unix milliseconds (UTC).
var sqliteMigrations = []string{
	`CREATE TABLE sessions (
		token_hash      BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
		id              TEXT    NOT NULL UNIQUE,
		user_id         TEXT    NOT NULL,
		created_at      INTEGER NOT NULL,
		last_seen_at    INTEGER NOT NULL,
		expires_at      INTEGER NOT NULL,
		idle_timeout_ms INTEGER NOT NULL DEFAULT 0,
		revoked_at      INTEGER,
		metadata        TEXT
	) STRICT, WITHOUT ROWID;
	CREATE INDEX sessions_user_id_idx ON sessions (user_id);
	CREATE INDEX sessions_last_seen_at_idx ON sessions (last_seen_at);`,
}

// sqliteIndexes only speed queries up, so they are not schema versions:
// Open creates the missing ones after migrating (holding the write lock
// while one is built), and an older binary runs on the file unchanged.
var sqliteIndexes = []string{
	// RevokedSince (the warmer's revocation sweep); only revoked rows.
	`CREATE INDEX IF NOT EXISTS sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL`,
	// TokenTags' legacy window; only the sessions whose tokens have no tag.
	`CREATE INDEX IF NOT EXISTS sessions_untagged_expires_at_idx ON sessions (expires_at) WHERE token_mac = 0`,
}

// The token tags' schema (see the package documentation): not a version,
// an older binary ignores it. token_mac_keys holds one row, the key.
const (
	liteKeysTable = `CREATE TABLE IF NOT EXISTS token_mac_keys (
		id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
		key        BLOB    NOT NULL CHECK (length(key) = 16),
		created_at INTEGER NOT NULL
	) STRICT`
	liteHasTagColumn = `SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'token_mac'`
	liteAddTagColumn = `ALTER TABLE sessions ADD COLUMN token_mac INTEGER NOT NULL DEFAULT 0`
	liteKeyInsert    = `INSERT INTO token_mac_keys (id, key, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`
	liteKeySelect    = `SELECT key FROM token_mac_keys WHERE id = 1`
	liteLegacyUntil  = `SELECT max(expires_at) FROM sessions WHERE token_mac = 0`
)

const liteSessionCols = `id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, revoked_at, metadata`

const (
	liteInsert = `INSERT INTO sessions (token_hash, ` + liteSessionCols + `, token_mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
	liteLookup = `SELECT ` + liteSessionCols + ` FROM sessions WHERE token_hash = ?`
	liteRevoke = `UPDATE sessions SET revoked_at = coalesce(revoked_at, ?)
		WHERE token_hash = ? RETURNING ` + liteSessionCols
	liteRevokeUser = `UPDATE sessions SET revoked_at = ?
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		RETURNING token_hash, id, expires_at, revoked_at`
	liteRecent = `SELECT token_hash, ` + liteSessionCols + ` FROM sessions
		WHERE revoked_at IS NULL AND expires_at > ?
		  AND (idle_timeout_ms <= 0 OR last_seen_at + idle_timeout_ms > ?)
		ORDER BY last_seen_at DESC
		LIMIT ?`
	liteRevokedSince = `SELECT token_hash, id, expires_at, revoked_at FROM sessions
		WHERE revoked_at >= ? AND expires_at > ?
		ORDER BY revoked_at`
)

// liteBackend keeps two pools on a database file: read, several
// connections that may only read (WAL lets them run beside the writer), and
// write, one connection whose transactions begin IMMEDIATE, so writers in
// this process queue in database/sql instead of failing with SQLITE_BUSY.
// For an in-memory database both are the same one-connection pool.
type liteBackend struct {
	read, write *sql.DB
	memory      bool

	lookupStmt, insertStmt *sql.Stmt
	touchStmt              *sql.Stmt // liteTouchSQL(liteTouchChunk)
}

func openSQLite(ctx context.Context, path string, opts Options, log *slog.Logger) (_ *liteBackend, err error) {
	b := &liteBackend{memory: path == memoryPath}
	defer func() {
		if err != nil {
			b.close() //nolint:errcheck // already failing
		}
	}()
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_txlock=immediate", sqliteBusyTimeoutMS)
	if b.memory {
		db, err := sql.Open("sqlite", memoryPath+"?"+common)
		if err != nil {
			return nil, err
		}
		// The connection is the database: keep exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		b.read, b.write = db, db
	} else {
		if err := createPrivate(path); err != nil {
			return nil, err
		}
		w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+
			fmt.Sprintf("&_pragma=cache_size(-%d)", sqliteWriteCacheKiB))
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		b.write = w
	}
	v, err := b.migrateWhenFree(ctx, log)
	if err != nil {
		return nil, err
	}
	if !b.memory {
		// Opened after migrate so the file is already in WAL mode.
		r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=synchronous(NORMAL)&_pragma=query_only(1)")
		if err != nil {
			return nil, err
		}
		n := opts.MaxConns
		if n <= 0 {
			n = max(4, 2*runtime.GOMAXPROCS(0))
		}
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		r.SetConnMaxLifetime(0)
		r.SetConnMaxIdleTime(5 * time.Minute)
		b.read = r
	}
	if b.lookupStmt, err = b.read.PrepareContext(ctx, liteLookup); err != nil {
		return nil, fmt.Errorf("prepare lookup: %w", err)
	}
	if b.insertStmt, err = b.write.PrepareContext(ctx, liteInsert); err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	if b.touchStmt, err = b.write.PrepareContext(ctx, liteTouchSQL(liteTouchChunk)); err != nil {
		return nil, fmt.Errorf("prepare touch: %w", err)
	}
	if err := b.ping(ctx); err != nil {
		return nil, err
	}
	log.Debug("sqlstore opened", "system", "sqlite", "path", path, "schema_version", v)
	return b, nil
}

// createPrivate creates the database file, when it does not exist, with
// mode 0600 whatever the umask: it holds user ids and metadata. SQLite
// gives its -wal and -shm files the database file's mode. An existing
// file keeps its mode. A file that cannot be created is left to SQLite,
// whose error says why (a missing folder, say).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil
	}
	err = f.Chmod(0o600) // a umask can only remove bits; this is for one that removed 0400 or 0200
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create sqlite file: %w", err)
	}
	return nil
}

// migrateWhenFree is migrate, tried again while the file is busy, for up
// to the busy timeout. Processes opening a new file at once can see
// SQLITE_BUSY without SQLite's busy handler waiting: the first connection
// switches the file to WAL, which needs an exclusive lock, and SQLite does
// not wait for a lock another connection may be waiting to upgrade.
func (b *liteBackend) migrateWhenFree(ctx context.Context, log *slog.Logger) (int, error) {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	for {
		v, err := b.migrate(ctx, log)
		if !isBusy(err) || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (b *liteBackend) migrate(ctx context.Context, log *slog.Logger) (int, error) {
	// BEGIN IMMEDIATE (from _txlock) takes the write lock first, so two
	// processes opening the same file migrate one after the other.
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err // opening the file: the error names the cause
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	if v > len(sqliteMigrations) {
		return 0, fmt.Errorf("migrate: database schema version %d is newer than this program's %d", v, len(sqliteMigrations))
	}
	for i := v; i < len(sqliteMigrations); i++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[i]); err != nil {
			return 0, fmt.Errorf("migrate: to version %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			i+1, time.Now().UnixMilli()); err != nil {
			return 0, fmt.Errorf("migrate: record version %d: %w", i+1, err)
		}
		log.Info("sqlstore schema migrated", "system", "sqlite", "version", i+1)
	}
	if err := liteEnsureTags(ctx, tx); err != nil {
		return 0, fmt.Errorf("migrate: token tags: %w", err)
	}
	for _, ix := range sqliteIndexes {
		if _, err := tx.ExecContext(ctx, ix); err != nil {
			return 0, fmt.Errorf("migrate: create index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("migrate: commit: %w", err)
	}
	return len(sqliteMigrations), nil
}

// liteEnsureTags creates, in the migration transaction, what is missing of
// the token tags' schema: the key table, the sessions.token_mac column
// (false for every row already there) and the key.
func liteEnsureTags(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, liteKeysTable); err != nil {
		return fmt.Errorf("create key table: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, liteHasTagColumn).Scan(&n); err != nil {
		return fmt.Errorf("read the sessions columns: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, liteAddTagColumn); err != nil {
			return fmt.Errorf("add sessions.token_mac: %w", err)
		}
	}
	return liteEnsureKey(ctx, tx)
}

// liteEnsureKey inserts a fresh key unless the table has one.
func liteEnsureKey(ctx context.Context, tx *sql.Tx) error {
	k, err := session.NewTokenKey()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, liteKeyInsert, k[:], time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

func (b *liteBackend) tokenTags(ctx context.Context) (session.TokenTags, error) {
	var raw []byte
	err := b.read.QueryRowContext(ctx, liteKeySelect).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		// Removed by hand since Open: make one again (BEGIN IMMEDIATE
		// serialises this with every other writer of the file).
		raw, err = b.recreateKey(ctx)
	}
	if err != nil {
		return session.TokenTags{}, fmt.Errorf("read key: %w", err)
	}
	k, err := keyFrom(raw)
	if err != nil {
		return session.TokenTags{}, err
	}
	var until sql.NullInt64
	if err := b.read.QueryRowContext(ctx, liteLegacyUntil).Scan(&until); err != nil {
		return session.TokenTags{}, fmt.Errorf("read legacy window: %w", err)
	}
	tt := session.TokenTags{Key: k}
	if until.Valid {
		tt.LegacyUntil = fromMS(until.Int64)
	}
	return tt, nil
}

// recreateKey inserts a key if there is none and returns the one kept.
func (b *liteBackend) recreateKey(ctx context.Context) ([]byte, error) {
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := liteEnsureKey(ctx, tx); err != nil {
		return nil, err
	}
	var raw []byte
	if err := tx.QueryRowContext(ctx, liteKeySelect).Scan(&raw); err != nil {
		return nil, err
	}
	return raw, tx.Commit()
}

func (b *liteBackend) system() string { return "sqlite" }

func unixMS(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func (b *liteBackend) create(ctx context.Context, rec *session.Record) error {
	s := &rec.Session
	md, err := encodeMetadata(s.Metadata)
	if err != nil {
		return err
	}
	var revoked, metadata any
	if s.RevokedAt != nil {
		revoked = unixMS(*s.RevokedAt)
	}
	if md != nil {
		metadata = string(md)
	}
	_, err = b.insertStmt.ExecContext(ctx, rec.Hash[:], s.ID, s.UserID,
		unixMS(s.CreatedAt), unixMS(s.LastSeenAt), unixMS(s.ExpiresAt), s.IdleTimeout.Milliseconds(), revoked, metadata)
	return liteInsertError(err)
}

// liteInsertError maps a failed INSERT's constraint errors to ErrDuplicate;
// other errors (and nil) are returned as they are.
func liteInsertError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: token hash exists", ErrDuplicate)
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			if strings.Contains(se.Error(), "sessions.id") {
				return fmt.Errorf("%w: id exists", ErrDuplicate)
			}
			return ErrDuplicate
		}
	}
	return err
}

// liteSessionValues appends the INSERT parameters of rec to args.
func liteSessionValues(args []any, rec *session.Record) ([]any, error) {
	s := &rec.Session
	md, err := encodeMetadata(s.Metadata)
	if err != nil {
		return nil, err
	}
	var revoked, metadata any
	if s.RevokedAt != nil {
		revoked = unixMS(*s.RevokedAt)
	}
	if md != nil {
		metadata = string(md)
	}
	return append(args, rec.Hash[:], s.ID, s.UserID, unixMS(s.CreatedAt), unixMS(s.LastSeenAt),
		unixMS(s.ExpiresAt), s.IdleTimeout.Milliseconds(), revoked, metadata), nil
}

// createBatch inserts recs in one IMMEDIATE transaction, in token-hash
// order, one row per execution of the prepared INSERT: a multi-row INSERT
// costs more here, as SQLite then keeps a statement journal of every page
// it changes (a third of a batch's time, measured). Random token hashes
// touch pages all over four B-trees, and each commit writes every page it
// changed, so the write connection's page cache is raised to 256 MiB
// (from SQLite's 2 MiB) from the first batch on, and large batches cost
// far less per row than small ones (measured at a million rows: 10 000 a
// batch 95 s, 100 000 a batch 47 s, sorted 35 s).
func (b *liteBackend) createBatch(ctx context.Context, recs []session.Record) error {
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return err
	}
	stmt := tx.StmtContext(ctx, b.insertStmt)
	// In token-hash order: the primary key's B-tree is then walked from
	// one end to the other instead of at random.
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return bytes.Compare(recs[x].Hash[:], recs[y].Hash[:]) })
	args := make([]any, 0, 9)
	for _, i := range order {
		args, err := liteSessionValues(args[:0], &recs[i])
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return liteInsertError(err)
		}
	}
	return tx.Commit()
}

// liteScanSession scans liteSessionCols after any leading destinations.
func liteScanSession(scan func(...any) error, lead ...any) (session.Session, error) {
	var (
		s                                  session.Session
		created, lastSeen, expires, idleMS int64
		revoked                            sql.NullInt64
		md                                 []byte
	)
	dest := append(lead, &s.ID, &s.UserID, &created, &lastSeen, &expires, &idleMS, &revoked, &md)
	if err := scan(dest...); err != nil {
		return session.Session{}, err
	}
	s.CreatedAt = fromMS(created)
	s.LastSeenAt = fromMS(lastSeen)
	s.ExpiresAt = fromMS(expires)
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	if revoked.Valid {
		r := fromMS(revoked.Int64)
		s.RevokedAt = &r
	}
	m, err := decodeMetadata(md)
	if err != nil {
		return session.Session{}, err
	}
	s.Metadata = m
	return s, nil
}

func (b *liteBackend) lookup(ctx context.Context, h session.TokenHash) (session.Session, error) {
	s, err := liteScanSession(b.lookupStmt.QueryRowContext(ctx, h[:]).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{}, session.ErrNotFound
	}
	return s, err
}

func (b *liteBackend) revoke(ctx context.Context, h session.TokenHash, at time.Time) (session.Session, error) {
	// Read every row of a RETURNING statement, so it runs to completion.
	rows, err := b.write.QueryContext(ctx, liteRevoke, unixMS(at), h[:])
	if err != nil {
		return session.Session{}, err
	}
	defer rows.Close()
	var (
		s     session.Session
		found bool
	)
	for rows.Next() {
		if s, err = liteScanSession(rows.Scan); err != nil {
			return session.Session{}, err
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return session.Session{}, err
	}
	if !found {
		return session.Session{}, session.ErrNotFound
	}
	return s, nil
}

// notApplied: SQLite runs in this process, and a failed write (busy,
// interrupted by its context) may have been applied as far as the caller
// can tell; none is marked.
func (b *liteBackend) notApplied(error) bool { return false }

func (b *liteBackend) revokeUser(ctx context.Context, userID string, at time.Time) ([]session.Revocation, error) {
	rows, err := b.write.QueryContext(ctx, liteRevokeUser, unixMS(at), userID, unixMS(at))
	if err != nil {
		return nil, err
	}
	return liteScanRevocations(rows)
}

func (b *liteBackend) revokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error {
	rows, err := b.read.QueryContext(ctx, liteRevokedSince, unixMS(since), unixMS(now))
	if err != nil {
		return err
	}
	return liteEach(b, rows, liteScanRevocation, fn)
}

// liteScanRevocations reads (token_hash, id, expires_at, revoked_at) rows
// and closes them.
func liteScanRevocations(rows *sql.Rows) ([]session.Revocation, error) {
	defer rows.Close()
	var out []session.Revocation
	for rows.Next() {
		r, err := liteScanRevocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// liteScanRevocation reads the current (token_hash, id, expires_at,
// revoked_at) row.
func liteScanRevocation(rows *sql.Rows) (session.Revocation, error) {
	var (
		r                session.Revocation
		hash             []byte
		expires, revoked int64
	)
	if err := rows.Scan(&hash, &r.SessionID, &expires, &revoked); err != nil {
		return r, err
	}
	if len(hash) != len(r.Hash) {
		return r, fmt.Errorf("stored token hash has %d bytes, want %d", len(hash), len(r.Hash))
	}
	copy(r.Hash[:], hash)
	r.ExpiresAt = fromMS(expires)
	r.RevokedAt = fromMS(revoked)
	return r, nil
}

func (b *liteBackend) recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error {
	n := unixMS(now)
	rows, err := b.read.QueryContext(ctx, liteRecent, n, n, int64(limit))
	if err != nil {
		return err
	}
	return liteEach(b, rows, liteScanRecord, fn)
}

// liteScanRecord reads the current (token_hash, session columns) row.
func liteScanRecord(rows *sql.Rows) (session.Record, error) {
	var (
		rec  session.Record
		hash []byte
	)
	s, err := liteScanSession(rows.Scan, &hash)
	if err != nil {
		return rec, err
	}
	if len(hash) != len(rec.Hash) {
		return rec, fmt.Errorf("stored token hash has %d bytes, want %d", len(hash), len(rec.Hash))
	}
	copy(rec.Hash[:], hash)
	rec.Session = s
	return rec, nil
}

// liteEach calls fn for each row of rows, read with scan, and closes rows.
// Rows are streamed, except from the in-memory database: its only
// connection is busy with the query, so they are read first and fn called
// after, and fn may use the Store without deadlocking. An error from fn
// stops the iteration and is returned as it is.
func liteEach[T any](b *liteBackend, rows *sql.Rows, scan func(*sql.Rows) (T, error), fn func(T) error) error {
	defer rows.Close()
	var buf []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		if b.memory {
			buf = append(buf, v)
			continue
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, v := range buf {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (b *liteBackend) ping(ctx context.Context) error {
	var one int
	return b.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

func (b *liteBackend) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{b.lookupStmt, b.insertStmt, b.touchStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if b.read != nil && b.read != b.write {
		errs = append(errs, b.read.Close())
	}
	if b.write != nil {
		errs = append(errs, b.write.Close())
	}
	return errors.Join(errs...)
}
