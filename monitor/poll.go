package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// failoverAddr is the Addr go-redis gives a Sentinel-backed client.
const failoverAddr = "FailoverClient"

// infoSections are the INFO sections polled (Redis 7 takes several).
var infoSections = []string{"server", "clients", "memory", "stats", "replication", "keyspace", "errorstats"}

// nodeClient is the part of a go-redis client a poll uses.
type nodeClient interface {
	Info(ctx context.Context, sections ...string) *redis.StringCmd
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// nodeResult is what one poll learnt from one server.
type nodeResult struct {
	addr    string // the server's host:port, "" when unknown
	info    Info
	latency []LatencyEvent
}

// pollNode reads INFO and LATENCY LATEST from one server. Only INFO can
// fail the poll: LATENCY may be disabled, renamed or denied by an ACL.
func pollNode(ctx context.Context, c nodeClient, addr string) (nodeResult, error) {
	text, err := c.Info(ctx, infoSections...).Result()
	if isErrorReply(err) {
		// Before Redis 7, INFO takes one section: "all" has all of ours.
		text, err = c.Info(ctx, "all").Result()
	}
	if err != nil {
		if addr != "" {
			return nodeResult{}, fmt.Errorf("info %s: %w", addr, err)
		}
		return nodeResult{}, fmt.Errorf("info: %w", err)
	}
	r := nodeResult{addr: addr, info: ParseInfo(text)}
	if addr == "" {
		// A Sentinel-backed client hides the address; the server knows
		// which of its addresses we reached (CLIENT INFO laddr, Redis 6.2+).
		if s, err := c.Do(ctx, "CLIENT", "INFO").Text(); err == nil {
			r.addr = ParseFields(strings.ReplaceAll(strings.TrimSpace(s), " ", ","))["laddr"]
		}
	}
	if v, err := c.Do(ctx, "LATENCY", "LATEST").Slice(); err == nil {
		r.latency = parseLatencyLatest(v)
	}
	return r, nil
}

func isErrorReply(err error) bool {
	var re redis.Error
	var ne net.Error
	return err != nil && errors.As(err, &re) && !errors.As(err, &ne) && !errors.Is(err, redis.Nil)
}

// forEachNode calls fn for every server a client fronts, concurrently.
type forEachNode func(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error

// pollNodes polls every server behind the monitor's client.
func (m *Monitor) pollNodes(ctx context.Context) ([]nodeResult, error) {
	var each forEachNode
	switch c := m.redis.(type) {
	case *redis.ClusterClient:
		each = c.ForEachMaster
	case *redis.Ring:
		each = c.ForEachShard
	case *redis.Client:
		addr := c.Options().Addr
		if addr == failoverAddr {
			addr = ""
		}
		r, err := pollNode(ctx, c, addr)
		if err != nil {
			return nil, err
		}
		return []nodeResult{r}, nil
	default:
		r, err := pollNode(ctx, m.redis, "")
		if err != nil {
			return nil, err
		}
		return []nodeResult{r}, nil
	}
	var (
		mu  sync.Mutex
		out []nodeResult
	)
	err := each(ctx, func(ctx context.Context, c *redis.Client) error {
		r, err := pollNode(ctx, c, c.Options().Addr)
		if err != nil {
			return err
		}
		mu.Lock()
		out = append(out, r)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("poll %s nodes: %w", m.mode, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("poll %s nodes: no nodes", m.mode)
	}
	slices.SortFunc(out, func(a, b nodeResult) int { return strings.Compare(a.addr, b.addr) })
	return out, nil
}

// pollOnce polls Redis once, appends a point to the history and logs
// transitions. A poll cut short because ctx ended records nothing.
func (m *Monitor) pollOnce(ctx context.Context) {
	m.pollMu.Lock()
	defer m.pollMu.Unlock()
	now := m.now()
	pctx, cancel := context.WithTimeout(ctx, m.pollTimeout)
	nodes, err := m.pollNodes(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}

	// Client-side figures of the complete seconds before now.
	sec := m.rec.clock()
	m.rec.collect(sec)
	n := m.windowSeconds()
	m.rec.window(&m.pointWin, sec, n)
	p := Point{Time: now, Up: err == nil}
	if m.pointWin.seconds > 0 {
		p.ClientOps = float64(m.pointWin.by.total()) / float64(m.pointWin.seconds)
	}
	if t := m.pointWin.by.total(); t > 0 {
		p.ErrorRate = float64(m.pointWin.by.errors()) / float64(t)
	}
	lat := latencyOf(m.pointWin.sk, "")
	p.P50MS, p.P95MS, p.P99MS = lat.P50, lat.P95, lat.P99
	if m.cache != nil {
		p.cache, p.hasCache = m.cache(), true
	}

	var hot []HotKey
	if m.hotkeys != nil {
		hot = m.hotkeys()
		hot = hot[:min(len(hot), hotKeysShown)]
	}

	m.mu.Lock()
	if m.hotkeys != nil {
		m.trends = nextTrends(m.trends, hot)
	}
	if p.hasCache {
		delta := p.cache
		if prev, ok := m.hist.last(); ok && prev.hasCache {
			delta = p.cache.since(prev.cache)
		}
		p.HitRate, p.Lookups = delta.hitRate()
		p.L1HitRate, p.RedisHitRate = delta.tierRates()
	}
	failures, lastErr := m.failures, m.lastErr
	if err != nil {
		m.failures++
		m.lastErr = err.Error()
	} else {
		m.failures, m.lastErr = 0, ""
		m.polled = true
		m.nodes = nodes
		m.server, m.issues = m.aggregate(nodes, now)
		m.server.PolledAt = now
		p.UsedMemory, p.MaxMemory = m.server.UsedMemoryBytes, m.server.MaxmemoryBytes
		p.EvictedKeys, p.ConnectedClients = m.server.EvictedKeys, m.server.ConnectedClients
		p.ServerOps = m.server.OpsPerSec
	}
	m.hist.add(p)
	m.mu.Unlock()

	switch {
	case err != nil && failures == 0:
		m.log.Warn("redis poll failed", slog.String("mode", m.mode), slog.String("error", err.Error()))
	case err == nil && failures > 0:
		m.log.Info("redis poll recovered", slog.String("mode", m.mode), slog.Int("failed_polls", failures), slog.String("last_error", lastErr))
	}

	s := m.Snapshot()
	m.mu.Lock()
	from := m.loggedStatus
	m.loggedStatus = s.Status
	m.mu.Unlock()
	if s.Status != from {
		level := slog.LevelWarn
		if s.Status == StatusOK {
			level = slog.LevelInfo
		}
		m.log.LogAttrs(ctx, level, "redis health "+s.Status, slog.String("from", from), slog.Any("reasons", s.Reasons))
	}
}

// aggregate folds the servers' INFO into one RedisStatus and the degraded
// reasons they show, and updates the per-node command counters. The
// caller holds m.mu.
func (m *Monitor) aggregate(nodes []nodeResult, now time.Time) (RedisStatus, []string) {
	st := RedisStatus{Mode: m.mode, ErrorStats: map[string]int64{}}
	var issues []string
	seen := map[string]bool{}
	for i, n := range nodes {
		in := n.info
		key := n.addr
		seen[key] = true
		role, _ := in.Get("replication", "role")
		if role == "slave" {
			role = "replica"
		}
		if i == 0 {
			st.Version, _ = in.Get("server", "redis_version")
			st.Role = role
			st.MaxmemoryPolicy, _ = in.Get("memory", "maxmemory_policy")
		}
		if v, ok := in.Int("server", "uptime_in_seconds"); ok && (i == 0 || v < st.UptimeSeconds) {
			st.UptimeSeconds = v
		}
		if role == "replica" {
			host, _ := in.Get("replication", "master_host")
			port, _ := in.Get("replication", "master_port")
			if host != "" && port != "" {
				st.Master = net.JoinHostPort(host, port)
			}
			link, _ := in.Get("replication", "master_link_status")
			st.MasterLinkStatus = link
			if link != "up" {
				issues = append(issues, fmt.Sprintf("replication link of %s to its master %s is %s", orUnknown(n.addr), orUnknown(st.Master), orUnknown(link)))
			}
		} else if n.addr != "" {
			st.Masters = append(st.Masters, n.addr)
		}
		used, _ := in.Int("memory", "used_memory")
		maxm, _ := in.Int("memory", "maxmemory")
		st.UsedMemoryBytes += used
		if maxm > 0 && used > int64(MemoryThreshold*float64(maxm)) {
			issues = append(issues, fmt.Sprintf("memory of %s at %.0f%% of maxmemory (%d of %d bytes)", orUnknown(n.addr), 100*float64(used)/float64(maxm), used, maxm))
		}
		if i == 0 || (st.MaxmemoryBytes > 0 && maxm > 0) {
			st.MaxmemoryBytes += maxm
		} else {
			st.MaxmemoryBytes = 0 // one unlimited node: the total is unlimited
		}
		add := func(dst *int64, section, k string) {
			if v, ok := in.Int(section, k); ok {
				*dst += v
			}
		}
		add(&st.EvictedKeys, "stats", "evicted_keys")
		add(&st.ConnectedClients, "clients", "connected_clients")
		add(&st.MaxClients, "clients", "maxclients")
		add(&st.KeyspaceHits, "stats", "keyspace_hits")
		add(&st.KeyspaceMisses, "stats", "keyspace_misses")
		add(&st.TotalCommands, "stats", "total_commands_processed")
		for _, db := range in.Keyspace() {
			st.KeyspaceKeys += db.Keys
		}
		st.Replicas = append(st.Replicas, in.Replicas()...)
		for k, v := range in.ErrorStats() {
			st.ErrorStats[k] += v
		}
		for _, e := range n.latency {
			if len(nodes) > 1 {
				e.Node = n.addr
			}
			st.LatencyEvents = append(st.LatencyEvents, e)
		}
		st.OpsPerSec += m.nodeOps(key, in, now)
	}
	for k := range m.prevOps {
		if !seen[k] {
			delete(m.prevOps, k)
		}
	}
	if st.Master == "" && len(st.Masters) > 0 {
		st.Master = st.Masters[0]
	}
	if m.mode != "cluster" && m.mode != "ring" {
		st.Masters = nil
	}
	return st, issues
}

// nodeOps returns a node's commands per second since the previous poll, from
// total_commands_processed; when there is no usable previous reading (first
// poll, restart, failover to another server) it falls back to the server's
// own instantaneous_ops_per_sec. The caller holds m.mu.
func (m *Monitor) nodeOps(key string, in Info, now time.Time) float64 {
	total, ok := in.Int("stats", "total_commands_processed")
	runID, _ := in.Get("server", "run_id")
	prev, had := m.prevOps[key]
	if ok {
		m.prevOps[key] = opsSample{runID: runID, total: total, at: now}
	} else {
		delete(m.prevOps, key)
	}
	if ok && had && prev.runID == runID && total >= prev.total && now.After(prev.at) {
		return float64(total-prev.total) / now.Sub(prev.at).Seconds()
	}
	f, _ := in.Float("stats", "instantaneous_ops_per_sec")
	return f
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// parseLatencyLatest reads a LATENCY LATEST reply: an array of [event,
// unix time, latest ms, max ms, …]. Entries of another shape are skipped.
func parseLatencyLatest(v []any) []LatencyEvent {
	var out []LatencyEvent
	for _, e := range v {
		a, ok := e.([]any)
		if !ok || len(a) < 4 {
			continue
		}
		name, ok := a[0].(string)
		if !ok || name == "" {
			continue
		}
		at, ok1 := toInt64(a[1])
		latest, ok2 := toInt64(a[2])
		maxMS, ok3 := toInt64(a[3])
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		ev := LatencyEvent{Event: name, LatestMS: latest, MaxMS: maxMS}
		if at > 0 {
			ev.At = time.Unix(at, 0).UTC()
		}
		out = append(out, ev)
	}
	slices.SortFunc(out, func(a, b LatencyEvent) int { return strings.Compare(a.Event, b.Event) })
	return out
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}
