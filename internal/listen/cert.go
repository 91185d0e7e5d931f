// Package listen is the listening side of Studio's HTTP server: the TLS
// certificate of its own listener, re-read when its files change, and a
// cap on open connections that makes room by closing idle keep-alive
// connections first.
package listen

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/studiohq/studio/internal/filewatch"
)

// Certificate is the listener's certificate and key, read from PEM files
// and replaced when they change (Run polls them; call Reload on SIGHUP).
// Handshakes get whatever is current through GetCertificate; open
// connections keep theirs. Bad files keep the current certificate. Safe
// for concurrent use.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time
	cur               atomic.Pointer[tls.Certificate]
	watch             *filewatch.Watch
}

// LoadCertificate reads the certificate (with its chain) and key; an
// unreadable, mismatched or expired pair is an error that names the
// files. log receives rotations and failed reloads (nil discards).
func LoadCertificate(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	cert, err := c.read()
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	c.watch = filewatch.New(c.reload, certFile, keyFile)
	return c, nil
}

func (c *Certificate) read() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	if c.now().After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired at %s", c.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// reload installs the files' certificate if it is good and new; a bad
// one is logged and the current one kept.
func (c *Certificate) reload() error {
	cert, err := c.read()
	if err != nil {
		c.log.Error("listener TLS reload failed; keeping the current certificate", "error", err)
		return err
	}
	if old := c.cur.Load(); bytes.Equal(old.Certificate[0], cert.Certificate[0]) {
		return nil
	}
	c.cur.Store(cert)
	c.log.Info("listener TLS certificate reloaded; new connections use it",
		"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return nil
}

// GetCertificate hands the current certificate to a handshake (for
// tls.Config.GetCertificate).
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// NotAfter is when the certificate in use expires.
func (c *Certificate) NotAfter() time.Time { return c.cur.Load().Leaf.NotAfter }

// TLSConfig returns the server configuration: TLS 1.2 at least, the
// current certificate at every handshake.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// Reload re-reads the files now (wire it to SIGHUP).
func (c *Certificate) Reload() error { return c.watch.Reload() }

// Run re-reads the files whenever they change, checking every interval,
// until ctx ends.
func (c *Certificate) Run(ctx context.Context, every time.Duration) { c.watch.Run(ctx, every) }
