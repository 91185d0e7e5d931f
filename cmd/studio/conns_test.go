package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// openIdle opens a connection to addr, makes one keep-alive request on it
// and leaves it open and idle. It returns nil if the server closed the
// connection first (the cap made room).
func openIdle(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: studio\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a request on a fresh connection during the flood: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c
}

// vmRSS is this process's resident set size in KiB (0 when unknown).
func vmRSS() int {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// TestIdleConnectionFlood: a flood of idle keep-alive connections, five
// times STUDIO_MAX_CONNS, neither holds more than the cap open (the
// server's goroutines stay bounded) nor keeps a validation out: each new
// connection closes the longest-idle one, so validations on fresh
// connections during the flood are answered at once.
func TestIdleConnectionFlood(t *testing.T) {
	const maxConns, flood = 64, 320
	rs := redistest.Start(t)
	const admin = "conn-admin-6f1b3d5a7c9e2f4a6b8d0c1e3f5a7b9d2c4e6f8a0b1d3c5e"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN": admin, "REDIS_URL": rs.URL(), "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"STUDIO_MAX_CONNS": strconv.Itoa(maxConns), "STUDIO_WARM_ON_START": "false",
	})
	tok := createToken(t, srv.base, admin, "flood")
	addr := strings.TrimPrefix(srv.base, "http://")
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	g0, rss0 := runtime.NumGoroutine(), vmRSS()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var slowest time.Duration
	for i := range flood {
		conns = append(conns, openIdle(t, addr))
		if i%16 != 15 {
			continue
		}
		req, _ := http.NewRequest("GET", srv.base+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := fresh.Do(req)
		if err != nil {
			t.Fatalf("validation during the flood (%d idle connections opened): %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("validation during the flood: %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(start))
	}
	time.Sleep(200 * time.Millisecond)
	g1, rss1 := runtime.NumGoroutine(), vmRSS()
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	t.Logf("%d idle connections against a cap of %d: server closed %d; goroutines %d → %d; RSS %d → %d KiB (client side included); slowest validation %v",
		flood, maxConns, closed, g0, g1, rss0, rss1, slowest)
	if g1-g0 > maxConns+16 {
		t.Fatalf("goroutines grew by %d with %d idle connections, want at most the cap (%d) and a few", g1-g0, flood, maxConns)
	}
	if closed < flood-maxConns {
		t.Fatalf("the server closed %d of %d idle connections, want at least %d (all but the cap)", closed, flood, flood-maxConns)
	}
	if slowest > 3*time.Second {
		t.Fatalf("a validation during the flood took %v", slowest)
	}
}
