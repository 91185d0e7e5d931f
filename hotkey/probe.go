package hotkey

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// NativeProbe keeps the server's own hot-key view (Native) fresh for the
// health Snapshot. Its methods are safe for concurrent use; the zero value
// is not usable: use NewNativeProbe.
type NativeProbe struct {
	rdb   redis.UniversalClient
	every time.Duration
	v     atomic.Pointer[NativeView]
}

// NewNativeProbe returns a probe that asks rdb every interval (30 s when
// interval is 0) once Run starts.
func NewNativeProbe(rdb redis.UniversalClient, interval time.Duration) *NativeProbe {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	return &NativeProbe{rdb: rdb, every: interval}
}

// Run asks the server at once and then every interval, each time for at
// most 2 s, until ctx ends. A failed probe keeps the last view.
func (p *NativeProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if v, err := Native(qctx, p.rdb); err == nil {
			p.v.Store(&v)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// View returns the last view, or nil before the first probe answered.
func (p *NativeProbe) View() *NativeView { return p.v.Load() }

// KeyObserver is what counts key accesses: a Detector, or a filter in
// front of one.
type KeyObserver interface {
	ObserveKey(key string)
}

// Ignoring returns a KeyObserver that passes every key to next except those
// starting with one of prefixes: the bookkeeping keys Studio's own
// packages keep in Redis, which are not what an operator looks for among
// hot keys nor what a hot-key alert is about.
func Ignoring(next KeyObserver, prefixes ...string) KeyObserver {
	return ignoring{next: next, prefixes: prefixes}
}

type ignoring struct {
	next     KeyObserver
	prefixes []string
}

func (f ignoring) ObserveKey(key string) {
	for _, p := range f.prefixes {
		if strings.HasPrefix(key, p) {
			return
		}
	}
	f.next.ObserveKey(key)
}
