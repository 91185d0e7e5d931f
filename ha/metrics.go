package ha

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watcher's Prometheus metrics. Every label is bounded:
// event kinds outside knownKinds are "other", Sentinels are the configured
// addresses only, replicas are the ones the current master reports (a
// replica's series is deleted when it leaves the topology).
type metrics struct {
	events          *prometheus.CounterVec // event
	eventsDropped   prometheus.Counter
	parseErrors     prometheus.Counter
	failovers       prometheus.Counter
	failoverSeconds prometheus.Gauge
	writeGapSeconds prometheus.Gauge
	masterChanges   prometheus.Counter
	reachable       *prometheus.GaugeVec // sentinel
	subscribed      *prometheus.GaugeVec // sentinel
	replicaLagBytes *prometheus.GaugeVec // replica
	replicaLagSecs  *prometheus.GaugeVec // replica
}

// newMetrics creates the metrics, with a series for each configured
// Sentinel, and registers them on reg (nil: not registered, still usable).
// It panics, like prometheus.MustRegister, if reg already holds them.
func newMetrics(reg prometheus.Registerer, sentinels []string) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "studio_sentinel_events_total",
			Help: "Events received from the Sentinels, by event name as Sentinel names it (unknown names are \"other\"). Every Sentinel's copy counts: one change seen by three Sentinels counts three.",
		}, []string{"event"}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "studio_sentinel_events_dropped_total",
			Help: "Sentinel events not delivered to a subscriber of the watcher because its buffer was full.",
		}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "studio_sentinel_event_parse_errors_total",
			Help: "Sentinel events whose payload did not have the shape their name calls for.",
		}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "studio_redis_failovers_total",
			Help: "Sentinel failovers seen (+switch-master), each counted once however many Sentinels report it.",
		}),
		failoverSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "studio_redis_last_failover_duration_seconds",
			Help: "Seconds from the first +sdown of the old master (detection, by any Sentinel) to the first +switch-master of the last failover: the Sentinels' detection-to-switch time; 0 when its detection was not seen. Writes were unavailable for longer (studio_redis_last_failover_write_gap_seconds).",
		}),
		writeGapSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "studio_redis_last_failover_write_gap_seconds",
			Help: "Seconds Studio's own commands to the master went unanswered across the last failover: from the old master's last answer to the first answer after the switch (what clients saw, unlike the Sentinels' detection-to-switch time); set once settled, 5 s after the switch; 0 when no command failed.",
		}),
		masterChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "studio_redis_master_changes_total",
			Help: "Changes of the Redis master address the watcher follows, from Sentinel events or from polling the Sentinels.",
		}),
		reachable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_sentinel_reachable",
			Help: "1 when the Sentinel answered the watcher's last poll, 0 otherwise.",
		}, []string{"sentinel"}),
		subscribed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_sentinel_subscribed",
			Help: "1 while the watcher's event subscription to the Sentinel is up and answering pings, 0 otherwise.",
		}, []string{"sentinel"}),
		replicaLagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_redis_replica_lag_bytes",
			Help: "Replication lag of each replica: the master's master_repl_offset minus the offset the replica acknowledged (INFO replication on the master).",
		}, []string{"replica"}),
		replicaLagSecs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "studio_redis_replica_lag_seconds",
			Help: "Seconds since each replica last acknowledged the master's replication stream (the lag field of INFO replication on the master).",
		}, []string{"replica"}),
	}
	for k := range knownKinds {
		m.events.WithLabelValues(k)
	}
	m.events.WithLabelValues("other")
	for _, s := range sentinels {
		m.reachable.WithLabelValues(s)
		m.subscribed.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.eventsDropped, m.parseErrors, m.failovers, m.failoverSeconds,
			m.writeGapSeconds, m.masterChanges, m.reachable, m.subscribed, m.replicaLagBytes, m.replicaLagSecs)
	}
	return m
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
