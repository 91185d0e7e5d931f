package dashboard

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginThrottle slows down guessing of the admin token: each client
// address may fail to log in a few times in a burst, then once every
// failInterval. Successful logins cost nothing. It keeps at most
// maxClients addresses (the oldest are dropped), so a flood of addresses
// cannot grow it without bound. Safe for concurrent use.
type loginThrottle struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
	order   []string // insertion order, for dropping the oldest
}

const (
	failBurst    = 5
	failInterval = 12 * time.Second // 5 a minute once the burst is spent
	maxClients   = 4096
)

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{clients: map[string]*rate.Limiter{}}
}

func clientKey(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

func (t *loginThrottle) limiter(remoteAddr string) *rate.Limiter {
	k := clientKey(remoteAddr)
	l, ok := t.clients[k]
	if !ok {
		if len(t.order) >= maxClients {
			delete(t.clients, t.order[0])
			t.order = t.order[1:]
		}
		l = rate.NewLimiter(rate.Every(failInterval), failBurst)
		t.clients[k] = l
		t.order = append(t.order, k)
	}
	return l
}

// blocked reports whether remoteAddr has used up its failed attempts, and
// how long until its next one.
func (t *loginThrottle) blocked(remoteAddr string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.limiter(remoteAddr)
	if l.TokensAt(now) >= 1 {
		return false, 0
	}
	r := l.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return true, wait
}

// failed records a failed attempt from remoteAddr.
func (t *loginThrottle) failed(remoteAddr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limiter(remoteAddr).AllowN(now, 1)
}
