// Package redisconn opens go-redis clients from Studio's settings: a single
// node by URL, a Sentinel-managed master, or a Cluster, with short timeouts
// so a hung node is abandoned quickly.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
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

	// TLS material (PEM files). A CA file replaces the system roots; a
	// certificate and key enable mutual TLS. Setting any of them enables TLS
	// for Sentinel and Cluster modes; for URL mode use rediss://.
	CAFile, CertFile, KeyFile string

	// Timeouts; zero means the default in parentheses.
	DialTimeout  time.Duration // 500ms
	ReadTimeout  time.Duration // 300ms
	WriteTimeout time.Duration // 300ms
	PoolSize     int           // go-redis default (10 per CPU)
	// MaxRetries is how often a command is retried after a network error
	// (1); negative disables retries.
	MaxRetries int

	// Instrumentation, if set, observes every command (spans, metrics,
	// logs). It is installed before Breaker, so it also sees the commands
	// the breaker refuses.
	Instrumentation *Instrumentation
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
	rdb, err := open(c)
	if err != nil {
		return nil, err
	}
	if c.Instrumentation != nil {
		rdb.AddHook(c.Instrumentation)
	}
	if c.Breaker != nil {
		rdb.AddHook(c.Breaker)
	}
	return rdb, nil
}

func open(c Config) (redis.UniversalClient, error) {
	dial := orDefault(c.DialTimeout, 500*time.Millisecond)
	read := orDefault(c.ReadTimeout, 300*time.Millisecond)
	write := orDefault(c.WriteTimeout, 300*time.Millisecond)
	retries := c.MaxRetries
	if retries == 0 {
		retries = 1
	}
	tlsConf, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	switch c.Mode() {
	case "sentinel":
		if c.MasterName == "" {
			return nil, errors.New("redis sentinel mode needs a master name")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    c.MasterName,
			SentinelAddrs: c.Sentinels,
			DialTimeout:   dial,
			ReadTimeout:   read,
			WriteTimeout:  write,
			PoolSize:      c.PoolSize,
			MaxRetries:    retries,
			DialerRetries: 1,
			TLSConfig:     tlsConf,
		}), nil
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:         c.Cluster,
			DialTimeout:   dial,
			ReadTimeout:   read,
			WriteTimeout:  write,
			PoolSize:      c.PoolSize,
			MaxRetries:    retries,
			DialerRetries: 1,
			TLSConfig:     tlsConf,
		}), nil
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		// The parser's message can quote the password: never pass it on.
		return nil, errMalformedURL
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dial, read, write
	// One dial attempt: with Redis down, a command should fail over to the
	// store at once, not after go-redis's default five tries.
	opt.DialerRetries = 1
	opt.MaxRetries = retries
	if c.PoolSize > 0 {
		opt.PoolSize = c.PoolSize
	}
	if opt.TLSConfig != nil && tlsConf != nil {
		tlsConf.ServerName = opt.TLSConfig.ServerName
		opt.TLSConfig = tlsConf
	}
	return redis.NewClient(opt), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

var errMalformedURL = errors.New("malformed redis URL; expected redis://[user:password@]host:port[/db] or rediss://host:port")

func (c Config) tlsConfig() (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read redis CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis CA file %s holds no PEM certificate", c.CAFile)
		}
		conf.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("redis client certificate and key must be given together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load redis client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
