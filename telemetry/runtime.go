package telemetry

import (
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewGoCollector returns the Go runtime's metrics (go_*) for a registry
// that is also served as OpenMetrics: client_golang's default collector,
// except for go_memstats_alloc_bytes_total. That counter's OpenMetrics
// family is named go_memstats_alloc_bytes, the name of the gauge beside it,
// and OpenMetrics requires family names to be unique; the same figure is
// exported from runtime/metrics as go_gc_heap_allocs_bytes_total instead.
func NewGoCollector() prometheus.Collector {
	c := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/allocs:bytes$`)}))
	return &withoutMetric{c: c, drop: descNamed(c, "go_memstats_alloc_bytes_total")}
}

// withoutMetric is a collector minus the metric of one Desc.
type withoutMetric struct {
	c    prometheus.Collector
	drop *prometheus.Desc // nil: none
}

func (w *withoutMetric) Describe(ch chan<- *prometheus.Desc) {
	for d := range describe(w.c) {
		if d != w.drop {
			ch <- d
		}
	}
}

func (w *withoutMetric) Collect(ch chan<- prometheus.Metric) {
	out := make(chan prometheus.Metric)
	go func() { w.c.Collect(out); close(out) }()
	for m := range out {
		if m.Desc() != w.drop {
			ch <- m
		}
	}
}

// describe returns c's Descs as a channel that closes after the last.
func describe(c prometheus.Collector) <-chan *prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	return ch
}

// descNamed returns c's Desc of the metric name, nil when it has none.
func descNamed(c prometheus.Collector, name string) *prometheus.Desc {
	var found *prometheus.Desc
	for d := range describe(c) {
		// A Desc shows its name only in String: Desc{fqName: "name", …}.
		if strings.Contains(d.String(), `fqName: "`+name+`"`) {
			found = d
		}
	}
	return found
}
