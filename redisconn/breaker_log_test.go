package redisconn

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestBreakerLogsAnOutageInAFewLines drives a breaker through a
// 60-second outage on a fake clock (the real open timeout is 1 ms, so the
// half-open probes happen hundreds of times) with commands arriving all
// along, then a recovery: one line when it opens, naming the failure, a
// summary every 30 s, one line when it closes — fewer than 10 in all.
func TestBreakerLogsAnOutageInAFewLines(t *testing.T) {
	var fake atomic.Int64
	fake.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, fake.Load()) }
	out := &syncBuffer{}
	var transitions atomic.Int64
	b := NewBreaker(BreakerOptions{
		OpenTimeout: time.Millisecond,
		Logger:      slog.New(slog.NewJSONHandler(out, nil)),
		Now:         now,
		OnStateChange: func(from, to string) {
			transitions.Add(1)
		},
	})
	var down atomic.Bool
	down.Store(true)
	refusedConn := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused", Addr: "127.0.0.1:6379"}}
	hook := b.ProcessHook(func(context.Context, redis.Cmder) error {
		if down.Load() {
			return refusedConn
		}
		return nil
	})
	ctx := context.Background()
	cmd := func() error { return hook(ctx, redis.NewCmd(ctx, "get", "k")) }

	// 61 s of outage in 10 ms steps; every 20 steps a real pause longer
	// than the open timeout lets a probe through (which fails).
	for i := range 6100 {
		fake.Add(int64(10 * time.Millisecond))
		_ = cmd()
		if i%20 == 0 {
			time.Sleep(1100 * time.Microsecond)
		}
	}
	refusedDuring := b.Refused()
	down.Store(false)
	for deadline := time.Now().Add(5 * time.Second); b.State() != "closed" && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		_ = cmd()
	}
	if b.State() != "closed" {
		t.Fatalf("the breaker did not close: %s", b.State())
	}

	lines := out.lines(t)
	t.Logf("%d state changes, %d commands refused, %d log lines", transitions.Load(), refusedDuring, len(lines))
	if transitions.Load() < 100 {
		t.Fatalf("only %d state changes: the outage did not exercise the probes", transitions.Load())
	}
	if len(lines) >= 10 {
		t.Fatalf("%d lines for a 60 s outage, want fewer than 10", len(lines))
	}
	var msgs []string
	for _, l := range lines {
		msgs = append(msgs, l["msg"].(string))
	}
	first, last := lines[0], lines[len(lines)-1]
	if !strings.HasPrefix(msgs[0], "redis circuit breaker opened") || first["level"] != "WARN" || !strings.Contains(first["error"].(string), "connection refused") {
		t.Errorf("first line %v", first)
	}
	if msgs[len(msgs)-1] != "redis circuit breaker closed" || last["level"] != "INFO" || last["open_for"].(float64) < float64(59*time.Second) || last["refused"].(float64) < float64(refusedDuring)-1 {
		t.Errorf("last line %v (refused during the outage: %d)", last, refusedDuring)
	}
	summaries := 0
	for i, l := range lines[1 : len(lines)-1] {
		if msgs[i+1] != "redis circuit breaker still open" || !strings.Contains(l["error"].(string), "connection refused") || l["refused"].(float64) == 0 {
			t.Errorf("middle line %v", l)
		}
		summaries++
	}
	if summaries != 2 {
		t.Errorf("%d summaries in 60 s at one per 30 s, want 2: %v", summaries, msgs)
	}
}

// TestBreakerResetLogsTheClose: a Reset (a new master announced) closes
// the breaker with its closing line.
func TestBreakerResetLogsTheClose(t *testing.T) {
	out := &syncBuffer{}
	b := NewBreaker(BreakerOptions{Logger: slog.New(slog.NewJSONHandler(out, nil))})
	failing := b.ProcessHook(func(context.Context, redis.Cmder) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: &net.AddrError{Err: "reset", Addr: "127.0.0.1:1"}}
	})
	for range 6 {
		_ = failing(context.Background(), redis.NewCmd(context.Background(), "get", "k"))
	}
	b.Reset()
	lines := out.lines(t)
	if len(lines) != 2 || lines[1]["msg"] != "redis circuit breaker closed" || lines[1]["refused"].(float64) != 1 {
		t.Fatalf("lines %v", lines)
	}
}
