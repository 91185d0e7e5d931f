package config

import (
	"maps"
	"slices"
)

// sampleNames are the names an expr may compare: the samples package
// alert's SamplesFromSnapshot produces, its evaluator derives (NAME_per_min
// from NAME_total) and CertExpirySamples adds. A test there keeps the two
// in step.
var sampleNames = map[string]bool{
	"redis_up": true, "redis_poll_failures": true, "cache_hit_rate": true,
	"latency_p50_ms": true, "latency_p95_ms": true, "latency_p99_ms": true,
	"memory_used_ratio": true, "used_memory_bytes": true, "evicted_keys_total": true, "evicted_keys_per_min": true,
	"connected_clients": true, "connected_clients_ratio": true, "circuit_breaker_open": true, "hotkey_per_min": true,
	"replicas_link_down": true, "master_known": true, "error_rate": true, "errors_total": true, "errors_per_min": true,
	"cert_expiry_days": true,
}

// SampleNames returns the sample names rules may use, sorted.
func SampleNames() []string { return slices.Sorted(maps.Keys(sampleNames)) }

func knownSample(name string) bool { return sampleNames[name] }
