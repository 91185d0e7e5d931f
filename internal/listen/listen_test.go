package listen

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// serve runs an http.Server on a Limiter of n connections.
func serve(t *testing.T, n int) (*Limiter, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := Limit(ln, n)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute, // longer than the test: only the Limiter closes idle connections
		ConnState:         lim.ConnState,
	}
	go srv.Serve(lim)
	t.Cleanup(func() { srv.Close() })
	return lim, ln.Addr().String()
}

// idleConn opens a connection, makes one keep-alive request on it and
// leaves it open and idle.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request on a fresh connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Time{})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLimitEvictsIdle: with the cap taken by idle keep-alive connections,
// new connections are served at once, the longest idle being closed to
// make room; open connections never exceed the cap.
func TestLimitEvictsIdle(t *testing.T) {
	lim, addr := serve(t, 4)
	var first []net.Conn
	for range 4 {
		first = append(first, idleConn(t, addr))
	}
	time.Sleep(20 * time.Millisecond)
	for i := range 20 {
		start := time.Now()
		idleConn(t, addr)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("request %d over a full cap of idle connections took %v", i, d)
		}
		if n := lim.Open(); n > 4 {
			t.Fatalf("%d connections open, cap 4", n)
		}
	}
	if lim.Evicted() < 20 {
		t.Fatalf("%d idle connections closed, want at least 20", lim.Evicted())
	}
	// The oldest idle connections were the ones closed.
	first[0].SetReadDeadline(time.Now().Add(time.Second))
	if _, err := first[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("the longest-idle connection is still open")
	}
}

// TestLimitWaitsForBusy: at the cap with no idle connection, a new
// connection waits until one ends, then is served.
func TestLimitWaitsForBusy(t *testing.T) {
	lim, addr := serve(t, 2)
	var busy []net.Conn
	for range 2 { // connected, request not finished: not idle
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		busy = append(busy, c)
		defer c.Close()
	}
	time.Sleep(50 * time.Millisecond)
	var served atomic.Bool
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			resp.Body.Close()
			served.Store(true)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if served.Load() || lim.Open() != 2 {
		t.Fatalf("served past a cap of busy connections (open %d)", lim.Open())
	}
	busy[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for !served.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !served.Load() {
		t.Fatal("not served after a busy connection ended")
	}
}

// TestCertificateRotation: a TLS listener with the Certificate serves the
// files' certificate; replacing the files (a new certificate from the
// same CA) is picked up by Run without a restart; a bad file keeps the
// current one.
func TestCertificateRotation(t *testing.T) {
	p := redistest.NewPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, p.ServerCert, certFile)
	copyFile(t, p.ServerKey, keyFile)
	c, err := LoadCertificate(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	ctx := t.Context()
	go c.Run(ctx, 20*time.Millisecond)
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	serial := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11}); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	newCert, newKey, err := p.CA.IssueFiles(t.TempDir(), "rotated", redistest.CertSpec{CommonName: "rotated", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, newKey, keyFile)
	copyFile(t, newCert, certFile)
	deadline := time.Now().Add(5 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := serial()
	if err := os.WriteFile(certFile, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if serial() != after {
		t.Fatal("a bad file replaced the certificate in use")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
