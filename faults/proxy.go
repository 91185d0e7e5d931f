// Package faults holds what Studio's fault-injection suite needs besides
// the real servers it starts: a TCP proxy that slows a link down or cuts
// it without a word (a partition). The
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
// their order. SetBlackhole cuts the link as a network partition does
// (see there). A Proxy is safe for concurrent use; Close stops it.
type Proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds, per direction

	holeMu sync.Mutex
	hole   chan struct{} // non-nil while black-holed; closed when the hole ends
	done   chan struct{} // closed by Close

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
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}), done: make(chan struct{})}
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

// SetBlackhole(true) cuts the link the way a network partition does: no
// byte passes in either direction and nothing is refused or reset.
// Connections stay open at both ends; what either end sends is held, in
// order, and an end that closes is not told to the other. New
// connections are accepted but reach the target only when the hole ends
// (a client that gives up first never reaches it, as a connection whose
// SYN was lost). SetBlackhole(false) ends the hole: held bytes, then held
// closes, are delivered, as TCP retransmission delivers them when a
// partition heals. Delays still apply on top.
func (p *Proxy) SetBlackhole(on bool) {
	p.holeMu.Lock()
	defer p.holeMu.Unlock()
	switch {
	case on && p.hole == nil:
		p.hole = make(chan struct{})
	case !on && p.hole != nil:
		close(p.hole)
		p.hole = nil
	}
}

// Blackholed reports whether the link is cut (SetBlackhole).
func (p *Proxy) Blackholed() bool {
	p.holeMu.Lock()
	defer p.holeMu.Unlock()
	return p.hole != nil
}

// waitOpen blocks while the link is black-holed. It returns false when
// the proxy is closed meanwhile.
func (p *Proxy) waitOpen() bool {
	p.holeMu.Lock()
	h := p.hole
	p.holeMu.Unlock()
	if h == nil {
		return true
	}
	select {
	case <-h:
		return true
	case <-p.done:
		return false
	}
}

// Close stops accepting, closes every proxied connection (both ends) and
// waits for the proxy's goroutines to end, releasing what a black hole
// holds. Calls after the first return nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
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
// While the link is black-holed the dial waits, holding what the client
// sends; a client that goes away meanwhile never reaches the target.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	defer client.Close()
	held, ok := p.holdUntilOpen(client)
	if !ok {
		return
	}
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
	if len(held) > 0 {
		if _, err := server.Write(held); err != nil {
			return
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

// holdUntilOpen waits while the link is black-holed, reading what client
// sends meanwhile. ok is false when the client went away (or the proxy
// closed) before the hole ended.
func (p *Proxy) holdUntilOpen(client net.Conn) (held []byte, ok bool) {
	if !p.Blackholed() {
		return nil, true
	}
	buf := make([]byte, 32<<10)
	for p.Blackholed() {
		select {
		case <-p.done:
			return nil, false
		default:
		}
		_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := client.Read(buf)
		held = append(held, buf[:n]...)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return nil, false
		}
	}
	_ = client.SetReadDeadline(time.Time{})
	return held, true
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk held until the delay in force when it
// was read has passed, and while the link is black-holed. When either
// side fails both are closed, which ends the other direction too; a
// black hole holds that back as well.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if w := time.Until(c.due); w > 0 {
				time.Sleep(w)
			}
			if !p.waitOpen() {
				_ = src.Close()
				for range q {
				}
				return
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
	if !p.waitOpen() {
		_ = dst.Close()
		return
	}
	// Pass the end on: a clean end as a half-close, anything else (a
	// reset, Close) as a full close.
	if tc, ok := dst.(*net.TCPConn); ok && errors.Is(rerr, io.EOF) {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}
