package drill

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/studiohq/studio/internal/sleep"
)

// sentinelEvents records when Sentinels first reported each event about
// the drill's master. Safe for concurrent use.
type sentinelEvents struct {
	mu   sync.Mutex
	seen map[string][]int64 // event kind → unix ns of each report
}

// follow records c's +sdown, +odown and +switch-master events about
// master until ctx ends, then closes c. A hung Sentinel only stalls its
// own follower.
func (e *sentinelEvents) follow(ctx context.Context, c *redis.SentinelClient, master string) {
	defer c.Close()
	for ctx.Err() == nil {
		ps := c.Subscribe(ctx, "+sdown", "+odown", "+switch-master")
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, 500*time.Millisecond)
			if err != nil {
				if isTimeout(err) {
					continue
				}
				break
			}
			if m, ok := msg.(*redis.Message); ok && aboutMaster(m.Channel, m.Payload, master) {
				e.add(m.Channel, time.Now().UnixNano())
			}
		}
		_ = ps.Close()
		sleep.Ctx(ctx, 100*time.Millisecond)
	}
}

// aboutMaster reports whether an event payload concerns the master named
// master itself (not one of its replicas or Sentinels). +sdown/+odown
// payloads are "master <name> <ip> <port>"; +switch-master's is
// "<name> <old ip> <old port> <new ip> <new port>".
func aboutMaster(kind, payload, master string) bool {
	f := strings.Fields(payload)
	if kind == "+switch-master" {
		return len(f) == 5 && f[0] == master
	}
	return len(f) >= 4 && f[0] == "master" && f[1] == master
}

func (e *sentinelEvents) add(kind string, t int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string][]int64{}
	}
	e.seen[kind] = append(e.seen[kind], t)
}

// first returns the earliest report of kind at or after since, or 0.
func (e *sentinelEvents) first(kind string, since int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best int64
	for _, t := range e.seen[kind] {
		if t >= since && (best == 0 || t < best) {
			best = t
		}
	}
	return best
}

// last returns the latest report of kind at or after since, or 0.
func (e *sentinelEvents) last(kind string, since int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best int64
	for _, t := range e.seen[kind] {
		if t >= since {
			best = max(best, t)
		}
	}
	return best
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
