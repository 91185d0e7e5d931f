package health

import "time"

// Statuses of a Snapshot: every dependency answers; something is wrong but
// sessions are served; Redis cannot be reached.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
	StatusDown     = "down"
)

// MinCommandsForErrorRate is the fewest commands in a minute for which a
// client-side error rate means something: with fewer, one failure on an
// idle client would read as a high rate. The Snapshot's status and the
// error_rate alert sample both use it.
const MinCommandsForErrorRate = 20

// Snapshot is the health of Redis as Studio sees it, ready for JSON
// (GET /health/redis and the dashboard stream). Every slice is non-nil, so
// lists encode as [] and never null.
//
// Status is "down" when the last DownAfter polls (or more) failed.
// Otherwise it is "degraded", with one entry in Reasons per cause, when:
// no poll has succeeded yet; the last poll failed (fewer than DownAfter in
// a row); the circuit breaker is open or half-open; the client-side error
// rate over the last minute is above ErrorRateThreshold with at least
// MinCommandsForErrorRate commands; a polled replica's link to its master
// is not up; a polled node's used_memory is above MemoryThreshold of its
// maxmemory. Otherwise it is "ok" and Reasons is empty. A down status
// lists the failed polls first, then the client-side causes (breaker,
// error rate); the server-side ones of the last good poll are stale and
// left out.
type Snapshot struct {
	Status  string    `json:"status"`
	Reasons []string  `json:"reasons"`
	Time    time.Time `json:"time"`
	// Redis holds the server side, as of the last successful poll
	// (Redis.PolledAt); after failed polls it is the last known state.
	Redis RedisStatus   `json:"redis"`
	Cache CacheSnapshot `json:"cache"`
	// LatencyMS and Latency5mMS are client-side command latencies over the
	// last 1 and 5 minutes of complete seconds.
	LatencyMS   Latency `json:"latency_ms"`
	Latency5mMS Latency `json:"latency_5m_ms"`
	// ThroughputOps is client-side commands per second over the last
	// minute of complete seconds (over the seconds since New while the
	// monitor is younger than that).
	ThroughputOps  float64   `json:"throughput_ops"`
	Errors         Errors    `json:"errors"`
	Pool           PoolStats `json:"pool"`
	CircuitBreaker string    `json:"circuit_breaker"` // closed, open, half-open, or unknown (no Breaker)
	HotKeys        []HotKey  `json:"hotkeys"`
	// HotKeysNative is the server's own hot-key view (Redis 8.6 / Valkey
	// HOTKEYS), or why it is unavailable; nil when nobody probes it.
	HotKeysNative *NativeView `json:"hotkeys_native,omitempty"`
	// Alerts are the firing and recently resolved alerts.
	Alerts []Alert `json:"alerts"`
	// Warming is the cache warmer's progress; nil without a warmer.
	Warming *WarmProgress `json:"warming,omitempty"`
	// TLS describes the Redis connection's TLS; nil when not reported.
	TLS *TLS `json:"tls,omitempty"`
	// Topology is the Sentinel deployment as the HA watcher sees it; nil
	// outside Sentinel mode.
	Topology *Topology `json:"topology,omitempty"`
}

// TLS is the state of the connections to Redis: whether they use TLS,
// whether certificate verification is off (development only, so an
// operator sees it), and when the certificates in use expire (zero when
// unknown or not in use): the client certificate Studio presents and the
// server certificate seen on the last handshake.
type TLS struct {
	Enabled            bool      `json:"enabled"`
	InsecureSkipVerify bool      `json:"insecure_skip_verify"`
	ClientCertExpiry   time.Time `json:"client_cert_expiry,omitzero"`
	ServerCertExpiry   time.Time `json:"server_cert_expiry,omitzero"`
}

// RedisStatus is the server side of a Snapshot. With several nodes
// (cluster, ring) the counters and memory are sums over the polled masters
// (MaxmemoryBytes is 0, unlimited, if any of them is), UptimeSeconds is the
// youngest node's, and Version, Role and MaxmemoryPolicy are the first
// node's by address.
type RedisStatus struct {
	Mode string `json:"mode"`
	// Master is the master's host:port: the polled server itself when it is
	// a master, its master_host:master_port when it is a replica, the first
	// master by address in a cluster (all of them in Masters). Empty when
	// unknown.
	Master           string   `json:"master"`
	Masters          []string `json:"masters,omitempty"`
	Role             string   `json:"role"` // master or replica
	Version          string   `json:"version"`
	UptimeSeconds    int64    `json:"uptime_seconds"`
	UsedMemoryBytes  int64    `json:"used_memory_bytes"`
	MaxmemoryBytes   int64    `json:"maxmemory_bytes"` // 0: no limit
	MaxmemoryPolicy  string   `json:"maxmemory_policy"`
	EvictedKeys      int64    `json:"evicted_keys"`
	ConnectedClients int64    `json:"connected_clients"`
	MaxClients       int64    `json:"maxclients"`
	// OpsPerSec is server-side commands per second between the last two
	// polls, from the delta of total_commands_processed (on the first poll,
	// or after a restart or failover, the server's own
	// instantaneous_ops_per_sec).
	OpsPerSec        float64 `json:"ops_per_sec"`
	TotalCommands    int64   `json:"total_commands_processed"`
	KeyspaceKeys     int64   `json:"keyspace_keys"`
	KeyspaceHits     int64   `json:"keyspace_hits"`
	KeyspaceMisses   int64   `json:"keyspace_misses"`
	MasterLinkStatus string  `json:"master_link_status,omitempty"` // replicas only
	// Replicas are the replicas the polled master(s) report.
	Replicas      []Replica      `json:"replicas"`
	Sentinels     []Sentinel     `json:"sentinels"`
	LatencyEvents []LatencyEvent `json:"latency_events"`
	// ErrorStats counts error replies by prefix since the server started
	// (INFO errorstats).
	ErrorStats map[string]int64 `json:"error_stats"`
	// PolledAt is the time of the last successful poll (absent before one).
	PolledAt time.Time `json:"polled_at,omitzero"`
	// ConsecutiveFailures counts the polls that failed since the last
	// success; LastError is the latest one's error.
	ConsecutiveFailures int    `json:"consecutive_failures"`
	LastError           string `json:"last_error,omitempty"`
}

// Sentinel is one Sentinel watching the master .
type Sentinel struct {
	Addr   string `json:"addr"`
	Status string `json:"status"`
}

// HotKey is one of the hottest keys over the hot-key window.
type HotKey struct {
	// Key is the display form: never a token or a full session hash.
	Key string `json:"key"`
	// Count is an upper bound of the accesses in the window; the true
	// count lies in [Count-Error, Count]. PerMin is Count scaled to one
	// minute of the span the window covers.
	Count  uint64  `json:"count"`
	PerMin float64 `json:"per_min"`
	Error  uint64  `json:"error"`
	// Instances is each Studio instance's share of Count (the view across
	// instances only), largest first.
	Instances []HotKeyShare `json:"instances,omitempty"`
}

// HotKeyShare is one instance's part of a hot key's count.
type HotKeyShare struct {
	Instance string `json:"instance"`
	Count    uint64 `json:"count"`
}

// Alert is a firing or recently resolved alert as the health view shows
// it. Since is when a firing alert started, or when a resolved one
// resolved; EndsAt is when it resolved (zero while firing); Value is the
// rule's value when it last fired, if it has one; Runbook is the rule's
// runbook link; Silenced is true while a silence matches it.
type Alert struct {
	Name     string    `json:"name"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	Summary  string    `json:"summary"`
	Since    time.Time `json:"since,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	Value    *float64  `json:"value,omitempty"`
	Runbook  string    `json:"runbook,omitempty"`
	Silenced bool      `json:"silenced,omitempty"`
}

// CacheSnapshot is the session cache part of a Snapshot. The per-tier
// counters are the totals Options.Cache reports (see TierStats: a tier's
// miss is a lookup that went past it). HitRate is the fraction of lookups
// answered by L1 or Redis (not reaching the store) over the last minute
// (Window "1m"), or over the counters' whole life while the history does
// not reach back a minute (Window "total"); Lookups is how many lookups
// that covers. Available is false without Options.Cache.
type CacheSnapshot struct {
	Available   bool    `json:"available"`
	HitRate     float64 `json:"hit_rate"`
	Lookups     uint64  `json:"lookups"`
	Window      string  `json:"window"`
	L1Hits      uint64  `json:"l1_hits"`
	L1Misses    uint64  `json:"l1_misses"`
	RedisHits   uint64  `json:"redis_hits"`
	RedisMisses uint64  `json:"redis_misses"`
	StoreHits   uint64  `json:"store_hits"`
	StoreMisses uint64  `json:"store_misses"`
}

// Errors are client-side command errors (every outcome but ok, miss and
// canceled). Rate is errors/commands over the last minute of complete
// seconds (0 without commands); Total and ByType count since New, Commands
// is every command since New.
type Errors struct {
	Rate     float64           `json:"rate"`
	Total    uint64            `json:"total"`
	Commands uint64            `json:"commands_total"`
	ByType   map[string]uint64 `json:"by_type"`
}

// PoolStats is the go-redis connection pool (summed over nodes).
type PoolStats struct {
	TotalConns uint32 `json:"total_conns"`
	IdleConns  uint32 `json:"idle_conns"`
	StaleConns uint32 `json:"stale_conns"`
	Hits       uint32 `json:"hits"`
	Misses     uint32 `json:"misses"`
	Timeouts   uint32 `json:"timeouts"`
	WaitCount  uint32 `json:"wait_count"`
}

// Replica is a replica as its master reports it.
type Replica struct {
	Addr       string `json:"addr"`
	State      string `json:"state"`
	Offset     int64  `json:"offset"`
	LagSeconds int64  `json:"lag_seconds"`
}

// LatencyEvent is one LATENCY LATEST entry: the latest and the all-time
// maximum latency of an event class above latency-monitor-threshold. Node
// names the server when several are polled.
type LatencyEvent struct {
	Event    string    `json:"event"`
	Node     string    `json:"node,omitempty"`
	At       time.Time `json:"at,omitzero"`
	LatestMS int64     `json:"latest_ms"`
	MaxMS    int64     `json:"max_ms"`
}

// Latency holds client-side command latency quantiles in milliseconds over
// a window. Count is the number of timed commands in it; with none, every
// quantile is 0.
type Latency struct {
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Count  uint64  `json:"count"`
	Window string  `json:"window"`
}
