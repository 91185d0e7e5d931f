package telemetry_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/studiohq/studio/telemetry"
)

// TestBuildInfo: studio_build_info names the version, the VCS revision and
// the Go version of the running build.
func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg, telemetry.Build{Version: "1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567"})
	want := `
# HELP studio_build_info Always 1; the labels say which build is running.
# TYPE studio_build_info gauge
studio_build_info{goversion="` + runtime.Version() + `",revision="0123456789abcdef0123456789abcdef01234567",version="1.4.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "studio_build_info"); err != nil {
		t.Fatal(err)
	}
}

// TestBreakerTransitionsStartAtZero: every transition series exists at 0
// before the first change, so increase() sees the first one.
func TestBreakerTransitionsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg, telemetry.Build{Version: "test"})
	want := `
# HELP studio_redis_circuit_breaker_transitions_total Redis circuit breaker state changes, by the state entered.
# TYPE studio_redis_circuit_breaker_transitions_total counter
studio_redis_circuit_breaker_transitions_total{to="closed"} 0
studio_redis_circuit_breaker_transitions_total{to="half-open"} 0
studio_redis_circuit_breaker_transitions_total{to="open"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "studio_redis_circuit_breaker_transitions_total"); err != nil {
		t.Fatal(err)
	}
}
