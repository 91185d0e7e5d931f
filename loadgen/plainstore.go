package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the driver session/sqlstore uses

	"github.com/studiohq/studio/session"
)

// OpenSessionRows opens the session rows of Studio's store at dsn —
// sqlite:PATH (an existing file) or postgres://… / postgresql://… — for
// PlainMissHandler, with the drivers and pool settings session/sqlstore
// reads with: SQLite through database/sql and modernc.org/sqlite, on
// read-only connections of a WAL file (synchronous NORMAL, the same busy
// timeout), 2×GOMAXPROCS of them (at least 4) unless maxConns is
// positive; PostgreSQL through a pgx pool (pgx's default size, or the
// DSN's pool_max_conns, or maxConns). Each read is one point SELECT of
// the row by token hash, a prepared statement. The function returned
// closes it. Errors never quote the DSN.
func OpenSessionRows(ctx context.Context, dsn string, maxConns int) (SessionRows, func(), error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openLiteRows(ctx, strings.TrimPrefix(dsn, "sqlite:"), maxConns)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPgRows(ctx, dsn, maxConns)
	}
	return nil, nil, errors.New("session rows: want a sqlite:PATH or postgres:// DSN")
}

// liteRows reads a SQLite file of session/sqlstore's schema.
type liteRows struct{ stmt *sql.Stmt }

func openLiteRows(ctx context.Context, path string, maxConns int) (SessionRows, func(), error) {
	if path == "" || strings.Contains(path, ":memory:") || strings.ContainsAny(path, "?#") {
		return nil, nil, errors.New("session rows: want sqlite:PATH of an existing database file")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("session rows: sqlite: %w", err)
	}
	// As sqlstore's read pool.
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_txlock=immediate&_pragma=synchronous(NORMAL)&_pragma=query_only(1)")
	if err != nil {
		return nil, nil, fmt.Errorf("session rows: open sqlite: %w", err)
	}
	n := maxConns
	if n <= 0 {
		n = max(4, 2*runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(5 * time.Minute)
	stmt, err := db.PrepareContext(ctx, `SELECT id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, revoked_at, metadata
		FROM sessions WHERE token_hash = ?`)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("session rows: prepare the sqlite select (is it a Studio store?): %w", err)
	}
	return &liteRows{stmt: stmt}, func() { stmt.Close(); db.Close() }, nil
}

func (l *liteRows) Row(ctx context.Context, h session.TokenHash, now time.Time, dst []byte) ([]byte, bool, time.Time, error) {
	var (
		id, user                           string
		created, lastSeen, expires, idleMS int64
		revoked                            sql.NullInt64
		md                                 []byte
	)
	err := l.stmt.QueryRowContext(ctx, h[:]).Scan(&id, &user, &created, &lastSeen, &expires, &idleMS, &revoked, &md)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, time.Time{}, ErrNoRow
	}
	if err != nil {
		return nil, false, time.Time{}, err
	}
	nowMS := now.UnixMilli()
	live := !revoked.Valid && expires > nowMS && (idleMS <= 0 || lastSeen+idleMS > nowMS)
	dst = appendRow(dst, id, user, created, lastSeen, expires, idleMS, revoked.Int64, md)
	return dst, live, time.UnixMilli(expires), nil
}

// pgRows reads a PostgreSQL database of session/sqlstore's schema.
type pgRows struct{ pool *pgxpool.Pool }

// pgRowSelect is the point SELECT; pgx prepares it on each connection
// the first time it runs there (its statement cache), as sqlstore's are.
const pgRowSelect = `SELECT id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, revoked_at, metadata
	FROM sessions WHERE token_hash = $1`

func openPgRows(ctx context.Context, dsn string, maxConns int) (SessionRows, func(), error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, errors.New("session rows: invalid postgres dsn")
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(min(maxConns, 1<<20))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, errors.New("session rows: postgres pool could not be made")
	}
	var one int
	if err := pool.QueryRow(ctx, `SELECT 1 FROM sessions LIMIT 1`).Scan(&one); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		pool.Close()
		return nil, nil, fmt.Errorf("session rows: postgres (is it a Studio store?): %w", err)
	}
	return &pgRows{pool: pool}, pool.Close, nil
}

func (p *pgRows) Row(ctx context.Context, h session.TokenHash, now time.Time, dst []byte) ([]byte, bool, time.Time, error) {
	var (
		id, user                   string
		created, lastSeen, expires time.Time
		idleMS                     int64
		revoked                    *time.Time
		md                         []byte
	)
	err := p.pool.QueryRow(ctx, pgRowSelect, h[:]).Scan(&id, &user, &created, &lastSeen, &expires, &idleMS, &revoked, &md)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, time.Time{}, ErrNoRow
	}
	if err != nil {
		return nil, false, time.Time{}, err
	}
	var rev int64
	if revoked != nil {
		rev = revoked.UnixMilli()
	}
	live := revoked == nil && expires.After(now) && (idleMS <= 0 || lastSeen.Add(time.Duration(idleMS)*time.Millisecond).After(now))
	dst = appendRow(dst, id, user, created.UnixMilli(), lastSeen.UnixMilli(), expires.UnixMilli(), idleMS, rev, md)
	return dst, live, expires, nil
}

// appendRow appends a row's columns as tab-separated text (times in Unix
// milliseconds, 0 for no revocation): the value PlainMissHandler caches.
func appendRow(dst []byte, id, user string, created, lastSeen, expires, idleMS, revoked int64, md []byte) []byte {
	dst = append(dst, id...)
	dst = append(dst, '\t')
	dst = append(dst, user...)
	for _, v := range []int64{created, lastSeen, expires, idleMS, revoked} {
		dst = append(dst, '\t')
		dst = strconv.AppendInt(dst, v, 10)
	}
	dst = append(dst, '\t')
	return append(dst, md...)
}
