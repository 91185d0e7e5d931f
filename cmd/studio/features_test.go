package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// TestWarmCommand: `studio warm` refills an empty Redis from the store and
// says so in one line; with Redis unreachable it fails with status 1.
func TestWarmCommand(t *testing.T) {
	rs := redistest.Start(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := rs.Client(t)
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if _, _, err := svc.Create(ctx, session.CreateParams{UserID: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	store.Close()
	rdb.FlushAll(ctx)

	env := map[string]string{"REDIS_URL": rs.URL(), "DATABASE_URL": db}
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"studio", "warm"}, envOf(env), &out, &errb); code != 0 {
		t.Fatalf("warm exited %d: %s", code, errb.String())
	}
	if !regexp.MustCompile(`^warmed 30 sessions in \S+: 30 written, 0 already in redis, 0 expired, 0 errors, \d+ batches, 0 revocations swept\n$`).MatchString(out.String()) {
		t.Fatalf("summary line: %q", out.String())
	}
	if n := len(rdb.Keys(ctx, "studio:s:*").Val()); n != 30 {
		t.Fatalf("%d session keys in redis after warm, want 30", n)
	}
	// Again: everything is already there.
	out.Reset()
	run(ctx, []string{"studio", "warm"}, envOf(env), &out, &errb)
	if !strings.Contains(out.String(), "0 written, 30 already in redis") {
		t.Fatalf("second warm: %q", out.String())
	}
	rs.Kill()
	errb.Reset()
	if code := run(ctx, []string{"studio", "warm"}, envOf(env), io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "redis does not answer") {
		t.Fatalf("warm with redis down: exit %d, %q", code, errb.String())
	}
}

// TestHotKeyAndWarmingInSnapshot: a session validated past the hot-key
// threshold (through the L1, never reaching Redis) shows in the Snapshot's
// hot keys in display form, a warn line is logged, and warming progress
// shows in /readyz and the Snapshot.
func TestHotKeyAndWarmingInSnapshot(t *testing.T) {
	rs := redistest.Start(t)
	const adminTok = "hot-admin-eadd05880f347fffc32f39279cd827843c56136fcf16f979"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":      adminTok,
		"REDIS_URL":               rs.URL(),
		"DATABASE_URL":            "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_MONITOR_INTERVAL": "100ms",
		"STUDIO_HOTKEY_THRESHOLD": "300",
		"STUDIO_INSTANCE_ID":      "e2e-1",
	})
	base, stdout, done := srv.base, srv.stdout, srv.done
	_, body := send(t, "POST", base+"/v1/sessions", adminTok, `{"user_id":"hot-user"}`)
	tok := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)[1]
	for range 400 {
		if code, _ := send(t, "GET", base+"/v1/session", tok, ""); code != 200 {
			t.Fatal("validate failed")
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body = send(t, "GET", base+"/health/redis", adminTok, "")
		if regexp.MustCompile(`"hotkeys":\[\{"key":"studio:s:#[0-9a-f]{8}","count":(4\d\d)`).MatchString(body) &&
			strings.Contains(body, `"warming":{"state":"done"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot never showed the hot key and finished warming:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(body, `"instance":"e2e-1"`) || !strings.Contains(body, `"hotkeys_native":{"available":false`) {
		t.Fatalf("hot-key shares or the native view missing: %s", body)
	}
	_, ready := send(t, "GET", base+"/readyz", adminTok, "")
	if !strings.Contains(ready, `"warming":{"state":"done","reason":"start-up"`) {
		t.Fatalf("readyz lacks the start-up warm: %s", ready)
	}
	waitMatch(t, stdout, regexp.MustCompile(`"level":"WARN","msg":"[^"]*hot key`), done)
	// The start-up warm wrote the one session and is counted.
	if _, metrics := send(t, "GET", base+"/metrics", "", ""); !strings.Contains(metrics, `studio_cache_warm_finished_runs_total{outcome="ok"} 1`) ||
		!strings.Contains(metrics, "studio_cache_warm_batches_total") || !strings.Contains(metrics, "studio_cache_warm_revocations_swept_total 0") {
		t.Fatalf("warm metrics missing:\n%s", metrics)
	}
	cancel()
	<-done
	h, _ := session.ParseToken(tok)
	all := stdout.String() + body
	if strings.Contains(all, h.Hex()) || strings.Contains(all, tok) {
		t.Fatal("a full session hash or the token reached the output")
	}
}

// TestHotKeyAcrossTwoInstances: two `studio serve` instances share one
// Redis and store; each sees half of one session's traffic, below the
// threshold on its own, above it together. The global view on either
// instance shows the key above the threshold with both instances' shares.
func TestHotKeyAcrossTwoInstances(t *testing.T) {
	rs := redistest.Start(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	const adminTok = "two-admin-4d4f96de733902842f4ad5e65d9b8dbf4d5f656e55983779"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(id string) *serving {
		return startServe(t, ctx, map[string]string{
			"STUDIO_ADMIN_TOKEN": adminTok, "REDIS_URL": rs.URL(), "DATABASE_URL": db,
			"STUDIO_HOTKEY_THRESHOLD": "500", "STUDIO_INSTANCE_ID": id, "STUDIO_WARM_ON_START": "false",
		})
	}
	sa, sb := start("inst-a"), start("inst-b")
	a, outA, doneA := sa.base, sa.stdout, sa.done
	b, doneB := sb.base, sb.done
	_, body := send(t, "POST", a+"/v1/sessions", adminTok, `{"user_id":"shared"}`)
	tok := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)[1]
	for range 350 { // 350 each: below 500 alone, 700 together
		for _, base := range []string{a, b} {
			if code, _ := send(t, "GET", base+"/v1/session", tok, ""); code != 200 {
				t.Fatal("validate failed")
			}
		}
	}
	hot := regexp.MustCompile(`"hotkeys":\[\{"key":"studio:s:#[0-9a-f]{8}","count":(\d+),"per_min":[0-9.]+,"error":\d+,"instances":\[\{"instance":"inst-[ab]","count":(\d+)\},\{"instance":"inst-[ab]","count":(\d+)\}\]`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body = send(t, "GET", a+"/health/redis", adminTok, "")
		if m := hot.FindStringSubmatch(body); m != nil && atoi(m[1]) >= 700 && atoi(m[2])+atoi(m[3]) == atoi(m[1]) {
			t.Logf("global count %s, shares %s + %s", m[1], m[2], m[3])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the global view never showed the shared key above the threshold:\n%s", body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The threshold event fired on the global count, not on either half.
	waitMatch(t, outA, regexp.MustCompile(`"level":"WARN","msg":"[^"]*hot key[^"]*"[^\n]*"scope":"global"`), doneA)
	if regexp.MustCompile(`"scope":"local"`).MatchString(outA.String()) {
		t.Fatal("an instance saw the key hot on its own half")
	}
	cancel()
	<-doneA
	<-doneB
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
