package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// TestSQLiteFilePrivate: a new SQLite file and its -wal and -shm are
// created 0600 (they hold user ids and metadata), even with a umask of 0
// that would leave SQLite's own 0644.
func TestSQLiteFilePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "studio.db")
	st, err := sqlstore.Open(context.Background(), "sqlite:"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.Create(context.Background(), session.Record{Hash: [32]byte{1}, Session: session.Session{ID: "s1", UserID: "u",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), m)
		}
	}
}
