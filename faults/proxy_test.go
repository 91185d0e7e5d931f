package faults_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/internal/redistest"
)

// echoServer accepts connections and echoes every line back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one line through c and times the echo.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if got != line+"\n" {
		t.Fatalf("echo %q, want %q", got, line)
	}
	return time.Since(start)
}

func TestProxyForwardsAndDelays(t *testing.T) {
	p, err := faults.NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)

	base := roundTrip(t, c, r, "hello")
	p.SetDelay(100 * time.Millisecond)
	if p.Delay() != 100*time.Millisecond {
		t.Fatalf("Delay() = %s", p.Delay())
	}
	slow := roundTrip(t, c, r, "slow")
	p.SetDelay(0)
	fast := roundTrip(t, c, r, "fast")
	t.Logf("round trips: %s before, %s with 100 ms each way, %s after", base, slow, fast)
	// Only lower bounds: a delay can only add time, and a busy machine
	// adds more.
	if slow < 200*time.Millisecond {
		t.Errorf("round trip with 100 ms each way took %s; want at least 200 ms", slow)
	}

	// Bytes keep their order across many small writes.
	p.SetDelay(time.Millisecond)
	for i := range 50 {
		roundTrip(t, c, r, string(rune('a'+i%26)))
	}
	p.SetDelay(-time.Second)
	if p.Delay() != 0 {
		t.Errorf("negative delay stored as %s", p.Delay())
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	p, err := faults.NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, bufio.NewReader(c), "x")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the proxied connection survived Close")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("a closed proxy accepted a connection")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The proxy carries real Redis traffic.
func TestProxyRedis(t *testing.T) {
	rs := redistest.Start(t)
	p, err := faults.NewProxy(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rdb := rs.Client(t, func(o *redis.Options) { o.Addr = p.Addr() })
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET through the proxy: %q, %v", v, err)
	}
}
