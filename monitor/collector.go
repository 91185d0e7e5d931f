package monitor

import (
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes what a Monitor knows of Redis as Prometheus metrics, so
// that a team needs no redis_exporter beside Studio: the servers' health,
// named as redis_exporter names it where a metric maps (redis_up,
// redis_memory_used_bytes, …), and the figures Studio derives
// (studio_redis_*). docs/METRICS.md lists them.
//
// Collect reads the last poll and the client-side command counts: it sends
// nothing to Redis, so a scrape costs no round trip and cannot hang on a
// hung server. Server figures carry the label addr, the node's host:port as
// Studio reached it (every master in Cluster mode); while Redis is
// unreachable they keep the last successful poll's values, as the alert
// samples do, and redis_up says so. Every label value is bounded by the
// deployment's nodes or a fixed set. A Collector is safe for concurrent
// use.
type Collector struct {
	m *Monitor
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns the Collector of m; register it on the registry
// /metrics serves.
func NewCollector(m *Monitor) *Collector { return &Collector{m: m} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Descriptions of the Collector's metrics.
var (
	descUp = desc("redis_up",
		"1 while Studio's monitor reaches Redis, 0 once its last polls failed (the health status is down); absent until the first poll tells.")
	descPollFailures = desc("studio_redis_poll_failures",
		"Consecutive failed polls of Redis by the monitor (0 after a success).")
	descMasterKnown = desc("studio_redis_master_known",
		"1 when the Redis master's address is known (in Sentinel mode: the watcher's master, which must answer), 0 otherwise.")
	descLinksDown = desc("studio_redis_replicas_link_down",
		"Replication links not up: replicas not online (in Sentinel mode: every replica the Sentinels know whose link is down), plus a polled replica whose master link is down.")
	descCommands = desc("studio_redis_commands_total",
		"Redis commands this instance sent, by outcome (ok, miss, error_reply, timeout, canceled, breaker_open, network, other); a pipeline counts once.",
		"outcome")
	descHotKey = desc("studio_hotkey_top_accesses_per_minute",
		"Accesses a minute of the hottest key across instances (0 when none is counted); the key itself is never a label: see /health/redis or the dashboard.")

	descInfo = desc("redis_instance_info",
		"Always 1; the labels describe the Redis server.", "addr", "role", "redis_version", "redis_mode")
	descUptime      = desc("redis_uptime_in_seconds", "Seconds since the Redis server started.", "addr")
	descMemUsed     = desc("redis_memory_used_bytes", "Memory Redis has allocated (used_memory).", "addr")
	descMemMax      = desc("redis_memory_max_bytes", "Redis maxmemory; 0 means no limit.", "addr")
	descClients     = desc("redis_connected_clients", "Client connections to the Redis server.", "addr")
	descMaxClients  = desc("redis_max_clients", "Redis maxclients (absent before Redis 7, whose INFO does not show it).", "addr")
	descEvicted     = desc("redis_evicted_keys_total", "Keys Redis evicted because of maxmemory since it started.", "addr")
	descHits        = desc("redis_keyspace_hits_total", "Successful key lookups since the Redis server started.", "addr")
	descMisses      = desc("redis_keyspace_misses_total", "Failed key lookups since the Redis server started.", "addr")
	descProcessed   = desc("redis_commands_processed_total", "Commands the Redis server processed since it started.", "addr")
	descDBKeys      = desc("redis_db_keys", "Keys in each database.", "addr", "db")
	descSlaves      = desc("redis_connected_slaves", "Replicas connected to the Redis server.", "addr")
	descMasterLink  = desc("redis_master_link_up", "On a replica, 1 while its link to the master is up.", "addr", "master_host", "master_port")
	descSlaveLag    = desc("redis_connected_slave_lag_seconds", "Seconds since each replica last acknowledged the replication stream, as its master reports.", "addr", "slave_ip", "slave_port", "slave_state")
	descSlaveOffset = desc("redis_connected_slave_offset_bytes", "Replication offset each replica acknowledged, as its master reports.", "addr", "slave_ip", "slave_port", "slave_state")
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descUp, descPollFailures, descMasterKnown, descLinksDown, descCommands, descHotKey,
		descInfo, descUptime, descMemUsed, descMemMax, descClients, descMaxClients, descEvicted,
		descHits, descMisses, descProcessed, descDBKeys, descSlaves, descMasterLink, descSlaveLag, descSlaveOffset,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	s := c.m.Snapshot()
	for _, f := range []struct {
		d         *prometheus.Desc
		indicator func() (float64, bool)
	}{{descUp, s.RedisUp}, {descMasterKnown, s.MasterKnown}, {descLinksDown, s.ReplicasLinkDown}} {
		if v, ok := f.indicator(); ok {
			gauge(f.d, v)
		}
	}
	gauge(descPollFailures, float64(s.Redis.ConsecutiveFailures))
	top := 0.0
	for _, k := range s.HotKeys {
		top = max(top, k.PerMin)
	}
	gauge(descHotKey, top)
	totals := c.m.rec.totalsNow()
	for i, n := range totals {
		ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(n), outcomeNames[i])
	}

	c.m.mu.Lock()
	nodes := c.m.nodes
	c.m.mu.Unlock()
	for _, n := range nodes {
		collectNode(ch, n)
	}
}

// collectNode sends the metrics of one server's INFO (which no one
// modifies once polled). A field the server did not report is left out.
func collectNode(ch chan<- prometheus.Metric, n nodeResult) {
	in, addr := n.info, n.addr
	send := func(d *prometheus.Desc, t prometheus.ValueType, section, key string) {
		if v, ok := in.Float(section, key); ok {
			ch <- prometheus.MustNewConstMetric(d, t, v, addr)
		}
	}
	role, _ := in.Get("replication", "role")
	version, _ := in.Get("server", "redis_version")
	mode, _ := in.Get("server", "redis_mode")
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, addr, role, version, mode)
	send(descUptime, prometheus.GaugeValue, "server", "uptime_in_seconds")
	send(descMemUsed, prometheus.GaugeValue, "memory", "used_memory")
	send(descMemMax, prometheus.GaugeValue, "memory", "maxmemory")
	send(descClients, prometheus.GaugeValue, "clients", "connected_clients")
	send(descMaxClients, prometheus.GaugeValue, "clients", "maxclients")
	send(descEvicted, prometheus.CounterValue, "stats", "evicted_keys")
	send(descHits, prometheus.CounterValue, "stats", "keyspace_hits")
	send(descMisses, prometheus.CounterValue, "stats", "keyspace_misses")
	send(descProcessed, prometheus.CounterValue, "stats", "total_commands_processed")
	send(descSlaves, prometheus.GaugeValue, "replication", "connected_slaves")
	for _, db := range in.Keyspace() {
		ch <- prometheus.MustNewConstMetric(descDBKeys, prometheus.GaugeValue, float64(db.Keys), addr, "db"+strconv.Itoa(db.DB))
	}
	if role == "slave" {
		host, _ := in.Get("replication", "master_host")
		port, _ := in.Get("replication", "master_port")
		link, _ := in.Get("replication", "master_link_status")
		up := 0.0
		if link == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descMasterLink, prometheus.GaugeValue, up, addr, host, port)
	}
	seen := map[string]bool{}
	for _, r := range in.Replicas() {
		ip, port, err := net.SplitHostPort(r.Addr)
		if err != nil || seen[r.Addr] {
			continue // a replica listed twice would fail the whole scrape
		}
		seen[r.Addr] = true
		ch <- prometheus.MustNewConstMetric(descSlaveOffset, prometheus.GaugeValue, float64(r.Offset), addr, ip, port, r.State)
		if r.LagSeconds >= 0 {
			ch <- prometheus.MustNewConstMetric(descSlaveLag, prometheus.GaugeValue, float64(r.LagSeconds), addr, ip, port, r.State)
		}
	}
}
