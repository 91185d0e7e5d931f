package monitor

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

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
	// HOTKEYS), or why it is unavailable; nil without Options.HotKeysNative.
	HotKeysNative any     `json:"hotkeys_native,omitempty"`
	Alerts        []Alert `json:"alerts"`
	// Warming is the cache warmer's progress; nil without Options.Warming.
	Warming any `json:"warming,omitempty"`
	// TLS describes the Redis connection's TLS; nil without Options.TLS.
	TLS any `json:"tls,omitempty"`
	// Topology is the Sentinel deployment as the HA watcher sees it; nil
	// without Options.Topology.
	Topology any `json:"topology,omitempty"`
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

// Sentinel is one Sentinel watching the master (filled by Options.Sentinels).
type Sentinel struct {
	Addr   string `json:"addr"`
	Status string `json:"status"`
}

// HotKey is one of the hottest keys (filled by Options.HotKeys).
type HotKey struct {
	// Key is the display form: never a token or a full session hash.
	Key    string  `json:"key"`
	Count  uint64  `json:"count"`
	PerMin float64 `json:"per_min"`
	// Error bounds the overcount: the true count is in [Count-Error, Count].
	Error uint64 `json:"error"`
	// Instances is each Studio instance's share of Count.
	Instances []HotKeyShare `json:"instances,omitempty"`
}

// HotKeyShare is one instance's part of a hot key's count.
type HotKeyShare struct {
	Instance string `json:"instance"`
	Count    uint64 `json:"count"`
}

// Alert is a firing or recently resolved alert (filled by Options.Alerts).
type Alert struct {
	Name     string    `json:"name"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	Summary  string    `json:"summary"`
	Since    time.Time `json:"since,omitzero"`
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

// Snapshot returns the current health. It is safe for concurrent use and
// does no I/O: the server side is the last poll's, the client side is read
// from the command buckets, and the optional dependencies are called once
// each. The first call in a new second merges the 1- and 5-minute windows
// (~0.2 ms with five full minutes of buckets); later calls in the same
// second reuse them (~0.5 µs). The result is a copy the caller owns.
func (m *Monitor) Snapshot() Snapshot {
	now := m.now()
	sec := m.rec.clock()
	s := Snapshot{Time: now, CircuitBreaker: "unknown", Reasons: []string{}}

	m.winMu.Lock()
	if m.winSec != sec {
		m.rec.collect(sec)
		m.rec.window(&m.win1, sec, 60)
		m.rec.window(&m.win5, sec, 300)
		m.lat1 = latencyOf(m.win1.sk, "1m")
		m.lat5 = latencyOf(m.win5.sk, "5m")
		m.winSec = sec
	}
	w1by, w1secs := m.win1.by, m.win1.seconds
	s.LatencyMS, s.Latency5mMS = m.lat1, m.lat5
	m.winMu.Unlock()

	if w1secs > 0 {
		s.ThroughputOps = float64(w1by.total()) / float64(w1secs)
	}
	if t := w1by.total(); t > 0 {
		s.Errors.Rate = float64(w1by.errors()) / float64(t)
	}
	tot := m.rec.totalsNow()
	s.Errors.Total, s.Errors.Commands = tot.errors(), tot.total()
	s.Errors.ByType = map[string]uint64{}
	for i, n := range tot {
		if isError(i) && n > 0 {
			s.Errors.ByType[outcomeNames[i]] = n
		}
	}

	var cache CacheStats
	if m.cache != nil {
		cache = m.cache()
	}

	m.mu.Lock()
	s.Redis = m.server.clone()
	s.Redis.ConsecutiveFailures, s.Redis.LastError = m.failures, m.lastErr
	issues := slices.Clone(m.issues)
	polled, failures, lastErr := m.polled, m.failures, m.lastErr
	base, haveBase := m.hist.atOrBefore(now.Add(-time.Minute))
	m.mu.Unlock()

	if m.cache != nil {
		s.Cache = CacheSnapshot{
			Available: true, Window: "total",
			L1Hits: cache.L1.Hits, L1Misses: cache.L1.Misses,
			RedisHits: cache.Redis.Hits, RedisMisses: cache.Redis.Misses,
			StoreHits: cache.Store.Hits, StoreMisses: cache.Store.Misses,
		}
		delta := cache
		if haveBase && base.hasCache {
			delta, s.Cache.Window = cache.since(base.cache), "1m"
		}
		s.Cache.HitRate, s.Cache.Lookups = delta.hitRate()
	}

	if ps := m.redis.PoolStats(); ps != nil {
		s.Pool = PoolStats{TotalConns: ps.TotalConns, IdleConns: ps.IdleConns, StaleConns: ps.StaleConns,
			Hits: ps.Hits, Misses: ps.Misses, Timeouts: ps.Timeouts, WaitCount: ps.WaitCount}
	}
	if m.breaker != nil {
		if b := m.breaker(); b != "" {
			s.CircuitBreaker = b
		}
	}
	s.HotKeys = []HotKey{}
	if m.hotkeys != nil {
		hk := m.hotkeys()
		s.HotKeys = append(s.HotKeys, hk[:min(len(hk), hotKeysShown)]...)
	}
	if m.opts.HotKeysNative != nil {
		s.HotKeysNative = m.opts.HotKeysNative()
	}
	if m.opts.Warming != nil {
		s.Warming = m.opts.Warming()
	}
	if m.opts.TLS != nil {
		s.TLS = m.opts.TLS()
	}
	if m.opts.Topology != nil {
		s.Topology = m.opts.Topology()
	}
	s.Alerts = []Alert{}
	if m.alerts != nil {
		s.Alerts = append(s.Alerts, m.alerts()...)
	}
	if m.sentinels != nil {
		s.Redis.Sentinels = append(s.Redis.Sentinels, m.sentinels()...)
	}

	// Status and reasons.
	switch {
	case failures >= m.downAfter:
		s.Status = StatusDown
		s.Reasons = append(s.Reasons, fmt.Sprintf("redis unreachable: the last %d polls failed: %s", failures, lastErr))
	case failures > 0:
		s.Reasons = append(s.Reasons, fmt.Sprintf("redis poll failed (%d in a row, down after %d): %s", failures, m.downAfter, lastErr))
	case !polled:
		s.Reasons = append(s.Reasons, "no poll of redis has completed yet")
	}
	if s.CircuitBreaker == "open" || s.CircuitBreaker == "half-open" {
		s.Reasons = append(s.Reasons, "circuit breaker "+s.CircuitBreaker)
	}
	if t := w1by.total(); t >= MinCommandsForErrorRate && s.Errors.Rate > ErrorRateThreshold {
		s.Reasons = append(s.Reasons, fmt.Sprintf("client error rate %.1f%% over the last minute (%d of %d commands)", 100*s.Errors.Rate, w1by.errors(), t))
	}
	if failures < m.downAfter {
		s.Reasons = append(s.Reasons, issues...)
	}
	if s.Status == "" {
		s.Status = StatusOK
		if len(s.Reasons) > 0 {
			s.Status = StatusDegraded
		}
	}
	return s
}

// clone deep-copies st, turning nil lists into empty ones.
func (st RedisStatus) clone() RedisStatus {
	st.Masters = slices.Clone(st.Masters)
	st.Replicas = append([]Replica{}, st.Replicas...)
	st.Sentinels = append([]Sentinel{}, st.Sentinels...)
	st.LatencyEvents = append([]LatencyEvent{}, st.LatencyEvents...)
	if st.ErrorStats == nil {
		st.ErrorStats = map[string]int64{}
	} else {
		st.ErrorStats = maps.Clone(st.ErrorStats)
	}
	return st
}
