package health

// The indicators below are figures derived from a Snapshot that more than
// one reader needs with the same meaning: the alert engine's samples
// (redis_up, master_known, replicas_link_down) and the metrics of
// monitor.Collector (redis_up, studio_redis_master_known,
// studio_redis_replicas_link_down). ok is false while a Snapshot cannot
// tell yet: the reader leaves the figure out.

// RedisUp is 1 while the monitor's polls reach Redis and 0 once the status
// is down (DownAfter polls in a row failed). Before the first poll
// succeeded, and while fewer polls than that failed, it is unknown.
func (s *Snapshot) RedisUp() (up float64, ok bool) {
	switch {
	case s.Status == StatusDown:
		return 0, true
	case !s.Redis.PolledAt.IsZero():
		return 1, true
	}
	return 0, false
}

// MasterKnown is 1 when the master's address is known, 0 when not. In
// Sentinel mode (a Topology) it is the HA watcher's view, which also needs
// the master to answer; otherwise the last successful poll's. Unknown
// before both.
func (s *Snapshot) MasterKnown() (known float64, ok bool) {
	if t := s.Topology; t != nil {
		return boolFigure(t.Master != "" && t.MasterReachable), true
	}
	if s.Redis.PolledAt.IsZero() {
		return 0, false
	}
	return boolFigure(s.Redis.Master != ""), true
}

// ReplicasLinkDown counts the replication links that are not up. In
// Sentinel mode (a Topology) it is every replica the HA watcher knows
// whose link is not "ok" — the Sentinels still list a dead replica the
// master forgot. Otherwise, from the last successful poll: the replicas
// the master lists in a state other than online, plus 1 when the polled
// server is a replica whose master link is not up. Unknown before both.
func (s *Snapshot) ReplicasLinkDown() (n float64, ok bool) {
	if t := s.Topology; t != nil {
		down := 0
		for _, r := range t.Replicas {
			if r.Link != "ok" {
				down++
			}
		}
		return float64(down), true
	}
	r := &s.Redis
	if r.PolledAt.IsZero() {
		return 0, false
	}
	down := 0
	for _, rep := range r.Replicas {
		if rep.State != "online" {
			down++
		}
	}
	if r.Role == "replica" && r.MasterLinkStatus != "" && r.MasterLinkStatus != "up" {
		down++
	}
	return float64(down), true
}

func boolFigure(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
