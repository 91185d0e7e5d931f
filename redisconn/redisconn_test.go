package redisconn_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
)

var bg = context.Background()

func TestOpenRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		c    redisconn.Config
		want string
	}{
		{"bad url", redisconn.Config{URL: "redis://user:hunter2secret@host:notaport"}, "malformed redis URL"},
		{"wrong scheme", redisconn.Config{URL: "http://user:hunter2secret@host:1"}, "malformed redis URL"},
		{"sentinel no master", redisconn.Config{Sentinels: []string{"a:1"}}, "needs a master name"},
		{"missing CA", redisconn.Config{URL: "rediss://h:1", CAFile: filepath.Join(dir, "nope.pem")}, "read redis CA file"},
		{"CA not PEM", redisconn.Config{URL: "rediss://h:1", CAFile: notPEM}, "holds no PEM certificate"},
		{"cert without key", redisconn.Config{URL: "rediss://h:1", CertFile: notPEM}, "must be given together"},
		{"bad key pair", redisconn.Config{URL: "rediss://h:1", CertFile: notPEM, KeyFile: notPEM}, "load redis client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := redisconn.Open(tc.c)
			if err == nil {
				rdb.Close()
				t.Fatal("Open accepted a bad config")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2secret") {
				t.Fatalf("error %q: want it to say %q and never quote the password", err, tc.want)
			}
		})
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		c    redisconn.Config
		mode string
	}{
		{redisconn.Config{URL: "redis://h:1"}, "standalone"},
		{redisconn.Config{Sentinels: []string{"a:1"}, MasterName: "m"}, "sentinel"},
		{redisconn.Config{Cluster: []string{"a:1"}}, "cluster"},
	} {
		if got := tc.c.Mode(); got != tc.mode {
			t.Errorf("%+v: mode %q, want %q", tc.c, got, tc.mode)
		}
		rdb, err := redisconn.Open(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		rdb.Close()
	}
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var transitions []string
	br := redisconn.NewBreaker(redisconn.BreakerOptions{
		FailureThreshold: 3,
		OpenTimeout:      200 * time.Millisecond,
		OnStateChange: func(from, to string) {
			mu.Lock()
			transitions = append(transitions, from+"->"+to)
			mu.Unlock()
		},
	})
	rdb, err := redisconn.Open(redisconn.Config{URL: srv.URL(), Breaker: br})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	// Misses, error replies and cancellations never trip it.
	for range 10 {
		if err := rdb.Get(bg, "missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing: %v", err)
		}
		if err := rdb.Do(bg, "NOSUCHCOMMAND").Err(); err == nil {
			t.Fatal("unknown command succeeded")
		}
		ctx, cancel := context.WithCancel(bg)
		cancel()
		rdb.Get(ctx, "k")
	}
	if br.State() != "closed" {
		t.Fatalf("state %s after misses and error replies, want closed", br.State())
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := rdb.Get(bg, "k").Err(); err == nil || errors.Is(err, redisconn.ErrCircuitOpen) {
			t.Fatalf("command %d with redis down: %v, want a network error", i, err)
		}
	}
	if br.State() != "open" {
		t.Fatalf("state %s after 3 failures, want open", br.State())
	}
	start := time.Now()
	err = rdb.Get(bg, "k").Err()
	if !errors.Is(err, redisconn.ErrCircuitOpen) {
		t.Fatalf("open breaker: %v, want ErrCircuitOpen", err)
	}
	// The refusal names the failure that opened the breaker, and is not
	// itself a network error or a timeout.
	if !strings.Contains(err.Error(), "last failure: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("open breaker: %q does not name the last failure (connection refused)", err)
	}
	if ne := net.Error(nil); errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("open breaker: %v unwraps to the old failure", err)
	}
	t.Logf("refused in %v while open", time.Since(start))
	if _, err := rdb.Pipelined(bg, func(p redis.Pipeliner) error { p.Get(bg, "a"); p.Get(bg, "b"); return nil }); !errors.Is(err, redisconn.ErrCircuitOpen) {
		t.Fatalf("pipeline while open: %v", err)
	}

	if err := srv.Restart(bg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for br.State() != "closed" {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never closed after redis came back (state %s)", br.State())
		}
		rdb.Ping(bg) // a probe once half-open
		time.Sleep(20 * time.Millisecond)
	}
	if err := rdb.Set(bg, "k", "v", 0).Err(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(transitions, " "); !strings.HasPrefix(got, "closed->open") || !strings.HasSuffix(got, "half-open->closed") {
		t.Fatalf("transitions %q", got)
	}
}
