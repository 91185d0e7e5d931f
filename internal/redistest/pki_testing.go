package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
)

// PKI is a test certificate authority with a server certificate for
// 127.0.0.1/localhost and a client certificate, written as PEM files in a
// temporary directory.
type PKI struct {
	CA                    *CA
	CAFile                string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	// ClientTLS trusts the CA and presents the client certificate.
	ClientTLS *tls.Config
}

// NewPKI creates a PKI in tb.TempDir(), failing tb on any error.
func NewPKI(tb testing.TB) *PKI {
	tb.Helper()
	dir := tb.TempDir()
	ca, err := NewCA("studio test CA")
	if err != nil {
		tb.Fatal(err)
	}
	p := &PKI{CA: ca, CAFile: filepath.Join(dir, "ca.crt")}
	if err := WriteBundle(p.CAFile, ca); err != nil {
		tb.Fatal(err)
	}
	if p.ServerCert, p.ServerKey, err = ca.IssueFiles(dir, "server", CertSpec{CommonName: "redis", Hosts: []string{"127.0.0.1", "localhost"}}); err != nil {
		tb.Fatal(err)
	}
	if p.ClientCert, p.ClientKey, err = ca.IssueFiles(dir, "client", CertSpec{CommonName: "client", Client: true}); err != nil {
		tb.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	p.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return p
}

// TLSOptions returns options for a TLS-only server using p's certificates,
// demanding client certificates. The server presents the client certificate
// when it is a client itself (replication, Sentinel links).
func (p *PKI) TLSOptions() TLSOptions {
	return TLSOptions{
		CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CAFile, Probe: p.ClientTLS,
		ClientCertFile: p.ClientCert, ClientKeyFile: p.ClientKey,
	}
}
