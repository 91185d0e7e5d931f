package faults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
)

// TestRevokedAcceptedWhileTombstoneQueued is the smallest reproduction of
// what TestFaultPauseRedis and TestFaultKillSentinelMaster found: a
// session revoked while Redis does not answer is accepted again, by the
// very instance whose Revoke returned nil, as soon as Redis answers and
// until the background retrier gets the tombstone in (its backoff reaches
// 2 s). Meanwhile the stale copy read from Redis sits in the L1 (until the
// retrier's invalidation message drops it) and in Redis, where every
// other instance reads it too.
//
// Revoke (session/revoke.go) writes the store, then tries the tombstone;
// when Redis refuses it the revocation goes to the retry queue and only
// the local L1 entry is dropped. validateSlow then trusts whatever Redis
// holds — the session's pre-revocation copy — without consulting the
// queue of revocations Redis has not got yet.
func TestRevokedAcceptedWhileTombstoneQueued(t *testing.T) {
	skipShort(t)
	rs := redistest.Start(t)
	e := newEnv(t, redisconn.Config{URL: rs.URL()}, "")
	ctx := t.Context()
	var toks []string
	for range 5 {
		tok, _, err := e.svc.Create(ctx, session.CreateParams{UserID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, string(tok)) // Create wrote its copy to Redis
	}

	must(t, rs.Pause())
	paused := true
	t.Cleanup(func() {
		if paused {
			_ = rs.Resume()
		}
	})
	// Revoke the sessions over a hang of a few seconds; every Revoke
	// returns nil (the store is up) and queues its tombstone.
	hung := time.Now()
	for _, tok := range toks {
		if err := e.svc.Revoke(ctx, tok); err != nil {
			t.Fatalf("Revoke with Redis paused: %v (the store is up: it must succeed)", err)
		}
	}
	sleep(t, 3*time.Second-time.Since(hung))
	queued := e.svc.Stats().RevocationsQueued
	must(t, rs.Resume())
	paused = false
	resumed := time.Now()

	// Every validation must refuse; count the ones that do not, while the
	// tombstones are queued and for a second after.
	var whileQueued, afterDrain int
	var firstTier string
	drained := time.Duration(-1)
	for i := 0; time.Since(resumed) < 10*time.Second; i++ {
		q := e.svc.Stats().RevocationsQueued
		if q == 0 && drained < 0 {
			drained = time.Since(resumed)
		}
		if drained >= 0 && time.Since(resumed) > drained+time.Second {
			break
		}
		_, tier, err := e.svc.ValidateTier(context.Background(), toks[i%len(toks)])
		switch {
		case err == nil && q > 0:
			whileQueued++
		case err == nil:
			afterDrain++
		case !errors.Is(err, session.ErrRevoked):
			t.Fatalf("validate: %v", err)
		}
		if err == nil && firstTier == "" {
			firstTier = tier.String()
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("MEASURED %d revocations queued while Redis hung %s; queue drained %s after SIGCONT; validations accepting a revoked session: %d while queued (first from tier %q), %d after",
		queued, resumed.Sub(hung).Round(100*time.Millisecond), drained.Round(time.Millisecond), whileQueued, firstTier, afterDrain)
	if whileQueued+afterDrain > 0 {
		t.Errorf("BUG: sessions whose Revoke returned nil were accepted %d times by the same instance after Redis came back (%d while their tombstones were queued for Redis, %d afterwards)",
			whileQueued+afterDrain, whileQueued, afterDrain)
	}
}
