package session_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
)

// TestCloseWritesQueuedRevocations: Close makes one last attempt to write
// the tombstones still queued for retry (here right after Redis came
// back, before the retrier's back-off would) and logs an error naming how
// many it could not write.
func TestCloseWritesQueuedRevocations(t *testing.T) {
	e := newEnv(t)
	for _, back := range []bool{true, false} {
		logs := &syncbuf.Buffer{}
		svc := e.service(func(o *session.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
		tok, _ := e.create(svc, session.CreateParams{UserID: "u"})
		if err := e.redis.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := svc.Revoke(bg, tok); err != nil {
			t.Fatalf("Revoke with redis down: %v", err)
		}
		if q := svc.Stats().RevocationsQueued; q != 1 {
			t.Fatalf("queued revocations %d, want 1", q)
		}
		time.Sleep(time.Second) // the retrier fails a few times and backs off
		if back {
			if err := e.redis.Restart(bg); err != nil {
				t.Fatal(err)
			}
		}
		svc.Close()
		const msg = "revocations not written to redis before close"
		if back {
			if v, _ := e.redisValue(tok); v != "R" {
				t.Fatalf("after Close with redis back the key holds %q, want the tombstone", v)
			}
			if strings.Contains(logs.String(), msg) {
				t.Fatalf("Close logged undelivered revocations although redis took them:\n%s", logs)
			}
			continue
		}
		if !strings.Contains(logs.String(), "level=ERROR msg=\""+msg) || !strings.Contains(logs.String(), "sessions=1") {
			t.Fatalf("Close with redis down did not log the undelivered revocation:\n%s", logs)
		}
		if err := e.redis.Restart(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRetrierDeliversLongQueue: a queue of revocations too long to write
// within one RedisTimeout still reaches Redis: the retrier writes it batch
// by batch, each with its own timeout. The link to Redis goes through a
// proxy that adds 3 ms each way, so one batch (one round trip) takes about
// 6 ms of the 20 ms timeout whatever the CPU, and the 16 batches of 4 000
// revocations together about 100 ms.
func TestRetrierDeliversLongQueue(t *testing.T) {
	e := newEnv(t)
	proxy, err := faults.NewProxy(e.redis.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb, err := redisconn.Open(redisconn.Config{URL: "redis://" + proxy.Addr(), Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	svc := e.service(func(o *session.Options) { o.Redis = rdb; o.RedisTimeout = 20 * time.Millisecond })
	const n = 4000
	toks := seedSessions(t, e.store, n, e.clock.Now())
	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for u := range 26 {
		k, err := svc.RevokeUser(bg, "user"+string(rune('a'+u)))
		if err != nil {
			t.Fatal(err)
		}
		revoked += k
	}
	if revoked != n || svc.Stats().RevocationsQueued != n {
		t.Fatalf("revoked %d, queued %d; want %d each", revoked, svc.Stats().RevocationsQueued, n)
	}
	proxy.SetDelay(3 * time.Millisecond)
	if err := e.redis.Restart(bg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the queue to reach redis", func() bool { return svc.Stats().RevocationsQueued == 0 })
	for _, i := range []int{0, n / 2, n - 1} {
		if v, _ := e.redisValue(toks[i]); v != "R" {
			t.Fatalf("session %d holds %q, want the tombstone", i, v)
		}
	}
}
