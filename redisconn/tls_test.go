package redisconn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
)

// pki is a CA with a server certificate for 127.0.0.1/localhost and a
// client certificate, as files in dir.
type pki struct {
	t               testing.TB
	dir             string
	ca              *redistest.CA
	caFile          string
	srvCert, srvKey string
	cliCert, cliKey string
	probe           *tls.Config
}

func newPKI(t testing.TB, name string) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir()}
	var err error
	if p.ca, err = redistest.NewCA(name + " CA"); err != nil {
		t.Fatal(err)
	}
	p.caFile = filepath.Join(p.dir, "ca.crt")
	must(t, redistest.WriteBundle(p.caFile, p.ca))
	p.srvCert, p.srvKey = p.issue("server", redistest.CertSpec{CommonName: "redis", Hosts: []string{"127.0.0.1", "localhost"}})
	p.cliCert, p.cliKey = p.issue("client", redistest.CertSpec{CommonName: name + " client", Client: true})
	p.probe = p.clientTLS(p.cliCert, p.cliKey)
	return p
}

func (p *pki) issue(name string, spec redistest.CertSpec) (string, string) {
	p.t.Helper()
	c, k, err := p.ca.IssueFiles(p.dir, name, spec)
	must(p.t, err)
	return c, k
}

// clientTLS is a plain (non-rotating) client configuration trusting p's CA.
func (p *pki) clientTLS(cert, key string) *tls.Config {
	pair, err := tls.LoadX509KeyPair(cert, key)
	must(p.t, err)
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func (p *pki) start(t *testing.T) *redistest.Server {
	return redistest.StartTLS(t, redistest.TLSOptions{CertFile: p.srvCert, KeyFile: p.srvKey, CAFile: p.caFile, Probe: p.probe})
}

func (p *pki) config(s *redistest.Server) redisconn.Config {
	return redisconn.Config{URL: s.TLSURL(), CAFile: p.caFile, CertFile: p.cliCert, KeyFile: p.cliKey, MaxRetries: -1}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, c redisconn.Config) redis.UniversalClient {
	t.Helper()
	rdb, err := redisconn.Open(c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestMutualTLSEndToEnd(t *testing.T) {
	p := newPKI(t, "main")
	s := p.start(t)
	c := p.config(s)
	tlsm, err := redisconn.NewTLS(c, redisconn.TLSOptions{})
	must(t, err)
	c.TLS = tlsm
	rdb := open(t, c)
	ctx := t.Context()
	must(t, rdb.Set(ctx, "k", "v", 0).Err())
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	// The server name override replaces the dialled host.
	c2 := p.config(s)
	c2.URL = "rediss://" + s.Addr()
	c2.TLSServerName = "localhost"
	must(t, open(t, c2).Ping(ctx).Err())
	if c.InsecureTLS() {
		t.Fatal("InsecureTLS true without the flag")
	}

	reg := prometheus.NewRegistry()
	must(t, reg.Register(tlsm))
	got := gather(t, reg)
	if v := got[`studio_redis_tls_client_cert_expiry_seconds{conn="data"}`]; v < 23*3600 || v > 24*3600 {
		t.Errorf("client expiry seconds = %v, want about a day", v)
	}
	if v := got[`studio_redis_tls_server_cert_expiry_seconds{conn="data"}`]; v < 23*3600 || v > 24*3600 {
		t.Errorf("server expiry seconds = %v, want about a day (seen on the handshake)", v)
	}
	if v, ok := got[`studio_redis_tls_rotations_total{conn="data",result="success"}`]; !ok || v != 0 {
		t.Errorf("rotations success = %v, %v; want 0", v, ok)
	}
}

// gather returns every sample as name{labels} → value.
func gather(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}

func TestTLSFailuresNameTheCause(t *testing.T) {
	p := newPKI(t, "main")
	s := p.start(t)
	other := newPKI(t, "other")
	plain := redistest.Start(t)
	ctx := t.Context()

	// A server presenting an expired certificate.
	expCert, expKey := p.issue("server-expired", redistest.CertSpec{CommonName: "redis", Hosts: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	probe := p.clientTLS(p.cliCert, p.cliKey)
	probe.InsecureSkipVerify = true
	expired := redistest.StartTLS(t, redistest.TLSOptions{CertFile: expCert, KeyFile: expKey, CAFile: p.caFile, Probe: probe})

	cfg := func(mod func(*redisconn.Config)) redisconn.Config {
		c := p.config(s)
		mod(&c)
		return c
	}
	cases := []struct {
		name string
		c    redisconn.Config
		want string
	}{
		{"wrong CA", cfg(func(c *redisconn.Config) { c.CAFile = other.caFile }), "certificate signed by unknown authority"},
		{"expired server certificate", cfg(func(c *redisconn.Config) { c.URL = expired.TLSURL() }), "certificate has expired"},
		{"wrong host name", cfg(func(c *redisconn.Config) { c.TLSServerName = "wrong.example" }), "not wrong.example"},
		{"client certificate from an untrusted CA", cfg(func(c *redisconn.Config) { c.CertFile, c.KeyFile = other.cliCert, other.cliKey }), "rejected the client certificate"},
		{"no client certificate", cfg(func(c *redisconn.Config) { c.CertFile, c.KeyFile = "", "" }), "certificate required"},
		{"plaintext client against the TLS port", redisconn.Config{URL: "redis://" + s.Addr(), MaxRetries: -1}, "if the server only accepts TLS, use a rediss:// URL"},
		{"TLS client against a plaintext port", cfg(func(c *redisconn.Config) { c.URL = "rediss://" + plain.Addr() }), "if the server does not speak TLS on this port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := open(t, tc.c).Ping(ctx).Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PING error = %v; want it to say %q", err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
	t.Run("refused client certificate wraps ErrClientCertRejected", func(t *testing.T) {
		// Under TLS 1.3 the refusal follows the handshake: whether the
		// client reads the alert or a reset is a race, and both must be
		// named. Many fresh connections cover both outcomes.
		for i := range 20 {
			err := open(t, cfg(func(c *redisconn.Config) { c.CertFile, c.KeyFile = other.cliCert, other.cliKey })).Ping(ctx).Err()
			if !errors.Is(err, redisconn.ErrClientCertRejected) {
				t.Fatalf("try %d: error %v does not wrap ErrClientCertRejected", i, err)
			}
		}
	})
	t.Run("a failure after the first reply is not blamed on the certificate", func(t *testing.T) {
		rdb, ok := open(t, p.config(s)).(*redis.Client)
		if !ok {
			t.Fatal("a single-server config did not open a *redis.Client")
		}
		conn := rdb.Conn()
		defer conn.Close()
		must(t, conn.Ping(ctx).Err())
		// Kill every normal client, this one included: it gets its reply,
		// then the server closes it.
		if err := conn.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "no").Err(); err != nil && !errors.Is(err, io.EOF) {
			t.Logf("CLIENT KILL: %v", err)
		}
		err := conn.Ping(ctx).Err()
		if err == nil {
			t.Fatal("PING on a killed connection succeeded")
		}
		if errors.Is(err, redisconn.ErrClientCertRejected) || errors.Is(err, redisconn.ErrClientCertRequired) {
			t.Fatalf("error %v blames the client certificate after the server replied", err)
		}
	})
	t.Run("no client certificate wraps ErrClientCertRequired", func(t *testing.T) {
		err := open(t, cfg(func(c *redisconn.Config) { c.CertFile, c.KeyFile = "", "" })).Ping(ctx).Err()
		if !errors.Is(err, redisconn.ErrClientCertRequired) {
			t.Fatalf("error %v does not wrap ErrClientCertRequired", err)
		}
	})
	t.Run("plaintext error keeps io.EOF for retries", func(t *testing.T) {
		err := open(t, redisconn.Config{URL: "redis://" + s.Addr(), MaxRetries: -1}).Ping(ctx).Err()
		if !errors.Is(err, redisconn.ErrNoReply) {
			t.Fatalf("error %v does not wrap ErrNoReply", err)
		}
	})
	t.Run("handshake timeout is typed", func(t *testing.T) {
		err := open(t, cfg(func(c *redisconn.Config) { c.URL = "rediss://" + plain.Addr(); c.DialTimeout = 200 * time.Millisecond })).Ping(ctx).Err()
		if !errors.Is(err, redisconn.ErrHandshakeTimeout) {
			t.Fatalf("error %v does not wrap ErrHandshakeTimeout", err)
		}
	})
	t.Run("expired client certificate", func(t *testing.T) {
		old, oldKey := p.issue("client-expired", redistest.CertSpec{CommonName: "old", Client: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		_, err := redisconn.Open(cfg(func(c *redisconn.Config) { c.CertFile, c.KeyFile = old, oldKey }))
		if err == nil || !strings.Contains(err.Error(), "expired at") {
			t.Fatalf("Open error = %v; want it to refuse the expired client certificate", err)
		}
		// And the server refuses one too (a client not using redisconn).
		c := p.clientTLS(old, oldKey)
		err = redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: c, MaxRetries: -1}).Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "expired certificate") {
			t.Fatalf("server-side error = %v; want it to say expired certificate", err)
		}
	})
	t.Run("insecure flag", func(t *testing.T) {
		c := cfg(func(c *redisconn.Config) { c.CAFile = other.caFile; c.TLSInsecureSkipVerify = true })
		if !c.InsecureTLS() {
			t.Fatal("InsecureTLS false with the flag")
		}
		must(t, open(t, c).Ping(ctx).Err())
	})
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t, "main")
	for _, tc := range []struct {
		name string
		c    redisconn.Config
		want string
	}{
		{"redis:// with TLS files", redisconn.Config{URL: "redis://h:1", CAFile: p.caFile}, "use rediss://"},
		{"sentinel files without data TLS", redisconn.Config{Sentinels: []string{"a:1"}, MasterName: "m", SentinelCAFile: p.caFile}, "data-node TLS"},
		{"sentinel cert without key", redisconn.Config{Sentinels: []string{"a:1"}, MasterName: "m", CAFile: p.caFile, SentinelCertFile: p.cliCert}, "must be given together"},
		{"key of another certificate", redisconn.Config{URL: "rediss://h:1", CertFile: p.cliCert, KeyFile: p.srvKey}, "private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := redisconn.Open(tc.c)
			if err == nil {
				rdb.Close()
				t.Fatal("Open accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want %q", err, tc.want)
			}
		})
	}
}

func TestPlaintextRemote(t *testing.T) {
	for _, tc := range []struct {
		c    redisconn.Config
		want bool
	}{
		{redisconn.Config{URL: "redis://127.0.0.1:6379"}, false},
		{redisconn.Config{URL: "redis://127.8.9.10:6379/2"}, false},
		{redisconn.Config{URL: "redis://localhost:6379"}, false},
		{redisconn.Config{URL: "redis://LOCALHOST"}, false},
		{redisconn.Config{URL: "redis://[::1]:6379"}, false},
		{redisconn.Config{URL: "redis://user:pw@[::ffff:127.0.0.1]:6379"}, false},
		{redisconn.Config{URL: "unix:///run/redis.sock"}, false},
		{redisconn.Config{URL: "redis://10.0.0.5:6379"}, true},
		{redisconn.Config{URL: "redis://redis.internal:6379"}, true},
		{redisconn.Config{URL: "redis://localhost.evil.example:6379"}, true},
		{redisconn.Config{URL: "redis://[::2]:6379"}, true},
		{redisconn.Config{URL: "rediss://redis.example.com:6380"}, false},
		{redisconn.Config{Sentinels: []string{"127.0.0.1:26379", "localhost:26380"}, MasterName: "m"}, false},
		{redisconn.Config{Sentinels: []string{"127.0.0.1:26379", "10.1.1.1:26379"}, MasterName: "m"}, true},
		{redisconn.Config{Sentinels: []string{"10.1.1.1:26379"}, MasterName: "m", CAFile: "ca.pem"}, false},
		{redisconn.Config{Cluster: []string{"127.0.0.1:7000", "127.0.0.1:7001"}}, false},
		{redisconn.Config{Cluster: []string{"127.0.0.1:7000", "node2:7001"}}, true},
		{redisconn.Config{Cluster: []string{"node2:7001"}, TLSServerName: "redis"}, false},
	} {
		if got := redisconn.PlaintextRemote(tc.c); got != tc.want {
			t.Errorf("PlaintextRemote(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// write replaces path atomically (as a secret manager would).
func write(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, data, 0o600))
	must(t, os.Rename(tmp, path))
}

func TestReloadKeepsOldMaterialOnBadFiles(t *testing.T) {
	p := newPKI(t, "main")
	s := p.start(t)
	ctx := t.Context()
	dir := t.TempDir()
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp := func(dst, src string) {
		b, err := os.ReadFile(src)
		must(t, err)
		write(t, dst, b)
	}
	cp(ca, p.caFile)
	cp(cert, p.cliCert)
	cp(key, p.cliKey)
	c := redisconn.Config{URL: s.TLSURL(), CAFile: ca, CertFile: cert, KeyFile: key, MaxRetries: -1}
	tlsm, err := redisconn.NewTLS(c, redisconn.TLSOptions{})
	must(t, err)
	c.TLS = tlsm
	r := tlsm.Data()
	first := r.ClientCertExpiry()

	step := func(name string, mutate func(), wantErr string) {
		t.Helper()
		time.Sleep(15 * time.Millisecond) // let the coarse file clock tick
		mutate()
		changed, err := r.ReloadIfChanged()
		if wantErr == "" && (err != nil || !changed) {
			t.Fatalf("%s: ReloadIfChanged = %v, %v; want a rotation", name, changed, err)
		}
		if wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr) || changed) {
			t.Fatalf("%s: ReloadIfChanged = %v, %v; want error %q", name, changed, err, wantErr)
		}
		// Whatever happened, new connections work.
		rdb := open(t, c)
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatalf("%s: new connection after reload: %v", name, err)
		}
	}
	step("garbage certificate", func() { write(t, cert, []byte("garbage")) }, "load redis client certificate")
	if r.ClientCertExpiry() != first {
		t.Fatal("bad file replaced the client certificate")
	}
	// The same bad content is not retried (nor counted) again.
	if changed, err := r.ReloadIfChanged(); changed || err != nil {
		t.Fatalf("unchanged files: %v, %v", changed, err)
	}
	other := newPKI(t, "other")
	step("key of another certificate", func() { cp(cert, p.cliCert); cp(key, other.cliKey) }, "private key does not match")
	step("CA file without PEM", func() { cp(key, p.cliKey); write(t, ca, []byte("nope")) }, "holds no PEM certificate")
	if ok, failed := r.Rotations(); ok != 0 || failed != 3 {
		t.Fatalf("rotations = %d ok, %d failed; want 0, 3", ok, failed)
	}

	// A good new certificate, picked up by the poller.
	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	go tlsm.Run(ctx2, 10*time.Millisecond)
	newCert, newKey, err := p.ca.Issue(redistest.CertSpec{CommonName: "next", Client: true, NotAfter: time.Now().Add(48 * time.Hour)})
	must(t, err)
	time.Sleep(15 * time.Millisecond)
	write(t, key, newKey)
	write(t, cert, newCert)
	cp(ca, p.caFile)
	deadline := time.Now().Add(3 * time.Second)
	for r.ClientCertExpiry() == first && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r.ClientCertExpiry() == first {
		t.Fatal("the poller did not pick up the new certificate")
	}
	must(t, open(t, c).Ping(ctx).Err())
	if ok, _ := r.Rotations(); ok != 1 {
		t.Fatalf("successful rotations = %d, want 1", ok)
	}
	// SIGHUP without a change is not a rotation.
	must(t, tlsm.Reload())
	if ok, _ := r.Rotations(); ok != 1 {
		t.Fatalf("successful rotations after a no-op Reload = %d, want 1", ok)
	}
}

func configSet(t testing.TB, admin *redis.Client, kv ...any) {
	t.Helper()
	args := append([]any{"CONFIG", "SET"}, kv...)
	if err := admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("CONFIG SET %v: %v", kv, err)
	}
}

// TestRotationUnderLoad rotates the client certificate and the CA (client
// and server side) while requests run, then makes the server distrust the
// old CA and drops every connection: the reconnections succeed, so they
// use the new certificate; no request fails.
func TestRotationUnderLoad(t *testing.T) {
	p1 := newPKI(t, "old")
	s := p1.start(t)
	admin := s.Client(t, func(o *redis.Options) { o.TLSConfig = p1.probe })
	ctx := t.Context()

	dir := t.TempDir()
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, redistest.WriteBundle(ca, p1.ca))
	copyFile(t, cert, p1.cliCert)
	copyFile(t, key, p1.cliKey)
	c := redisconn.Config{URL: s.TLSURL(), CAFile: ca, CertFile: cert, KeyFile: key, PoolSize: 4, MaxRetries: 6}
	tlsm, err := redisconn.NewTLS(c, redisconn.TLSOptions{})
	must(t, err)
	c.TLS = tlsm
	rdb := open(t, c)

	var ops, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := "k" + strconv.Itoa(g)
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := rdb.Set(ctx, k, "v", 0).Err()
				if err == nil {
					err = rdb.Get(ctx, k).Err()
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				ops.Add(1)
			}
		}()
	}
	pause := func() { time.Sleep(100 * time.Millisecond) }
	pause()

	p2 := newPKI(t, "new")
	both := filepath.Join(dir, "server-clients-ca.pem")
	must(t, redistest.WriteBundle(both, p1.ca, p2.ca))
	configSet(t, admin, "tls-ca-cert-file", both) // server: trust clients of both CAs
	pause()
	// Client: new bundle and a certificate from the new CA.
	must(t, redistest.WriteBundle(ca, p1.ca, p2.ca))
	copyFile(t, cert, p2.cliCert)
	copyFile(t, key, p2.cliKey)
	must(t, tlsm.Reload())
	pause()
	configSet(t, admin, "tls-cert-file", p2.srvCert, "tls-key-file", p2.srvKey) // server: certificate from the new CA
	pause()
	configSet(t, admin, "tls-ca-cert-file", p2.caFile) // server: distrust the old CA
	pause()
	// Existing connections survived all of that; now force new ones.
	adminNew := s.Client(t, func(o *redis.Options) { o.TLSConfig = p2.clientTLS(p2.cliCert, p2.cliKey) })
	killed, err := adminNew.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Result()
	must(t, err)
	pause()
	close(stop)
	wg.Wait()

	t.Logf("%d operations, %d failures, %d connections killed", ops.Load(), failures.Load(), killed)
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed during the rotation; first: %v", failures.Load(), firstErr.Load())
	}
	if killed < 1 {
		t.Fatalf("CLIENT KILL killed %d connections", killed)
	}
	// The load client's connections after the kill are new and accepted by a
	// server that trusts only the new CA: they carry the new certificate.
	names, err := adminNew.ClientList(ctx).Result()
	must(t, err)
	if n := strings.Count(names, "\n"); n < 2 {
		t.Fatalf("CLIENT LIST after reconnect:\n%s", names)
	}
	// The old material is refused by the server now.
	old := p1.config(s)
	old.CAFile = ca
	if err := open(t, old).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("old client certificate: %v; want it refused", err)
	}
	if got := tlsm.Data().ServerCertExpiry(); got.IsZero() {
		t.Fatal("no server certificate expiry recorded")
	}
	if ok, failed := tlsm.Data().Rotations(); ok != 1 || failed != 0 {
		t.Fatalf("rotations %d ok, %d failed; want 1, 0", ok, failed)
	}
}

func copyFile(t testing.TB, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	write(t, dst, b)
}

// BenchmarkGetTLS compares GET through plaintext and mutual TLS on the same
// redis-server (it listens on both ports), 32 goroutines each, and reports
// throughput and p99 latency (DDSketch, 1% relative accuracy).
func BenchmarkGetTLS(b *testing.B) {
	p := newPKI(b, "bench")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := redistest.Start(b, redistest.WithArgs("--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", p.srvCert, "--tls-key-file", p.srvKey, "--tls-ca-cert-file", p.caFile, "--tls-auth-clients", "yes"))
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	for _, bc := range []struct {
		name string
		c    redisconn.Config
	}{
		{"plaintext", redisconn.Config{URL: s.URL(), PoolSize: 32}},
		{"tls", redisconn.Config{URL: "rediss://" + tlsAddr, CAFile: p.caFile, CertFile: p.cliCert, KeyFile: p.cliKey, PoolSize: 32}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rdb := open(b, bc.c)
			ctx := context.Background()
			must(b, rdb.Set(ctx, "k", "v", 0).Err())
			var mu sync.Mutex
			var sketches []*ddsketch.DDSketch
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				sk, _ := ddsketch.NewDefaultDDSketch(0.01)
				for pb.Next() {
					t0 := time.Now()
					if err := rdb.Get(ctx, "k").Err(); err != nil {
						b.Error(err)
						return
					}
					_ = sk.Add(float64(time.Since(t0).Microseconds()))
				}
				mu.Lock()
				sketches = append(sketches, sk)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			all := sketches[0]
			for _, sk := range sketches[1:] {
				must(b, all.MergeWith(sk))
			}
			p99, err := all.GetValueAtQuantile(0.99)
			must(b, err)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
			b.ReportMetric(p99, "p99-µs")
		})
	}
}
