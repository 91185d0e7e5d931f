package session_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
)

// TestCloseWritesQueuedRevocations: Close makes one last attempt to write
// the tombstones still queued for retry (here right after Redis came
// back, before the retrier's back-off would) and logs an error naming the
// sessions it could not write, in their display form (session id and the
// key's hot-key display form), never their token or key.
func TestCloseWritesQueuedRevocations(t *testing.T) {
	e := newEnv(t)
	for _, back := range []bool{true, false} {
		logs := &syncbuf.Buffer{}
		svc := e.service(func(o *session.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
		tok, sess := e.create(svc, session.CreateParams{UserID: "u"})
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
		key := "studio:s:" + mustHash(t, tok).Hex()
		named := "sessions=\"[" + sess.ID + " " + hotkey.DisplayKey(key) + "]\""
		if !strings.Contains(logs.String(), "level=ERROR msg=\""+msg) || !strings.Contains(logs.String(), "count=1 "+named+" unnamed=0") {
			t.Fatalf("Close with redis down did not log the undelivered revocation as count=1 %s unnamed=0:\n%s", named, logs)
		}
		if strings.Contains(logs.String(), mustHash(t, tok).Hex()) || strings.Contains(logs.String(), tok) {
			t.Fatalf("the token or its hash reached the log:\n%s", logs)
		}
		if err := e.redis.Restart(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseLogNamesAtMost20: the close log line names 20 sessions and
// counts the rest, however many are queued.
func TestCloseLogNamesAtMost20(t *testing.T) {
	e := newEnv(t)
	var logs syncbuf.Buffer
	svc := e.service(func(o *session.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	var toks []string
	for range 25 {
		tok, _ := e.create(svc, session.CreateParams{UserID: "u"})
		toks = append(toks, tok)
	}
	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if err := svc.Revoke(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	var line struct {
		Msg      string
		Count    int
		Sessions []string
		Unnamed  int
	}
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "revocations not written to redis before close") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Count != 25 || len(line.Sessions) != 20 || line.Unnamed != 5 {
		t.Fatalf("close log line: count %d, %d sessions named, %d unnamed; want 25, 20, 5:\n%s", line.Count, len(line.Sessions), line.Unnamed, logs.String())
	}
	for _, name := range line.Sessions {
		if !strings.Contains(name, " studio:s:#") {
			t.Errorf("session named %q, want its id and its key's display form", name)
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
