package redisproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	// ClusterConfName is the cluster state file (cluster-config-file) a
	// cluster node keeps in its Dir. LaunchCluster removes an old one, so
	// every launch makes a new cluster; Restart keeps it, so a restarted node
	// rejoins with its identity.
	ClusterConfName = "nodes.conf"
	// ClusterNodeTimeout is the cluster-node-timeout LaunchCluster sets:
	// a node unreachable this long is flagged failing and a replica of a
	// failed master is promoted about a second later. Redis's default is
	// 15 s; override it with ExtraArgs.
	ClusterNodeTimeout = 2 * time.Second

	clusterSlots = 16384
	busOffset    = 10000 // cluster bus port = port + busOffset (Redis 6 and 7)
)

// ClusterConfig describes a Redis Cluster on one machine. Only Dir is
// required.
type ClusterConfig struct {
	// Dir is the parent state directory; node i runs in the sub-directory
	// node-i. An old cluster state file (ClusterConfName) there is removed;
	// call KillStaleTree first if an earlier run may have left processes
	// behind. Cluster nodes fsync that file from their only thread, so a
	// tmpfs Dir (/dev/shm) is the safe choice on a busy disk;
	// redistest.StartCluster uses one when it can. Required.
	Dir string
	// Masters is the number of masters; the 16384 slots are split evenly
	// between them, in order. Default 3.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master; default 0.
	ReplicasPerMaster int
	// ExtraArgs are extra redis-server directives for every node, after (so
	// overriding) the ones this package sets: --cluster-enabled yes,
	// --cluster-config-file nodes.conf, --cluster-node-timeout 2000,
	// --cluster-announce-ip 127.0.0.1, and --repl-diskless-sync yes with
	// --repl-diskless-sync-delay 0 (replicas sync over the socket at once).
	ExtraArgs []string
	// Stdout receives every node's log lines, each whole line prefixed with
	// the node's name and a space ("node-3 12345:M 28 Nov …"). Writes are
	// serialised across nodes. Default (nil): a log file in each node's Dir
	// (LogFileName).
	Stdout io.Writer
	// Binary is the redis-server executable; default "redis-server" from
	// PATH.
	Binary string
	// StartTimeout bounds the whole launch, up to the first WaitHealthy;
	// default 30s. Each node also gets it as its Config.StartTimeout, which
	// bounds its Restart.
	StartTimeout time.Duration
}

func (cfg ClusterConfig) withDefaults() (ClusterConfig, error) {
	fail := func(format string, args ...any) (ClusterConfig, error) {
		return cfg, fmt.Errorf("redisproc: cluster config: "+format, args...)
	}
	if cfg.Dir == "" {
		return fail("Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fail("dir %q: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	switch {
	case cfg.Masters == 0:
		cfg.Masters = 3
	case cfg.Masters < 0 || cfg.Masters > clusterSlots:
		return fail("Masters is %d; want 1 to %d", cfg.Masters, clusterSlots)
	}
	if cfg.ReplicasPerMaster < 0 {
		return fail("ReplicasPerMaster is %d; want 0 or more", cfg.ReplicasPerMaster)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultTopologyTimeout
	}
	return cfg, nil
}

// Cluster is a Redis Cluster started by LaunchCluster; its nodes are
// Servers, which tests may Kill, Pause or Restart. The caller owns it and
// must call Stop. Its methods are safe for concurrent use; they open
// short-lived connections of their own and start no goroutines that outlive
// a call.
type Cluster struct {
	dir     string
	masters int
	nodes   []*Server // the initial masters, in slot order, then the replicas
}

// LaunchCluster starts the nodes (cluster-enabled, see ClusterConfig), gives
// each master its share of the slots (CLUSTER ADDSLOTSRANGE, or ADDSLOTS
// before Redis 7), joins them (CLUSTER MEET), attaches the replicas (CLUSTER
// REPLICATE), and returns once WaitHealthy passes: cluster_state:ok on every
// node and every node agreeing on the nodes, their roles and the slot map.
// ctx and cfg.StartTimeout bound the launch; cancelling ctx later stops
// nothing. On failure nothing is left running and the error includes the
// last log lines of the nodes involved; if the binary is missing it wraps
// ErrNoRedisServer.
func LaunchCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	c := &Cluster{
		dir:     cfg.Dir,
		masters: cfg.Masters,
		nodes:   make([]*Server, cfg.Masters*(1+cfg.ReplicasPerMaster)),
	}
	if err := c.launch(ctx, cfg); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("redisproc: launch cluster in %s: %w", cfg.Dir, err)
	}
	return c, nil
}

func (c *Cluster) launch(ctx context.Context, cfg ClusterConfig) error {
	var out *sharedOut
	if cfg.Stdout != nil {
		out = &sharedOut{w: cfg.Stdout}
	}
	if err := forEach(len(c.nodes), func(i int) error { return c.startNode(ctx, cfg, out, i) }); err != nil {
		return err
	}
	ids := make([]string, len(c.nodes))
	// Distinct config epochs up front spare the nodes resolving collisions.
	if err := forEach(len(c.nodes), func(i int) error {
		conn, err := dialAdmin(ctx, c.nodes[i].Addr(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		if ids[i], err = conn.doString(ctx, "CLUSTER", "MYID"); err != nil {
			return err
		}
		_, err = conn.do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		return err
	}); err != nil {
		return fmt.Errorf("prepare nodes: %w", err)
	}
	if err := forEach(c.masters, func(i int) error { return c.addSlots(ctx, i) }); err != nil {
		return fmt.Errorf("assign slots: %w", err)
	}
	if err := c.meet(ctx); err != nil {
		return fmt.Errorf("join nodes: %w", err)
	}
	if err := poll(ctx, c.checkJoined); err != nil {
		return fmt.Errorf("wait for the nodes to know each other: %w%s", err, logTails(c.nodes, tailPerProc))
	}
	if err := forEach(len(c.nodes)-c.masters, func(j int) error {
		r := c.masters + j
		conn, err := dialAdmin(ctx, c.nodes[r].Addr(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.do(ctx, "CLUSTER", "REPLICATE", ids[c.masterOf(r)])
		return err
	}); err != nil {
		return fmt.Errorf("attach replicas: %w", err)
	}
	if err := poll(ctx, c.check); err != nil {
		return fmt.Errorf("wait until healthy: %w%s", err, logTails(c.nodes, tailPerProc))
	}
	return nil
}

// masterOf returns the index of the initial master of replica r.
func (c *Cluster) masterOf(r int) int {
	per := (len(c.nodes) - c.masters) / c.masters
	return (r - c.masters) / per
}

// clusterPort returns a free port whose cluster bus port is free too.
func clusterPort() (int, error) {
	var lastErr error
	for range 50 {
		port, err := freePort("127.0.0.1")
		if err != nil {
			return 0, err
		}
		if port+busOffset > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
		if err != nil {
			lastErr = err
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port with a free bus port (+%d): %v", busOffset, lastErr)
}

// startNode starts node i on a port whose bus port is free.
func (c *Cluster) startNode(ctx context.Context, cfg ClusterConfig, out *sharedOut, i int) error {
	name := "node-" + strconv.Itoa(i)
	dir := filepath.Join(cfg.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.Remove(filepath.Join(dir, ClusterConfName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("start %s: remove old cluster state: %w", name, err)
	}
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", ClusterConfName,
		"--cluster-node-timeout", strconv.FormatInt(ClusterNodeTimeout.Milliseconds(), 10),
		"--cluster-announce-ip", "127.0.0.1",
		"--repl-diskless-sync", "yes",
		"--repl-diskless-sync-delay", "0",
	}, cfg.ExtraArgs...)
	var lastErr error
	for range portAttempts {
		port, err := clusterPort()
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		s, err := Launch(ctx, Config{
			Dir:          dir,
			Port:         port,
			ExtraArgs:    args,
			Stdout:       out.writer(name),
			Binary:       cfg.Binary,
			StartTimeout: cfg.StartTimeout,
		})
		if err == nil {
			c.nodes[i] = s
			return nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("start %s: %w", name, lastErr)
}

// addSlots gives master i its share of the slots.
func (c *Cluster) addSlots(ctx context.Context, i int) error {
	lo, hi := i*clusterSlots/c.masters, (i+1)*clusterSlots/c.masters-1
	conn, err := dialAdmin(ctx, c.nodes[i].Addr(), nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.do(ctx, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown subcommand") {
		return err
	}
	args := []string{"CLUSTER", "ADDSLOTS"} // Redis 6
	for s := lo; s <= hi; s++ {
		args = append(args, strconv.Itoa(s))
	}
	_, err = conn.do(ctx, args...)
	return err
}

// meet introduces every node to node 0; gossip does the rest.
func (c *Cluster) meet(ctx context.Context) error {
	conn, err := dialAdmin(ctx, c.nodes[0].Addr(), nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range c.nodes[1:] {
		if _, err := conn.do(ctx, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.Port())); err != nil {
			return err
		}
	}
	return nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, flags, master, link string
	slots                         []string // ranges; migrating/importing entries left out
}

func parseClusterNodes(s string) ([]clusterNode, error) {
	var nodes []clusterNode
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES: short line %q", strings.TrimSpace(line))
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: f[2], master: f[3], link: f[7]}
		for _, sl := range f[8:] {
			if !strings.HasPrefix(sl, "[") {
				n.slots = append(n.slots, sl)
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// nodesView returns what the node at addr reports in CLUSTER NODES.
func nodesView(ctx context.Context, conn *adminConn) ([]clusterNode, error) {
	s, err := conn.doString(ctx, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return parseClusterNodes(s)
}

// checkView checks that a node's view lists every node of c, connected and
// not flagged failing or in handshake.
func (c *Cluster) checkView(name string, view []clusterNode) error {
	if len(view) != len(c.nodes) {
		return fmt.Errorf("%s knows %d nodes; want %d", name, len(view), len(c.nodes))
	}
	for _, n := range view {
		if hasFlag(n.flags, "fail?", "fail", "handshake", "noaddr") || n.link != "connected" {
			return fmt.Errorf("%s sees node %s (%s) with flags %s, link %s", name, n.addr, n.id, n.flags, n.link)
		}
		if !slices.ContainsFunc(c.nodes, func(s *Server) bool { return s.Addr() == n.addr }) {
			return fmt.Errorf("%s knows node %s (%s), which is not part of this cluster", name, n.addr, n.id)
		}
	}
	return nil
}

// checkJoined checks that every node knows every other node.
func (c *Cluster) checkJoined(ctx context.Context) error {
	return forEach(len(c.nodes), func(i int) error {
		conn, err := dialAdmin(ctx, c.nodes[i].Addr(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		view, err := nodesView(ctx, conn)
		if err != nil {
			return err
		}
		return c.checkView(serverName(c.nodes[i]), view)
	})
}

// check is one round of WaitHealthy.
func (c *Cluster) check(ctx context.Context) error {
	views := make([]string, len(c.nodes))
	if err := forEach(len(c.nodes), func(i int) error {
		s := c.nodes[i]
		name := serverName(s)
		if s.PID() == 0 {
			return fmt.Errorf("%s (%s) is not running", name, s.Addr())
		}
		conn, err := dialAdmin(ctx, s.Addr(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		ci, err := conn.doString(ctx, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		info := parseFields(ci, ':')
		if info["cluster_state"] != "ok" || info["cluster_slots_ok"] != strconv.Itoa(clusterSlots) {
			return fmt.Errorf("%s: cluster_state %s, %s of %d slots ok", name, info["cluster_state"], info["cluster_slots_ok"], clusterSlots)
		}
		view, err := nodesView(ctx, conn)
		if err != nil {
			return err
		}
		if err := c.checkView(name, view); err != nil {
			return err
		}
		lines := make([]string, len(view))
		for k, n := range view {
			role := "master"
			if hasFlag(n.flags, "slave") {
				role = "replica of " + n.master
			}
			lines[k] = fmt.Sprintf("%s %s %s %s", n.id, n.addr, role, strings.Join(n.slots, ","))
		}
		slices.Sort(lines)
		views[i] = strings.Join(lines, "\n")
		if hasFlag(mySelf(view).flags, "slave") {
			repl, err := conn.info(ctx, "replication")
			if err != nil {
				return err
			}
			if repl["master_link_status"] != "up" {
				return fmt.Errorf("%s: link to master %s:%s is %s", name, repl["master_host"], repl["master_port"], repl["master_link_status"])
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for i, v := range views[1:] {
		if v != views[0] {
			return fmt.Errorf("%s and %s disagree:\n%s\nversus\n%s", serverName(c.nodes[0]), serverName(c.nodes[i+1]), views[0], v)
		}
	}
	return nil
}

// mySelf returns the entry flagged myself.
func mySelf(view []clusterNode) clusterNode {
	for _, n := range view {
		if hasFlag(n.flags, "myself") {
			return n
		}
	}
	return clusterNode{}
}

// WaitHealthy polls until every node runs and reports cluster_state:ok with
// all slots ok, every node knows every other node (connected, none flagged
// failing), all nodes report the same nodes, roles and slot map, and every
// replica's link to its master is up; or until ctx ends (pass a ctx with a
// deadline). The error, when ctx ends first, names the last thing that was
// wrong.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	if err := poll(ctx, c.check); err != nil {
		return fmt.Errorf("redisproc: wait for cluster in %s to be healthy: %w", c.dir, err)
	}
	return nil
}

// Addrs returns the nodes' host:port addresses, seeds for cluster clients.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Nodes returns the node processes (a new slice): first the initial
// masters, in slot order (master i serves slots i*16384/Masters up to the
// next master's first slot), then the replicas, ReplicasPerMaster of them
// for master 0, then for master 1, and so on. Roles may change after a
// failover; CLUSTER NODES tells the current ones.
func (c *Cluster) Nodes() []*Server { return slices.Clone(c.nodes) }

// Dir returns the absolute parent state directory.
func (c *Cluster) Dir() string { return c.dir }

// Stop stops every node, as Server.Stop does, and returns their errors
// joined. It may be called any number of times; a node that is not running
// is skipped. The Dir and its files are left in place.
func (c *Cluster) Stop() error { return stopAll(c.nodes) }

// Client returns a go-redis cluster client seeded with every node, closed
// by owner's cleanup (when the test ends, for a *testing.T). opts may
// adjust the options.
func (c *Cluster) Client(owner Cleaner, opts ...func(*redis.ClusterOptions)) *redis.ClusterClient {
	o := &redis.ClusterOptions{Addrs: c.Addrs()}
	for _, f := range opts {
		f(o)
	}
	cc := redis.NewClusterClient(o)
	owner.Cleanup(func() { _ = cc.Close() })
	return cc
}

// LogTails returns the last n log lines of every node, each headed by its
// name, address and pid, for an error message or a failed test's log.
func (c *Cluster) LogTails(n int) string { return logTails(c.nodes, n) }
