package session

import (
	"github.com/prometheus/client_golang/prometheus"
)

// NewStatsCollector exposes a Service's running totals (its Stats method)
// as studio_session_* metrics at scrape time, so the validation path pays
// for an atomic add and nothing more. It is safe for concurrent use.
func NewStatsCollector(stats func() Stats) prometheus.Collector { return newSessionCollector(stats) }

// NewWarmCollector exposes a Warmer's progress (its Progress method) as
// studio_cache_warm_* gauges at scrape time.
func NewWarmCollector(progress func() WarmProgress) prometheus.Collector {
	return newWarmCollector(progress)
}

// sessionCollector exposes a Service's running totals at scrape time,
// so the validation path pays for an atomic add and nothing more.
type sessionCollector struct {
	stats                                               func() Stats
	validations, flushes, refreshes, touches, redisErrs *prometheus.Desc
	storeErrs, queued, replicaFallbacks                 *prometheus.Desc
	distrusted, indexEntries, indexCurrent, extended    *prometheus.Desc
	touchesDropped                                      *prometheus.Desc
	revocationsDropped, revocationReadErrs              *prometheus.Desc
	forged, untagged, legacyUntil                       *prometheus.Desc
}

func newSessionCollector(stats func() Stats) *sessionCollector {
	return &sessionCollector{
		stats:       stats,
		validations: prometheus.NewDesc("studio_session_validations_total", "Session validations by result and by the tier that answered (none: refused before any lookup).", []string{"result", "tier"}, nil),
		flushes:     prometheus.NewDesc("studio_session_l1_flushes_total", "Whole-L1 flushes (invalidation subscription dropped or resubscribed).", nil, nil),
		refreshes:   prometheus.NewDesc("studio_session_l1_refreshes_total", "L1 entries refreshed from Redis in the background before they expired (used in the last fifth of their life).", nil, nil),
		touches:     prometheus.NewDesc("studio_session_last_seen_writes_total", "last_seen_at updates written to the store (batched).", nil, nil),
		touchesDropped: prometheus.NewDesc("studio_session_last_seen_dropped_total",
			"Session uses not recorded for last_seen_at because the buffer of uses waiting for the store was full.", nil, nil),
		redisErrs: prometheus.NewDesc("studio_session_redis_errors_total", "Redis steps of the session layer that failed and fell back (read the store, queued a revocation, skipped a fill).", nil, nil),
		storeErrs: prometheus.NewDesc("studio_session_store_errors_total", "Store lookups that failed.", nil, nil),
		queued:    prometheus.NewDesc("studio_session_revocations_queued", "Revocations waiting to reach Redis.", nil, nil),
		replicaFallbacks: prometheus.NewDesc("studio_session_replica_read_fallbacks_total",
			"Session reads from a replica (REDIS_READ_REPLICAS) that failed and went to the master.", nil, nil),
		distrusted: prometheus.NewDesc("studio_session_redis_copies_distrusted_total",
			"Live session copies read from Redis but not used because the revocation index has the session or is not current; the store answered instead.", nil, nil),
		extended: prometheus.NewDesc("studio_session_redis_copies_extended_total",
			"Live session copies in Redis whose expiry the last-seen flusher moved forward (to at most the cache TTL after a store read that found the session live).", nil, nil),
		indexEntries: prometheus.NewDesc("studio_session_revocation_index_entries", "Revocations in the revocation index (those of the last cache TTL + clock skew).", nil, nil),
		indexCurrent: prometheus.NewDesc("studio_session_revocation_index_current",
			"1 while the revocation index is current (loaded, read from the store within five polls, not overflowed); 0 while Redis copies are not trusted.", nil, nil),
		revocationsDropped: prometheus.NewDesc("studio_session_revocations_dropped_total",
			"Revocations not kept because the revocation index was full; Redis copies are not trusted until they leave its window.", nil, nil),
		revocationReadErrs: prometheus.NewDesc("studio_session_revocation_reads_failed_total", "Reads of the store by the revocation index that failed.", nil, nil),
		forged: prometheus.NewDesc("studio_session_forged_tokens_total",
			"Well-formed tokens refused with no I/O because they carry no tag of this store's key and the legacy window is closed (validations that missed the L1, and revocations).", nil, nil),
		untagged: prometheus.NewDesc("studio_session_untagged_token_lookups_total",
			"Tokens without this store's tag looked up all the same (Redis, then the store) because the legacy window was open.", nil, nil),
		legacyUntil: prometheus.NewDesc("studio_session_legacy_tokens_until_seconds",
			"End of the legacy window (Unix time): until then tokens without this store's tag are looked up, for the sessions stored before the key or by an older Studio; 0 when there are none.", nil, nil),
	}
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.validations, c.flushes, c.refreshes, c.touches, c.redisErrs, c.storeErrs, c.queued, c.replicaFallbacks,
		c.distrusted, c.extended, c.touchesDropped, c.indexEntries, c.indexCurrent, c.revocationsDropped, c.revocationReadErrs,
		c.forged, c.untagged, c.legacyUntil} {
		ch <- d
	}
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for r := range NumResults {
		for t := range Tier(NumTiers) {
			if r == ResultMalformed && t != TierNone {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.validations, prometheus.CounterValue, float64(st.Validations[r][t]), r.String(), t.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(st.L1Flushes))
	ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(st.L1Refreshes))
	ch <- prometheus.MustNewConstMetric(c.touches, prometheus.CounterValue, float64(st.TouchesWritten))
	ch <- prometheus.MustNewConstMetric(c.redisErrs, prometheus.CounterValue, float64(st.RedisErrors))
	ch <- prometheus.MustNewConstMetric(c.storeErrs, prometheus.CounterValue, float64(st.StoreErrors))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.RevocationsQueued))
	ch <- prometheus.MustNewConstMetric(c.replicaFallbacks, prometheus.CounterValue, float64(st.ReplicaFallbacks))
	ch <- prometheus.MustNewConstMetric(c.distrusted, prometheus.CounterValue, float64(st.RedisCopiesDistrusted))
	ch <- prometheus.MustNewConstMetric(c.touchesDropped, prometheus.CounterValue, float64(st.TouchesDropped))
	ch <- prometheus.MustNewConstMetric(c.extended, prometheus.CounterValue, float64(st.RedisCopiesExtended))
	ch <- prometheus.MustNewConstMetric(c.indexEntries, prometheus.GaugeValue, float64(st.RevocationIndexEntries))
	current := 0.0
	if st.RevocationIndex == RevocationsCurrent {
		current = 1
	}
	ch <- prometheus.MustNewConstMetric(c.indexCurrent, prometheus.GaugeValue, current)
	ch <- prometheus.MustNewConstMetric(c.revocationsDropped, prometheus.CounterValue, float64(st.RevocationsDropped))
	ch <- prometheus.MustNewConstMetric(c.revocationReadErrs, prometheus.CounterValue, float64(st.RevocationReadErrors))
	ch <- prometheus.MustNewConstMetric(c.forged, prometheus.CounterValue, float64(st.ForgedTokens))
	ch <- prometheus.MustNewConstMetric(c.untagged, prometheus.CounterValue, float64(st.UntaggedLookups))
	until := 0.0
	if !st.LegacyUntil.IsZero() {
		until = float64(st.LegacyUntil.UnixMilli()) / 1000
	}
	ch <- prometheus.MustNewConstMetric(c.legacyUntil, prometheus.GaugeValue, until)
}

// warmCollector exposes the cache warmer's progress.
type warmCollector struct {
	progress                       func() WarmProgress
	runs, running, written, failed *prometheus.Desc
	lastDuration                   *prometheus.Desc
}

func newWarmCollector(p func() WarmProgress) *warmCollector {
	return &warmCollector{
		progress:     p,
		runs:         prometheus.NewDesc("studio_cache_warm_runs_total", "Cache-warming runs started (start-up, on demand, Redis came back empty).", nil, nil),
		running:      prometheus.NewDesc("studio_cache_warm_in_progress", "1 while a warming run is going on.", nil, nil),
		written:      prometheus.NewDesc("studio_cache_warm_last_run_sessions", "Sessions of the current or last run, by stage (read from the store, sent, written by Redis).", []string{"stage"}, nil),
		failed:       prometheus.NewDesc("studio_cache_warm_last_run_failed", "1 if the last warming run failed.", nil, nil),
		lastDuration: prometheus.NewDesc("studio_cache_warm_last_run_duration_seconds", "Wall time of the last finished warming run.", nil, nil),
	}
}

func (c *warmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.running, c.written, c.failed, c.lastDuration} {
		ch <- d
	}
}

func (c *warmCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.progress()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(p.Runs))
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, b(p.State == WarmRunning))
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.GaugeValue, float64(p.Read), "read")
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.GaugeValue, float64(p.Done), "sent")
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.GaugeValue, float64(p.Written), "written")
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, b(p.State == WarmFailed))
	d := 0.0
	if !p.Finished.IsZero() && !p.Started.IsZero() {
		d = p.Finished.Sub(p.Started).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.lastDuration, prometheus.GaugeValue, d)
}

// WarmMetrics are cumulative counters over every warming run; Observe
// feeds them (as WarmOptions.OnResult). Its methods are safe for
// concurrent use.
type WarmMetrics struct {
	sessions    *prometheus.CounterVec
	batches     prometheus.Counter
	revocations prometheus.Counter
	errors      prometheus.Counter
	runs        *prometheus.CounterVec
	duration    prometheus.Histogram
}

// NewWarmMetrics registers the studio_cache_warm_* counters with reg.
func NewWarmMetrics(reg prometheus.Registerer) *WarmMetrics {
	m := &WarmMetrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "studio_cache_warm_sessions_total", Help: "Sessions handled by cache warming, by result: written, skipped (already in Redis), expired, error."}, []string{"result"}),
		batches:  prometheus.NewCounter(prometheus.CounterOpts{Name: "studio_cache_warm_batches_total", Help: "Pipelines sent by cache warming."}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{Name: "studio_cache_warm_revocations_swept_total",
			Help: "Revocation tombstones written by cache warming's revocation sweeps (each once per run; a run reaches back a minute before its snapshot)."}),
		errors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "studio_cache_warm_errors_total", Help: "Cache-warming runs that ended with an error."}),
		runs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "studio_cache_warm_finished_runs_total", Help: "Finished cache-warming runs, by outcome (ok, failed)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "studio_cache_warm_duration_seconds", Help: "Wall time of cache-warming runs.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
	}
	for _, r := range []string{"written", "skipped", "expired", "error"} {
		m.sessions.WithLabelValues(r)
	}
	for _, o := range []string{"ok", "failed"} {
		m.runs.WithLabelValues(o)
	}
	reg.MustRegister(m.sessions, m.batches, m.revocations, m.errors, m.runs, m.duration)
	return m
}

// Observe records one finished run (WarmOptions.OnResult).
func (m *WarmMetrics) Observe(_ string, res WarmResult, err error) {
	m.sessions.WithLabelValues("written").Add(float64(res.Written))
	m.sessions.WithLabelValues("skipped").Add(float64(res.Skipped))
	m.sessions.WithLabelValues("expired").Add(float64(res.Expired))
	m.sessions.WithLabelValues("error").Add(float64(res.Errors))
	m.revocations.Add(float64(res.Revoked))
	m.batches.Add(float64(res.Batches))
	m.duration.Observe(res.Duration.Seconds())
	if err != nil {
		m.errors.Inc()
		m.runs.WithLabelValues("failed").Inc()
		return
	}
	m.runs.WithLabelValues("ok").Inc()
}
