package redisconn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSOptions are the dependencies of NewTLS. Nil fields are no-ops/defaults.
type TLSOptions struct {
	// Logger receives reload results (info on a rotation, error on a bad
	// file). Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TLS is the rotating TLS material of one Config: one CertReloader for data
// nodes and, when the Config gives Sentinel files, one for Sentinels. Build
// it with NewTLS, put it in Config.TLS before Open, run Run in a goroutine,
// call Reload on SIGHUP and register it (it is a prometheus.Collector).
type TLS struct {
	data, sentinel *CertReloader // sentinel nil: Sentinels use data's
}

// NewTLS loads the TLS files of c. It returns nil, nil when c asks for no
// TLS at all. Errors name the file and what is wrong with it.
func NewTLS(c Config, o TLSOptions) (*TLS, error) {
	if !c.dataTLS() {
		if c.sentinelFiles() {
			return nil, errors.New("redis sentinel TLS files given but data-node TLS is off; set the data-node TLS settings too")
		}
		return nil, nil
	}
	data, err := NewCertReloader(c.CAFile, c.CertFile, c.KeyFile, ReloaderOptions{
		ServerName: c.TLSServerName, InsecureSkipVerify: c.TLSInsecureSkipVerify,
		Logger: o.Logger, Now: o.Now, Name: "data",
	})
	if err != nil {
		return nil, err
	}
	t := &TLS{data: data}
	if c.sentinelFiles() {
		t.sentinel, err = NewCertReloader(c.SentinelCAFile, c.SentinelCertFile, c.SentinelKeyFile, ReloaderOptions{
			ServerName: c.TLSServerName, InsecureSkipVerify: c.TLSInsecureSkipVerify,
			Logger: o.Logger, Now: o.Now, Name: "sentinel",
		})
		if err != nil {
			return nil, fmt.Errorf("sentinel: %w", err)
		}
	}
	return t, nil
}

// Data returns the reloader for data-node connections.
func (t *TLS) Data() *CertReloader { return t.data }

// Sentinel returns the reloader for Sentinel connections; it is Data when
// no Sentinel-specific files are configured.
func (t *TLS) Sentinel() *CertReloader {
	if t.sentinel == nil {
		return t.data
	}
	return t.sentinel
}

func (t *TLS) all() []*CertReloader {
	if t.sentinel == nil {
		return []*CertReloader{t.data}
	}
	return []*CertReloader{t.data, t.sentinel}
}

// Reload re-reads every file now (wire it to SIGHUP). Material that fails
// to load is kept as it was; the error says why.
func (t *TLS) Reload() error {
	var errs []error
	for _, r := range t.all() {
		errs = append(errs, r.Reload())
	}
	return errors.Join(errs...)
}

// Run checks the files every interval (30s if <= 0) and reloads those that
// changed, until ctx ends.
func (t *TLS) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, r := range t.all() {
				_, _ = r.ReloadIfChanged() // logged and counted inside
			}
		}
	}
}

var (
	descRotations = prometheus.NewDesc("studio_redis_tls_rotations_total",
		"TLS material reloads that changed something, by result (success: new material in use; failure: bad file, old material kept).",
		[]string{"conn", "result"}, nil)
	descClientExpiry = prometheus.NewDesc("studio_redis_tls_client_cert_expiry_seconds",
		"Seconds until the client certificate in use expires (negative once expired).",
		[]string{"conn"}, nil)
	descServerExpiry = prometheus.NewDesc("studio_redis_tls_server_cert_expiry_seconds",
		"Seconds until the server certificate seen on the last TLS handshake expires (negative once expired).",
		[]string{"conn"}, nil)
)

// Describe implements prometheus.Collector.
func (t *TLS) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRotations
	ch <- descClientExpiry
	ch <- descServerExpiry
}

// Collect implements prometheus.Collector. The label conn is "data" or
// "sentinel" (only with Sentinel-specific files).
func (t *TLS) Collect(ch chan<- prometheus.Metric) {
	for _, r := range t.all() {
		ok, failed := r.Rotations()
		ch <- prometheus.MustNewConstMetric(descRotations, prometheus.CounterValue, float64(ok), r.name, "success")
		ch <- prometheus.MustNewConstMetric(descRotations, prometheus.CounterValue, float64(failed), r.name, "failure")
		now := r.now()
		if exp := r.ClientCertExpiry(); !exp.IsZero() {
			ch <- prometheus.MustNewConstMetric(descClientExpiry, prometheus.GaugeValue, exp.Sub(now).Seconds(), r.name)
		}
		if exp := r.ServerCertExpiry(); !exp.IsZero() {
			ch <- prometheus.MustNewConstMetric(descServerExpiry, prometheus.GaugeValue, exp.Sub(now).Seconds(), r.name)
		}
	}
}

// ReloaderOptions tune a CertReloader.
type ReloaderOptions struct {
	// ServerName, if set, is the name the server certificate must carry,
	// instead of the host dialled.
	ServerName string
	// InsecureSkipVerify turns server-certificate verification off. For
	// development only: the caller must log it loudly.
	InsecureSkipVerify bool
	// Name labels the reloader in logs and metrics ("data", "sentinel").
	Name   string
	Logger *slog.Logger
	Now    func() time.Time
}

// CertReloader holds the current CA pool and client certificate read from
// PEM files and swaps in new ones when the files change, without touching
// established connections. It hands the material to TLS handshakes through
// GetClientCertificate and a VerifyConnection that verifies the server
// against the current pool. It is safe for concurrent use.
type CertReloader struct {
	caFile, certFile, keyFile string
	serverName                string
	insecure                  bool
	name                      string
	log                       *slog.Logger
	now                       func() time.Time

	cur atomic.Pointer[material]

	mu       sync.Mutex // serialises reloads; guards stats and lastSum
	stats    []fileStat
	lastSum  [sha256.Size]byte
	ok, fail atomic.Uint64

	serverNotAfter atomic.Int64 // unix nanoseconds; 0 before any handshake
}

type material struct {
	pool *x509.CertPool   // nil: system roots
	cert *tls.Certificate // nil: no client certificate
}

type fileStat struct {
	mod  time.Time
	size int64
}

// NewCertReloader loads the files (any may be empty: no CA file means the
// system roots; certFile and keyFile go together).
func NewCertReloader(caFile, certFile, keyFile string, o ReloaderOptions) (*CertReloader, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("redis client certificate and key must be given together")
	}
	r := &CertReloader{
		caFile: caFile, certFile: certFile, keyFile: keyFile,
		serverName: o.ServerName, insecure: o.InsecureSkipVerify,
		name: o.Name, log: o.Logger, now: o.Now,
	}
	if r.name == "" {
		r.name = "data"
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	stats := r.statFiles()
	raw, err := r.readFiles()
	if err != nil {
		return nil, err
	}
	m, err := r.parse(raw)
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	r.stats, r.lastSum = stats, sum(raw)
	return r, nil
}

func (r *CertReloader) files() []string { return []string{r.caFile, r.certFile, r.keyFile} }

func (r *CertReloader) statFiles() []fileStat {
	out := make([]fileStat, 3)
	for i, f := range r.files() {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil { // follows symlinks (Kubernetes secrets)
			out[i] = fileStat{fi.ModTime(), fi.Size()}
		}
	}
	return out
}

type rawFiles struct{ ca, cert, key []byte }

func (r *CertReloader) readFiles() (rawFiles, error) {
	var raw rawFiles
	var err error
	if r.caFile != "" {
		if raw.ca, err = os.ReadFile(r.caFile); err != nil {
			return raw, fmt.Errorf("read redis CA file: %w", err)
		}
	}
	if r.certFile != "" {
		if raw.cert, err = os.ReadFile(r.certFile); err != nil {
			return raw, fmt.Errorf("load redis client certificate: %w", err)
		}
		if raw.key, err = os.ReadFile(r.keyFile); err != nil {
			return raw, fmt.Errorf("load redis client certificate: %w", err)
		}
	}
	return raw, nil
}

func sum(raw rawFiles) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{raw.ca, raw.cert, raw.key} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var s [sha256.Size]byte
	copy(s[:], h.Sum(nil))
	return s
}

func (r *CertReloader) parse(raw rawFiles) (*material, error) {
	m := &material{}
	if r.caFile != "" {
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(raw.ca) {
			return nil, fmt.Errorf("redis CA file %s holds no PEM certificate", r.caFile)
		}
	}
	if r.certFile != "" {
		cert, err := tls.X509KeyPair(raw.cert, raw.key)
		if err != nil {
			return nil, fmt.Errorf("load redis client certificate %s / key %s: %w", r.certFile, r.keyFile, err)
		}
		if now := r.now(); now.After(cert.Leaf.NotAfter) {
			return nil, fmt.Errorf("load redis client certificate %s: it expired at %s", r.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		m.cert = &cert
	}
	return m, nil
}

// ReloadIfChanged reloads when a file's modification time, size or content
// changed since the last attempt. It reports whether new material is now in
// use; on a bad file it keeps the old material, logs, counts a failure and
// returns the error. The same bad content is not retried until it changes.
func (r *CertReloader) ReloadIfChanged() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stats := r.statFiles()
	if equalStats(stats, r.stats) {
		return false, nil
	}
	return r.reloadLocked(stats)
}

// Reload re-reads the files now (wire it to SIGHUP) and installs their
// material if it differs from the current one. A bad file keeps the old
// material, is logged and counted, and its error is returned.
func (r *CertReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastSum = [sha256.Size]byte{} // force a parse even of content seen before
	_, err := r.reloadLocked(r.statFiles())
	return err
}

func (r *CertReloader) reloadLocked(stats []fileStat) (bool, error) {
	r.stats = stats
	raw, err := r.readFiles()
	if err == nil {
		s := sum(raw)
		if s == r.lastSum {
			return false, nil
		}
		r.lastSum = s
		var m *material
		if m, err = r.parse(raw); err == nil {
			if r.same(m) {
				return false, nil
			}
			r.cur.Store(m)
			r.ok.Add(1)
			attrs := []any{"conn", r.name}
			if m.cert != nil {
				attrs = append(attrs, "client_cert_subject", m.cert.Leaf.Subject.String(), "client_cert_not_after", m.cert.Leaf.NotAfter)
			}
			r.log.Info("redis TLS material reloaded; new connections use it", attrs...)
			return true, nil
		}
	}
	r.fail.Add(1)
	r.log.Error("redis TLS reload failed; keeping the current material", "conn", r.name, "error", err)
	return false, err
}

// same reports whether m carries what is already in use (a touch of the
// files, or a SIGHUP without a change, is not a rotation).
func (r *CertReloader) same(m *material) bool {
	cur := r.cur.Load()
	if (cur.pool == nil) != (m.pool == nil) || (cur.pool != nil && !cur.pool.Equal(m.pool)) {
		return false
	}
	if (cur.cert == nil) != (m.cert == nil) {
		return false
	}
	return cur.cert == nil || (bytes.Equal(cur.cert.Certificate[0], m.cert.Certificate[0]) && len(cur.cert.Certificate) == len(m.cert.Certificate))
}

func equalStats(a, b []fileStat) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].mod.Equal(b[i].mod) || a[i].size != b[i].size {
			return false
		}
	}
	return true
}

// Rotations returns how many reloads installed new material and how many
// failed.
func (r *CertReloader) Rotations() (succeeded, failed uint64) { return r.ok.Load(), r.fail.Load() }

// ClientCertExpiry is when the client certificate in use expires (zero
// without one).
func (r *CertReloader) ClientCertExpiry() time.Time {
	if m := r.cur.Load(); m.cert != nil {
		return m.cert.Leaf.NotAfter
	}
	return time.Time{}
}

// ServerCertExpiry is when the server certificate seen on the last
// handshake expires (zero before any handshake).
func (r *CertReloader) ServerCertExpiry() time.Time {
	if n := r.serverNotAfter.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// ClientConfig returns a tls.Config for one connection to host (the host
// dialled; the configured server name, if any, replaces it). It reads the
// reloader's current material at handshake time.
func (r *CertReloader) ClientConfig(host string) *tls.Config {
	name := host
	if r.serverName != "" {
		name = r.serverName
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: name, // SNI (Go omits it for IP addresses)
		// Verification is NOT skipped: the standard verifier would use a
		// RootCAs pool fixed when this Config was built, so it is switched
		// off here only to hand verification to VerifyConnection below,
		// which checks the chain and name against the pool current at
		// handshake time and fails the handshake on any error.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return r.verify(cs, name)
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if m := r.cur.Load(); m.cert != nil {
				return m.cert, nil
			}
			return &tls.Certificate{}, nil // none configured: send no certificate
		},
	}
}

// verify checks the server's chain against the current pool and its name.
func (r *CertReloader) verify(cs tls.ConnectionState, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("redis TLS: server presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	r.serverNotAfter.Store(leaf.NotAfter.UnixNano())
	if r.insecure {
		return nil // development flag, logged loudly by the caller
	}
	opts := x509.VerifyOptions{
		Roots:         r.cur.Load().pool, // nil: the system roots
		DNSName:       name,
		CurrentTime:   r.now(),
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("redis TLS: verify server certificate (%s): %w", r.name, err)
	}
	return nil
}

// dialer returns a go-redis Dialer: TLS with the data reloader, or with the
// Sentinel one for addresses listed in sentinels, or plaintext when t is nil.
func (t *TLS) dialer(timeout time.Duration, sentinels []string) func(context.Context, string, string) (net.Conn, error) {
	isSentinel := make(map[string]bool, len(sentinels))
	for _, a := range sentinels {
		isSentinel[a] = true
	}
	return t.dialerFor(timeout, func(addr string) bool { return isSentinel[addr] })
}

// dialerFor is dialer with the choice of the Sentinel material made by
// sentinel(addr).
func (t *TLS) dialerFor(timeout time.Duration, sentinel func(addr string) bool) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{Timeout: timeout}
		if t == nil {
			conn, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &plainConn{Conn: conn}, nil
		}
		r := t.data
		if sentinel(addr) {
			r = t.Sentinel()
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout) // dial and handshake together
			defer cancel()
		}
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := r.ClientConfig(host)
		// Note whether the server asked for a client certificate, and
		// whether one was sent: under TLS 1.3 the server judges it only
		// after the handshake, and the client may then see a bare reset
		// instead of the server's alert.
		var asked, sent bool
		get := conf.GetClientCertificate
		conf.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := get(cri)
			asked, sent = true, err == nil && len(c.Certificate) > 0
			return c, err
		}
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
				// A plaintext Redis waits for a newline that a ClientHello lacks.
				return nil, fmt.Errorf("%w: %s: %w", ErrHandshakeTimeout, addr, err)
			}
			return nil, err
		}
		if asked {
			return &certAskedConn{Conn: tc, sent: sent}, nil
		}
		return tc, nil
	}
}

// ErrClientCertRequired is wrapped (with the underlying error) when a
// connection fails after a server asked for a client certificate and none
// is configured.
var ErrClientCertRequired = errors.New("redis TLS: the server asked for a client certificate (mutual TLS; certificate required) and none is configured: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE")

// ErrClientCertRejected is wrapped (with the underlying error) when a
// connection that sent a client certificate fails before the server's
// first reply: the server most likely refused the certificate. Under TLS
// 1.3 the refusal comes after the handshake, and whether the client reads
// the server's alert (e.g. "unknown certificate authority") or only a reset
// is a race, so this names the cause either way.
var ErrClientCertRejected = errors.New("redis TLS: the connection failed before the server's first reply; the server most likely rejected the client certificate (is it signed by a CA the server trusts, unexpired, and usable for client auth?)")

// certAskedConn names the likely cause of a failure before the server's
// first reply on a connection whose server asked for a client certificate:
// ErrClientCertRequired when none was sent, ErrClientCertRejected when one
// was. Later failures, timeouts and the client's own close are returned
// as they are. Reads and writes may run concurrently (go-redis's pub/sub
// pings while it receives).
type certAskedConn struct {
	net.Conn
	sent    bool        // a client certificate was sent
	replied atomic.Bool // a byte has been read
}

func (c *certAskedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.replied.Store(true)
	}
	return n, c.name(err)
}

func (c *certAskedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.name(err)
}

func (c *certAskedConn) name(err error) error {
	var ne net.Error
	if err == nil || c.replied.Load() || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
		return err
	}
	if c.sent {
		return fmt.Errorf("%w: %w", ErrClientCertRejected, err)
	}
	return fmt.Errorf("%w: %w", ErrClientCertRequired, err)
}

// NetConn returns the TLS connection, as tls.Conn.NetConn does its
// socket, so that go-redis's checks for pending data (push notifications)
// see through the wrapper as they see through a bare *tls.Conn.
func (c *certAskedConn) NetConn() net.Conn { return c.Conn }

// plainConn names the likely cause when a plaintext connection is closed
// before the server's first byte: a TLS port answers plaintext that way.
type plainConn struct {
	net.Conn
	replied bool // a byte has been read; reads are serialised by the pool
}

// ErrNoReply is wrapped (with the io.EOF or reset error) when a plaintext
// connection is closed before Redis sent anything.
var ErrNoReply = errors.New("redis closed the connection before replying; if the server only accepts TLS, use a rediss:// URL")

// ErrHandshakeTimeout is wrapped when the TLS handshake does not complete
// in the dial timeout, as happens against a plaintext port.
var ErrHandshakeTimeout = errors.New("redis TLS handshake timed out; if the server does not speak TLS on this port, use a redis:// URL")

func (c *plainConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.replied = true
	} else if !c.replied && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		err = fmt.Errorf("%w: %w", ErrNoReply, err)
	}
	return n, err
}

// SyscallConn keeps go-redis's health check of idle connections working.
func (c *plainConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a syscall.Conn")
}

// InsecureTLS reports whether certificate verification is turned off; the
// caller must log it loudly and show it in the health snapshot.
func (c Config) InsecureTLS() bool { return c.TLSInsecureSkipVerify }

func (c Config) dataTLS() bool {
	return strings.HasPrefix(strings.ToLower(c.URL), "rediss://") && c.Mode() == "standalone" ||
		c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.TLSServerName != "" || c.TLSInsecureSkipVerify
}

func (c Config) sentinelFiles() bool {
	return c.SentinelCAFile != "" || c.SentinelCertFile != "" || c.SentinelKeyFile != ""
}

// PlaintextRemote reports whether c would talk plaintext to an address
// that is not loopback (localhost, 127.0.0.0/8, ::1). Nothing is resolved:
// any other name counts as remote. In Sentinel mode the data nodes'
// addresses come from the Sentinels, so the Sentinel addresses decide.
func PlaintextRemote(c Config) bool {
	if c.dataTLS() {
		// Data-node TLS is on; Sentinels use it too unless they have their own.
		return false
	}
	var addrs []string
	switch c.Mode() {
	case "sentinel":
		addrs = c.Sentinels
	case "cluster":
		addrs = c.Cluster
	default:
		u, err := url.Parse(c.URL)
		if err != nil {
			return true // Open refuses it anyway; do not call it safe
		}
		if u.Scheme == "unix" {
			return false
		}
		addrs = []string{u.Host}
	}
	for _, a := range addrs {
		if !isLoopback(a) {
			return true
		}
	}
	return false
}

func isLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.EqualFold(host, "localhost") {
		return true // go-redis dials localhost for an empty host
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
