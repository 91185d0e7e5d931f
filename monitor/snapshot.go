package monitor

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/studiohq/studio/health"
)

// The Snapshot and its parts are the health package's types.
type (
	Snapshot      = health.Snapshot
	RedisStatus   = health.RedisStatus
	Sentinel      = health.Sentinel
	HotKey        = health.HotKey
	HotKeyShare   = health.HotKeyShare
	Alert         = health.Alert
	CacheSnapshot = health.CacheSnapshot
	Errors        = health.Errors
	PoolStats     = health.PoolStats
	Replica       = health.Replica
	LatencyEvent  = health.LatencyEvent
	Latency       = health.Latency
)

// Snapshot returns the current health. It is safe for concurrent use and
// does no I/O: the server side is the last poll's, the client side is read
// from the command buckets, and the optional dependencies are called once
// each. The first call in a new second merges the 1- and 5-minute windows
// (~0.2 ms with five full minutes of buckets); later calls in the same
// second reuse them (~0.5 µs). The result is a copy the caller owns.
func (m *Monitor) Snapshot() Snapshot {
	now := m.now()
	s := Snapshot{Time: now, CircuitBreaker: "unknown", Reasons: []string{}}
	w1 := m.clientSide(&s)

	m.mu.Lock()
	s.Redis = cloneStatus(m.server)
	s.Redis.ConsecutiveFailures, s.Redis.LastError = m.failures, m.lastErr
	issues := slices.Clone(m.issues)
	polled, failures, lastErr := m.polled, m.failures, m.lastErr
	base, haveBase := m.hist.atOrBefore(now.Add(-time.Minute))
	m.mu.Unlock()

	if m.cache != nil {
		s.Cache = cacheSnapshot(m.cache(), base, haveBase)
	}
	m.parts(&s)

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
	if t := w1.total(); t >= MinCommandsForErrorRate && s.Errors.Rate > ErrorRateThreshold {
		s.Reasons = append(s.Reasons, fmt.Sprintf("client error rate %.1f%% over the last minute (%d of %d commands)", 100*s.Errors.Rate, w1.errors(), t))
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

// clientSide fills s's client-side figures (latency, throughput, errors)
// from the command buckets, merging the 1- and 5-minute windows when the
// second changed, and returns the last minute's counts by outcome.
func (m *Monitor) clientSide(s *Snapshot) counts {
	sec := m.rec.clock()
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
	return w1by
}

// cacheSnapshot is the session cache part: the totals, and the hit rate
// over the last minute when the history reaches back that far (base).
func cacheSnapshot(cache CacheStats, base Point, haveBase bool) CacheSnapshot {
	c := CacheSnapshot{
		Available: true, Window: "total",
		L1Hits: cache.L1.Hits, L1Misses: cache.L1.Misses,
		RedisHits: cache.Redis.Hits, RedisMisses: cache.Redis.Misses,
		StoreHits: cache.Store.Hits, StoreMisses: cache.Store.Misses,
	}
	delta := cache
	if haveBase && base.hasCache {
		delta, c.Window = cache.since(base.cache), "1m"
	}
	c.HitRate, c.Lookups = delta.hitRate()
	return c
}

// parts fills the parts of s other sources report: the pool, the
// breaker, hot keys, warming, TLS, the topology, alerts and Sentinels.
func (m *Monitor) parts(s *Snapshot) {
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
		w := m.opts.Warming()
		s.Warming = &w
	}
	if m.opts.TLS != nil {
		t := m.opts.TLS()
		s.TLS = &t
	}
	if m.opts.Topology != nil {
		t := m.opts.Topology()
		s.Topology = &t
	}
	s.Alerts = []Alert{}
	if m.alerts != nil {
		s.Alerts = append(s.Alerts, m.alerts()...)
	}
	if m.sentinels != nil {
		s.Redis.Sentinels = append(s.Redis.Sentinels, m.sentinels()...)
	}
}

// cloneStatus deep-copies st, turning nil lists into empty ones.
func cloneStatus(st RedisStatus) RedisStatus {
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
