package redistest_test

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

func TestStartTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := redistest.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := redistest.WriteBundle(caFile, ca); err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.IssueFiles(dir, "server", redistest.CertSpec{CommonName: "redis", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.IssueFiles(dir, "client", redistest.CertSpec{CommonName: "client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}

	s := redistest.StartTLS(t, redistest.TLSOptions{CertFile: srvCert, KeyFile: srvKey, CAFile: caFile, Probe: conf})
	c := s.Client(t, func(o *redis.Options) { o.TLSConfig = conf })
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if got := s.TLSURL(); got != "rediss://"+s.Addr()+"/0" {
		t.Fatalf("TLSURL = %q", got)
	}
	// No plaintext listener: a plaintext client fails.
	plain := s.Client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	if err := plain.Ping(t.Context()).Err(); err == nil {
		t.Fatal("plaintext PING succeeded against a TLS-only server")
	} else {
		t.Logf("plaintext client against TLS port: %v", err)
	}
}
