package config

import "testing"

func TestUnitFormat(t *testing.T) {
	for _, tc := range []struct {
		u    Unit
		v    float64
		want string
	}{
		{UnitCount, 1234567, "1234567"},
		{UnitCount, 0.25, "0.25"},
		{UnitCount, 1, "1"},
		{"", 3, "3"},
		{UnitRatio, 1, "100%"},
		{UnitRatio, 0.0512, "5.12%"},
		{UnitRatio, 0, "0%"},
		{UnitSeconds, 90, "1m 30s"},
		{UnitSeconds, 0.25, "250ms"},
		{UnitMilliseconds, 73.25, "73.25 ms"},
		{UnitMilliseconds, 1234567, "1234567 ms"},
		{UnitBytes, 1536, "1.5 KiB"},
		{UnitBytes, 512, "512 B"},
		{UnitDays, 13.5, "13.5 days"},
		{UnitDays, 1, "1 day"},
	} {
		if got := tc.u.Format(tc.v); got != tc.want {
			t.Errorf("%q.Format(%v) = %q, want %q", tc.u, tc.v, got, tc.want)
		}
	}
}

// TestValueUnit: a rule's own unit wins; else its sample's; else a count.
func TestValueUnit(t *testing.T) {
	cfg, err := Load("rules.yaml", []byte(`rules:
  - name: ErrorRate
    expr: error_rate > 0.05
    severity: warning
  - name: ErrorRateAsCount
    expr: error_rate > 0.05
    unit: count
    severity: warning
  - name: Latency
    expr: latency_p99_ms > 50
    severity: warning
  - name: Up
    expr: redis_up == 0
    severity: critical
  - name: Failover
    event: switch-master
    severity: warning
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Unit{"ErrorRate": UnitRatio, "ErrorRateAsCount": UnitCount, "Latency": UnitMilliseconds, "Up": UnitCount, "Failover": UnitCount}
	for _, r := range cfg.Rules {
		if got := r.ValueUnit(); got != want[r.Name] {
			t.Errorf("%s: unit %q, want %q", r.Name, got, want[r.Name])
		}
	}
}

// TestDefaultRulesShowTheirUnits: every embedded rule's value has the unit
// its sample measures.
func TestDefaultRulesShowTheirUnits(t *testing.T) {
	want := map[string]Unit{
		"CacheHitRateLow": UnitRatio, "RedisLatencyHigh": UnitMilliseconds, "RedisMemoryHigh": UnitRatio,
		"RedisConnectionsNearLimit": UnitRatio, "RedisErrorRateHigh": UnitRatio, "RedisCertExpiringSoon": UnitDays,
		"RedisCertExpiryImminent": UnitDays, "RedisHotKey": UnitCount, "RedisDown": UnitCount,
	}
	for _, r := range Default().Rules {
		if w, ok := want[r.Name]; ok && r.ValueUnit() != w {
			t.Errorf("%s: unit %q, want %q", r.Name, r.ValueUnit(), w)
		}
	}
}
