// Package redisconn opens go-redis clients from Studio's settings: a single
// node by URL, a Sentinel-managed master, or a Cluster, with short timeouts
// so a hung node is abandoned quickly.
package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Config says where Redis is. Exactly one of URL, Sentinels or Cluster
// chooses the mode (Sentinels wins over Cluster, which wins over URL).
type Config struct {
	// URL is redis://[user:password@]host:port[/db] or rediss://… for TLS.
	URL string
	// Sentinels are host:port addresses; MasterName is required with them.
	Sentinels  []string
	MasterName string
	// Cluster are host:port seed addresses of a Redis Cluster.
	Cluster []string

	// Username and Password authenticate to the data nodes in every mode
	// (ACL user, or requirepass with no Username). In URL mode they
	// replace the URL's user-info; the caller refuses both at once.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the Sentinels
	// (their requirepass), which is separate from the data nodes'.
	SentinelUsername, SentinelPassword string

	// TLS material (PEM files). A CA file replaces the system roots; a
	// certificate and key enable mutual TLS. Setting any TLS field enables
	// TLS for Sentinel and Cluster modes; URL mode needs rediss:// (a
	// redis:// URL with TLS settings is refused). The server certificate is
	// always verified (TLS 1.2 minimum) unless TLSInsecureSkipVerify is set.
	CAFile, CertFile, KeyFile string
	// TLSServerName, if set, is the name the server certificate must carry
	// (and the SNI sent) instead of the host dialled.
	TLSServerName string
	// TLSInsecureSkipVerify turns server-certificate verification off. For
	// development only; see InsecureTLS.
	TLSInsecureSkipVerify bool
	// Sentinel-specific TLS material. When none is set, Sentinel connections
	// use the data-node settings above. Only the addresses listed in
	// Sentinels get these (not Sentinels discovered at run time).
	SentinelCAFile, SentinelCertFile, SentinelKeyFile string
	// TLS, if set (from NewTLS with this Config), supplies rotating TLS
	// material. If nil, Open loads the files once.
	TLS *TLS

	// ReadReplicas asks OpenReader for a client that sends read-only
	// commands to replicas (Sentinel and Cluster modes only).
	ReadReplicas bool

	// Timeouts; zero means the default in parentheses.
	DialTimeout  time.Duration // 500ms
	ReadTimeout  time.Duration // 300ms
	WriteTimeout time.Duration // 300ms
	// PoolSize is the most connections per node (100). go-redis counts
	// failed dials over the pool's life and, once they reach PoolSize,
	// fails every dial at once until a background probe, run once a
	// second, gets through: after a failover that probe, not the
	// Sentinels, would set when writes resume (the drill measured about
	// 1 s). A larger pool gives a larger budget of failed dials; idle
	// connections are not kept open for it.
	PoolSize int
	// MaxRetries is how often a command is retried after a network error
	// (1); negative disables retries.
	MaxRetries int

	// Follower, if set (Sentinel mode), redirects dials for a master that
	// a Sentinel has just announced replaced (see MasterFollower). Its Run
	// is the caller's to start.
	Follower *MasterFollower

	// Instrumentation, if set, observes every command (spans, metrics,
	// logs). It is installed before Breaker, so it also sees the commands
	// the breaker refuses.
	Instrumentation *Instrumentation
	// Availability, if set, is told how every command of Open's client
	// ended (the master's availability as Studio sees it; see
	// AvailabilityObserver). OpenReader's client does not tell it: a
	// replica answering says nothing of the master. Like Instrumentation
	// it sees the commands the breaker refuses.
	Availability AvailabilityObserver
	// Breaker, if set, wraps every command: while it is open, commands fail
	// at once with ErrCircuitOpen instead of waiting on a dead server.
	Breaker *Breaker
}

// Mode names the topology a Config selects.
func (c Config) Mode() string {
	switch {
	case len(c.Sentinels) > 0:
		return "sentinel"
	case len(c.Cluster) > 0:
		return "cluster"
	}
	return "standalone"
}

// Open returns a client for the configured topology. It does not contact
// Redis; the first command does.
func Open(c Config) (redis.UniversalClient, error) {
	rdb, err := open(c, false)
	if err != nil {
		return nil, err
	}
	return hooked(c, rdb), nil
}

// ErrReplicaReadsNeedTopology is returned by OpenReader for a single-node
// Config: there are no replicas to read from.
var ErrReplicaReadsNeedTopology = errors.New("redis replica reads need Sentinel (REDIS_SENTINELS) or Cluster (REDIS_CLUSTER) mode")

// OpenReader returns a client for reads that may be served by replicas: in
// Sentinel mode a failover cluster client with replica-only routing (the
// master only while no replica is usable), in Cluster mode a cluster client
// in read-only mode. Commands that are not read-only still go to the
// master. It carries the same hooks as Open's client except
// Availability. Replica data can lag the master's; see
// session.Options.ReadRedis for how sessions stay safe.
func OpenReader(c Config) (redis.UniversalClient, error) {
	if c.Mode() == "standalone" {
		return nil, ErrReplicaReadsNeedTopology
	}
	// No retry: a failed replica read is retried on the master by the
	// session layer, at once rather than after another read timeout.
	c.MaxRetries = -1
	c.Availability = nil
	rdb, err := open(c, true)
	if err != nil {
		return nil, err
	}
	return hooked(c, rdb), nil
}

// hooked installs c's hooks on rdb, outermost first: the instrumentation
// and the availability observer see every command, the breaker's
// refusals included.
func hooked(c Config, rdb redis.UniversalClient) redis.UniversalClient {
	if c.Instrumentation != nil {
		rdb.AddHook(c.Instrumentation)
	}
	if c.Availability != nil {
		rdb.AddHook(availabilityHook{c.Availability})
	}
	if c.Breaker != nil {
		rdb.AddHook(c.Breaker)
	}
	return rdb
}

// open builds the client. Every client Studio opens sets DisableIdentity
// and turns maintenance notifications off: the CLIENT SETINFO and CLIENT
// MAINT_NOTIFICATIONS go-redis would send on each new connection are
// refused by Redis before 7.2 and 8.2, and each refusal would count in the
// server's own error statistics (INFO errorstats), noise Studio would make
// itself. (go-redis's failover client never asks for the notifications.)
func open(c Config, replicas bool) (redis.UniversalClient, error) {
	dial := orDefault(c.DialTimeout, 500*time.Millisecond)
	read := orDefault(c.ReadTimeout, 300*time.Millisecond)
	write := orDefault(c.WriteTimeout, 300*time.Millisecond)
	if c.PoolSize <= 0 {
		c.PoolSize = 100
	}
	retries := c.MaxRetries
	if retries == 0 {
		retries = 1
	}
	t, err := c.tlsMaterial()
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config // informational for go-redis; Dialer does the TLS
	if t != nil {
		tlsConf = t.data.ClientConfig(c.TLSServerName)
	}
	dialer := t.dialer(dial, c.Sentinels)
	if f := c.Follower; f != nil && c.Mode() == "sentinel" {
		base, isSentinel := dialer, make(map[string]bool, len(c.Sentinels))
		for _, a := range c.Sentinels {
			isSentinel[a] = true
		}
		dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !isSentinel[addr] {
				addr = f.Redirect(addr)
			}
			return base(ctx, network, addr)
		}
	}
	switch c.Mode() {
	case "sentinel":
		if c.MasterName == "" {
			return nil, errors.New("redis sentinel mode needs a master name")
		}
		fo := &redis.FailoverOptions{
			MasterName:       c.MasterName,
			DisableIdentity:  true,
			SentinelAddrs:    c.Sentinels,
			Username:         c.Username,
			Password:         c.Password,
			SentinelUsername: c.SentinelUsername,
			SentinelPassword: c.SentinelPassword,
			DialTimeout:      dial,
			ReadTimeout:      read,
			WriteTimeout:     write,
			PoolSize:         c.PoolSize,
			MaxRetries:       retries,
			DialerRetries:    1,
			TLSConfig:        tlsConf,
			Dialer:           dialer,
		}
		if replicas {
			fo.ReplicaOnly = true
			return redis.NewFailoverClusterClient(fo), nil
		}
		return redis.NewFailoverClient(fo), nil
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			ReadOnly:                 replicas,
			DisableIdentity:          true,
			MaintNotificationsConfig: noMaint(),
			Addrs:                    c.Cluster,
			Username:                 c.Username,
			Password:                 c.Password,
			DialTimeout:              dial,
			ReadTimeout:              read,
			WriteTimeout:             write,
			PoolSize:                 c.PoolSize,
			MaxRetries:               retries,
			DialerRetries:            1,
			TLSConfig:                tlsConf,
			Dialer:                   dialer,
		}), nil
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		// The parser's message can quote the password: never pass it on.
		return nil, errMalformedURL
	}
	if c.Password != "" {
		opt.Username, opt.Password = c.Username, c.Password
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dial, read, write
	// One dial attempt: with Redis down, a command should fail over to the
	// store at once, not after go-redis's default five tries.
	opt.DialerRetries = 1
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = noMaint()
	opt.MaxRetries = retries
	opt.PoolSize = c.PoolSize
	if (opt.TLSConfig != nil) != (t != nil) {
		// rediss:// alone makes t; so t without rediss:// means TLS settings
		// with a redis:// URL.
		return nil, errors.New("redis TLS settings given with a redis:// URL; use rediss:// for TLS")
	}
	opt.TLSConfig = tlsConf // a rediss:// ?skip_verify=true is ignored: verification stays on
	opt.Dialer = dialer
	return redis.NewClient(opt), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

var errMalformedURL = errors.New("malformed redis URL; expected redis://[user:password@]host:port[/db] or rediss://host:port")

// tlsMaterial returns c.TLS, or material loaded once from c's files, or nil
// when c asks for no TLS.
func (c Config) tlsMaterial() (*TLS, error) {
	if c.TLS != nil {
		return c.TLS, nil
	}
	return NewTLS(c, TLSOptions{})
}

// noMaint is the go-redis configuration that asks for no maintenance
// notifications.
func noMaint() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
