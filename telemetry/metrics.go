// Package telemetry holds Studio's observability plumbing: the Prometheus
// metrics every package records into, the slog handler that adds
// correlation ids and redacts secrets, and OpenTelemetry set-up.
//
// Nothing here reads the environment or holds global state: callers pass a
// registry, a writer and settings in.
package telemetry

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the histogram buckets, in seconds, for Redis commands
// and HTTP requests: 50 µs to 10 s, dense below a millisecond where a
// healthy Redis answers.
var DurationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Metrics are the metrics shared across packages. Every label has a
// bounded set of values: never a key, a token or a user.
type Metrics struct {
	// RedisCommandDuration: seconds per Redis command (a pipeline counts
	// once, as "pipeline"), by command and outcome.
	RedisCommandDuration *prometheus.HistogramVec
	// RedisBreakerState is 1 for the breaker's current state, 0 for the
	// others.
	RedisBreakerState *prometheus.GaugeVec
	// RedisBreakerTransitions counts state changes by the state entered.
	RedisBreakerTransitions *prometheus.CounterVec
	// StoreQueryDuration: seconds per session-store operation, by
	// operation and outcome.
	StoreQueryDuration *prometheus.HistogramVec
	// HTTPRequestDuration: seconds per HTTP request by route pattern,
	// method and status code.
	HTTPRequestDuration *prometheus.HistogramVec
}

// Build says which build is running, for studio_build_info.
type Build struct {
	// Version is the release version ("dev" for a development build).
	Version string
	// Revision is the VCS revision the binary was built from (the
	// vcs.revision of debug.ReadBuildInfo), empty when unknown.
	Revision string
}

// NewMetrics creates the shared metrics and registers them, with
// studio_build_info{version,revision,goversion}, on reg. A nil reg
// registers nothing (the metrics still work). It panics if reg already
// holds metrics of the same names, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer, build Build) *Metrics {
	m := &Metrics{
		RedisCommandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "studio_redis_command_duration_seconds",
			Help:    "Duration of Redis commands as the client saw them, by command and outcome.",
			Buckets: DurationBuckets,
		}, []string{"command", "outcome"}),
		RedisBreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_redis_circuit_breaker_state",
			Help: "1 for the Redis circuit breaker's current state (closed, open, half-open), 0 otherwise.",
		}, []string{"state"}),
		RedisBreakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "studio_redis_circuit_breaker_transitions_total",
			Help: "Redis circuit breaker state changes, by the state entered.",
		}, []string{"to"}),
		StoreQueryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "studio_store_query_duration_seconds",
			Help:    "Duration of session-store operations (one SQL statement or transaction), by operation and outcome.",
			Buckets: DurationBuckets,
		}, []string{"operation", "outcome"}),
		HTTPRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "studio_http_request_duration_seconds",
			Help:    "Duration of HTTP requests, by route pattern, method and status code.",
			Buckets: DurationBuckets,
		}, []string{"route", "method", "status"}),
	}
	for _, s := range []string{"closed", "open", "half-open"} {
		m.RedisBreakerState.WithLabelValues(s)
		m.RedisBreakerTransitions.WithLabelValues(s)
	}
	m.RedisBreakerState.WithLabelValues("closed").Set(1)
	if reg != nil {
		reg.MustRegister(
			m.RedisCommandDuration, m.RedisBreakerState, m.RedisBreakerTransitions,
			m.StoreQueryDuration, m.HTTPRequestDuration,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "studio_build_info",
				Help:        "Always 1; the labels say which build is running.",
				ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": runtime.Version()},
			}, func() float64 { return 1 }),
		)
	}
	return m
}

// BreakerChanged records a circuit breaker transition.
func (m *Metrics) BreakerChanged(from, to string) {
	m.RedisBreakerState.WithLabelValues(from).Set(0)
	m.RedisBreakerState.WithLabelValues(to).Set(1)
	m.RedisBreakerTransitions.WithLabelValues(to).Inc()
}
