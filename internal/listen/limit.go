package listen

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter caps the connections open through a listener. At the cap, a
// new connection makes room by closing the connection idle for longest
// (a keep-alive connection between requests), so idle connections can
// never keep a new client out; only when none is idle does Accept wait
// for a connection to end (the server's header, read and write timeouts
// bound how long). Closing an idle connection is what its idle timeout
// would have done a little later: a client sending on it at that very
// moment sees the connection closed, as with any keep-alive timeout.
//
// Set the http.Server's ConnState to the Limiter's, so it knows which
// connections are idle. Safe for concurrent use.
type Limiter struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	idle map[*limitedConn]time.Time // since when each idle connection is

	evicted atomic.Uint64
}

// Limit returns ln capped at n open connections (at least 1).
func Limit(ln net.Listener, n int) *Limiter {
	return &Limiter{
		Listener: ln,
		slots:    make(chan struct{}, max(n, 1)),
		done:     make(chan struct{}),
		idle:     map[*limitedConn]time.Time{},
	}
}

// Accept waits for a connection, then for a slot: at the cap it closes
// the longest-idle connection, or waits for one to end.
func (l *Limiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		default:
		}
		if l.evictIdle() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		case <-time.After(50 * time.Millisecond): // a connection may have gone idle
		}
	}
}

// Close closes the listener; open connections stay open.
func (l *Limiter) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is the number of connections open through the Limiter.
func (l *Limiter) Open() int { return len(l.slots) }

// Evicted counts the idle connections closed to make room.
func (l *Limiter) Evicted() uint64 { return l.evicted.Load() }

// ConnState records which connections are idle; set it as the
// http.Server's ConnState (calling any other hook from there).
func (l *Limiter) ConnState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[lc] = time.Now()
	} else {
		delete(l.idle, lc)
	}
}

// evictIdle closes the connection idle for longest and reports whether
// there was one.
func (l *Limiter) evictIdle() bool {
	l.mu.Lock()
	var oldest *limitedConn
	var at time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	l.evicted.Add(1)
	oldest.Close()
	return true
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l    *Limiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
