package faults_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
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

// countingServer accepts connections, echoes every line back and counts
// the connections it accepted.
func countingServer(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestProxyBlackhole: a black hole passes no byte and no close in either
// direction, refuses nothing, keeps new connections from the target until
// it ends, and then delivers what it held, in order.
func TestProxyBlackhole(t *testing.T) {
	addr, accepted := countingServer(t)
	p, err := faults.NewProxy(addr)
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
	roundTrip(t, c, r, "before")

	p.SetBlackhole(true)
	if !p.Blackholed() {
		t.Fatal("Blackholed() = false after SetBlackhole(true)")
	}
	if _, err := c.Write([]byte("held-1\nheld-2\n")); err != nil {
		t.Fatalf("write into the hole: %v (a partition refuses nothing)", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("read %q through the hole", line)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read through the hole: %v, want a timeout (no reset, no end)", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	// A connection made during the hole is accepted by the proxy but does
	// not reach the target; one that gives up first never does.
	gaveUp, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial during the hole: %v (a partition refuses nothing)", err)
	}
	_, _ = gaveUp.Write([]byte("never\n"))
	waiting, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	if _, err := waiting.Write([]byte("late\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	gaveUp.Close()
	time.Sleep(100 * time.Millisecond)
	if n := accepted(); n != 1 {
		t.Fatalf("the target accepted %d connections during the hole, want 1 (the one made before)", n)
	}

	p.SetBlackhole(false)
	for _, want := range []string{"held-1\n", "held-2\n"} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := r.ReadString('\n'); err != nil || got != want {
			t.Fatalf("after the hole: %q, %v; want %q", got, err, want)
		}
	}
	_ = waiting.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(waiting).ReadString('\n'); err != nil || got != "late\n" {
		t.Fatalf("the connection made during the hole: %q, %v; want its held line echoed", got, err)
	}
	roundTrip(t, c, r, "after")
	if n := accepted(); n != 2 {
		t.Errorf("the target accepted %d connections, want 2 (the one that gave up never reached it)", n)
	}
}

// TestProxyBlackholeHidesClose: an end that closes during the hole is not
// told to the other end until the hole ends.
func TestProxyBlackholeHidesClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := faults.NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p.SetBlackhole(true)
	srv.Close() // the server dies during the partition
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read a byte from a closed server through the hole")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read through the hole: %v; want a timeout: the close must not pass", err)
	}
	p.SetBlackhole(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection survived the server's close after the hole ended")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server's close was not delivered after the hole ended")
	}
}

// TestProxyCloseEndsBlackhole: Close returns while a hole holds bytes.
func TestProxyCloseEndsBlackhole(t *testing.T) {
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
	p.SetBlackhole(true)
	_, _ = c.Write([]byte("held\n"))
	pending, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while the hole held bytes")
	}
}
