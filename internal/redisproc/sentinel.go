package redisproc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// SentinelConfName is the config file a Sentinel keeps in its Dir. It is
	// written afresh by every LaunchSentinel; Sentinel rewrites it with what
	// it learns (its id, replicas, other Sentinels, failovers), so a
	// restarted Sentinel resumes with its view.
	SentinelConfName = "sentinel.conf"
	// NodeConfName is the config file a Sentinel topology's data node keeps
	// in its Dir. It holds the node's role (replicaof); the Sentinels' CONFIG
	// REWRITE keeps it current when they reconfigure a node.
	NodeConfName = "redis.conf"

	defaultMasterName      = "studio"
	defaultTopologyTimeout = 30 * time.Second
	sentinelCABundle       = "ca-bundle.crt"
)

// ErrNoMaster is wrapped by the error Master returns when no master address
// is reported by a majority of the Sentinels (for instance in the middle of
// a failover, or while most Sentinels are down).
var ErrNoMaster = errors.New("no master agreed by a majority of sentinels")

// SentinelConfig describes a master, its replicas and the Sentinels watching
// it. Only Dir is required.
//
// The settings favour a fast failover on one machine: with the default
// DownAfter of 1s a killed master is replaced in 2 to 2.5 s (measured on a
// busy 2-core machine). Sentinel needs
// DownAfter to call the master subjectively down, about a second more to
// agree it is objectively down and elect a leader, and up to a second to see
// the promoted replica report its new role (it polls INFO every second
// during a failover). The data nodes stream full syncs over the socket at
// once (repl-diskless-sync yes, repl-diskless-sync-delay 0) instead of
// writing a snapshot to disk and waiting 5 s for more replicas, so a replica
// re-pointed at the new master, or a restarted node, is in sync within
// milliseconds; parallel-syncs 1 re-points one replica at a time so the
// others keep serving reads. Sentinels announce 127.0.0.1 (sentinel
// announce-ip) and the replicas too (replica-announce-ip), so every address
// the topology reports is dialable locally.
//
// The data nodes keep no data files: a restarted node starts empty and
// resyncs from the master. A killed master that restarts is a master with an
// empty data set until the Sentinels turn it into a replica, about 10 s
// after it comes back (they wait 8 s after a role change and read a
// replica's INFO every 10 s), as in production; WaitHealthy waits for that.
// Restarting it before the Sentinels have noticed it was down (within
// DownAfter) makes its replicas resync from it and lose the data set, as it
// would in production without persistence.
type SentinelConfig struct {
	// Dir is the parent state directory. Each process gets a sub-directory:
	// node-0 (the initial master), node-1, … and sentinel-0, sentinel-1, ….
	// Config files in them are rewritten by every launch; call KillStaleTree
	// first if an earlier run may have left processes behind. Required.
	//
	// Sentinels fsync their config file on every change of state, from
	// their only thread. On a busy disk an fsync can stall a Sentinel for
	// seconds, and a Sentinel stalled for over 2 s enters TILT mode and
	// starts no failover for the next 30 s. A Dir on a tmpfs (/dev/shm)
	// avoids that; redistest.StartSentinel uses one when it can.
	Dir string
	// MasterName is the name the Sentinels monitor the master under; default
	// "studio". Letters, digits, '.', '-' and '_' only.
	MasterName string
	// Replicas is the number of replicas; default 2, negative for none.
	Replicas int
	// Sentinels is the number of Sentinels; default 3.
	Sentinels int
	// Quorum is the number of Sentinels that must agree the master is down;
	// default 2 (1 with a single Sentinel). A failover also needs a majority
	// of all Sentinels to elect a leader.
	Quorum int
	// DownAfter is sentinel down-after-milliseconds; default 1s.
	DownAfter time.Duration
	// FailoverTimeout is sentinel failover-timeout; default 10s.
	FailoverTimeout time.Duration
	// MinReplicasToWrite is min-replicas-to-write (with
	// min-replicas-max-lag 10) on every data node; it only applies while a
	// node is master. Default 1 when there are replicas; negative disables.
	MinReplicasToWrite int
	// ExtraArgs are extra redis-server directives for the data nodes, after
	// (so overriding) the ones this package sets.
	ExtraArgs []string
	// TLS, when set, makes the data nodes TLS-only (tls-port, port 0,
	// tls-replication yes). Replicas present TLS.ClientCertFile (else
	// CertFile) to their master.
	TLS *TLSOptions
	// SentinelTLS, when set, makes the Sentinels listen TLS-only with these
	// options, so their certificates and CA may differ from the data nodes'.
	// It requires TLS: Redis has one switch (tls-replication) for all of a
	// Sentinel's outgoing links, to the data nodes and to the other
	// Sentinels alike, so Sentinels watching TLS data nodes must speak TLS
	// to each other and cannot watch plaintext ones. Default: plaintext
	// Sentinels when TLS is nil, else Sentinels with the TLS options.
	//
	// Each Sentinel presents TLS.ClientCertFile (else TLS.CertFile) on every
	// outgoing link (SentinelTLS's ClientCertFile and ClientKeyFile are not
	// used) and verifies peers against a bundle of SentinelTLS.CAFile
	// and TLS.CAFile (written as ca-bundle.crt in its Dir): the data nodes'
	// certificates, the other Sentinels' and client certificates of either
	// CA are accepted. SentinelTLS.Probe must trust SentinelTLS's server
	// certificate and present a certificate either CA issued.
	SentinelTLS *TLSOptions
	// Stdout receives every process's log lines, each whole line prefixed
	// with the process's name and a space ("sentinel-1 12345:X 28 Nov …").
	// Writes are serialised across processes. Default (nil): a log file in
	// each process's Dir (LogFileName).
	Stdout io.Writer
	// Binary is the redis-server executable; default "redis-server" from
	// PATH. Sentinels run it in Sentinel mode (no redis-sentinel needed).
	Binary string
	// Password, when set, protects every process: the data nodes get
	// requirepass and masterauth, the Sentinels requirepass, auth-pass for
	// the master and sentinel-pass for each other, as a deployment with
	// Redis authentication has them. Every client needs it (AUTH).
	Password string
	// StartTimeout bounds the whole launch, up to the first WaitHealthy;
	// default 30s. Each process also gets it as its Config.StartTimeout,
	// which bounds its Restart.
	StartTimeout time.Duration
}

func (cfg SentinelConfig) withDefaults() (SentinelConfig, error) {
	fail := func(format string, args ...any) (SentinelConfig, error) {
		return cfg, fmt.Errorf("redisproc: sentinel config: "+format, args...)
	}
	if cfg.Dir == "" {
		return fail("Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fail("dir %q: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	if cfg.MasterName == "" {
		cfg.MasterName = defaultMasterName
	}
	if strings.IndexFunc(cfg.MasterName, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return fail("MasterName %q: use letters, digits, '.', '-' and '_' only", cfg.MasterName)
	}
	switch {
	case cfg.Replicas == 0:
		cfg.Replicas = 2
	case cfg.Replicas < 0:
		cfg.Replicas = 0
	}
	switch {
	case cfg.Sentinels == 0:
		cfg.Sentinels = 3
	case cfg.Sentinels < 0:
		return fail("Sentinels is %d; want at least 1", cfg.Sentinels)
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = min(2, cfg.Sentinels)
	}
	if cfg.Quorum < 1 || cfg.Quorum > cfg.Sentinels {
		return fail("Quorum %d with %d Sentinels; want 1 to %d", cfg.Quorum, cfg.Sentinels, cfg.Sentinels)
	}
	switch {
	case cfg.DownAfter == 0:
		cfg.DownAfter = time.Second
	case cfg.DownAfter < time.Millisecond:
		return fail("DownAfter %v; want at least 1ms", cfg.DownAfter)
	}
	switch {
	case cfg.FailoverTimeout == 0:
		cfg.FailoverTimeout = 10 * time.Second
	case cfg.FailoverTimeout < time.Millisecond:
		return fail("FailoverTimeout %v; want at least 1ms", cfg.FailoverTimeout)
	}
	switch {
	case cfg.MinReplicasToWrite == 0 && cfg.Replicas > 0:
		cfg.MinReplicasToWrite = 1
	case cfg.MinReplicasToWrite < 0:
		cfg.MinReplicasToWrite = 0
	}
	if cfg.SentinelTLS != nil && cfg.TLS == nil {
		return fail("SentinelTLS requires TLS: Sentinel uses one TLS switch for its links to the data nodes and to the other Sentinels")
	}
	if cfg.TLS != nil {
		if err := cfg.TLS.validate(); err != nil {
			return fail("TLS: %w", err)
		}
	}
	if cfg.SentinelTLS != nil {
		if err := cfg.SentinelTLS.validate(); err != nil {
			return fail("SentinelTLS: %w", err)
		}
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultTopologyTimeout
	}
	return cfg, nil
}

// Topology is a Sentinel-monitored master with replicas, started by
// LaunchSentinel; its processes are Servers, which tests may Kill, Pause or
// Restart. The caller owns it and must call Stop. Its methods are safe for
// concurrent use; they open short-lived connections of their own and start
// no goroutines that outlive a call.
type Topology struct {
	masterName  string
	quorum      int
	dir         string
	nodes       []*Server // index 0 is the initial master
	sentinels   []*Server
	nodeTLS     *tls.Config // client configuration for the data nodes; nil: plaintext
	sentinelTLS *tls.Config // and for the Sentinels
	password    string      // SentinelConfig.Password
}

// LaunchSentinel starts the master (node-0), then its replicas, waits until
// they are in sync, starts the Sentinels, and returns once WaitHealthy
// passes. ctx and cfg.StartTimeout bound the launch; cancelling ctx later
// stops nothing. On failure nothing is left running and the error includes
// the last log lines of the processes involved; if the binary is missing it
// wraps ErrNoRedisServer.
func LaunchSentinel(ctx context.Context, cfg SentinelConfig) (*Topology, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	t := &Topology{
		masterName: cfg.MasterName,
		password:   cfg.Password,
		quorum:     cfg.Quorum,
		dir:        cfg.Dir,
		nodes:      make([]*Server, 1+cfg.Replicas),
		sentinels:  make([]*Server, cfg.Sentinels),
	}
	if cfg.TLS != nil {
		t.nodeTLS, t.sentinelTLS = cfg.TLS.Probe, cfg.TLS.Probe
	}
	if cfg.SentinelTLS != nil {
		t.sentinelTLS = cfg.SentinelTLS.Probe
	}
	if err := t.launch(ctx, cfg); err != nil {
		_ = t.Stop()
		return nil, fmt.Errorf("redisproc: launch sentinel topology %q in %s: %w", cfg.MasterName, cfg.Dir, err)
	}
	return t, nil
}

func (t *Topology) launch(ctx context.Context, cfg SentinelConfig) error {
	var out *sharedOut
	if cfg.Stdout != nil {
		out = &sharedOut{w: cfg.Stdout}
	}
	if err := t.startNode(ctx, cfg, out, 0, 0); err != nil {
		return err
	}
	master := t.nodes[0]
	if err := forEach(cfg.Replicas, func(i int) error {
		return t.startNode(ctx, cfg, out, i+1, master.Port())
	}); err != nil {
		return err
	}
	// Sentinels learn the replicas from the master's INFO, which they read at
	// once and then only every 10 s: start them when the replicas are there.
	if err := poll(ctx, func(ctx context.Context) error { return t.checkData(ctx, master) }); err != nil {
		return fmt.Errorf("wait for the replicas to sync: %w%s", err, logTails(t.nodes, tailPerProc))
	}
	if err := forEach(cfg.Sentinels, func(i int) error {
		return t.startSentinel(ctx, cfg, out, i, master.Port())
	}); err != nil {
		return err
	}
	if err := poll(ctx, t.check); err != nil {
		return fmt.Errorf("wait until healthy: %w%s", err, logTails(t.all(), tailPerProc))
	}
	return nil
}

// dataNodeArgs are the directives of every data node; see SentinelConfig
// for why.
func dataNodeArgs(cfg SentinelConfig) []string {
	a := []string{
		"--repl-diskless-sync", "yes",
		"--repl-diskless-sync-delay", "0",
		"--replica-announce-ip", "127.0.0.1",
		// A replica cut off from its master refuses reads rather than
		// serve data that may predate a revocation (session replica reads
		// then go to the master).
		"--replica-serve-stale-data", "no",
	}
	if n := cfg.MinReplicasToWrite; n > 0 {
		a = append(a, "--min-replicas-to-write", strconv.Itoa(n), "--min-replicas-max-lag", "10")
	}
	if cfg.TLS != nil {
		a = append(a, "--tls-replication", "yes")
	}
	if cfg.Password != "" {
		a = append(a, "--requirepass", cfg.Password, "--masterauth", cfg.Password)
	}
	return append(a, cfg.ExtraArgs...)
}

// startNode starts data node i, a replica of the node on masterPort unless
// that is 0, and records it in t.nodes.
func (t *Topology) startNode(ctx context.Context, cfg SentinelConfig, out *sharedOut, i, masterPort int) error {
	name := "node-" + strconv.Itoa(i)
	dir := filepath.Join(cfg.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	conf := "# Written by redisproc.LaunchSentinel. The Sentinels' CONFIG REWRITE keeps\n" +
		"# the role (replicaof) current, so a restarted node resumes it.\n"
	if masterPort != 0 {
		conf += fmt.Sprintf("replicaof 127.0.0.1 %d\n", masterPort)
	}
	confPath := filepath.Join(dir, NodeConfName)
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("start %s: write config: %w", name, err)
	}
	c := Config{
		Dir:          dir,
		ConfigFile:   confPath,
		ExtraArgs:    dataNodeArgs(cfg),
		Stdout:       out.writer(name),
		Binary:       cfg.Binary,
		StartTimeout: cfg.StartTimeout,
	}
	var (
		s   *Server
		err error
	)
	if cfg.TLS != nil {
		s, err = LaunchTLS(ctx, c, *cfg.TLS)
	} else {
		s, err = Launch(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	t.nodes[i] = s
	return nil
}

// sentinelConf is the initial sentinel.conf.
func sentinelConf(cfg SentinelConfig, masterPort int) string {
	n := cfg.MasterName
	auth := ""
	if pw := cfg.Password; pw != "" {
		auth = fmt.Sprintf("sentinel auth-pass %s %s\nrequirepass %s\nsentinel sentinel-pass %s\n", n, pw, pw, pw)
	}
	return auth + fmt.Sprintf(`# Written by redisproc.LaunchSentinel; Sentinel rewrites it with what it
# learns (its id, the replicas, the other Sentinels, failovers).
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
sentinel announce-ip 127.0.0.1
`, n, masterPort, cfg.Quorum,
		n, cfg.DownAfter.Milliseconds(),
		n, cfg.FailoverTimeout.Milliseconds(),
		n)
}

// startSentinel starts Sentinel i watching the master on masterPort and
// records it in t.sentinels.
func (t *Topology) startSentinel(ctx context.Context, cfg SentinelConfig, out *sharedOut, i, masterPort int) error {
	name := "sentinel-" + strconv.Itoa(i)
	dir := filepath.Join(cfg.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	confPath := filepath.Join(dir, SentinelConfName)
	if err := os.WriteFile(confPath, []byte(sentinelConf(cfg, masterPort)), 0o644); err != nil {
		return fmt.Errorf("start %s: write config: %w", name, err)
	}
	c := Config{
		Dir:          dir,
		ConfigFile:   confPath,
		Sentinel:     true,
		Stdout:       out.writer(name),
		Binary:       cfg.Binary,
		StartTimeout: cfg.StartTimeout,
	}
	var (
		s   *Server
		err error
	)
	if cfg.TLS != nil {
		var o TLSOptions
		if o, err = sentinelTLSOptions(cfg, dir); err == nil {
			c.ExtraArgs = []string{"--tls-replication", "yes"} // TLS on every outgoing link
			s, err = LaunchTLS(ctx, c, o)
		}
	} else {
		s, err = Launch(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	t.sentinels[i] = s
	return nil
}

// sentinelTLSOptions are a Sentinel's TLS options (see
// SentinelConfig.SentinelTLS); a CA bundle is written to dir if needed.
func sentinelTLSOptions(cfg SentinelConfig, dir string) (TLSOptions, error) {
	data := *cfg.TLS
	o := data
	if cfg.SentinelTLS != nil {
		o = *cfg.SentinelTLS
		if filepath.Clean(o.CAFile) != filepath.Clean(data.CAFile) {
			var bundle []byte
			for _, f := range []string{o.CAFile, data.CAFile} {
				b, err := os.ReadFile(f)
				if err != nil {
					return o, fmt.Errorf("read CA file: %w", err)
				}
				bundle = append(bundle, b...)
				if len(b) > 0 && b[len(b)-1] != '\n' {
					bundle = append(bundle, '\n')
				}
			}
			o.CAFile = filepath.Join(dir, sentinelCABundle)
			if err := os.WriteFile(o.CAFile, bundle, 0o600); err != nil {
				return o, fmt.Errorf("write CA bundle: %w", err)
			}
		}
	}
	o.ClientCertFile, o.ClientKeyFile = data.ClientCertFile, data.ClientKeyFile
	if o.ClientCertFile == "" {
		o.ClientCertFile, o.ClientKeyFile = data.CertFile, data.KeyFile
	}
	return o, nil
}

// MasterName returns the name the Sentinels monitor the master under.
func (t *Topology) MasterName() string { return t.masterName }

// Password returns the password every process requires, or "".
func (t *Topology) Password() string { return t.password }

// Dir returns the absolute parent state directory.
func (t *Topology) Dir() string { return t.dir }

// SentinelAddrs returns the Sentinels' host:port addresses, for clients.
func (t *Topology) SentinelAddrs() []string {
	addrs := make([]string, len(t.sentinels))
	for i, s := range t.sentinels {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Sentinels returns the Sentinel processes (a new slice).
func (t *Topology) Sentinels() []*Server { return slices.Clone(t.sentinels) }

// DataNodes returns the master and replica processes (a new slice). Index 0
// is the initial master; after a failover ask Master which one it is.
func (t *Topology) DataNodes() []*Server { return slices.Clone(t.nodes) }

// Node returns the data node or Sentinel listening on addr (host:port as
// Addr reports it), or nil.
func (t *Topology) Node(addr string) *Server {
	if s := t.dataNode(addr); s != nil {
		return s
	}
	for _, s := range t.sentinels {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

func (t *Topology) dataNode(addr string) *Server {
	for _, s := range t.nodes {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// all returns every process, Sentinels first.
func (t *Topology) all() []*Server { return append(slices.Clone(t.sentinels), t.nodes...) }

// ClientTLS returns the client TLS configuration this package uses for the
// process at addr (the Probe of its TLS options), or nil for a plaintext
// one or an unknown addr. The caller must not modify it.
func (t *Topology) ClientTLS(addr string) *tls.Config {
	if t.dataNode(addr) != nil {
		return t.nodeTLS
	}
	if t.Node(addr) != nil {
		return t.sentinelTLS
	}
	return nil
}

// askMaster returns the master address Sentinel s reports.
func (t *Topology) askMaster(ctx context.Context, s *Server) (string, error) {
	c, err := dialAdmin(ctx, s.Addr(), t.sentinelTLS, t.password)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", t.masterName)
	if err != nil {
		return "", err
	}
	hp, ok := asStrings(v)
	if !ok || len(hp) != 2 {
		return "", fmt.Errorf("%s: SENTINEL GET-MASTER-ADDR-BY-NAME %s: unexpected reply %v", s.Addr(), t.masterName, v)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// Master returns the data node that a majority of all the Sentinels report
// as master now (SENTINEL GET-MASTER-ADDR-BY-NAME, asked of every Sentinel
// at once). If there is no such majority the error wraps ErrNoMaster and
// lists the answers; if the majority names an address that is no data node
// of t, that is an error too. Master does not check that the node is up:
// during a failover the Sentinels keep reporting the old master until they
// have promoted a replica.
func (t *Topology) Master(ctx context.Context) (*Server, error) {
	n := len(t.sentinels)
	addrs := make([]string, n)
	errs := make([]error, n)
	_ = forEach(n, func(i int) error {
		if t.sentinels[i].PID() == 0 {
			errs[i] = errors.New("not running")
			return nil
		}
		addrs[i], errs[i] = t.askMaster(ctx, t.sentinels[i])
		return nil
	})
	votes := make(map[string]int)
	for i := range n {
		if errs[i] == nil {
			votes[addrs[i]]++
		}
	}
	for addr, c := range votes {
		if c > n/2 {
			if s := t.dataNode(addr); s != nil {
				return s, nil
			}
			return nil, fmt.Errorf("redisproc: sentinels report master %s for %q, which is not a data node of this topology", addr, t.masterName)
		}
	}
	answers := make([]string, n)
	for i, s := range t.sentinels {
		if errs[i] != nil {
			answers[i] = fmt.Sprintf("%s: %v", serverName(s), errs[i])
		} else {
			answers[i] = fmt.Sprintf("%s: %s", serverName(s), addrs[i])
		}
	}
	return nil, fmt.Errorf("redisproc: %q: %w (%s)", t.masterName, ErrNoMaster, strings.Join(answers, "; "))
}

// WaitMasterChange polls Master until a majority of the Sentinels report a
// master other than old, and returns it; it is how a test sees a failover
// complete. The error, when ctx ends first, includes Master's last error.
func (t *Topology) WaitMasterChange(ctx context.Context, old *Server) (*Server, error) {
	var s *Server
	err := poll(ctx, func(ctx context.Context) error {
		m, err := t.Master(ctx)
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("sentinels still report %s (%s) as master", m.Addr(), serverName(m))
		}
		s = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisproc: wait for a new master of %q: %w", t.masterName, err)
	}
	return s, nil
}

// WaitHealthy polls until the topology is healthy or ctx ends (pass a ctx
// with a deadline): every running Sentinel (at least a majority of them and
// at least Quorum must run) reports the same master, with no down or
// failover flags; sees every other running Sentinel and every running
// replica, none flagged down or disconnected; that master runs and reports
// role master; and every other running data node reports role slave with
// its link to that master up. Stopped or killed processes are left out. The
// error, when ctx ends first, names the last thing that was wrong.
func (t *Topology) WaitHealthy(ctx context.Context) error {
	if err := poll(ctx, t.check); err != nil {
		return fmt.Errorf("redisproc: wait for sentinel topology %q to be healthy: %w", t.masterName, err)
	}
	return nil
}

// sentinelView is what one Sentinel reports.
type sentinelView struct {
	master      string          // host:port
	masterFlags string          // SENTINEL MASTER flags
	sentinels   map[string]bool // healthy other Sentinels by host:port
	replicas    map[string]bool // healthy replicas by host:port
}

func (t *Topology) view(ctx context.Context, s *Server) (sentinelView, error) {
	var v sentinelView
	c, err := dialAdmin(ctx, s.Addr(), t.sentinelTLS, t.password)
	if err != nil {
		return v, err
	}
	defer c.Close()
	r, err := c.do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", t.masterName)
	if err != nil {
		return v, err
	}
	hp, ok := asStrings(r)
	if !ok || len(hp) != 2 {
		return v, fmt.Errorf("%s: SENTINEL GET-MASTER-ADDR-BY-NAME: unexpected reply %v", s.Addr(), r)
	}
	v.master = net.JoinHostPort(hp[0], hp[1])
	if r, err = c.do(ctx, "SENTINEL", "MASTER", t.masterName); err != nil {
		return v, err
	}
	m, ok := asMap(r)
	if !ok {
		return v, fmt.Errorf("%s: SENTINEL MASTER: unexpected reply %v", s.Addr(), r)
	}
	v.masterFlags = m["flags"]
	for _, q := range []struct {
		sub string
		set *map[string]bool
	}{{"SENTINELS", &v.sentinels}, {"REPLICAS", &v.replicas}} {
		if r, err = c.do(ctx, "SENTINEL", q.sub, t.masterName); err != nil {
			return v, err
		}
		ms, ok := asMaps(r)
		if !ok {
			return v, fmt.Errorf("%s: SENTINEL %s: unexpected reply %v", s.Addr(), q.sub, r)
		}
		*q.set = make(map[string]bool)
		for _, e := range ms {
			if !hasFlag(e["flags"], "s_down", "o_down", "disconnected") {
				(*q.set)[net.JoinHostPort(e["ip"], e["port"])] = true
			}
		}
	}
	return v, nil
}

// check is one round of WaitHealthy.
func (t *Topology) check(ctx context.Context) error {
	var running []*Server
	for _, s := range t.sentinels {
		if s != nil && s.PID() != 0 {
			running = append(running, s)
		}
	}
	if need := max(t.quorum, len(t.sentinels)/2+1); len(running) < need {
		return fmt.Errorf("%d of %d sentinels running; need %d", len(running), len(t.sentinels), need)
	}
	views := make([]sentinelView, len(running))
	if err := forEach(len(running), func(i int) error {
		var err error
		views[i], err = t.view(ctx, running[i])
		return err
	}); err != nil {
		return err
	}
	addr := views[0].master
	for i, v := range views[1:] {
		if v.master != addr {
			return fmt.Errorf("%s reports master %s, %s reports %s", serverName(running[0]), addr, serverName(running[i+1]), v.master)
		}
	}
	master := t.dataNode(addr)
	if master == nil {
		return fmt.Errorf("sentinels report master %s, which is not a data node of this topology", addr)
	}
	for i, v := range views {
		name := serverName(running[i])
		if v.masterFlags != "master" {
			return fmt.Errorf("%s: master %s has flags %q", name, addr, v.masterFlags)
		}
		for _, o := range running {
			if o != running[i] && !v.sentinels[o.Addr()] {
				return fmt.Errorf("%s does not see %s (%s) as up", name, serverName(o), o.Addr())
			}
		}
		for _, n := range t.nodes {
			if n != master && n.PID() != 0 && !v.replicas[n.Addr()] {
				return fmt.Errorf("%s does not see replica %s (%s) as up", name, serverName(n), n.Addr())
			}
		}
	}
	return t.checkData(ctx, master)
}

// checkData checks that master runs as master and every other running data
// node is its replica with the link up.
func (t *Topology) checkData(ctx context.Context, master *Server) error {
	if master.PID() == 0 {
		return fmt.Errorf("master %s (%s) is not running", serverName(master), master.Addr())
	}
	return forEach(len(t.nodes), func(i int) error {
		n := t.nodes[i]
		if n == nil || n.PID() == 0 {
			return nil
		}
		c, err := dialAdmin(ctx, n.Addr(), t.nodeTLS, t.password)
		if err != nil {
			return err
		}
		defer c.Close()
		info, err := c.info(ctx, "replication")
		if err != nil {
			return err
		}
		name := serverName(n)
		if n == master {
			if info["role"] != "master" {
				return fmt.Errorf("%s (%s), the master, reports role %s", name, n.Addr(), info["role"])
			}
			return nil
		}
		switch {
		case info["role"] != "slave":
			return fmt.Errorf("%s (%s) reports role %s, not replica of %s", name, n.Addr(), info["role"], master.Addr())
		case net.JoinHostPort(info["master_host"], info["master_port"]) != master.Addr():
			return fmt.Errorf("%s (%s) replicates %s:%s, not %s", name, n.Addr(), info["master_host"], info["master_port"], master.Addr())
		case info["master_link_status"] != "up":
			return fmt.Errorf("%s (%s): link to master %s is %s", name, n.Addr(), master.Addr(), info["master_link_status"])
		}
		return nil
	})
}

// Stop stops the Sentinels first (so that they start no failover), then all
// data nodes, each as Server.Stop does, and returns their errors joined.
// Like Server.Stop it may be called any number of times; a process that is
// not running is skipped. The Dir and its files are left in place.
func (t *Topology) Stop() error {
	return errors.Join(stopAll(t.sentinels), stopAll(t.nodes))
}

// FailoverClient returns a go-redis Sentinel client for t's master, closed
// by owner's cleanup (when the test ends, for a *testing.T). It dials each
// address with the TLS configuration of the process there (see ClientTLS)
// and uses short timeouts (500 ms), so a dead master is abandoned quickly.
// opts may adjust the options.
func (t *Topology) FailoverClient(owner Cleaner, opts ...func(*redis.FailoverOptions)) *redis.Client {
	o := &redis.FailoverOptions{
		MasterName:       t.masterName,
		SentinelAddrs:    t.SentinelAddrs(),
		DialTimeout:      500 * time.Millisecond,
		ReadTimeout:      500 * time.Millisecond,
		WriteTimeout:     500 * time.Millisecond,
		Password:         t.password,
		SentinelPassword: t.password,
	}
	if t.nodeTLS != nil || t.sentinelTLS != nil {
		o.Dialer = t.dial
	}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewFailoverClient(o)
	owner.Cleanup(func() { _ = c.Close() })
	return c
}

// LogTails returns the last n log lines of every process, Sentinels first,
// each headed by its name, address and pid, for an error message or a
// failed test's log.
func (t *Topology) LogTails(n int) string { return logTails(t.all(), n) }

// dial connects to addr with the TLS configuration of the process there.
func (t *Topology) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: 500 * time.Millisecond}
	if conf := t.ClientTLS(addr); conf != nil {
		return (&tls.Dialer{NetDialer: nd, Config: conf}).DialContext(ctx, network, addr)
	}
	return nd.DialContext(ctx, network, addr)
}
