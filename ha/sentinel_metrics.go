package ha

import (
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// sentinelCollector exposes each Sentinel's view of the master as
// redis_exporter's redis_sentinel_* metrics, from the watcher's last polls
// (it sends nothing at scrape time). redis_exporter scrapes one Sentinel
// per target; here every configured Sentinel is one value of the label
// sentinel. A Sentinel that did not answer its last poll, or does not
// monitor the master, has no series but redis_sentinel_tilt's absence and
// studio_sentinel_reachable.
type sentinelCollector struct {
	st *state
}

var _ prometheus.Collector = sentinelCollector{}

var (
	masterLabels          = []string{"sentinel", "master_name", "master_address"}
	descSentinelStatus    = prometheus.NewDesc("redis_sentinel_master_status", "1 when the Sentinel sees the master ok, 0 when it holds it subjectively (sdown) or objectively (odown) down; master_status says which.", append(slices.Clone(masterLabels), "master_status"), nil)
	descSentinelOK        = prometheus.NewDesc("redis_sentinel_master_ok_sentinels", "Sentinels the Sentinel counts usable for the master, itself included (SENTINEL CKQUORUM).", masterLabels, nil)
	descSentinelSentinels = prometheus.NewDesc("redis_sentinel_master_sentinels", "Sentinels monitoring the master as the Sentinel knows them, itself included.", masterLabels, nil)
	descSentinelSlaves    = prometheus.NewDesc("redis_sentinel_master_slaves", "Replicas of the master the Sentinel knows.", masterLabels, nil)
	descSentinelOKSlaves  = prometheus.NewDesc("redis_sentinel_master_ok_slaves", "Replicas of the master the Sentinel does not hold down (no s_down or o_down flag).", masterLabels, nil)
	descSentinelQuorum    = prometheus.NewDesc("redis_sentinel_master_setting_ckquorum", "The quorum configured for the master on the Sentinel.", masterLabels, nil)
	descSentinelEpoch     = prometheus.NewDesc("redis_sentinel_master_config_epoch", "The configuration epoch of the master on the Sentinel (it grows with every failover).", masterLabels, nil)
	descSentinelCkquorum  = prometheus.NewDesc("redis_sentinel_master_ckquorum_status", "1 when SENTINEL CKQUORUM answers OK: enough Sentinels are usable to reach the quorum and authorize a failover.", []string{"sentinel", "master_name"}, nil)
	descSentinelTilt      = prometheus.NewDesc("redis_sentinel_tilt", "1 while the Sentinel is in TILT mode.", []string{"sentinel"}, nil)
)

// Describe implements prometheus.Collector.
func (c sentinelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSentinelStatus, descSentinelOK, descSentinelSentinels, descSentinelSlaves,
		descSentinelOKSlaves, descSentinelQuorum, descSentinelEpoch, descSentinelCkquorum, descSentinelTilt} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c sentinelCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range st.sentinels {
		if !s.reachable {
			continue
		}
		gauge(descSentinelTilt, boolGauge(s.tilt), s.addr)
		if s.noMaster || s.masterSeen == "" {
			continue
		}
		labels := []string{s.addr, st.masterName, s.masterSeen}
		status := "ok"
		switch {
		case slices.Contains(s.flags, "o_down"):
			status = "odown"
		case slices.Contains(s.flags, "s_down"):
			status = "sdown"
		}
		gauge(descSentinelStatus, boolGauge(status == "ok"), append(labels, status)...)
		if n, ok := usableSentinels(s.quorumDetail); ok {
			gauge(descSentinelOK, float64(n), labels...)
		}
		gauge(descSentinelSentinels, float64(s.otherSentinels+1), labels...)
		okReplicas := 0
		for _, r := range s.replicas {
			if !slices.Contains(r.flags, "s_down") && !slices.Contains(r.flags, "o_down") {
				okReplicas++
			}
		}
		gauge(descSentinelSlaves, float64(len(s.replicas)), labels...)
		gauge(descSentinelOKSlaves, float64(okReplicas), labels...)
		gauge(descSentinelQuorum, float64(s.quorum), labels...)
		gauge(descSentinelEpoch, float64(s.epoch), labels...)
		gauge(descSentinelCkquorum, boolGauge(s.quorumOK), s.addr, st.masterName)
	}
}

// usableSentinels reads how many Sentinels are usable from the answer to
// SENTINEL CKQUORUM: "OK 3 usable Sentinels. Quorum and failover
// authorization can be reached", or the error reply "NOQUORUM 1 usable
// Sentinels. Not enough available Sentinels …" (either with the RESP
// prefix + or -). ok is false for any other text.
func usableSentinels(reply string) (n int, ok bool) {
	f := strings.Fields(reply)
	if len(f) < 3 || f[2] != "usable" {
		return 0, false
	}
	switch strings.TrimLeft(f[0], "+-") {
	case "OK", "NOQUORUM":
	default:
		return 0, false
	}
	if len(f[1]) > 6 || strings.Trim(f[1], "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil
}
