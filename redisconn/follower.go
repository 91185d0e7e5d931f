package redisconn

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterFollower shortens a Sentinel failover for Studio's client. go-redis
// asks one Sentinel for the master; after a failover only the Sentinel
// that led it names the new master at once, and the others learn it from
// the leader's hello messages, which they exchange every 2 s. The failover
// drill measured the last Sentinel agreeing about 1 s after the first
// announced the switch, and writes waiting for exactly that.
//
// A MasterFollower listens for +switch-master on every configured Sentinel
// and remembers the latest switch. The client's dialer (Config.Follower)
// then sends a dial meant for the old master to the new one. A switch is
// announced only after a failover a majority of Sentinels authorised, so
// following the first announcement is safe; only the latest switch is
// followed, so a later failover back to the old node is not undone.
//
// Run must be running for it to learn anything; without it the dialer
// behaves as plain go-redis. Safe for concurrent use.
type MasterFollower struct {
	nodes      *NodeClients
	sentinels  []string
	masterName string
	log        *slog.Logger
	onSwitch   func(from, to string)

	mu       sync.Mutex
	from, to string // the latest switch seen; empty before one
	switched time.Time
}

// NewMasterFollower returns a follower for c's Sentinels and master name.
// log may be nil. c.Breaker, if set, is reset on every switch, so the
// first command goes to the new master at once rather than after the
// breaker's open timeout.
func NewMasterFollower(c Config, log *slog.Logger) (*MasterFollower, error) {
	if c.Mode() != "sentinel" || c.MasterName == "" {
		return nil, errors.New("redis master follower needs Sentinel mode with a master name")
	}
	nodes, err := NewNodeClients(c)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &MasterFollower{nodes: nodes, sentinels: c.Sentinels, masterName: c.MasterName, log: log}
	if c.Breaker != nil {
		f.onSwitch = func(string, string) { c.Breaker.Reset() }
	}
	return f, nil
}

// Run listens on every Sentinel until ctx ends, resubscribing to a
// Sentinel whose connection drops or hangs; one hung Sentinel does not
// delay what the others announce.
func (f *MasterFollower) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, addr := range f.sentinels {
		wg.Add(1)
		go func() { defer wg.Done(); f.listen(ctx, addr) }()
	}
	wg.Wait()
}

func (f *MasterFollower) listen(ctx context.Context, addr string) {
	c := f.nodes.Sentinel(addr)
	defer c.Close()
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := c.Subscribe(ctx, "+switch-master")
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, time.Second)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					// Silence: check the Sentinel still answers, so a
					// frozen one is left for a fresh connection.
					if ps.Ping(ctx) == nil {
						continue
					}
				}
				break
			}
			wait = 100 * time.Millisecond
			if m, ok := msg.(*redis.Message); ok {
				f.observe(addr, m.Payload)
			}
		}
		_ = ps.Close()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, 2*time.Second)
	}
}

// observe records a +switch-master payload: "<name> <old ip> <old port>
// <new ip> <new port>".
func (f *MasterFollower) observe(sentinel, payload string) {
	p := strings.Fields(payload)
	if len(p) != 5 || p[0] != f.masterName {
		return
	}
	from, to := net.JoinHostPort(p[1], p[2]), net.JoinHostPort(p[3], p[4])
	f.mu.Lock()
	if f.from == from && f.to == to {
		f.mu.Unlock()
		return // the same switch, from another Sentinel
	}
	f.from, f.to, f.switched = from, to, time.Now()
	f.mu.Unlock()
	f.log.Info("redis master switch announced; following it", "from", from, "to", to, "sentinel", sentinel)
	if f.onSwitch != nil {
		f.onSwitch(from, to)
	}
}

// followFor is how long a switch is followed: by then every Sentinel
// names the new master, and the old one may be back as a replica that
// replica reads should reach.
const followFor = 30 * time.Second

// Redirect returns the address to dial for a data-node dial to addr: the
// new master when addr is the master the latest switch (in the last 30 s)
// replaced, else addr.
func (f *MasterFollower) Redirect(addr string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.from != "" && addr == f.from && time.Since(f.switched) < followFor {
		return f.to
	}
	return addr
}
