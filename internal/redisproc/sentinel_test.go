package redisproc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redisproc"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

// eventually retries f every 50 ms until it returns nil or d passes, then
// fails the test with f's last error.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAllGone stops servers through stop and checks that none of their
// processes is left and that a second stop is a no-op.
func checkAllGone(t *testing.T, servers []*redisproc.Server, stop func() error) {
	t.Helper()
	var pids []int
	for _, s := range servers {
		if pid := s.PID(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatal("no process running before Stop")
	}
	if err := stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if redisproc.Alive(pid) {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	for _, s := range servers {
		if s.PID() != 0 {
			t.Errorf("%s: PID %d after Stop", redisproc.ServerName(s), s.PID())
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), redisproc.PidFileName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: pidfile after Stop: %v", redisproc.ServerName(s), err)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestSentinelFailoverAndRejoin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	topo := redistest.StartSentinel(t)
	t.Logf("topology healthy after %v: sentinels %v", time.Since(start).Round(time.Millisecond), topo.SentinelAddrs())

	if n := len(topo.DataNodes()); n != 3 {
		t.Fatalf("%d data nodes; want 3 (master and 2 replicas)", n)
	}
	if n := len(topo.Sentinels()); n != 3 {
		t.Fatalf("%d sentinels; want 3", n)
	}
	for _, s := range append(topo.Sentinels(), topo.DataNodes()...) {
		if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || topo.Node(s.Addr()) != s {
			t.Errorf("%s: Addr %q, Node(Addr) = %v", redisproc.ServerName(s), s.Addr(), topo.Node(s.Addr()))
		}
	}
	old, err := topo.Master(ctx)
	if err != nil {
		t.Fatalf("Master: %v", err)
	}
	if old != topo.DataNodes()[0] {
		t.Fatalf("Master = %s; want node-0", redisproc.ServerName(old))
	}

	c := topo.FailoverClient(t)
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatalf("SET through the failover client: %v", err)
	}
	if got, err := c.Get(ctx, "before").Result(); got != "1" || err != nil {
		t.Fatalf("GET = %q, %v", got, err)
	}
	// Every Sentinel announces 127.0.0.1 for itself and the replicas.
	sc := redis.NewSentinelClient(&redis.Options{Addr: topo.SentinelAddrs()[0]})
	t.Cleanup(func() { _ = sc.Close() })
	for _, q := range []func(context.Context, string) *redis.MapStringStringSliceCmd{sc.Sentinels, sc.Replicas} {
		list, err := q(ctx, topo.MasterName()).Result()
		if err != nil || len(list) != 2 {
			t.Fatalf("SENTINEL SENTINELS/REPLICAS = %v, %v; want 2 entries", list, err)
		}
		for _, e := range list {
			if e["ip"] != "127.0.0.1" {
				t.Errorf("announced ip %q; want 127.0.0.1", e["ip"])
			}
		}
	}

	// kill -9 the master: the Sentinels promote a replica.
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	master, err := topo.WaitMasterChange(wctx, old)
	if err != nil {
		t.Fatalf("no failover: %v", err)
	}
	t.Logf("failover: %s promoted %v after the kill (down-after 1s)", redisproc.ServerName(master), time.Since(killed).Round(time.Millisecond))
	eventually(t, 15*time.Second, "SET after failover", func() error { return c.Set(ctx, "after", "2", 0).Err() })
	t.Logf("failover client wrote to the new master %v after the kill", time.Since(killed).Round(time.Millisecond))

	// The old master comes back empty and as a master; the Sentinels turn it
	// into a replica of the new one.
	restarted := time.Now()
	if err := old.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := topo.WaitHealthy(hctx); err != nil {
		t.Fatalf("after restarting the old master: %v", err)
	}
	t.Logf("old master rejoined as a replica %v after its restart", time.Since(restarted).Round(time.Millisecond))
	// On a loaded machine the Sentinels may fail over a second time (the
	// new master missed its pings for down-after): the old master rejoins
	// whichever master they name now.
	current, err := topo.Master(ctx)
	if err != nil {
		t.Fatalf("Master after rejoin: %v", err)
	}
	if current != master {
		t.Logf("a second failover happened meanwhile: the master is now %s", redisproc.ServerName(current))
		master = current
	}
	oc := old.Client(t)
	info, err := oc.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:slave") || !strings.Contains(info, "master_port:"+strconv.Itoa(master.Port())) {
		t.Fatalf("old master INFO replication = %v\n%s", err, info)
	}
	eventually(t, 5*time.Second, "GET on the rejoined node", func() error {
		got, err := oc.Get(ctx, "after").Result()
		if err == nil && got != "2" {
			err = errors.New("got " + got)
		}
		return err
	})
	if m, err := topo.Master(ctx); m != master || err != nil {
		t.Fatalf("Master after rejoin = %v, %v; want %s", m, err, redisproc.ServerName(master))
	}
	// The Sentinels' CONFIG REWRITE recorded the roles in the config files,
	// so the nodes they reconfigured would restart in them.
	for _, n := range topo.DataNodes() {
		b, err := os.ReadFile(filepath.Join(n.Dir(), redisproc.NodeConfName))
		if err != nil {
			t.Fatal(err)
		}
		want := "replicaof 127.0.0.1 " + strconv.Itoa(master.Port())
		if n == master {
			want = ""
		}
		if got := replicaofLine(string(b)); got != want {
			t.Errorf("%s: %s has %q; want %q", redisproc.ServerName(n), redisproc.NodeConfName, got, want)
		}
	}

	checkAllGone(t, append(topo.Sentinels(), topo.DataNodes()...), topo.Stop)
	if pids := redisUnder(t, topo.Dir()); len(pids) != 0 {
		t.Errorf("redis-server processes left running: %v", pids)
	}
}

var errNotYet = errors.New("not yet")

// replicaofLine returns the replicaof directive of a config file, or "".
func replicaofLine(conf string) string {
	for line := range strings.Lines(conf) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "replicaof" {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// testCA makes a CA named name with a server certificate for 127.0.0.1 and
// a client certificate, and returns TLS options for servers (presenting the
// client certificate as clients) and the client configuration.
func testCA(t *testing.T, name string) (redisproc.TLSOptions, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca, err := redisproc.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := redisproc.WriteBundle(caFile, ca); err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.IssueFiles(dir, "server", redisproc.CertSpec{CommonName: name + " server", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.IssueFiles(dir, "client", redisproc.CertSpec{CommonName: name + " client", Client: true})
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
	return redisproc.TLSOptions{
		CertFile: srvCert, KeyFile: srvKey, CAFile: caFile, Probe: conf,
		ClientCertFile: cliCert, ClientKeyFile: cliKey,
	}, conf
}

// TestSentinelTLSSeparateCAs runs TLS-only data nodes with one CA and
// TLS-only Sentinels with another, and talks to them the way a service
// would: a failover client that picks the TLS configuration by address.
func TestSentinelTLSSeparateCAs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataOpts, dataTLS := testCA(t, "studio data CA")
	sentOpts, sentTLS := testCA(t, "studio sentinel CA")
	topo := redistest.StartSentinel(t, func(c *redisproc.SentinelConfig) {
		c.Replicas = 1
		c.MinReplicasToWrite = -1 // writes go on while the one replica resyncs
		c.TLS = &dataOpts
		c.SentinelTLS = &sentOpts
	})

	isSentinel := make(map[string]bool)
	for _, a := range topo.SentinelAddrs() {
		isSentinel[a] = true
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conf := dataTLS
		if isSentinel[addr] {
			conf = sentTLS
		}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 500 * time.Millisecond}, Config: conf}
		return d.DialContext(ctx, network, addr)
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    topo.MasterName(),
		SentinelAddrs: topo.SentinelAddrs(),
		Dialer:        dial,
		DialTimeout:   500 * time.Millisecond,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
	})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS through the Sentinels: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); got != "v" || err != nil {
		t.Fatalf("GET = %q, %v", got, err)
	}

	// The CAs really differ, each server demands a client certificate of its
	// own CA, and nothing listens in plaintext.
	wrongClient := dataTLS.Clone()
	wrongClient.Certificates = sentTLS.Certificates
	for _, tc := range []struct {
		name string
		addr string
		conf *tls.Config
	}{
		{"sentinel with the data nodes' CA", topo.SentinelAddrs()[0], dataTLS},
		{"data node with the Sentinels' CA", topo.DataNodes()[0].Addr(), sentTLS},
		{"data node with a client certificate of the Sentinels' CA", topo.DataNodes()[0].Addr(), wrongClient},
		{"sentinel in plaintext", topo.SentinelAddrs()[0], nil},
		{"data node in plaintext", topo.DataNodes()[0].Addr(), nil},
	} {
		if err := redisproc.AdminPing(ctx, tc.addr, tc.conf); err == nil {
			t.Errorf("%s: PING succeeded", tc.name)
		}
	}

	// The Sentinels fail over over TLS too.
	old := topo.DataNodes()[0]
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	master, err := topo.WaitMasterChange(wctx, old)
	if err != nil {
		t.Fatalf("no failover: %v", err)
	}
	t.Logf("TLS failover: %s promoted %v after the kill", redisproc.ServerName(master), time.Since(killed).Round(time.Millisecond))
	eventually(t, 15*time.Second, "SET after failover", func() error { return c.Set(ctx, "k", "w", 0).Err() })
}

func TestSentinelSingleNodeAndStdout(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	topo := redistest.StartSentinel(t, func(c *redisproc.SentinelConfig) {
		c.Replicas, c.Sentinels = -1, 1
		c.MasterName = "solo"
		c.Stdout = &buf
	})
	ctx := t.Context()
	if len(topo.DataNodes()) != 1 || len(topo.Sentinels()) != 1 || topo.MasterName() != "solo" {
		t.Fatalf("%d data nodes, %d sentinels, name %q", len(topo.DataNodes()), len(topo.Sentinels()), topo.MasterName())
	}
	// MinReplicasToWrite defaults to off without replicas: writes work.
	if err := topo.FailoverClient(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := topo.Stop(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "node-0 ") && !strings.HasPrefix(line, "sentinel-0 ") {
			t.Fatalf("log line without a process name: %q", line)
		}
	}
	if !strings.Contains(out, "sentinel-0 ") || !strings.Contains(out, "+monitor master solo 127.0.0.1") || !strings.Contains(out, "node-0 ") {
		t.Errorf("Stdout lacks the processes' logs:\n%s", out)
	}
	for _, s := range append(topo.Sentinels(), topo.DataNodes()...) {
		if _, err := os.Stat(filepath.Join(s.Dir(), redisproc.LogFileName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: log file written although Stdout was set (%v)", redisproc.ServerName(s), err)
		}
	}
}

func TestSentinelConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts, _ := testCA(t, "ca")
	noProbe := opts
	noProbe.Probe = nil
	for _, tc := range []struct {
		cfg  redisproc.SentinelConfig
		want string
	}{
		{redisproc.SentinelConfig{}, "Dir is required"},
		{redisproc.SentinelConfig{Dir: dir, MasterName: "my master"}, "MasterName"},
		{redisproc.SentinelConfig{Dir: dir, Sentinels: -1}, "Sentinels is -1"},
		{redisproc.SentinelConfig{Dir: dir, Quorum: 4}, "Quorum 4 with 3 Sentinels"},
		{redisproc.SentinelConfig{Dir: dir, DownAfter: -time.Second}, "DownAfter"},
		{redisproc.SentinelConfig{Dir: dir, SentinelTLS: &opts}, "SentinelTLS requires TLS"},
		{redisproc.SentinelConfig{Dir: dir, TLS: &noProbe}, "Probe"},
	} {
		_, err := redisproc.LaunchSentinel(t.Context(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LaunchSentinel(%+v) = %v; want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused config left %d entries in Dir", len(entries))
	}
}

func TestSentinelLaunchFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The data nodes start; then the Sentinels fail (their certificate is
	// missing), and the running data nodes must be stopped.
	dataOpts, _ := testCA(t, "data CA")
	sentOpts, _ := testCA(t, "sentinel CA")
	sentOpts.CertFile = filepath.Join(dir, "missing.crt")
	_, err := redisproc.LaunchSentinel(t.Context(), redisproc.SentinelConfig{Dir: dir, Replicas: 1, Sentinels: 1, TLS: &dataOpts, SentinelTLS: &sentOpts})
	if err == nil {
		t.Fatal("LaunchSentinel with a missing certificate succeeded")
	}
	if !strings.Contains(err.Error(), "sentinel-0") || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("error lacks the process or its complaint: %v", err)
	}
	t.Logf("error: %v", err)
	if pids := redisUnder(t, dir); len(pids) != 0 {
		t.Errorf("redis-server processes left running: %v", pids)
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == redisproc.PidFileName {
			t.Errorf("pidfile left behind: %s", path)
		}
		return nil
	})

	_, err = redisproc.LaunchSentinel(t.Context(), redisproc.SentinelConfig{Dir: dir, ExtraArgs: []string{"--no-such-directive", "1"}})
	if err == nil || !strings.Contains(err.Error(), "no-such-directive") || !strings.Contains(err.Error(), "node-0") {
		t.Errorf("LaunchSentinel with a bad directive = %v; want an error naming node-0 and the directive", err)
	}
	_, err = redisproc.LaunchSentinel(t.Context(), redisproc.SentinelConfig{Dir: dir, Binary: "/nonexistent/redis-server"})
	if !errors.Is(err, redisproc.ErrNoRedisServer) {
		t.Errorf("LaunchSentinel without the binary = %v; want ErrNoRedisServer", err)
	}
}

// redisUnder returns the pids of live redis-server processes whose working
// directory is dir or below it.
func redisUnder(t *testing.T, dir string) []int {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		if ok, err := redisproc.IsRedisIn(pid, cwd); err == nil && ok {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestKillStaleTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var exited []<-chan struct{}
	for _, sub := range []string{"node-0", "sentinel-1"} {
		d := filepath.Join(dir, sub)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		_, done := startLeftover(t, d)
		exited = append(exited, done)
	}
	if err := redisproc.KillStaleTree(dir); err != nil {
		t.Fatalf("KillStaleTree: %v", err)
	}
	for i, done := range exited {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("leftover %d still running after KillStaleTree", i)
		}
	}
	if err := redisproc.KillStaleTree(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("KillStaleTree of a missing dir: %v", err)
	}

	// A whole topology, as a crashed `studio up` leaves it.
	tdir := t.TempDir()
	topo, err := redisproc.LaunchSentinel(t.Context(), redisproc.SentinelConfig{Dir: tdir, Replicas: -1, Sentinels: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topo.Stop() })
	if err := redisproc.KillStaleTree(tdir); err != nil {
		t.Fatalf("KillStaleTree of a topology dir: %v", err)
	}
	for _, s := range append(topo.Sentinels(), topo.DataNodes()...) {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still running after KillStaleTree", redisproc.ServerName(s))
		}
	}
}

// TestSentinelTLSOnly covers the default for SentinelTLS: with only TLS set
// the Sentinels use the data nodes' TLS options.
func TestSentinelTLSOnly(t *testing.T) {
	t.Parallel()
	opts, conf := testCA(t, "studio CA")
	topo := redistest.StartSentinel(t, func(c *redisproc.SentinelConfig) {
		c.Replicas, c.Sentinels = 1, 1
		c.TLS = &opts
	})
	for _, a := range append(topo.SentinelAddrs(), topo.DataNodes()[1].Addr()) {
		if topo.ClientTLS(a) != conf {
			t.Errorf("ClientTLS(%s) is not the Probe", a)
		}
	}
	c := topo.FailoverClient(t)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
}

// TestSentinelWithPassword: every process of the topology requires the
// password; the Topology's own checks and FailoverClient use it, a client
// without it is refused, and a failover still works.
func TestSentinelWithPassword(t *testing.T) {
	const pw = "topology-secret-0123"
	topo := redistest.StartSentinel(t, func(c *redisproc.SentinelConfig) { c.Password = pw })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range append(topo.Sentinels(), topo.DataNodes()...) {
		err := s.Client(t).Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Fatalf("%s answered PING without the password: %v", s.Addr(), err)
		}
	}
	c := topo.FailoverClient(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("failover client with the password: %v", err)
	}
	old, err := topo.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := topo.WaitMasterChange(ctx, old); err != nil {
		t.Fatal(err)
	}
}
