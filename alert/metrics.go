package alert

import "github.com/prometheus/client_golang/prometheus"

// Notification results counted by studio_alert_notifications_total.
const (
	resultSent         = "sent"         // delivered
	resultFailed       = "failed"       // gave up (not retryable, or out of retry time); sent again at a later flush
	resultDropped      = "dropped"      // the receiver's queue was full; sent again at a later flush
	resultDeduplicated = "deduplicated" // another instance sent (or is sending) it
)

// metrics are the Engine's Prometheus metrics. The label values are
// bounded: receiver names come from the configuration, states and results
// are fixed.
type metrics struct {
	notifications  *prometheus.CounterVec   // receiver, result (per alert)
	latency        *prometheus.HistogramVec // receiver (per delivery attempt)
	retries        *prometheus.CounterVec   // receiver
	alerts         *prometheus.GaugeVec     // state
	dedupFallbacks prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "studio_alert_notifications_total",
			Help: "Alert notifications (triggers, repeats and resolves, per alert) by receiver and result: sent, failed, dropped, deduplicated.",
		}, []string{"receiver", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "studio_alert_notification_duration_seconds",
			Help:    "Duration of one delivery attempt to a receiver.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"receiver"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "studio_alert_notification_retries_total",
			Help: "Delivery attempts retried after a retryable failure, by receiver.",
		}, []string{"receiver"}),
		alerts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_alert_alerts",
			Help: "Alerts by state (pending, firing, resolved within the display retention).",
		}, []string{"state"}),
		dedupFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "studio_alert_dedup_fallbacks_total",
			Help: "Cross-instance coordination steps that failed (Redis unreachable), after which the instance sent without dedup.",
		}),
	}
	for _, s := range []State{StatePending, StateFiring, StateResolved} {
		m.alerts.WithLabelValues(string(s))
	}
	if reg != nil {
		reg.MustRegister(m.notifications, m.latency, m.retries, m.alerts, m.dedupFallbacks)
	}
	return m
}

// notificationResults are every result studio_alert_notifications_total
// counts.
var notificationResults = []string{resultSent, resultFailed, resultDropped, resultDeduplicated}

// addReceiver creates receiver's series at 0 — its notifications by every
// result, its retries, its delivery durations — so that its first failure
// is an increase a Prometheus rule sees, not the birth of a series.
func (m *metrics) addReceiver(receiver string) {
	for _, r := range notificationResults {
		m.notifications.WithLabelValues(receiver, r)
	}
	m.retries.WithLabelValues(receiver)
	m.latency.WithLabelValues(receiver)
}
