package redisproc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
)

// TLSOptions make a server TLS-only: it listens on a TLS port (reported by
// Port, Addr and TLSURL) and on no plaintext port (--port 0).
// Its readiness probe (at launch and on Restart) speaks TLS with Probe.
// Certificates can also be rotated live with CONFIG SET tls-cert-file /
// tls-key-file / tls-ca-cert-file.
type TLSOptions struct {
	// CertFile and KeyFile are the server's certificate and key (PEM).
	CertFile, KeyFile string
	// CAFile is the bundle the server verifies client certificates with.
	// Redis requires one even when AuthClients is "no".
	CAFile string
	// AuthClients is redis's tls-auth-clients: "yes" (default), "no" or
	// "optional".
	AuthClients string
	// ClientCertFile and ClientKeyFile, when set, are the certificate and
	// key (PEM) the server presents when it connects to another server as a
	// client: a replica to its master, a Sentinel to the nodes and Sentinels
	// it watches (tls-client-cert-file, Redis 6.2+). Without them redis
	// presents CertFile, which a peer demanding client certificates rejects
	// unless it is also valid for client authentication.
	ClientCertFile, ClientKeyFile string
	// Probe is the client configuration the readiness probe dials with. It
	// must trust the server certificate and, when AuthClients is "yes",
	// present a client certificate. Required.
	Probe *tls.Config
}

func (o TLSOptions) args() []string {
	auth := o.AuthClients
	if auth == "" {
		auth = "yes"
	}
	a := []string{
		"--tls-cert-file", o.CertFile,
		"--tls-key-file", o.KeyFile,
		"--tls-ca-cert-file", o.CAFile,
		"--tls-auth-clients", auth,
	}
	if o.ClientCertFile != "" {
		a = append(a, "--tls-client-cert-file", o.ClientCertFile, "--tls-client-key-file", o.ClientKeyFile)
	}
	return a
}

func (o TLSOptions) validate() error {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" || o.Probe == nil {
		return errors.New("redisproc: TLS options: CertFile, KeyFile, CAFile and Probe are required")
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		return errors.New("redisproc: TLS options: ClientCertFile and ClientKeyFile go together")
	}
	return nil
}

// LaunchTLS is Launch for a TLS-only server; see TLSOptions.
func LaunchTLS(ctx context.Context, cfg Config, o TLSOptions) (*Server, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	cfg.ExtraArgs = append(o.args(), cfg.ExtraArgs...)
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.probeTLS = o.Probe
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	base := s.extra
	var lastErr error
	for range portAttempts {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(s.host); err != nil {
				return nil, fmt.Errorf("redisproc: pick a free port: %w", err)
			}
		}
		// The directives come after args' "--port N", so they win.
		s.extra = append(append([]string(nil), base...), "--port", "0", "--tls-port", strconv.Itoa(port))
		lastErr = s.start(ctx, port)
		if lastErr == nil {
			s.port = port
			return s, nil
		}
		if cfg.Port != 0 || !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	return nil, fmt.Errorf("redisproc: launch TLS redis-server: %w", lastErr)
}

// TLSURL returns rediss://HOST:PORT/0.
func (s *Server) TLSURL() string { return "rediss://" + s.Addr() + "/0" }
