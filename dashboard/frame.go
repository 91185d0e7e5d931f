package dashboard

import (
	"cmp"
	"encoding/json"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/monitor"
)

// MaxHistoryPoints bounds the points of a history frame: an hour of
// one-second points; a longer or denser history is thinned evenly.
const MaxHistoryPoints = 3600

// frame is what the page receives every second: the Snapshot fields it
// shows, trimmed, plus the newest history point.
type frame struct {
	Time           time.Time         `json:"time"`
	Status         string            `json:"status"`
	Reasons        []string          `json:"reasons"`
	Redis          frameRedis        `json:"redis"`
	Cache          frameCache        `json:"cache"`
	LatencyMS      monitor.Latency   `json:"latency_ms"`
	ThroughputOps  float64           `json:"throughput_ops"`
	Errors         frameErrors       `json:"errors"`
	Pool           monitor.PoolStats `json:"pool"`
	CircuitBreaker string            `json:"circuit_breaker"`
	HotKeys        []frameHotKey     `json:"hotkeys"`
	Alerts         []frameAlert      `json:"alerts"`
	Topology       *topoView         `json:"topology"`
	Point          json.RawMessage   `json:"point,omitempty"`
}

type frameRedis struct {
	Mode             string             `json:"mode"`
	Master           string             `json:"master"`
	Role             string             `json:"role"`
	Version          string             `json:"version"`
	UptimeSeconds    int64              `json:"uptime_seconds"`
	UsedMemoryBytes  int64              `json:"used_memory_bytes"`
	MaxmemoryBytes   int64              `json:"maxmemory_bytes"`
	MaxmemoryPolicy  string             `json:"maxmemory_policy"`
	EvictedKeys      int64              `json:"evicted_keys"`
	ConnectedClients int64              `json:"connected_clients"`
	MaxClients       int64              `json:"maxclients"`
	OpsPerSec        float64            `json:"ops_per_sec"`
	Replicas         []monitor.Replica  `json:"replicas"`
	Sentinels        []monitor.Sentinel `json:"sentinels"`
	PolledAt         time.Time          `json:"polled_at,omitzero"`
	LastError        string             `json:"last_error,omitempty"`
}

// frameHotKey is a hot key as the page shows it (display form only).
type frameHotKey struct {
	Key       string                `json:"key"`
	PerMin    float64               `json:"per_min"`
	Instances []monitor.HotKeyShare `json:"instances,omitempty"`
}

type frameCache struct {
	Available bool    `json:"available"`
	HitRate   float64 `json:"hit_rate"`
	Lookups   uint64  `json:"lookups"`
	Window    string  `json:"window"`
}

type frameErrors struct {
	Rate     float64 `json:"rate"`
	Total    uint64  `json:"total"`
	Commands uint64  `json:"commands_total"`
}

// frameAlert is one alert as the page shows it.
type frameAlert struct {
	Name     string    `json:"name"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	Summary  string    `json:"summary"`
	Since    time.Time `json:"since,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	Value    *float64  `json:"value,omitempty"`
	Runbook  string    `json:"runbook,omitempty"`
	Silenced bool      `json:"silenced,omitempty"`
}

// topoView is the part of the HA watcher's Topology the page shows: the
// master, each replica and Sentinel in brief, the last failover; not the
// event log or the per-Sentinel detail.
type topoView struct {
	MasterName      string         `json:"master_name"`
	Master          string         `json:"master"`
	MasterSince     time.Time      `json:"master_since,omitzero"`
	MasterReachable bool           `json:"master_reachable"`
	MasterRole      string         `json:"master_role,omitempty"`
	MasterError     string         `json:"master_error,omitempty"`
	Replicas        []topoReplica  `json:"replicas"`
	Sentinels       []topoSentinel `json:"sentinels"`
	LastFailover    *topoFailover  `json:"last_failover"`
	FailoversTotal  uint64         `json:"failovers_total"`
}

type topoReplica struct {
	Addr       string   `json:"addr"`
	Link       string   `json:"link"`
	LagBytes   int64    `json:"lag_bytes"`
	LagSeconds int64    `json:"lag_seconds"`
	Flags      []string `json:"flags"`
}

type topoSentinel struct {
	Addr       string   `json:"addr"`
	Reachable  bool     `json:"reachable"`
	Status     string   `json:"status"`
	MasterSeen string   `json:"master_seen"`
	Quorum     int      `json:"quorum"`
	QuorumOK   bool     `json:"quorum_ok"`
	Flags      []string `json:"flags"`
}

// topoFailover is the last failover as the page shows it: the write gap
// Studio's commands saw first, the Sentinels' detection-to-switch time
// (DurationSeconds) beside it (see health.Failover).
type topoFailover struct {
	From            string    `json:"from"`
	To              string    `json:"to"`
	DetectedAt      time.Time `json:"detected_at,omitzero"`
	SwitchedAt      time.Time `json:"switched_at"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
	Leader          string    `json:"leader,omitempty"`
	WriteGapStatus  string    `json:"write_gap_status,omitempty"`
	WriteGapSeconds float64   `json:"write_gap_seconds"`
	LastAnswerAt    time.Time `json:"last_answer_at,omitzero"`
	WritesBackAt    time.Time `json:"writes_back_at,omitzero"`
	FailedCommands  uint64    `json:"failed_commands,omitempty"`
}

// buildFrame reads the Snapshot (and the alerts and the newest point) into
// a frame's JSON.
func (h *Handler) buildFrame() []byte {
	s := h.opts.Snapshot()
	f := frame{
		Time: s.Time, Status: s.Status, Reasons: s.Reasons,
		Redis: frameRedis{
			Mode: s.Redis.Mode, Master: s.Redis.Master, Role: s.Redis.Role, Version: s.Redis.Version,
			UptimeSeconds: s.Redis.UptimeSeconds, UsedMemoryBytes: s.Redis.UsedMemoryBytes,
			MaxmemoryBytes: s.Redis.MaxmemoryBytes, MaxmemoryPolicy: s.Redis.MaxmemoryPolicy,
			EvictedKeys: s.Redis.EvictedKeys, ConnectedClients: s.Redis.ConnectedClients,
			MaxClients: s.Redis.MaxClients, OpsPerSec: s.Redis.OpsPerSec,
			Replicas: s.Redis.Replicas, Sentinels: s.Redis.Sentinels,
			PolledAt: s.Redis.PolledAt, LastError: s.Redis.LastError,
		},
		Cache:          frameCache{Available: s.Cache.Available, HitRate: s.Cache.HitRate, Lookups: s.Cache.Lookups, Window: s.Cache.Window},
		LatencyMS:      s.LatencyMS,
		ThroughputOps:  s.ThroughputOps,
		Errors:         frameErrors{Rate: s.Errors.Rate, Total: s.Errors.Total, Commands: s.Errors.Commands},
		Pool:           s.Pool,
		CircuitBreaker: s.CircuitBreaker,
		HotKeys:        make([]frameHotKey, 0, len(s.HotKeys)),
		Topology:       topologyView(s.Topology),
	}
	if f.Reasons == nil {
		f.Reasons = []string{}
	}
	for _, k := range s.HotKeys {
		hk := frameHotKey{Key: k.Key, PerMin: math.Round(k.PerMin*10) / 10}
		if len(k.Instances) > 1 { // one instance holds it all: the page says so
			hk.Instances = k.Instances
		}
		f.HotKeys = append(f.HotKeys, hk)
	}
	if f.Redis.Replicas == nil {
		f.Redis.Replicas = []monitor.Replica{}
	}
	if f.Redis.Sentinels == nil {
		f.Redis.Sentinels = []monitor.Sentinel{}
	}
	f.Alerts = alertView(s.Alerts)
	if h.opts.History != nil {
		if ps := h.opts.History(h.now().Add(-10 * time.Second)); len(ps) > 0 {
			f.Point = appendPoint(nil, ps[len(ps)-1])
		}
	}
	b, err := json.Marshal(f)
	if err != nil { // not reachable: every field encodes
		return []byte(`{"status":"unknown","reasons":["dashboard: ` + strings.ReplaceAll(err.Error(), `"`, `'`) + `"]}`)
	}
	return b
}

// alertView orders the Snapshot's alerts for the page: firing ones first
// (critical, warning, then the rest), then resolved ones, newest first;
// pending ones are left out, runbook links kept only when safe to follow.
func alertView(in []health.Alert) []frameAlert {
	out := []frameAlert{}
	for _, a := range in {
		if a.State == "pending" || a.State == "" {
			continue
		}
		out = append(out, frameAlert{Name: a.Name, Severity: a.Severity, State: a.State, Summary: a.Summary,
			Since: a.Since, EndsAt: a.EndsAt, Value: a.Value, Runbook: runbookLink(a.Runbook), Silenced: a.Silenced})
	}
	rank := func(a frameAlert) int {
		if a.State != "firing" {
			return 3
		}
		switch a.Severity {
		case "critical":
			return 0
		case "warning":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b frameAlert) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		ta, tb := a.Since, b.Since
		if !a.EndsAt.IsZero() {
			ta, tb = a.EndsAt, b.EndsAt
		}
		return tb.Compare(ta)
	})
	return out
}

// runbookLink keeps a runbook link the page may follow: an http(s) URL, or
// a relative path, made absolute from the site's root (Studio serves its
// runbooks at /docs/runbooks/). Anything else (javascript:, data:, …) is
// dropped.
func runbookLink(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" {
			return ""
		}
		return u.String()
	case u.Scheme == "" && u.Host == "" && !strings.HasPrefix(s, "//"):
		return "/" + strings.TrimLeft(u.String(), "/")
	}
	return ""
}

// topologyView trims a Topology to what the page shows; nil for nil.
func topologyView(t *health.Topology) *topoView {
	if t == nil {
		return nil
	}
	v := &topoView{
		MasterName: t.MasterName, Master: t.Master, MasterSince: t.MasterSince, MasterReachable: t.MasterReachable,
		MasterRole: t.MasterRole, MasterError: t.MasterError, FailoversTotal: t.FailoversTotal,
		Replicas: make([]topoReplica, 0, len(t.Replicas)), Sentinels: make([]topoSentinel, 0, len(t.Sentinels)),
	}
	for _, r := range t.Replicas {
		v.Replicas = append(v.Replicas, topoReplica{Addr: r.Addr, Link: r.Link, LagBytes: r.LagBytes, LagSeconds: r.LagSeconds, Flags: r.Flags})
	}
	for _, s := range t.Sentinels {
		v.Sentinels = append(v.Sentinels, topoSentinel{Addr: s.Addr, Reachable: s.Reachable, Status: s.Status,
			MasterSeen: s.MasterSeen, Quorum: s.Quorum, QuorumOK: s.QuorumOK, Flags: s.Flags})
	}
	if f := t.LastFailover; f != nil {
		v.LastFailover = &topoFailover{From: f.From, To: f.To, DetectedAt: f.DetectedAt, SwitchedAt: f.SwitchedAt,
			EndedAt: f.EndedAt, DurationSeconds: f.DurationSeconds, Leader: f.Leader,
			WriteGapStatus: f.WriteGapStatus, WriteGapSeconds: f.WriteGapSeconds,
			LastAnswerAt: f.LastAnswerAt, WritesBackAt: f.WritesBackAt, FailedCommands: f.FailedCommands}
	}
	return v
}

// The columns of a point, in the order appendPoint and appendColumns
// write them.
var pointKeys = [...]string{"t", "up", "p50", "p95", "p99", "ops", "sops", "hit", "l1", "rh", "mem", "max", "err", "ev", "cc"}

// pointValues returns a point's columns; NaN encodes as null (a server
// field of a failed poll, a hit rate without lookups, no memory limit).
func pointValues(p monitor.Point) [len(pointKeys)]float64 {
	nan := math.NaN()
	v := [len(pointKeys)]float64{
		float64(p.Time.UnixMilli()) / 1e3, 0, p.P50MS, p.P95MS, p.P99MS, p.ClientOps,
		nan, nan, nan, nan, nan, nan, p.ErrorRate, nan, nan,
	}
	if p.Up {
		v[1], v[6] = 1, p.ServerOps
		v[10], v[13], v[14] = float64(p.UsedMemory), float64(p.EvictedKeys), float64(p.ConnectedClients)
		if p.MaxMemory > 0 {
			v[11] = float64(p.MaxMemory)
		}
	}
	if p.Lookups > 0 {
		v[7], v[8], v[9] = p.HitRate, p.L1HitRate, p.RedisHitRate
	}
	return v
}

// appendNum writes v compactly: t with millisecond precision, byte and
// key counts whole, the rest with 4 significant digits.
func appendNum(b []byte, col int, v float64) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "null"...)
	case col == 0:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case col >= 10 && col != 12:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', 4, 64)
}

// appendPoint writes one point as a JSON object of pointKeys.
func appendPoint(b []byte, p monitor.Point) []byte {
	v := pointValues(p)
	b = append(b, '{')
	for i, k := range pointKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
		b = appendNum(b, i, v[i])
	}
	return append(b, '}')
}

// thin keeps at most max points, evenly spaced, always the newest.
func thin(ps []monitor.Point, max int) []monitor.Point {
	if len(ps) <= max {
		return ps
	}
	step := float64(len(ps)-1) / float64(max-1)
	out := make([]monitor.Point, max)
	for i := range out {
		out[i] = ps[int(math.Round(float64(i)*step))]
	}
	return out
}

// historyJSON is the last hour of points as columns
// ({"points":{"t":[…],"p50":[…],…},"n":N}), thinned to MaxHistoryPoints,
// and the hot keys' recent rates ("hot_trends":{key:[…]}) when
// Options.HotKeyTrends is set.
func (h *Handler) historyJSON() []byte {
	var ps []monitor.Point
	if h.opts.History != nil {
		ps = thin(h.opts.History(h.now().Add(-time.Hour)), MaxHistoryPoints)
	}
	cols := make([][len(pointKeys)]float64, len(ps))
	for i, p := range ps {
		cols[i] = pointValues(p)
	}
	b := make([]byte, 0, 64+len(ps)*len(pointKeys)*8)
	b = append(b, `{"points":{`...)
	for c, k := range pointKeys {
		if c > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":[`...)
		for i := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNum(b, c, cols[i][c])
		}
		b = append(b, ']')
	}
	b = append(b, `},"n":`...)
	b = strconv.AppendInt(b, int64(len(ps)), 10)
	if h.opts.HotKeyTrends != nil {
		trends := h.opts.HotKeyTrends()
		for k, v := range trends {
			r := make([]float64, len(v))
			for i, x := range v {
				r[i] = math.Round(x*10) / 10
			}
			trends[k] = r
		}
		// Display forms only, as in the frames; encoding/json escapes them.
		if j, err := json.Marshal(trends); err == nil {
			b = append(b, `,"hot_trends":`...)
			b = append(b, j...)
		}
	}
	return append(b, '}')
}
