package hotkey

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/redisconn"
)

// NativeProbe keeps the server's own hot-key view (Native) fresh for the
// health Snapshot. Its methods are safe for concurrent use; the zero value
// is not usable: use NewNativeProbe.
//
// It asks whether the server has the HOTKEYS command once per server
// identity (its run_id: a restart or a failover to another server is a new
// identity) with COMMAND INFO, which answers for an unknown command
// without an error, and sends HOTKEYS GET only to a server that has it.
// Its commands run under redisconn.WithoutInstrumentation: a probe is
// never a Redis error, a span or a hot-key access.
type NativeProbe struct {
	rdb   redis.UniversalClient
	every time.Duration
	v     atomic.Pointer[NativeView]

	// Owned by Run's goroutine: the identity last probed, whether it has
	// HOTKEYS, and whether a probe has answered.
	runID     string
	supported bool
	probed    bool
	// probes counts COMMAND INFO probes (tests).
	probes atomic.Int64
}

// NewNativeProbe returns a probe that asks rdb every interval (30 s when
// interval is 0) once Run starts.
func NewNativeProbe(rdb redis.UniversalClient, interval time.Duration) *NativeProbe {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	return &NativeProbe{rdb: rdb, every: interval}
}

// Run probes at once and then every interval, each round for at most 2 s,
// until ctx ends. A round reads the server's run_id (INFO server); when it
// differs from the last one probed it asks COMMAND INFO HOTKEYS; when the
// server has the command it reads HOTKEYS GET. A round that fails keeps
// the last view and probes again next time.
func (p *NativeProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(redisconn.WithoutInstrumentation(ctx), 2*time.Second)
		p.round(qctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round is one probe; see Run.
func (p *NativeProbe) round(ctx context.Context) {
	info, err := p.rdb.Info(ctx, "server").Result()
	if err != nil && !isErrorReply(err) {
		return // unreachable: keep the last view
	}
	runID := infoField(info, "run_id")
	if !p.probed || runID == "" || runID != p.runID {
		p.probes.Add(1)
		supported, err := HasCommand(ctx, p.rdb, "hotkeys")
		if err != nil && !isErrorReply(err) {
			return
		}
		p.runID, p.supported, p.probed = runID, supported, true
		if !supported {
			reason := "unavailable on this server: HOTKEYS needs Redis 8.6+ or Valkey 9.2+"
			if v := infoField(info, "redis_version"); v != "" {
				reason += " (this is " + v + ")"
			}
			if err != nil {
				reason = "unavailable: COMMAND INFO was refused: " + err.Error()
			}
			p.v.Store(&NativeView{Available: false, Reason: reason})
		}
	}
	if p.supported {
		if v, err := Native(ctx, p.rdb); err == nil {
			p.v.Store(&v)
		}
	}
}

// View returns the last view, or nil before the first probe answered.
func (p *NativeProbe) View() *NativeView { return p.v.Load() }

// HasCommand reports whether the server rdb reaches knows the command
// name, with COMMAND INFO, which answers nil for an unknown command
// rather than an error. Its error is the reply's or the connection's.
func HasCommand(ctx context.Context, rdb redis.UniversalClient, name string) (bool, error) {
	v, err := rdb.Do(ctx, "command", "info", name).Slice()
	if err != nil {
		return false, fmt.Errorf("command info %s: %w", name, err)
	}
	return len(v) == 1 && v[0] != nil, nil
}

// infoField returns the value of field in INFO text, or "".
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), field+":"); ok {
			return v
		}
	}
	return ""
}

// isErrorReply reports whether err is the server's error reply (as
// opposed to a network failure or a timeout).
func isErrorReply(err error) bool {
	var re redis.Error
	var ne net.Error
	return err != nil && errors.As(err, &re) && !errors.As(err, &ne) && !errors.Is(err, redis.Nil)
}

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
