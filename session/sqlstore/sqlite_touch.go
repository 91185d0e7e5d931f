package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/studiohq/studio/session"
)

// distinctTouches returns the entries of touches sorted by token hash,
// one per session, each at its latest At. touches is left as it is.
func distinctTouches(touches []session.Touch) []session.Touch {
	out := slices.Clone(touches)
	slices.SortFunc(out, func(a, b session.Touch) int {
		if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
			return c
		}
		return a.At.Compare(b.At)
	})
	w := 0
	for i := range out {
		if i+1 < len(out) && out[i+1].Hash == out[i].Hash {
			continue // a later entry of the same session follows
		}
		out[w] = out[i]
		w++
	}
	return out[:w]
}

// liteTouchChunk is how many sessions one SQLite touch statement names
// (the Service's last-seen batch): two parameters each, far under
// SQLite's limit of 32 766 bound parameters per statement.
const liteTouchChunk = 2000

// liteTouchSQL moves last_seen_at forward for n (token_hash, unix ms)
// pairs, which must name distinct sessions (UPDATE … FROM applies one
// arbitrary match to a row), and returns each row it moved with what says
// whether it is live. A row already at or past its pair's time is not
// written (liteTouchReadSQL reads it); revoked and expired rows are
// written like the others. OR FAIL spares SQLite the statement journal
// (a copy of every page the statement changes, in a temporary file, so
// that a failing statement can be undone alone): no constraint can fail
// here, and a statement that fails for another reason fails its whole
// transaction, which is rolled back.
func liteTouchSQL(n int) string {
	return `UPDATE OR FAIL sessions SET last_seen_at = v.column2
		FROM (VALUES ` + repeatJoin("(?,?)", n) + `) AS v
		WHERE sessions.token_hash = v.column1 AND sessions.last_seen_at < v.column2
		RETURNING token_hash, last_seen_at, expires_at, idle_timeout_ms, revoked_at IS NULL`
}

// liteTouchReadSQL reads the rows among n token hashes that are live at
// the time given after them (unix ms).
func liteTouchReadSQL(n int) string {
	return `SELECT token_hash, last_seen_at, expires_at, idle_timeout_ms FROM sessions
		WHERE token_hash IN (` + repeatJoin("?", n) + `) AND revoked_at IS NULL AND expires_at > ?`
}

// repeatJoin is n copies of s separated by commas.
func repeatJoin(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+",", n), ",")
}

// touch writes the batch in one transaction, a statement per
// liteTouchChunk sessions. The write connection's transactions begin
// IMMEDIATE, so the rows a statement did not move (already seen at or
// after the entry) are read, by a second statement, in the same state the
// write left: nothing else writes between them.
func (b *liteBackend) touch(ctx context.Context, touches []session.Touch, now time.Time) ([]session.Touched, error) {
	ts := distinctTouches(touches)
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	live := make([]session.Touched, 0, len(ts))
	for len(ts) > 0 {
		chunk := ts[:min(len(ts), liteTouchChunk)]
		ts = ts[len(chunk):]
		if live, err = b.touchChunk(ctx, tx, chunk, unixMS(now), live); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return live, nil
}

// touchChunk writes chunk (distinct sessions, sorted by hash) within tx
// and appends the live sessions among them to live.
func (b *liteBackend) touchChunk(ctx context.Context, tx *sql.Tx, chunk []session.Touch, now int64, live []session.Touched) ([]session.Touched, error) {
	args := make([]any, 0, 2*len(chunk))
	for i := range chunk {
		args = append(args, chunk[i].Hash[:], unixMS(chunk[i].At))
	}
	var rows *sql.Rows
	var err error
	if len(chunk) == liteTouchChunk {
		rows, err = tx.StmtContext(ctx, b.touchStmt).QueryContext(ctx, args...)
	} else {
		rows, err = tx.QueryContext(ctx, liteTouchSQL(len(chunk)), args...)
	}
	if err != nil {
		return nil, err
	}
	moved := make([]bool, len(chunk))
	nMoved := 0
	err = liteScanTouched(rows, true, func(t session.Touched, unrevoked bool, expires int64) error {
		i, ok := slices.BinarySearchFunc(chunk, t.Hash, func(x session.Touch, h session.TokenHash) int {
			return bytes.Compare(x.Hash[:], h[:])
		})
		if !ok || moved[i] {
			return fmt.Errorf("touch returned a row it was not given")
		}
		moved[i] = true
		nMoved++
		if unrevoked && expires > now {
			live = append(live, t)
		}
		return nil
	})
	if err != nil || nMoved == len(chunk) {
		return live, err
	}
	// Rows not moved: unknown, or already seen at or after the entry.
	args = args[:0]
	for i := range chunk {
		if !moved[i] {
			args = append(args, chunk[i].Hash[:])
		}
	}
	rows, err = tx.QueryContext(ctx, liteTouchReadSQL(len(args)), append(args, now)...)
	if err != nil {
		return nil, err
	}
	err = liteScanTouched(rows, false, func(t session.Touched, _ bool, _ int64) error {
		live = append(live, t)
		return nil
	})
	return live, err
}

// liteScanTouched reads rows of (token_hash, last_seen_at, expires_at,
// idle_timeout_ms), followed by whether the row is unrevoked when
// returning is set (liteTouchSQL's RETURNING; otherwise it is reported
// true), calls fn for each, and closes rows. Every row is read, so a
// RETURNING statement runs to completion.
func liteScanTouched(rows *sql.Rows, returning bool, fn func(t session.Touched, unrevoked bool, expires int64) error) error {
	defer rows.Close()
	var (
		hash                      []byte
		lastSeen, expires, idleMS int64
		unrevoked                 = true
	)
	dest := []any{&hash, &lastSeen, &expires, &idleMS}
	if returning {
		dest = append(dest, &unrevoked)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		t := session.Touched{LastSeenAt: fromMS(lastSeen), ExpiresAt: fromMS(expires), IdleTimeout: time.Duration(idleMS) * time.Millisecond}
		if len(hash) != len(t.Hash) {
			return fmt.Errorf("stored token hash has %d bytes, want %d", len(hash), len(t.Hash))
		}
		copy(t.Hash[:], hash)
		if err := fn(t, unrevoked, expires); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
