package redisconn

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pair returns a connected loopback pair: the client end wrapped as a
// certAskedConn, and the server end.
func pair(t *testing.T, sent bool) (*certAskedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return &certAskedConn{Conn: c, sent: sent}, s
}

// TestCertAskedConnNamesOnlyEarlyFailures: a close by the server before
// its first reply is blamed on the certificate (and still is io.EOF for
// go-redis's retries); after a reply, a timeout, or the client's own close
// are not.
func TestCertAskedConnNamesOnlyEarlyFailures(t *testing.T) {
	buf := make([]byte, 8)
	t.Run("server closes before replying, certificate sent", func(t *testing.T) {
		c, s := pair(t, true)
		s.Close()
		_, err := c.Read(buf)
		if !errors.Is(err, ErrClientCertRejected) || !errors.Is(err, io.EOF) {
			t.Fatalf("got %v, want ErrClientCertRejected wrapping io.EOF", err)
		}
	})
	t.Run("server closes before replying, none sent", func(t *testing.T) {
		c, s := pair(t, false)
		s.Close()
		if _, err := c.Read(buf); !errors.Is(err, ErrClientCertRequired) {
			t.Fatalf("got %v, want ErrClientCertRequired", err)
		}
	})
	t.Run("server closes after replying", func(t *testing.T) {
		c, s := pair(t, true)
		if _, err := s.Write([]byte("+OK\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := c.Read(buf); !errors.Is(err, io.EOF) || errors.Is(err, ErrClientCertRejected) {
			t.Fatalf("got %v, want a bare io.EOF", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c, _ := pair(t, true)
		if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		var ne net.Error
		if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, ErrClientCertRejected) {
			t.Fatalf("got %v, want a bare timeout", err)
		}
	})
	t.Run("client closed it", func(t *testing.T) {
		c, _ := pair(t, true)
		c.Close()
		if _, err := c.Write([]byte("PING")); !errors.Is(err, net.ErrClosed) || errors.Is(err, ErrClientCertRejected) {
			t.Fatalf("got %v, want a bare net.ErrClosed", err)
		}
	})
}
