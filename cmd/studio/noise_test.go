package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
)

// openTestApp opens Studio as serve wires it, on redis-server rs and a
// SQLite file, with env on top, logging to logOut; mod adjusts the
// Config (intervals a test shortens). The app is closed when the test
// ends.
func openTestApp(t *testing.T, rs *redistest.Server, env map[string]string, logOut io.Writer, mod func(*Config)) *app {
	t.Helper()
	all := map[string]string{
		"REDIS_URL":    rs.URL(),
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := configOf(t, "serve", all)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := openApp(t.Context(), cfg, logOut)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// TestHotKeyCountsCallerAccessesOnly: a session validated N times, with
// refresh-ahead refreshing its L1 entry from Redis all along (a 100 ms
// L1), counts N accesses — not N plus the refreshes, nor a validation
// that reached Redis twice (the session layer's count and the Redis
// hook's). One key in an otherwise empty detector is counted exactly
// (Space-Saving's error is 0 below its capacity).
func TestHotKeyCountsCallerAccessesOnly(t *testing.T) {
	rs := redistest.Start(t)
	a := openTestApp(t, rs, map[string]string{"STUDIO_L1_TTL": "100ms", "STUDIO_WARM_ON_START": "false"}, io.Discard, nil)
	ctx := context.Background()
	tok, _, err := a.sessions.Create(ctx, session.CreateParams{UserID: "hot"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := session.ParseToken(tok.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	display := hotkey.DisplayKey(a.sessions.Key(h))
	count := func() uint64 {
		for _, e := range a.detector.Top(0) {
			if e.Key == display {
				return e.Count
			}
		}
		return 0
	}
	base := count() // the create is not a validation
	before := a.sessions.Stats()
	const n = 300 // every 10 ms for 3 s: ~30 L1 lifetimes
	for range n {
		if _, err := a.sessions.Validate(ctx, tok.Reveal()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := a.sessions.Stats()
	refreshes := after.L1Refreshes - before.L1Refreshes
	got := count() - base
	t.Logf("%d validations, %d refresh-ahead reads from Redis meanwhile; hot-key count %d", n, refreshes, got)
	if refreshes == 0 {
		t.Fatal("no refresh-ahead happened: the test does not exercise it")
	}
	if got != n {
		t.Fatalf("hot-key count %d for %d validations (%d refreshes)", got, n, refreshes)
	}
}
