package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/storetest"
)

// TestNotAppliedMarksOnlyWritesThatNeverLeft: on PostgreSQL a write whose
// connection cannot be made wraps session.ErrNotApplied (the Service may
// then say the write was not done), and one cut short by its deadline on a
// link that stopped passing bytes does not (it may still commit).
func TestNotAppliedMarksOnlyWritesThatNeverLeft(t *testing.T) {
	u, err := url.Parse(postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := faults.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	u.Host = p.Addr()
	s := open(t, u.String())
	rec := storetest.NewRecord(t, "u", time.Now().UTC().Truncate(time.Millisecond))
	ctx := t.Context()
	if err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}

	p.SetBlackhole(true)
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = s.Revoke(dctx, rec.Hash, time.Now())
	cancel()
	if err == nil || errors.Is(err, session.ErrNotApplied) {
		t.Fatalf("Revoke on a link that passes no bytes, cut by its deadline: %v; want an error not marked ErrNotApplied", err)
	}

	p.Close() // nothing listens any more: connections are refused
	var last error
	for range 5 { // the first attempts may still find pooled connections
		_, last = s.Revoke(ctx, rec.Hash, time.Now())
		if errors.Is(last, session.ErrNotApplied) {
			return
		}
	}
	t.Fatalf("Revoke with connections refused: %v; want it marked ErrNotApplied", last)
}
