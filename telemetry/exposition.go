package telemetry

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// MetricsHandler serves the metrics of reg: the Prometheus text format by
// default, OpenMetrics when the scraper asks for it (Accept:
// application/openmetrics-text), which carries the exemplars ObserveTrace
// records. An error while gathering answers 500 and is logged at warn on
// log (nil: discarded); promhttp_metric_handler_errors_total, registered
// on reg, counts them.
func MetricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	})
}

// ObserveTrace records v in o. When sc is sampled (its trace is being
// exported) and o keeps exemplars (histograms do), the observation carries
// sc's trace_id and span_id as an exemplar, so a dashboard can go from a
// latency bucket to a trace that exists. For an unsampled or invalid sc it
// is o.Observe(v): one flag test more, no allocation.
func ObserveTrace(o prometheus.Observer, v float64, sc trace.SpanContext) {
	if sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()})
			return
		}
	}
	o.Observe(v)
}
