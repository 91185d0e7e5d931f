package alert

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/studiohq/studio/health"
)

// Sample is one value a sample rule's Expr can compare: a name, labels
// (nil for most) and a number.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Event is a high-availability event an event rule reacts to, such as a
// Sentinel failover. cmd/studio translates the Sentinel watcher's events
// into these. Kinds Studio uses: "switch-master" (a failover moved the
// master), "failover-end", "odown" and "sdown" (a node objectively or
// subjectively down), "tilt" (a Sentinel entered TILT mode). Labels should
// be few and stable (such as master="mymaster"): each distinct label set is
// its own alert.
type Event struct {
	// Time is when it happened (zero: when the Engine receives it).
	Time   time.Time         `json:"time"`
	Kind   string            `json:"kind"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Thresholds below which SamplesFromSnapshot leaves a sample out, so that
// an idle system does not alert on a handful of requests.
const (
	// MinLookupsForHitRate: cache_hit_rate needs at least this many
	// session lookups in its window.
	MinLookupsForHitRate = 100
	// MinCommandsForLatency: the latency samples need at least this many
	// commands in the last minute.
	MinCommandsForLatency = 50
)

// SamplesFromSnapshot turns a health Snapshot into the samples rules
// compare. now is the evaluation time, used for certificate expiry. The
// samples (the names SampleNames returns):
//
//	redis_up                 1 while Redis answers polls, 0 once the monitor's status is down
//	                         (absent before the first poll)
//	redis_poll_failures      consecutive failed polls
//	cache_hit_rate           fraction of session lookups answered by the L1 cache or Redis over
//	                         the last minute (only with at least MinLookupsForHitRate lookups)
//	latency_p50_ms, latency_p95_ms, latency_p99_ms
//	                         client-side command latency over the last minute, ms (only with at
//	                         least MinCommandsForLatency commands)
//	used_memory_bytes        Redis used_memory
//	memory_used_ratio        used_memory / maxmemory (only when maxmemory is set)
//	evicted_keys_total       keys evicted since Redis started (a counter)
//	evicted_keys_per_min     derived by the Evaluator, see below
//	connected_clients        clients connected to Redis
//	connected_clients_ratio  connected_clients / maxclients
//	circuit_breaker_open     1 while the breaker is open or half-open, 0 while closed (absent
//	                         without a breaker)
//	hotkey_per_min{key}      accesses a minute of each hot key (display form of the key)
//	replicas_link_down       the master's replicas not online, plus 1 for a polled replica
//	                         whose master link is down
//	master_known             1 when the master's address is known, 0 when not
//	error_rate               client-side command error rate over the last minute (only with
//	                         at least health.MinCommandsForErrorRate commands)
//	errors_total             client-side command errors since start (a counter)
//	errors_per_min           derived by the Evaluator, see below
//	cert_expiry_days{cert}   days until the client or server TLS certificate expires (from
//	                         CertExpirySamples)
//
// The server-side samples (memory, evictions, clients, replication,
// master) keep the last successful poll's values while Redis is
// unreachable, so an outage neither starts nor ends those alerts: redis_up
// reports it.
//
// Every sample named NAME_total is a counter: the Evaluator derives
// NAME_per_min from it, its increase over the last minute of evaluations
// scaled to one minute, available once 10 seconds of history exist; a
// decrease (a restarted Redis, a failover) starts the window again.
//
// With a Topology (Sentinel mode) master_known and replicas_link_down come
// from it; with TLS, cert_expiry_days from its certificates' expiry.
func SamplesFromSnapshot(s health.Snapshot, now time.Time) []Sample {
	out := make([]Sample, 0, 24+len(s.HotKeys))
	add := func(name string, v float64) { out = append(out, Sample{Name: name, Value: v}) }
	polled := !s.Redis.PolledAt.IsZero()
	addKnown := func(name string, indicator func() (float64, bool)) {
		if v, ok := indicator(); ok {
			add(name, v)
		}
	}

	addKnown("redis_up", s.RedisUp)
	add("redis_poll_failures", float64(s.Redis.ConsecutiveFailures))

	if s.Cache.Available && s.Cache.Lookups >= MinLookupsForHitRate {
		add("cache_hit_rate", s.Cache.HitRate)
	}
	if s.LatencyMS.Count >= MinCommandsForLatency {
		add("latency_p50_ms", s.LatencyMS.P50)
		add("latency_p95_ms", s.LatencyMS.P95)
		add("latency_p99_ms", s.LatencyMS.P99)
	}

	if polled {
		r := s.Redis
		add("used_memory_bytes", float64(r.UsedMemoryBytes))
		if r.MaxmemoryBytes > 0 {
			add("memory_used_ratio", float64(r.UsedMemoryBytes)/float64(r.MaxmemoryBytes))
		}
		add("evicted_keys_total", float64(r.EvictedKeys))
		add("connected_clients", float64(r.ConnectedClients))
		if r.MaxClients > 0 {
			add("connected_clients_ratio", float64(r.ConnectedClients)/float64(r.MaxClients))
		}
	}
	// In Sentinel mode these are the HA watcher's view: the last successful
	// poll cannot see the master go missing and lists only the replicas
	// the master still knows.
	addKnown("replicas_link_down", s.ReplicasLinkDown)
	addKnown("master_known", s.MasterKnown)

	switch s.CircuitBreaker {
	case "open", "half-open":
		add("circuit_breaker_open", 1)
	case "closed":
		add("circuit_breaker_open", 0)
	}

	for _, hk := range s.HotKeys {
		out = append(out, Sample{Name: "hotkey_per_min", Labels: map[string]string{"key": hk.Key}, Value: hk.PerMin})
	}

	// ThroughputOps is commands per second over the last minute.
	if s.ThroughputOps*60 >= health.MinCommandsForErrorRate {
		add("error_rate", s.Errors.Rate)
	}
	add("errors_total", float64(s.Errors.Total))

	if s.TLS != nil {
		out = append(out, CertExpirySamples(*s.TLS, now)...)
	}
	return out
}

// CertExpirySamples returns cert_expiry_days{cert="client"} and
// {cert="server"} for the certificates whose expiry t knows.
func CertExpirySamples(t health.TLS, now time.Time) []Sample {
	var out []Sample
	for _, e := range []struct {
		cert string
		at   time.Time
	}{{"client", t.ClientCertExpiry}, {"server", t.ServerCertExpiry}} {
		if !e.at.IsZero() {
			out = append(out, Sample{Name: "cert_expiry_days", Labels: map[string]string{"cert": e.cert}, Value: e.at.Sub(now).Hours() / 24})
		}
	}
	return out
}

// Counter rates: see SamplesFromSnapshot.
const (
	rateWindow  = time.Minute
	rateMinSpan = 10 * time.Second
)

type ratePoint struct {
	t time.Time
	v float64
}

// rateTracker derives NAME_per_min samples from NAME_total counters. It is
// not safe for concurrent use (the Evaluator holds its lock).
type rateTracker struct {
	series map[string]*rateSeries
}

type rateSeries struct {
	points []ratePoint // oldest first; points[0] may be older than the window (the base)
	seen   time.Time
}

// derive records the counters among samples at now and returns the derived
// rate samples.
func (rt *rateTracker) derive(now time.Time, samples []Sample) []Sample {
	if rt.series == nil {
		rt.series = map[string]*rateSeries{}
	}
	var out []Sample
	for _, s := range samples {
		base, ok := strings.CutSuffix(s.Name, "_total")
		if !ok || base == "" {
			continue
		}
		key := seriesKey(s.Name, s.Labels)
		se := rt.series[key]
		if se == nil {
			se = &rateSeries{}
			rt.series[key] = se
		}
		se.seen = now
		if n := len(se.points); n > 0 {
			last := se.points[n-1]
			switch {
			case s.Value < last.v: // counter reset
				se.points = se.points[:0]
			case !now.After(last.t): // same or earlier instant: replace
				se.points = se.points[:n-1]
			}
		}
		se.points = append(se.points, ratePoint{now, s.Value})
		// Keep one point at or before the window's start as the base.
		cut := 0
		for cut+1 < len(se.points) && !se.points[cut+1].t.After(now.Add(-rateWindow)) {
			cut++
		}
		se.points = se.points[cut:]
		first, last := se.points[0], se.points[len(se.points)-1]
		span := last.t.Sub(first.t)
		if span < rateMinSpan {
			continue
		}
		out = append(out, Sample{Name: base + "_per_min", Labels: s.Labels, Value: (last.v - first.v) / span.Seconds() * 60})
	}
	for k, se := range rt.series {
		if now.Sub(se.seen) > 2*rateWindow {
			delete(rt.series, k)
		}
	}
	return out
}

// seriesKey identifies a sample's series: its name and sorted labels.
func seriesKey(name string, labels map[string]string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteByte(0xff)
		b.WriteString(k)
		b.WriteByte(0xfe)
		b.WriteString(labels[k])
	}
	return b.String()
}
