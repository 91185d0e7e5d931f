package redisconn

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeClients makes clients for one Sentinel or one data node at a time,
// with a Config's TLS material and timeouts: the HA watcher and the
// failover drill talk to each node on its own, not through the failover
// client. It is safe for concurrent use; the clients it returns are the
// caller's to close. They carry no hooks and never retry.
type NodeClients struct {
	tls               *TLS
	dial, read, write time.Duration
	user, pass        string // data nodes
	sUser, sPass      string // Sentinels
}

// NewNodeClients returns the NodeClients for c (c.TLS, or the TLS files
// loaded once).
func NewNodeClients(c Config) (*NodeClients, error) {
	t, err := c.tlsMaterial()
	if err != nil {
		return nil, err
	}
	n := &NodeClients{
		tls:   t,
		dial:  orDefault(c.DialTimeout, 500*time.Millisecond),
		read:  orDefault(c.ReadTimeout, 300*time.Millisecond),
		write: orDefault(c.WriteTimeout, 300*time.Millisecond),
		user:  c.Username, pass: c.Password,
		sUser: c.SentinelUsername, sPass: c.SentinelPassword,
	}
	return n, nil
}

// Sentinel returns a client for the Sentinel at addr (Sentinel TLS
// material when configured).
func (n *NodeClients) Sentinel(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(n.options(addr, true))
}

// Node returns a client for the data node at addr.
func (n *NodeClients) Node(addr string) *redis.Client {
	return redis.NewClient(n.options(addr, false))
}

func (n *NodeClients) options(addr string, sentinel bool) *redis.Options {
	user, pass := n.user, n.pass
	if sentinel {
		user, pass = n.sUser, n.sPass
	}
	return &redis.Options{
		DisableIdentity:          true,
		MaintNotificationsConfig: noMaint(),
		Addr:                     addr,
		Username:                 user,
		Password:                 pass,
		DialTimeout:              n.dial,
		ReadTimeout:              n.read,
		WriteTimeout:             n.write,
		MaxRetries:               -1,
		DialerRetries:            1,
		PoolSize:                 2,
		Dialer:                   n.tls.dialerFor(n.dial, func(string) bool { return sentinel }),
	}
}
