package health

import "time"

// Topology is what the watcher knows of the Sentinel-managed master, ready
// for JSON. Every slice is non-nil.
type Topology struct {
	// MasterName is the name the Sentinels monitor the master under.
	MasterName string `json:"master_name"`
	// Master is the master's host:port as the Sentinels report it; empty
	// until one has answered. It follows +switch-master at once, and
	// otherwise the view of the reachable Sentinel with the highest
	// config epoch (see the package documentation).
	Master string `json:"master"`
	// MasterSince is when the watcher first saw this master, or saw the
	// switch to it.
	MasterSince time.Time `json:"master_since,omitzero"`
	// MasterReachable is true when the last INFO replication poll of the
	// master succeeded; MasterRole is the role it reported ("master", or
	// "slave" while a failover is settling), MasterError the poll's error.
	MasterReachable bool   `json:"master_reachable"`
	MasterRole      string `json:"master_role,omitempty"`
	MasterError     string `json:"master_error,omitempty"`
	// MasterReplOffset is the master's master_repl_offset.
	MasterReplOffset int64 `json:"master_repl_offset"`
	// Replicas are the master's replicas: those its INFO lists and those
	// the Sentinels agreeing on the master list, by address.
	Replicas []ReplicaView `json:"replicas"`
	// Sentinels are the configured Sentinels, in configuration order.
	Sentinels []SentinelView `json:"sentinels"`
	// LastFailover is the last failover seen; nil before the first.
	LastFailover *Failover `json:"last_failover"`
	// FailoversTotal counts failovers, each once however many Sentinels
	// reported it; MasterChangesTotal counts changes of Master (a change
	// the watcher learned only by polling counts here but not as a
	// failover).
	FailoversTotal     uint64 `json:"failovers_total"`
	MasterChangesTotal uint64 `json:"master_changes_total"`
	// Events are the last events (at most 50), newest first, each change
	// once with the Sentinels that reported it.
	Events []EventRecord `json:"events"`
	// EventsDropped counts events subscribers of the watcher missed because
	// their buffer was full.
	EventsDropped uint64 `json:"events_dropped"`
}

// ReplicaView is one replica of the master.
type ReplicaView struct {
	Addr string `json:"addr"`
	// Link is "ok" or "down". With a fresh INFO of the master it is "ok"
	// when the master lists the replica as online; without one, when the
	// Sentinels report its master-link-status ok. A replica a Sentinel
	// flags s_down, o_down or disconnected is "down" either way.
	Link string `json:"link"`
	// LagBytes is the master's master_repl_offset minus Offset; LagSeconds
	// the seconds since the replica's last acknowledgement. Both are -1
	// when the master's INFO is not available.
	LagBytes   int64 `json:"lag_bytes"`
	LagSeconds int64 `json:"lag_seconds"`
	// Offset is the replication offset the replica acknowledged to the
	// master, or, without the master's INFO, the slave-repl-offset a
	// Sentinel last read from the replica (refreshed every 10 s).
	Offset int64 `json:"offset"`
	// Flags are the Sentinels' flags for the replica besides "slave"
	// (s_down, o_down, disconnected, …), merged over the Sentinels.
	Flags []string `json:"flags"`
}

// SentinelView is one configured Sentinel and what it reports.
type SentinelView struct {
	Addr string `json:"addr"`
	// Reachable is true when the Sentinel answered the last poll.
	Reachable bool `json:"reachable"`
	// Subscribed is true while the event subscription is up and answers
	// pings.
	Subscribed bool `json:"subscribed"`
	// Status summarises the rest: "ok", "unreachable", "tilt", "odown"
	// (it holds the master objectively down), "sdown", "failover" (a
	// failover is in progress), "no-quorum", "stale" (it reports another
	// master than Master) or "unknown-master" (it does not monitor
	// MasterName).
	Status string `json:"status"`
	// MasterSeen is the master address it reports; ConfigEpoch that
	// configuration's epoch.
	MasterSeen  string `json:"master_seen"`
	ConfigEpoch int64  `json:"config_epoch"`
	// Flags are the master's flags as this Sentinel sees them (s_down,
	// o_down, failover_in_progress, …, without "master"), plus "tilt" while
	// the Sentinel is in TILT mode. Events update them between polls.
	Flags []string `json:"flags"`
	// Quorum is the configured quorum; OtherSentinels how many other
	// Sentinels it knows; QuorumOK the answer to SENTINEL CKQUORUM, whose
	// text is QuorumDetail.
	Quorum         int    `json:"quorum"`
	OtherSentinels int    `json:"other_sentinels"`
	QuorumOK       bool   `json:"quorum_ok"`
	QuorumDetail   string `json:"quorum_detail,omitempty"`
	// LastEvent is when its last event arrived; Events counts them.
	LastEvent time.Time `json:"last_event,omitzero"`
	Events    uint64    `json:"events"`
	// LastSeen is when it last answered a poll; LastError is the last
	// poll's error while it is unreachable, or its error reply.
	LastSeen  time.Time `json:"last_seen,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Failover is one failover, from the events of all the Sentinels.
type Failover struct {
	From string `json:"from"`
	To   string `json:"to"`
	// DetectedAt is the first +sdown of the old master from any Sentinel
	// (its down-after-milliseconds after the master stopped answering);
	// ODownAt the first +odown; StartedAt the first +try-failover;
	// SwitchedAt the first +switch-master (often from a Sentinel that
	// learnt the new configuration from the leader before the leader
	// published its own); EndedAt the leader's +failover-end, once every
	// replica is re-pointed (before or after SwitchedAt). Zero when the
	// watcher did not see that event.
	DetectedAt time.Time `json:"detected_at,omitzero"`
	ODownAt    time.Time `json:"odown_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	SwitchedAt time.Time `json:"switched_at"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	// DurationSeconds is SwitchedAt - DetectedAt, 0 without DetectedAt:
	// the Sentinels' detection-to-switch time. It is not how long clients
	// could not write: that began down-after-milliseconds before
	// DetectedAt, when the master stopped answering, and ended when
	// clients reached the new master (WriteGapSeconds).
	DurationSeconds float64 `json:"duration_seconds"`

	// The write gap as Studio saw it, from the outcomes of its own
	// commands to the master (redisconn.Config.Availability): the run of
	// failed commands the failover caused, from the last command the old
	// master answered to the first one answered after (normally by the
	// new master). All zero, and WriteGapStatus empty, when the watcher
	// is not told about Studio's commands.
	//
	// WriteGapStatus is "measuring" while the commands still fail (or
	// within 5 s of the switch, before any failed), "measured" once
	// they are answered again, "none" when no command failed around the
	// failover.
	WriteGapStatus string `json:"write_gap_status,omitempty"`
	// WriteGapSeconds is WritesBackAt - LastAnswerAt (FirstFailureAt
	// without LastAnswerAt); while measuring, the gap so far. Studio
	// sends at least one command a second (the monitor's poll), so an
	// idle instance can see up to a second more at each end than a busy
	// one; under traffic it is what callers saw, to the millisecond.
	WriteGapSeconds float64 `json:"write_gap_seconds"`
	// LastAnswerAt is when the old master last answered a command of
	// Studio's before they failed; FirstFailureAt when the first failed
	// command ended; WritesBackAt when the first command answered after
	// them ended; FailedCommands counts the failed commands in between
	// (retries inside the client not counted, breaker refusals counted).
	LastAnswerAt   time.Time `json:"last_answer_at,omitzero"`
	FirstFailureAt time.Time `json:"first_failure_at,omitzero"`
	WritesBackAt   time.Time `json:"writes_back_at,omitzero"`
	FailedCommands uint64    `json:"failed_commands,omitempty"`
	// Leader is the Sentinel that published +elected-leader, if seen.
	Leader string `json:"leader,omitempty"`
	// Sentinels are the Sentinels that reported the switch.
	Sentinels []string `json:"sentinels"`
}

// EventRecord is an event in Topology.Events: one change, with every
// Sentinel that reported it within the deduplication window.
type EventRecord struct {
	Time       time.Time `json:"time"` // first arrival
	Kind       string    `json:"kind"`
	Role       string    `json:"role,omitempty"`
	Name       string    `json:"name,omitempty"`
	Addr       string    `json:"addr,omitempty"`
	Master     string    `json:"master,omitempty"`
	MasterAddr string    `json:"master_addr,omitempty"`
	OldAddr    string    `json:"old_addr,omitempty"`
	Detail     string    `json:"detail"` // the first arrival's payload
	Sentinels  []string  `json:"sentinels"`
}
