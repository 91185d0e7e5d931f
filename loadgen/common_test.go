package loadgen_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/loadgen"
)

func TestCommonStoreTarget(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	ctx := t.Context()
	tg := &loadgen.CommonStoreTarget{Redis: rdb, TTL: time.Hour, IdleTimeout: 10 * time.Minute}

	tok, err := tg.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "sess:" + tok
	raw, err := rdb.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("created session not in Redis: %v", err)
	}
	var s loadgen.CommonSession
	if err := json.Unmarshal(raw, &s); err != nil || s.UserID != "loadgen" || s.ExpiresAt.Sub(s.CreatedAt) != time.Hour {
		t.Fatalf("stored JSON %s: %+v, %v", raw, s, err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("TTL after create %v, want the idle timeout 10m", ttl)
	}

	// Validation slides the idle expiry back up to the idle timeout.
	if err := rdb.Expire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Validate(ctx, tok); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("TTL after validate %v, want the idle timeout 10m again", ttl)
	}

	// Near the absolute expiry, the idle expiry is capped at it.
	now := time.Now()
	capped := &loadgen.CommonStoreTarget{Redis: rdb, IdleTimeout: 10 * time.Minute, Now: func() time.Time { return now.Add(59 * time.Minute) }}
	if err := capped.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 || ttl > 61*time.Second {
		t.Fatalf("TTL near the absolute expiry %v, want about 1m", ttl)
	}
	// Past the absolute expiry it is refused.
	late := &loadgen.CommonStoreTarget{Redis: rdb, Now: func() time.Time { return now.Add(2 * time.Hour) }}
	if err := late.Validate(ctx, tok); loadgen.KindOf(err) != loadgen.KindRejected {
		t.Fatalf("validate after expiry: %v, want %s", err, loadgen.KindRejected)
	}

	// Revoke deletes; the token is refused from then on.
	if err := tg.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("key still there after revoke")
	}
	for _, bad := range []string{tok, "", "never-created"} {
		if err := tg.Validate(ctx, bad); loadgen.KindOf(err) != loadgen.KindRejected {
			t.Fatalf("validate %q: %v, want %s", bad, err, loadgen.KindRejected)
		}
	}
	if err := tg.Revoke(ctx, tok); loadgen.KindOf(err) != loadgen.KindRejected {
		t.Fatalf("second revoke: %v, want %s", err, loadgen.KindRejected)
	}
	// A key that idled out is refused.
	tok2, err := tg.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.PExpire(ctx, "sess:"+tok2, time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := tg.Validate(ctx, tok2); loadgen.KindOf(err) != loadgen.KindRejected {
		t.Fatalf("validate after idle: %v, want %s", err, loadgen.KindRejected)
	}
}

// TestCommonStoreRun drives the common-way store with the generator, in
// process and over HTTP through HTTPTarget, with revokes re-checked.
func TestCommonStoreRun(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	ts := httptest.NewServer(loadgen.CommonStoreHandler(rdb))
	t.Cleanup(ts.Close)
	for _, tg := range []loadgen.Target{
		&loadgen.CommonStoreTarget{Redis: rdb},
		&loadgen.HTTPTarget{Base: ts.URL, AdminToken: "any", Client: loadgen.NewHTTPClient(4, 10*time.Second)},
	} {
		res, err := loadgen.Run(t.Context(), loadgen.Options{
			Target: tg, Concurrency: 4, Duration: 300 * time.Millisecond, Sessions: 50, Zipf: 1.1,
			Mix: loadgen.Mix{Validate: 80, Create: 10, Revoke: 10},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, res)
		if res.Validate.OK == 0 || res.Create.OK == 0 || res.Revoke.OK == 0 || res.Total.Errors != 0 {
			t.Fatalf("%s: %+v", res.Target, res)
		}
		if res.RevokedAccepted != 0 || res.RevokedChecked == 0 {
			t.Fatalf("%s: revoked accepted %d, checked %d", res.Target, res.RevokedAccepted, res.RevokedChecked)
		}
	}
}

func TestCommonStoreHandlerStatuses(t *testing.T) {
	rs := redistest.Start(t)
	ts := httptest.NewServer(loadgen.CommonStoreHandler(rs.Client(t)))
	t.Cleanup(ts.Close)
	tg := &loadgen.HTTPTarget{Base: ts.URL, AdminToken: "any"}
	tok, err := tg.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := tg.Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := tg.Validate(t.Context(), tok); loadgen.KindOf(err) != loadgen.KindRejected {
		t.Fatalf("validate after revoke: %v", err)
	}
	if err := tg.Revoke(t.Context(), tok); loadgen.KindOf(err) != loadgen.KindRejected {
		t.Fatalf("revoke twice: %v", err)
	}
}
