package redisconn

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// PoolCollector exposes a go-redis connection pool's counters
// (studio_redis_pool_*) at scrape time, read from stats (a client's
// PoolStats method). It is safe for concurrent use.
func NewPoolCollector(stats func() *redis.PoolStats) prometheus.Collector {
	return newPoolCollector(stats)
}

// poolCollector exposes the go-redis connection pool.
type poolCollector struct {
	stats                  func() *redis.PoolStats
	hits, misses, timeouts *prometheus.Desc
	conns                  *prometheus.Desc
}

func newPoolCollector(stats func() *redis.PoolStats) *poolCollector {
	return &poolCollector{
		stats:    stats,
		hits:     prometheus.NewDesc("studio_redis_pool_hits_total", "Times a free connection was found in the pool.", nil, nil),
		misses:   prometheus.NewDesc("studio_redis_pool_misses_total", "Times no free connection was found and one was dialled.", nil, nil),
		timeouts: prometheus.NewDesc("studio_redis_pool_timeouts_total", "Times waiting for a connection timed out.", nil, nil),
		conns:    prometheus.NewDesc("studio_redis_pool_connections", "Connections in the pool by state (total, idle, stale).", []string{"state"}, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.timeouts, c.conns} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ps := c.stats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(ps.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(ps.Misses))
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(ps.Timeouts))
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(ps.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(ps.IdleConns), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(ps.StaleConns), "stale")
}
