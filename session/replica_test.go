package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
)

// staleReplica is a second redis-server standing in for a replica that has
// not yet received the master's latest writes: the test copies values into
// it by hand, so it lags exactly as much as the test wants.
func staleReplica(t *testing.T, e *env) (*redistest.Server, func(tok string)) {
	t.Helper()
	rep := redistest.Start(t)
	rc := rep.Client(t)
	copyKey := func(tok string) {
		t.Helper()
		h, err := session.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		key := "studio:s:" + h.Hex()
		v, err := e.rdb.Get(context.Background(), key).Result()
		if err != nil {
			t.Fatalf("read master copy: %v", err)
		}
		if err := rc.Set(context.Background(), key, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return rep, copyKey
}

func readerFor(t *testing.T, srv *redistest.Server) func(*session.Options) {
	return func(o *session.Options) { o.ReadRedis = srv.Client(t) }
}

func TestReplicaReadsServeFromTheReader(t *testing.T) {
	e := newEnv(t)
	rep, copyKey := staleReplica(t, e)
	svc := e.service(readerFor(t, rep), func(o *session.Options) { o.L1TTL = -1 })
	tok, _ := e.create(svc, session.CreateParams{})
	copyKey(tok)
	// Remove the master's copy: a Redis-tier answer can now only come
	// from the reader.
	h, _ := session.ParseToken(tok)
	if err := e.rdb.Del(context.Background(), "studio:s:"+h.Hex()).Err(); err != nil {
		t.Fatal(err)
	}
	e.advance(6 * time.Second) // past the grace after the subscribe-time flush
	_, tier, err := svc.ValidateTier(context.Background(), tok)
	if err != nil || tier != session.TierRedis {
		t.Fatalf("ValidateTier = %v, %v; want a Redis-tier hit from the reader", tier, err)
	}
}

// A revocation's invalidation can arrive before its tombstone reaches the
// replica a validation reads: the invalidated key must be read from the
// master, or the replica's stale copy would bring the session back.
func TestReplicaLagCannotReviveRevokedSession(t *testing.T) {
	e := newEnv(t)
	rep, copyKey := staleReplica(t, e)
	a := e.service(readerFor(t, rep), func(o *session.Options) { o.L1TTL = -1 })
	b := e.service(readerFor(t, rep)) // another instance, with an L1
	e.advance(6 * time.Second)
	tok, _ := e.create(a, session.CreateParams{})
	copyKey(tok) // the replica holds the live copy and never sees the tombstone
	if _, err := b.Validate(context.Background(), tok); err != nil {
		t.Fatalf("before revoke: %v", err)
	}
	if err := a.Revoke(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*session.Service{a, b} {
		waitFor(t, 5*time.Second, "revocation seen", func() bool {
			_, err := svc.Validate(context.Background(), tok)
			return errors.Is(err, session.ErrRevoked)
		})
	}
	// Within the grace period the stale replica is never consulted for it.
	for range 20 {
		if _, err := b.Validate(context.Background(), tok); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("revoked session validated through a stale replica: %v", err)
		}
	}
}

func TestReplicaReadErrorFallsBackToMaster(t *testing.T) {
	e := newEnv(t)
	rep, _ := staleReplica(t, e)
	svc := e.service(readerFor(t, rep), func(o *session.Options) { o.L1TTL = -1 })
	e.advance(6 * time.Second)
	tok, _ := e.create(svc, session.CreateParams{})
	if err := rep.Stop(); err != nil {
		t.Fatal(err)
	}
	_, tier, err := svc.ValidateTier(context.Background(), tok)
	if err != nil || tier != session.TierRedis {
		t.Fatalf("ValidateTier = %v, %v; want a Redis-tier hit from the master", tier, err)
	}
	if n := svc.Stats().ReplicaFallbacks; n == 0 {
		t.Fatal("ReplicaFallbacks = 0 after a failed replica read")
	}
}

// After an L1 flush (the subscription dropped: invalidations may have been
// missed) every read goes to the master for the grace period.
func TestReplicaReadsAvoidReplicaAfterFlush(t *testing.T) {
	e := newEnv(t)
	rep, copyKey := staleReplica(t, e)
	svc := e.service(readerFor(t, rep), func(o *session.Options) { o.L1TTL = -1 })
	tok, _ := e.create(svc, session.CreateParams{})
	copyKey(tok)
	h, _ := session.ParseToken(tok)
	if err := e.rdb.Set(context.Background(), "studio:s:"+h.Hex(), "R", time.Hour).Err(); err != nil {
		t.Fatal(err) // the master says revoked; the replica still has the live copy
	}
	// The subscription came up moments ago (an L1 flush): the master answers.
	if _, err := svc.Validate(context.Background(), tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("right after a flush: %v, want ErrRevoked from the master", err)
	}
	e.advance(6 * time.Second)
	// Past the grace the reader is used again (and here it is stale on
	// purpose, which is how the test sees where the read went).
	if _, err := svc.Validate(context.Background(), tok); err != nil {
		t.Fatalf("past the grace: %v, want the reader's live copy", err)
	}
}
