package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/studiohq/studio/session"
)

// pgMigrations are applied in order; migration i brings the schema to
// version i+1. Never edit one that has shipped: append a new one.
var pgMigrations = []string{
	`CREATE TABLE sessions (
		token_hash      bytea       NOT NULL,
		id              text        NOT NULL,
		user_id         text        NOT NULL,
		created_at      timestamptz NOT NULL,
		last_seen_at    timestamptz NOT NULL,
		expires_at      timestamptz NOT NULL,
		idle_timeout_ms bigint      NOT NULL DEFAULT 0,
		revoked_at      timestamptz,
		metadata        jsonb,
		CONSTRAINT sessions_pkey PRIMARY KEY (token_hash),
		CONSTRAINT sessions_id_key UNIQUE (id),
		CONSTRAINT sessions_token_hash_len CHECK (octet_length(token_hash) = 32)
	);
	CREATE INDEX sessions_user_id_idx ON sessions (user_id);
	CREATE INDEX sessions_last_seen_at_idx ON sessions (last_seen_at);`,
}

// pgIndexes only speed queries up, so they are not schema versions: Open
// starts building the missing ones in the background after migrating,
// CONCURRENTLY (the table stays writable while one is built), and an older
// binary runs on the database unchanged. def must use IF NOT EXISTS.
var pgIndexes = []struct{ name, def string }{
	// RevokedSince (the warmer's revocation sweep); only revoked rows.
	{"sessions_revoked_at_idx", `CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_revoked_at_idx
		ON sessions (revoked_at) WHERE revoked_at IS NOT NULL`},
	// TokenTags' legacy window; only the sessions whose tokens have no tag.
	{"sessions_untagged_expires_at_idx", `CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_untagged_expires_at_idx
		ON sessions (expires_at) WHERE NOT token_mac`},
}

// The token tags' schema (see the package documentation): not a version,
// an older binary ignores it. token_mac_keys holds one row, the key. The
// column is added only when missing: ALTER TABLE takes the table's
// strongest lock even when IF NOT EXISTS makes it a no-op. Adding a column
// with a constant default rewrites nothing (PostgreSQL 11 and later).
const (
	pgKeysTable = `CREATE TABLE IF NOT EXISTS token_mac_keys (
		id         smallint    NOT NULL PRIMARY KEY CHECK (id = 1),
		key        bytea       NOT NULL CHECK (octet_length(key) = 16),
		created_at timestamptz NOT NULL DEFAULT now()
	)`
	pgHasTagColumn = `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = 'sessions'::regclass AND attname = 'token_mac' AND NOT attisdropped)`
	pgAddTagColumn = `ALTER TABLE sessions ADD COLUMN IF NOT EXISTS token_mac boolean NOT NULL DEFAULT false`
	pgKeyInsert    = `INSERT INTO token_mac_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`
	pgKeySelect    = `SELECT key FROM token_mac_keys WHERE id = 1`
	pgLegacyUntil  = `SELECT max(expires_at) FROM sessions WHERE NOT token_mac`
)

// pgIndexLock is the session-level advisory lock held by the one process
// building indexes; the others do not wait for it.
const pgIndexLock = pgMigrationLock + 1

// pgMigrationLock is the pg_advisory_xact_lock key that serialises schema
// migrations between processes starting at the same time.
const pgMigrationLock = 0x53747564696f // "Studio" in ASCII

const pgSessionCols = `id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, revoked_at, metadata`

const (
	pgInsert = `INSERT INTO sessions (token_hash, ` + pgSessionCols + `, token_mac)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true)`
	pgLookup = `SELECT ` + pgSessionCols + ` FROM sessions WHERE token_hash = $1`
	pgRevoke = `UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2)
		WHERE token_hash = $1 RETURNING ` + pgSessionCols
	// Rows are locked in token_hash order (LockRows runs above the Sort), the
	// same order pgTouch uses, so concurrent batches cannot deadlock.
	pgRevokeUser = `WITH locked AS MATERIALIZED (
			SELECT token_hash FROM sessions
			WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
			ORDER BY token_hash
			FOR UPDATE
		)
		UPDATE sessions s SET revoked_at = $2
		FROM locked
		WHERE s.token_hash = locked.token_hash AND s.revoked_at IS NULL
		RETURNING s.token_hash, s.id, s.expires_at, s.revoked_at`
	pgTouch = `WITH t AS (
			SELECT u.h, max(u.at) AS at
			FROM unnest($1::bytea[], $2::timestamptz[]) AS u(h, at)
			GROUP BY u.h
		), locked AS MATERIALIZED (
			SELECT s.token_hash, t.at
			FROM sessions s JOIN t ON s.token_hash = t.h
			WHERE s.last_seen_at < t.at
			ORDER BY s.token_hash
			FOR UPDATE OF s
		), upd AS (
			UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, locked.at)
			FROM locked
			WHERE s.token_hash = locked.token_hash
			RETURNING s.token_hash, s.last_seen_at, s.expires_at, s.idle_timeout_ms, s.revoked_at
		)
		SELECT token_hash, last_seen_at, expires_at, idle_timeout_ms FROM upd
		WHERE revoked_at IS NULL AND expires_at > $3
		UNION ALL
		SELECT s.token_hash, s.last_seen_at, s.expires_at, s.idle_timeout_ms
		FROM sessions s JOIN t ON s.token_hash = t.h
		WHERE s.last_seen_at >= t.at AND s.revoked_at IS NULL AND s.expires_at > $3`
	pgRecent = `SELECT token_hash, ` + pgSessionCols + ` FROM sessions
		WHERE revoked_at IS NULL AND expires_at > $1
		  AND (idle_timeout_ms <= 0 OR last_seen_at + idle_timeout_ms * interval '1 millisecond' > $1)
		ORDER BY last_seen_at DESC
		LIMIT $2`
	pgRevokedSince = `SELECT token_hash, id, expires_at, revoked_at FROM sessions
		WHERE revoked_at >= $1 AND expires_at > $2
		ORDER BY revoked_at`
)

type pgBackend struct {
	pool *pgxpool.Pool
	// stopIndexes cancels the index build started by Open (ensureIndexes),
	// and indexesDone is closed when it has returned.
	stopIndexes context.CancelFunc
	indexesDone chan struct{}
}

func openPostgres(ctx context.Context, dsn string, opts Options, log *slog.Logger) (*pgBackend, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, pgParseError(err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(min(opts.MaxConns, 1<<20))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b := &pgBackend{pool: pool}
	v, err := b.migrate(ctx, log)
	if err != nil {
		pool.Close()
		return nil, err
	}
	// In the background: a build scans the table twice and waits for older
	// transactions, so on a big or busy database it takes minutes. Queries
	// work without the indexes meanwhile, only slower. Close stops it (a
	// stopped build is dropped and redone by the next Open).
	ictx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stopIndexes, b.indexesDone = stop, make(chan struct{})
	go func() {
		defer close(b.indexesDone)
		if err := b.ensureIndexes(ictx, log); err != nil && ictx.Err() == nil {
			log.Warn("sqlstore: index not created; queries that use it scan the table", "system", "postgresql", "error", err)
		}
	}()
	log.Debug("sqlstore opened", "system", "postgresql",
		"host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database, "schema_version", v)
	return b, nil
}

// pgParseError turns a pgx config error into one that never quotes the DSN:
// pgx masks passwords only on a best-effort basis.
func pgParseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return errors.New("invalid postgres dsn")
	}
	// ParseConfigError reads "cannot parse `<dsn>`: <reason>"; keep the reason.
	msg := pe.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return fmt.Errorf("invalid postgres dsn: %s", msg[i+3:])
	}
	return errors.New("invalid postgres dsn")
}

func (b *pgBackend) migrate(ctx context.Context, log *slog.Logger) (int, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrationLock)); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	if v > len(pgMigrations) {
		return 0, fmt.Errorf("migrate: database schema version %d is newer than this program's %d", v, len(pgMigrations))
	}
	for i := v; i < len(pgMigrations); i++ {
		if _, err := tx.Exec(ctx, pgMigrations[i]); err != nil {
			return 0, fmt.Errorf("migrate: to version %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, i+1); err != nil {
			return 0, fmt.Errorf("migrate: record version %d: %w", i+1, err)
		}
		log.Info("sqlstore schema migrated", "system", "postgresql", "version", i+1)
	}
	if err := pgEnsureTags(ctx, tx); err != nil {
		return 0, fmt.Errorf("migrate: token tags: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("migrate: commit: %w", err)
	}
	return len(pgMigrations), nil
}

// ensureIndexes creates the pgIndexes that are missing, or invalid (a
// concurrent build that failed or was stopped), unless another process
// holds pgIndexLock: that one is building them.
func (b *pgBackend) ensureIndexes(ctx context.Context, log *slog.Logger) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(pgIndexLock)).Scan(&locked); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if !locked {
		return nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, int64(pgIndexLock)); err != nil {
			// Do not give the pool back a connection that may still hold
			// the lock: closing it releases the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	for _, ix := range pgIndexes {
		var valid bool
		// By the table, so the index is looked up through search_path as
		// the unqualified CREATE and DROP find it.
		err := conn.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i
			JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname = $1 AND i.indrelid = 'sessions'::regclass`, ix.name).Scan(&valid)
		switch {
		case err == nil && valid:
			continue
		case err == nil:
			log.Info("sqlstore: dropping an index an earlier build left invalid", "system", "postgresql", "index", ix.name)
			if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{ix.name}.Sanitize()); err != nil {
				return fmt.Errorf("drop invalid index %s: %w", ix.name, err)
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("look up index %s: %w", ix.name, err)
		}
		log.Info("sqlstore: building index", "system", "postgresql", "index", ix.name)
		began := time.Now()
		if _, err := conn.Exec(ctx, ix.def); err != nil {
			return fmt.Errorf("create index %s: %w", ix.name, err)
		}
		log.Info("sqlstore index created", "system", "postgresql", "index", ix.name, "duration", time.Since(began))
	}
	return nil
}

// pgEnsureTags creates, in the migration transaction, what is missing of
// the token tags' schema: the key table, the sessions.token_mac column
// (false for every row already there) and the key.
func pgEnsureTags(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, pgKeysTable); err != nil {
		return fmt.Errorf("create key table: %w", err)
	}
	var has bool
	if err := tx.QueryRow(ctx, pgHasTagColumn).Scan(&has); err != nil {
		return fmt.Errorf("read the sessions columns: %w", err)
	}
	if !has {
		if _, err := tx.Exec(ctx, pgAddTagColumn); err != nil {
			return fmt.Errorf("add sessions.token_mac: %w", err)
		}
	}
	return pgEnsureKey(ctx, tx)
}

// pgEnsureKey inserts a fresh key unless the table has one; concurrent
// inserts keep the first (ON CONFLICT waits for it to commit).
func pgEnsureKey(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) error {
	k, err := session.NewTokenKey()
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, pgKeyInsert, k[:]); err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

func (b *pgBackend) tokenTags(ctx context.Context) (session.TokenTags, error) {
	var raw []byte
	err := b.pool.QueryRow(ctx, pgKeySelect).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		// Removed by hand since Open: make one again and read the one kept.
		if err = pgEnsureKey(ctx, b.pool); err == nil {
			err = b.pool.QueryRow(ctx, pgKeySelect).Scan(&raw)
		}
	}
	if err != nil {
		return session.TokenTags{}, fmt.Errorf("read key: %w", err)
	}
	k, err := keyFrom(raw)
	if err != nil {
		return session.TokenTags{}, err
	}
	var until *time.Time
	if err := b.pool.QueryRow(ctx, pgLegacyUntil).Scan(&until); err != nil {
		return session.TokenTags{}, fmt.Errorf("read legacy window: %w", err)
	}
	tt := session.TokenTags{Key: k}
	if until != nil {
		tt.LegacyUntil = until.UTC()
	}
	return tt, nil
}

func (b *pgBackend) system() string { return "postgresql" }

// notApplied: pgx says a request was never sent (pgconn.SafeToRetry), or
// the connection could not even be made.
func (b *pgBackend) notApplied(err error) bool {
	var ce *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || errors.As(err, &ce)
}

func (b *pgBackend) create(ctx context.Context, rec *session.Record) error {
	args, err := pgRecordArgs(rec)
	if err != nil {
		return err
	}
	_, err = b.pool.Exec(ctx, pgInsert, args...)
	return pgInsertError(err)
}

// pgRecordArgs are a record's values for pgInsert's parameters, in order
// (pgCopyColumns without the final token_mac).
func pgRecordArgs(rec *session.Record) ([]any, error) {
	s := &rec.Session
	md, err := encodeMetadata(s.Metadata)
	if err != nil {
		return nil, err
	}
	var revoked *time.Time
	if s.RevokedAt != nil {
		r := ms(*s.RevokedAt)
		revoked = &r
	}
	return []any{rec.Hash[:], s.ID, s.UserID, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt),
		s.IdleTimeout.Milliseconds(), revoked, nullJSON(md)}, nil
}

// pgInsertError maps a failed INSERT's (or COPY's) unique violations to
// ErrDuplicate; other errors (and nil) are returned as they are.
func pgInsertError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		switch pe.ConstraintName {
		case "sessions_pkey":
			return fmt.Errorf("%w: token hash exists", ErrDuplicate)
		case "sessions_id_key":
			return fmt.Errorf("%w: id exists", ErrDuplicate)
		}
		return ErrDuplicate
	}
	return err
}

// pgCopyColumns are the columns createBatch copies, in order; token_mac
// is true, as pgInsert writes it: the tokens are tagged.
var pgCopyColumns = []string{"token_hash", "id", "user_id", "created_at", "last_seen_at", "expires_at", "idle_timeout_ms", "revoked_at", "metadata", "token_mac"}

// createBatch inserts recs with one COPY (a single statement: all rows or
// none).
func (b *pgBackend) createBatch(ctx context.Context, recs []session.Record) error {
	rows := make([][]any, len(recs))
	for i := range recs {
		args, err := pgRecordArgs(&recs[i])
		if err != nil {
			return err
		}
		rows[i] = append(args, true)
	}
	_, err := b.pool.CopyFrom(ctx, pgx.Identifier{"sessions"}, pgCopyColumns, pgx.CopyFromRows(rows))
	return pgInsertError(err)
}

// nullJSON passes JSON text to a jsonb parameter, or SQL NULL for nil.
func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// pgScanSession scans pgSessionCols after any leading destinations.
func pgScanSession(row pgx.Row, lead ...any) (session.Session, error) {
	var (
		s       session.Session
		idleMS  int64
		revoked *time.Time
		md      []byte
	)
	dest := append(lead, &s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &idleMS, &revoked, &md)
	if err := row.Scan(dest...); err != nil {
		return session.Session{}, err
	}
	s.CreatedAt = s.CreatedAt.UTC()
	s.LastSeenAt = s.LastSeenAt.UTC()
	s.ExpiresAt = s.ExpiresAt.UTC()
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	if revoked != nil {
		r := revoked.UTC()
		s.RevokedAt = &r
	}
	m, err := decodeMetadata(md)
	if err != nil {
		return session.Session{}, err
	}
	s.Metadata = m
	return s, nil
}

func (b *pgBackend) lookup(ctx context.Context, h session.TokenHash) (session.Session, error) {
	s, err := pgScanSession(b.pool.QueryRow(ctx, pgLookup, h[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Session{}, session.ErrNotFound
	}
	return s, err
}

func (b *pgBackend) revoke(ctx context.Context, h session.TokenHash, at time.Time) (session.Session, error) {
	s, err := pgScanSession(b.pool.QueryRow(ctx, pgRevoke, h[:], ms(at)))
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Session{}, session.ErrNotFound
	}
	return s, err
}

func (b *pgBackend) revokeUser(ctx context.Context, userID string, at time.Time) ([]session.Revocation, error) {
	rows, err := b.pool.Query(ctx, pgRevokeUser, userID, ms(at))
	if err != nil {
		return nil, err
	}
	return pgScanRevocations(rows)
}

func (b *pgBackend) revokedSince(ctx context.Context, since, now time.Time, fn func(session.Revocation) error) error {
	rows, err := b.pool.Query(ctx, pgRevokedSince, ms(since), ms(now))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := pgScanRevocation(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// pgScanRevocations reads (token_hash, id, expires_at, revoked_at) rows and
// closes them.
func pgScanRevocations(rows pgx.Rows) ([]session.Revocation, error) {
	defer rows.Close()
	var out []session.Revocation
	for rows.Next() {
		r, err := pgScanRevocation(rows)
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

// pgScanRevocation reads the current (token_hash, id, expires_at,
// revoked_at) row.
func pgScanRevocation(rows pgx.Rows) (session.Revocation, error) {
	var (
		r    session.Revocation
		hash []byte
	)
	if err := rows.Scan(&hash, &r.SessionID, &r.ExpiresAt, &r.RevokedAt); err != nil {
		return r, err
	}
	if len(hash) != len(r.Hash) {
		return r, fmt.Errorf("stored token hash has %d bytes, want %d", len(hash), len(r.Hash))
	}
	copy(r.Hash[:], hash)
	r.ExpiresAt = r.ExpiresAt.UTC()
	r.RevokedAt = r.RevokedAt.UTC()
	return r, nil
}

// touch returns the live sessions it moved, as the UPDATE saw them, and
// those it did not need to move (last_seen_at already at or past the
// entry), as the statement's snapshot saw them; both reads are part of
// the one statement.
func (b *pgBackend) touch(ctx context.Context, touches []session.Touch, now time.Time) ([]session.Touched, error) {
	hashes := make([][]byte, len(touches))
	ats := make([]time.Time, len(touches))
	for i := range touches {
		hashes[i] = touches[i].Hash[:]
		ats[i] = ms(touches[i].At)
	}
	rows, err := b.pool.Query(ctx, pgTouch, hashes, ats, ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	live := make([]session.Touched, 0, len(touches))
	for rows.Next() {
		var (
			t      session.Touched
			hash   []byte
			idleMS int64
		)
		if err := rows.Scan(&hash, &t.LastSeenAt, &t.ExpiresAt, &idleMS); err != nil {
			return nil, err
		}
		if len(hash) != len(t.Hash) {
			return nil, fmt.Errorf("token hash of %d bytes", len(hash))
		}
		copy(t.Hash[:], hash)
		t.LastSeenAt, t.ExpiresAt = t.LastSeenAt.UTC(), t.ExpiresAt.UTC()
		t.IdleTimeout = time.Duration(idleMS) * time.Millisecond
		live = append(live, t)
	}
	return live, rows.Err()
}

func (b *pgBackend) recent(ctx context.Context, now time.Time, limit int, fn func(session.Record) error) error {
	rows, err := b.pool.Query(ctx, pgRecent, ms(now), int64(limit))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hash []byte
		s, err := pgScanSession(rows, &hash)
		if err != nil {
			return err
		}
		var rec session.Record
		if len(hash) != len(rec.Hash) {
			return fmt.Errorf("stored token hash has %d bytes, want %d", len(hash), len(rec.Hash))
		}
		copy(rec.Hash[:], hash)
		rec.Session = s
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (b *pgBackend) ping(ctx context.Context) error {
	var one int
	return b.pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

func (b *pgBackend) close() error {
	b.stopIndexes()
	<-b.indexesDone
	b.pool.Close()
	return nil
}
