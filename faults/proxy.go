// Package faults holds what Studio's fault-injection suite needs besides
// the real servers it starts: a TCP proxy that slows a link down. The
// suite itself (faults_test) kills, stops, pauses, fills and slows the
// Redis and PostgreSQL processes a session.Service depends on, under load,
// and checks that no acknowledged session is lost and no revoked session
// is accepted; docs/RELIABILITY.md gives the figures it measured.
package faults

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy on loopback that forwards every connection it
// accepts to a target address, holding each chunk of bytes for a delay
// in each direction before passing it on (so a request/response round
// trip costs twice the delay). The delay can be changed at any time with
// SetDelay; it applies to bytes read after the change, and bytes keep
// their order. A Proxy is safe for concurrent use; Close stops it.
type Proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds, per direction

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 on a free port and forwards connections
// to target (host:port) with no delay until SetDelay is called.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faults: proxy listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the host:port clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay sets the delay added to each direction of every connection.
// Negative means zero.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(max(d, 0))) }

// Delay returns the current per-direction delay.
func (p *Proxy) Delay() time.Duration { return time.Duration(p.delay.Load()) }

// Close stops accepting, closes every proxied connection (both ends) and
// waits for the proxy's goroutines to end. Calls after the first return
// nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c so Close can close it; false means the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve dials the target for one client connection and pipes both ways.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk held until the delay in force when it
// was read has passed. When either side fails both are closed, which ends
// the other direction too.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if w := time.Until(c.due); w > 0 {
				time.Sleep(w)
			}
			if _, err := dst.Write(c.b); err != nil {
				_ = src.Close()
				for range q { // drain so the reader never blocks
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	var rerr error
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b := make([]byte, n)
			copy(b, buf[:n])
			q <- chunk{b: b, due: time.Now().Add(p.Delay())}
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(q)
	<-done
	// Pass the end on: a clean end as a half-close, anything else (a
	// reset, Close) as a full close.
	if tc, ok := dst.(*net.TCPConn); ok && errors.Is(rerr, io.EOF) {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}
