package alert

import (
	"slices"
	"testing"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/monitor"
)

func sampleMap(ss []Sample) map[string]float64 {
	m := map[string]float64{}
	for _, s := range ss {
		m[seriesKey(s.Name, s.Labels)] = s.Value
	}
	return m
}

func TestSamplesFromSnapshot(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	snap := monitor.Snapshot{
		Status: monitor.StatusOK,
		Redis: monitor.RedisStatus{
			Master: "10.0.0.1:6379", Role: "master", UsedMemoryBytes: 950, MaxmemoryBytes: 1000,
			EvictedKeys: 42, ConnectedClients: 90, MaxClients: 100, PolledAt: now,
			Replicas: []monitor.Replica{{Addr: "a", State: "online"}, {Addr: "b", State: "wait_bgsave"}},
		},
		Cache:          monitor.CacheSnapshot{Available: true, HitRate: 0.75, Lookups: 500},
		LatencyMS:      monitor.Latency{P50: 0.4, P95: 2, P99: 60, Count: 1000},
		ThroughputOps:  10,
		Errors:         monitor.Errors{Rate: 0.1, Total: 7},
		CircuitBreaker: "half-open",
		HotKeys:        []monitor.HotKey{{Key: "session:ab…", PerMin: 1500}},
		TLS:            &health.TLS{Enabled: true, ClientCertExpiry: now.Add(10 * 24 * time.Hour)},
	}
	got := sampleMap(SamplesFromSnapshot(snap, now))
	want := map[string]float64{
		"redis_up": 1, "redis_poll_failures": 0, "cache_hit_rate": 0.75,
		"latency_p50_ms": 0.4, "latency_p95_ms": 2, "latency_p99_ms": 60,
		"used_memory_bytes": 950, "memory_used_ratio": 0.95, "evicted_keys_total": 42,
		"connected_clients": 90, "connected_clients_ratio": 0.9, "replicas_link_down": 1, "master_known": 1,
		"circuit_breaker_open": 1, seriesKey("hotkey_per_min", map[string]string{"key": "session:ab…"}): 1500,
		"error_rate": 0.1, "errors_total": 7, seriesKey("cert_expiry_days", map[string]string{"cert": "client"}): 10,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%q = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d samples, want %d: %v", len(got), len(want), got)
	}
	for _, s := range SamplesFromSnapshot(snap, now) {
		if !slices.Contains(SampleNames(), s.Name) {
			t.Errorf("undocumented sample %q", s.Name)
		}
	}

	// Idle and unreachable: down, no server samples before any poll, no
	// hit rate, latency or error rate on too few requests.
	idle := monitor.Snapshot{
		Status:         monitor.StatusDown,
		Redis:          monitor.RedisStatus{ConsecutiveFailures: 5},
		Cache:          monitor.CacheSnapshot{Available: true, HitRate: 0.1, Lookups: 3},
		LatencyMS:      monitor.Latency{P99: 500, Count: 2},
		ThroughputOps:  0.1,
		Errors:         monitor.Errors{Rate: 1},
		CircuitBreaker: "unknown",
	}
	got = sampleMap(SamplesFromSnapshot(idle, now))
	want = map[string]float64{"redis_up": 0, "redis_poll_failures": 5, "errors_total": 0}
	if len(got) != len(want) {
		t.Errorf("idle: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("idle: %q = %v, want %v", k, got[k], v)
		}
	}

	// A replica whose master link is down; no maxmemory; no master known.
	rep := monitor.Snapshot{Status: monitor.StatusDegraded, CircuitBreaker: "closed",
		Redis: monitor.RedisStatus{Role: "replica", MasterLinkStatus: "down", PolledAt: now}}
	got = sampleMap(SamplesFromSnapshot(rep, now))
	if got["replicas_link_down"] != 1 || got["master_known"] != 0 || got["circuit_breaker_open"] != 0 {
		t.Errorf("replica: %v", got)
	}
	if _, ok := got["memory_used_ratio"]; ok {
		t.Error("memory ratio without maxmemory")
	}
}

func TestCertExpirySamples(t *testing.T) {
	now := time.Now()
	ss := CertExpirySamples(health.TLS{Enabled: true, ServerCertExpiry: now.Add(36 * time.Hour)}, now)
	if len(ss) != 1 || ss[0].Labels["cert"] != "server" || ss[0].Value != 1.5 {
		t.Errorf("%+v", ss)
	}
	if CertExpirySamples(health.TLS{}, now) != nil {
		t.Error("no certificates")
	}
}

// TestSamplesFromTopology: in Sentinel mode master_known and
// replicas_link_down come from the HA watcher's Topology, not from the
// last poll (which cannot see the master go missing).
func TestSamplesFromTopology(t *testing.T) {
	now := time.Now()
	snap := health.Snapshot{
		Status: health.StatusOK,
		Redis:  health.RedisStatus{Master: "10.0.0.1:6379", Role: "master", PolledAt: now, Replicas: []health.Replica{{Addr: "a", State: "online"}}},
		Topology: &health.Topology{Master: "10.0.0.1:6379", MasterReachable: false,
			Replicas: []health.ReplicaView{{Addr: "a", Link: "ok"}, {Addr: "b", Link: "down"}, {Addr: "c", Link: "down"}}},
	}
	got := sampleMap(SamplesFromSnapshot(snap, now))
	if got["master_known"] != 0 || got["replicas_link_down"] != 2 {
		t.Fatalf("master_known %v, replicas_link_down %v; want 0 and 2 from the topology", got["master_known"], got["replicas_link_down"])
	}
	n := 0
	for _, s := range SamplesFromSnapshot(snap, now) {
		if s.Name == "master_known" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d master_known samples; want one", n)
	}
}
