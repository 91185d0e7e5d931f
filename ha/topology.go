package ha

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/monitor"
)

// The topology types are the health package's.
type (
	Topology     = health.Topology
	ReplicaView  = health.ReplicaView
	SentinelView = health.SentinelView
	Failover     = health.Failover
	EventRecord  = health.EventRecord
)

const (
	// maxEvents is how many deduplicated events Topology keeps.
	maxEvents = 50
	// dedupWindow: copies of an event from other Sentinels within it are
	// the same event.
	dedupWindow = 10 * time.Second
)

// state is the watcher's knowledge. Its methods are safe for concurrent
// use and do no I/O; the loops of watcher.go feed it.
type state struct {
	now        func() time.Time
	log        *slog.Logger
	m          *metrics
	masterName string
	// onMasterChange, if set, is called (under mu: it must not block or
	// call back) whenever the master changes.
	onMasterChange func()
	// outages, if set, are the runs of failures of Studio's commands to
	// the master, for the write gap of the last failover.
	outages *Outages

	mu            sync.Mutex
	sentinels     []*sentinelState // configuration order
	byAddr        map[string]*sentinelState
	master        string
	masterSince   time.Time
	masterChanges uint64
	node          nodeState
	lagLabels     map[string]bool // replicas with lag series
	pending       map[string]*pendingFailover
	last          *Failover
	gapSettled    bool // last's write gap is final
	failovers     uint64
	events        []EventRecord // oldest first
	eventIDs      []identity    // the identity of each of events, for merging copies
	dropped       uint64
	subs          map[*subscriber]struct{}
	closed        bool // subscribers closed for good
}

type sentinelState struct {
	addr       string
	polled     bool // a poll has finished, answered or not
	reachable  bool
	subscribed bool
	lastSeen   time.Time
	lastErr    string
	// The view, from the last poll or a later event.
	viewAt         time.Time // when the view was true (poll start or event)
	masterSeen     string
	epoch          int64
	noMaster       bool // it answered that it does not monitor masterName
	flags          []string
	flagsAt        time.Time
	tilt           bool
	quorum         int
	otherSentinels int
	quorumOK       bool
	quorumDetail   string
	replicas       []sentinelReplica
	lastEvent      time.Time
	events         uint64
}

type sentinelReplica struct {
	addr   string
	flags  []string // without "slave"
	linkOK bool     // master-link-status ok
	offset int64    // slave-repl-offset
}

// sentinelPoll is one poll's answer from a Sentinel.
type sentinelPoll struct {
	started time.Time
	err     error // nil: the Sentinel answered
	// noMaster is the error reply to SENTINEL MASTER (it does not monitor
	// the name); the rest is then empty.
	noMaster       string
	master         string
	epoch          int64
	flags          []string // without "master"
	quorum         int
	otherSentinels int
	replicas       []sentinelReplica
	tilt           bool
	quorumOK       bool
	quorumDetail   string
}

// nodeState is the last INFO replication poll of the master.
type nodeState struct {
	addr     string
	ok       bool
	err      string
	role     string
	offset   int64
	replicas []monitor.Replica
}

type pendingFailover struct {
	detected, odown, started, ended time.Time
	leader                          string
	sdownBy                         map[string]bool
}

type subscriber struct {
	ch chan Event
}

func newState(masterName string, sentinels []string, m *metrics, log *slog.Logger, now func() time.Time) *state {
	st := &state{
		now: now, log: log, m: m, masterName: masterName,
		byAddr: map[string]*sentinelState{}, pending: map[string]*pendingFailover{},
		lagLabels: map[string]bool{}, subs: map[*subscriber]struct{}{},
	}
	for _, a := range sentinels {
		s := &sentinelState{addr: a}
		st.sentinels = append(st.sentinels, s)
		st.byAddr[a] = s
	}
	return st
}

// applySentinelPoll records a poll of the Sentinel at addr.
func (st *state) applySentinelPoll(addr string, p sentinelPoll) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byAddr[addr]
	if s == nil {
		return
	}
	was := s.reachable
	s.reachable = p.err == nil
	st.m.reachable.WithLabelValues(addr).Set(boolGauge(s.reachable))
	first := !s.polled
	s.polled = true
	if p.err != nil {
		s.lastErr = p.err.Error()
		if was || first {
			st.log.LogAttrs(context.Background(), slog.LevelWarn, "sentinel unreachable",
				slog.String("sentinel", addr), slog.String("error", s.lastErr))
		}
		return
	}
	if !was && !first {
		st.log.LogAttrs(context.Background(), slog.LevelInfo, "sentinel reachable again", slog.String("sentinel", addr))
	}
	s.lastSeen = st.now()
	s.lastErr = p.noMaster
	s.noMaster = p.noMaster != ""
	if !p.started.Before(s.flagsAt) {
		s.flags, s.tilt = p.flags, p.tilt
	}
	if !p.started.Before(s.viewAt) {
		s.viewAt = p.started
		s.masterSeen, s.epoch = p.master, p.epoch
	}
	s.quorum, s.otherSentinels = p.quorum, p.otherSentinels
	s.quorumOK, s.quorumDetail = p.quorumOK, p.quorumDetail
	s.replicas = p.replicas
	st.resolveMasterLocked()
}

// resolveMasterLocked follows the master the newest configuration
// reports: among the reachable Sentinels, the highest config epoch wins,
// then the most Sentinels, then the current master, then the lowest
// address. A Sentinel that published +switch-master counts with an epoch
// above every polled one until its next poll gives the real one, so the
// Sentinels that have not learnt of the switch yet cannot switch back.
func (st *state) resolveMasterLocked() {
	var maxEpoch int64 = -1
	votes := map[string]int{}
	for _, s := range st.sentinels {
		if !s.reachable || s.masterSeen == "" {
			continue
		}
		if s.epoch > maxEpoch {
			maxEpoch = s.epoch
			clear(votes)
		}
		if s.epoch == maxEpoch {
			votes[s.masterSeen]++
		}
	}
	if len(votes) == 0 {
		return
	}
	best, bestN := "", 0
	for a, n := range votes {
		switch {
		case n > bestN, n == bestN && a == st.master,
			n == bestN && best != st.master && a < best:
			best, bestN = a, n
		}
	}
	if best != st.master {
		st.setMasterLocked(best, "poll")
	}
}

func (st *state) setMasterLocked(addr, source string) {
	old := st.master
	st.master, st.masterSince = addr, st.now()
	if old != "" {
		// A detection left from an earlier time this address was master
		// would stretch its next failover's duration.
		delete(st.pending, addr)
	}
	if st.onMasterChange != nil {
		st.onMasterChange()
	}
	if old == "" {
		st.log.LogAttrs(context.Background(), slog.LevelInfo, "redis master found",
			slog.String("master_name", st.masterName), slog.String("master", addr))
		return
	}
	st.masterChanges++
	st.m.masterChanges.Inc()
	st.log.LogAttrs(context.Background(), slog.LevelWarn, "redis master changed",
		slog.String("master_name", st.masterName), slog.String("from", old), slog.String("to", addr),
		slog.String("source", source))
}

// currentMaster returns the current master address ("" when unknown).
func (st *state) currentMaster() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.master
}

// applyNodePoll records an INFO replication poll of the master at addr.
func (st *state) applyNodePoll(addr string, n nodeState, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.resolveWriteGapLocked()
	if addr != st.master {
		return // the master changed while polling
	}
	n.addr = addr
	n.ok = err == nil
	if err != nil {
		n.err = err.Error()
		// Keep the last replica list for the Sentinels' view to merge with,
		// but no lag figures from a master that is not answering.
		n.replicas = nil
	}
	if st.node.ok && !n.ok && st.node.addr == addr {
		st.log.LogAttrs(context.Background(), slog.LevelWarn, "redis master unreachable",
			slog.String("master", addr), slog.String("error", n.err))
	}
	st.node = n
	seen := map[string]bool{}
	for _, r := range n.replicas {
		seen[r.Addr] = true
		st.m.replicaLagBytes.WithLabelValues(r.Addr).Set(float64(max(n.offset-r.Offset, 0)))
		st.m.replicaLagSecs.WithLabelValues(r.Addr).Set(float64(r.LagSeconds))
		st.lagLabels[r.Addr] = true
	}
	if n.ok {
		for a := range st.lagLabels {
			if !seen[a] {
				st.m.replicaLagBytes.DeleteLabelValues(a)
				st.m.replicaLagSecs.DeleteLabelValues(a)
				delete(st.lagLabels, a)
			}
		}
	}
}

// setSubscribed records the state of the event subscription to addr.
func (st *state) setSubscribed(addr string, up bool, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byAddr[addr]
	if s == nil || s.subscribed == up {
		return
	}
	s.subscribed = up
	st.m.subscribed.WithLabelValues(addr).Set(boolGauge(up))
	if up {
		st.log.LogAttrs(context.Background(), slog.LevelInfo, "sentinel events subscribed", slog.String("sentinel", addr))
		return
	}
	attrs := []slog.Attr{slog.String("sentinel", addr)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	st.log.LogAttrs(context.Background(), slog.LevelWarn, "sentinel events subscription lost", attrs...)
}

// applyEvent records an event (Time and Sentinel set) and hands it to the
// subscribers.
func (st *state) applyEvent(ev Event) {
	st.m.events.WithLabelValues(kindLabel(ev.Kind)).Inc()
	if ev.Master != "" && ev.Master != st.masterName {
		return // another master the Sentinel monitors
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byAddr[ev.Sentinel]
	if s == nil {
		return
	}
	s.events++
	s.lastEvent = ev.Time

	ev.Duplicate = st.recordLocked(ev)
	st.logEvent(ev)

	switch ev.Kind {
	case KindSDown, KindSDownEnd, KindODown, KindODownEnd:
		if ev.Role == "master" {
			st.downLocked(s, ev)
		}
	case KindTryFailover, KindElected, KindFailoverEnd:
		if ev.Role == "master" {
			st.failoverStepLocked(ev)
		}
	case KindTilt, KindTiltEnd:
		s.tilt, s.flagsAt = ev.Kind == KindTilt, ev.Time
	case KindSwitchMaster:
		st.switchLocked(s, ev)
	default:
		if failoverAborted(ev.Kind) && ev.Role == "master" {
			st.abortLocked(ev)
		}
	}

	for sub := range st.subs {
		select {
		case sub.ch <- ev:
		default:
			st.dropped++
			st.m.eventsDropped.Inc()
		}
	}
}

// recordLocked adds ev to the events ring, merging it into an earlier
// record of the same event from another Sentinel within dedupWindow. It
// reports whether ev was merged.
func (st *state) recordLocked(ev Event) bool {
	id := ev.identity()
	for i := len(st.events) - 1; i >= 0; i-- {
		r := &st.events[i]
		if ev.Time.Sub(r.Time) > dedupWindow {
			break
		}
		if st.eventIDs[i] == id && !slices.Contains(r.Sentinels, ev.Sentinel) {
			r.Sentinels = append(r.Sentinels, ev.Sentinel)
			return true
		}
	}
	if len(st.events) == maxEvents {
		st.events = slices.Delete(st.events, 0, 1)
		st.eventIDs = slices.Delete(st.eventIDs, 0, 1)
	}
	st.events = append(st.events, EventRecord{
		Time: ev.Time, Kind: ev.Kind, Role: ev.Role, Name: ev.Name, Addr: ev.Addr,
		Master: ev.Master, MasterAddr: ev.MasterAddr, OldAddr: ev.OldAddr, Detail: ev.Detail,
		Sentinels: []string{ev.Sentinel},
	})
	st.eventIDs = append(st.eventIDs, id)
	return false
}

// logEvent logs the first copy of an event at a level by kind (warn for
// trouble, info for recovery and failover steps) and the copies at debug.
func (st *state) logEvent(ev Event) {
	level := slog.LevelDebug
	if !ev.Duplicate {
		switch {
		case ev.Kind == KindSDown, ev.Kind == KindODown, ev.Kind == KindSwitchMaster, ev.Kind == KindTilt,
			failoverAborted(ev.Kind), ev.Kind == "-no-good-slave", ev.Kind == "-slave-reconf-sent-timeout":
			level = slog.LevelWarn
		case ev.Kind == KindSDownEnd, ev.Kind == KindODownEnd, ev.Kind == KindTiltEnd,
			ev.Kind == KindTryFailover, ev.Kind == KindElected, ev.Kind == KindFailoverEnd,
			ev.Kind == "+promoted-slave", ev.Kind == "+failover-detected":
			level = slog.LevelInfo
		}
	}
	if !st.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("sentinel", ev.Sentinel), slog.String("event", ev.Kind)}
	if ev.Role != "" {
		attrs = append(attrs, slog.String("role", ev.Role), slog.String("name", ev.Name), slog.String("addr", ev.Addr))
	}
	if ev.Master != "" {
		attrs = append(attrs, slog.String("master_name", ev.Master), slog.String("master_addr", ev.MasterAddr))
	}
	if ev.OldAddr != "" {
		attrs = append(attrs, slog.String("old_addr", ev.OldAddr))
	}
	attrs = append(attrs, slog.String("detail", ev.Detail), slog.Bool("duplicate", ev.Duplicate))
	st.log.LogAttrs(context.Background(), level, "sentinel event", attrs...)
}

// downLocked handles ±sdown/±odown of the master: the Sentinel's flags and
// the detection time of a coming failover.
func (st *state) downLocked(s *sentinelState, ev Event) {
	flag := "s_down"
	if ev.Kind == KindODown || ev.Kind == KindODownEnd {
		flag = "o_down"
	}
	up := ev.Kind == KindSDownEnd || ev.Kind == KindODownEnd
	if ev.Addr == s.masterSeen || s.masterSeen == "" {
		s.flags = slices.DeleteFunc(slices.Clone(s.flags), func(f string) bool { return f == flag })
		if !up {
			s.flags = append(s.flags, flag)
		}
		s.flagsAt = ev.Time
	}
	p := st.pending[ev.Addr]
	switch {
	case ev.Kind == KindSDown && st.master != "" && ev.Addr != st.master:
		// A late copy about a master already replaced: no detection.
	case ev.Kind == KindSDown:
		if p == nil {
			p = &pendingFailover{detected: ev.Time, sdownBy: map[string]bool{}}
			st.pending[ev.Addr] = p
		}
		p.sdownBy[s.addr] = true
	case ev.Kind == KindODown && p != nil && p.odown.IsZero():
		p.odown = ev.Time
	case ev.Kind == KindSDownEnd && p != nil:
		delete(p.sdownBy, s.addr)
		// Once a leader has begun the failover it goes on although the
		// master answers again, so its detection is kept for the switch.
		if len(p.sdownBy) == 0 && p.started.IsZero() {
			delete(st.pending, ev.Addr) // back without a failover
		}
	}
}

// failoverAborted reports whether kind ends a failover attempt without a
// switch.
func failoverAborted(kind string) bool {
	return strings.HasPrefix(kind, "-failover-abort") || kind == "+failover-end-for-timeout"
}

// failoverStepLocked records +try-failover, +elected-leader and
// +failover-end of the master at ev.Addr.
func (st *state) failoverStepLocked(ev Event) {
	if ev.Kind == KindFailoverEnd && st.last != nil && st.last.From == ev.Addr && st.last.EndedAt.IsZero() && st.master == st.last.To {
		st.last.EndedAt = ev.Time
		return
	}
	p := st.pending[ev.Addr]
	if p == nil {
		if st.master != "" && ev.Addr != st.master {
			return // a late copy about a master already replaced
		}
		p = &pendingFailover{sdownBy: map[string]bool{}}
		st.pending[ev.Addr] = p
	}
	switch ev.Kind {
	case KindTryFailover:
		if p.started.IsZero() {
			p.started = ev.Time
		}
	case KindElected:
		p.leader = ev.Sentinel
	case KindFailoverEnd:
		p.ended = ev.Time
	}
}

// abortLocked handles a failover attempt of the master at ev.Addr that
// ended without a switch: the next attempt is timed from its own start,
// and a detection no Sentinel still holds is dropped.
func (st *state) abortLocked(ev Event) {
	p := st.pending[ev.Addr]
	if p == nil {
		return
	}
	p.started, p.leader, p.ended = time.Time{}, "", time.Time{}
	if len(p.sdownBy) == 0 {
		delete(st.pending, ev.Addr)
	}
}

// switchLocked handles +switch-master: the first copy of a failover counts
// it; copies from the other Sentinels (same old→new while the master is
// still the new one) only add their name.
func (st *state) switchLocked(s *sentinelState, ev Event) {
	var maxEpoch int64
	for _, o := range st.sentinels {
		maxEpoch = max(maxEpoch, o.epoch)
	}
	// The Sentinel now reports the new master in a newer configuration
	// than any we polled; its next poll gives the real epoch.
	s.masterSeen, s.epoch, s.viewAt = ev.Addr, maxEpoch+1, ev.Time
	s.flags = slices.DeleteFunc(slices.Clone(s.flags), func(f string) bool { return f == "s_down" || f == "o_down" })
	s.flagsAt = ev.Time

	if l := st.last; l != nil && l.From == ev.OldAddr && l.To == ev.Addr && st.master == ev.Addr {
		if !slices.Contains(l.Sentinels, s.addr) {
			l.Sentinels = append(l.Sentinels, s.addr)
		}
		return
	}
	f := &Failover{From: ev.OldAddr, To: ev.Addr, SwitchedAt: ev.Time, Sentinels: []string{s.addr}}
	if p := st.pending[ev.OldAddr]; p != nil {
		f.DetectedAt, f.ODownAt, f.StartedAt, f.EndedAt, f.Leader = p.detected, p.odown, p.started, p.ended, p.leader
		delete(st.pending, ev.OldAddr)
	}
	if !f.DetectedAt.IsZero() {
		f.DurationSeconds = f.SwitchedAt.Sub(f.DetectedAt).Seconds()
	}
	st.last, st.gapSettled = f, false
	st.failovers++
	st.m.failovers.Inc()
	st.m.failoverSeconds.Set(f.DurationSeconds)
	attrs := []slog.Attr{slog.String("master_name", st.masterName), slog.String("from", f.From), slog.String("to", f.To),
		slog.String("sentinel", s.addr)}
	if !f.DetectedAt.IsZero() {
		attrs = append(attrs, slog.Duration("duration", f.SwitchedAt.Sub(f.DetectedAt)))
	}
	st.log.LogAttrs(context.Background(), slog.LevelWarn, "redis failover", attrs...)
	if st.master != ev.Addr {
		st.setMasterLocked(ev.Addr, "event")
	}
	st.resolveWriteGapLocked()
}

// writeGapWindow is how long after +switch-master an outage of Studio's
// commands may begin and still be the failover's (a demoted master
// refusing writes), and so how long after it the write gap is settled.
const writeGapWindow = 5 * time.Second

// Write gap statuses (Failover.WriteGapStatus).
const (
	gapMeasuring = "measuring"
	gapMeasured  = "measured"
	gapNone      = "none"
)

// matchOutage returns the outage of Studio's commands that failover f
// caused: the longest of those overlapping the failover, from its
// detection (its switch when detection was not seen) to writeGapWindow
// after its switch. An outage in progress lasts until now.
func matchOutage(f *Failover, outages []Outage, now time.Time) (Outage, bool) {
	from, until := f.DetectedAt, f.SwitchedAt.Add(writeGapWindow)
	if from.IsZero() {
		from = f.SwitchedAt
	}
	var best Outage
	found := false
	for _, o := range outages {
		end := o.Back
		if end.IsZero() {
			end = now
		}
		if o.FirstFailure.After(until) || end.Before(from) {
			continue
		}
		if !found || o.Gap(now) > best.Gap(now) {
			best, found = o, true
		}
	}
	return best, found
}

// resolveWriteGapLocked fills the last failover's write gap from the
// outages, until it is settled: writeGapWindow after the switch, with the
// commands answered again (or none failed). Then it sets the metric and
// logs the figures once.
func (st *state) resolveWriteGapLocked() {
	f := st.last
	if f == nil || st.outages == nil || st.gapSettled {
		return
	}
	now := st.now()
	o, ok := matchOutage(f, st.outages.List(), now)
	f.LastAnswerAt, f.FirstFailureAt, f.WritesBackAt, f.FailedCommands = o.LastAnswer, o.FirstFailure, o.Back, o.Failed
	f.WriteGapSeconds, f.WriteGapStatus = 0, gapMeasuring
	switch {
	case ok && !o.Back.IsZero():
		f.WriteGapSeconds, f.WriteGapStatus = o.Gap(now).Seconds(), gapMeasured
	case ok:
		f.WriteGapSeconds = o.Gap(now).Seconds()
	case now.Sub(f.SwitchedAt) >= writeGapWindow:
		f.WriteGapStatus = gapNone
	}
	if f.WriteGapStatus == gapMeasuring || now.Sub(f.SwitchedAt) < writeGapWindow {
		return
	}
	st.gapSettled = true
	st.m.writeGapSeconds.Set(f.WriteGapSeconds)
	st.log.LogAttrs(context.Background(), slog.LevelInfo, "redis failover write gap",
		slog.String("master_name", st.masterName), slog.String("from", f.From), slog.String("to", f.To),
		slog.Duration("write_gap", seconds(f.WriteGapSeconds)), slog.Uint64("failed_commands", f.FailedCommands),
		slog.Duration("duration", seconds(f.DurationSeconds)))
}

// seconds is a figure in seconds as a time.Duration, for log lines.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

// subscribe adds a subscriber with a buffer of buf events (at least 1).
func (st *state) subscribe(buf int) (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, max(buf, 1))}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		close(sub.ch)
		return sub.ch, func() {}
	}
	st.subs[sub] = struct{}{}
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			if _, ok := st.subs[sub]; ok {
				delete(st.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// closeSubscribers closes every subscriber's channel, for good.
func (st *state) closeSubscribers() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	for sub := range st.subs {
		close(sub.ch)
	}
	clear(st.subs)
}

// topology builds the Topology.
func (st *state) topology() Topology {
	st.mu.Lock()
	defer st.mu.Unlock()
	t := Topology{
		MasterName: st.masterName, Master: st.master, MasterSince: st.masterSince,
		FailoversTotal: st.failovers, MasterChangesTotal: st.masterChanges, EventsDropped: st.dropped,
		Replicas: []ReplicaView{}, Sentinels: []SentinelView{}, Events: []EventRecord{},
	}
	fresh := st.node.addr == st.master && st.master != ""
	if fresh {
		t.MasterReachable, t.MasterRole, t.MasterError = st.node.ok, st.node.role, st.node.err
		t.MasterReplOffset = st.node.offset
	}
	t.Replicas = st.replicasLocked(fresh && st.node.ok)
	for _, s := range st.sentinels {
		t.Sentinels = append(t.Sentinels, st.sentinelViewLocked(s))
	}
	st.resolveWriteGapLocked()
	if st.last != nil {
		f := *st.last
		f.Sentinels = slices.Clone(f.Sentinels)
		t.LastFailover = &f
	}
	for i := len(st.events) - 1; i >= 0; i-- {
		r := st.events[i]
		r.Sentinels = slices.Clone(r.Sentinels)
		t.Events = append(t.Events, r)
	}
	return t
}

// replicasLocked merges the master's INFO (when withInfo) and the replica
// lists of the reachable Sentinels that report the current master.
func (st *state) replicasLocked(withInfo bool) []ReplicaView {
	out := []ReplicaView{}
	index := map[string]int{}
	add := func(addr string) *ReplicaView {
		if i, ok := index[addr]; ok {
			return &out[i]
		}
		index[addr] = len(out)
		out = append(out, ReplicaView{Addr: addr, Link: "down", LagBytes: -1, LagSeconds: -1, Flags: []string{}})
		return &out[len(out)-1]
	}
	if withInfo {
		for _, r := range st.node.replicas {
			v := add(r.Addr)
			v.Offset, v.LagSeconds = r.Offset, r.LagSeconds
			v.LagBytes = max(st.node.offset-r.Offset, 0)
			if r.State == "online" {
				v.Link = "ok"
			}
		}
	}
	for _, s := range st.sentinels {
		if !s.reachable || s.masterSeen != st.master || st.master == "" {
			continue
		}
		for _, r := range s.replicas {
			if r.addr == st.master {
				continue // a stale entry during a switch
			}
			_, listed := index[r.addr]
			v := add(r.addr)
			for _, f := range r.flags {
				if !slices.Contains(v.Flags, f) {
					v.Flags = append(v.Flags, f)
				}
			}
			if !withInfo && !listed {
				v.Offset = r.offset
				if r.linkOK {
					v.Link = "ok"
				}
			}
		}
	}
	for i := range out {
		for _, f := range out[i].Flags {
			if f == "s_down" || f == "o_down" || f == "disconnected" {
				out[i].Link = "down"
			}
		}
		slices.Sort(out[i].Flags)
	}
	slices.SortFunc(out, func(a, b ReplicaView) int { return cmp.Compare(a.Addr, b.Addr) })
	return out
}

func (st *state) sentinelViewLocked(s *sentinelState) SentinelView {
	v := SentinelView{
		Addr: s.addr, Reachable: s.reachable, Subscribed: s.subscribed,
		MasterSeen: s.masterSeen, ConfigEpoch: s.epoch, Flags: slices.Clone(s.flags),
		Quorum: s.quorum, OtherSentinels: s.otherSentinels, QuorumOK: s.quorumOK, QuorumDetail: s.quorumDetail,
		LastEvent: s.lastEvent, Events: s.events, LastSeen: s.lastSeen, LastError: s.lastErr,
	}
	if v.Flags == nil {
		v.Flags = []string{}
	}
	if s.tilt {
		v.Flags = append(v.Flags, "tilt")
	}
	v.Status = "ok"
	switch {
	case !s.reachable:
		v.Status = "unreachable"
	case s.noMaster:
		v.Status = "unknown-master"
	case s.tilt:
		v.Status = "tilt"
	case slices.Contains(s.flags, "o_down"):
		v.Status = "odown"
	case slices.Contains(s.flags, "s_down"):
		v.Status = "sdown"
	case slices.Contains(s.flags, "failover_in_progress"):
		v.Status = "failover"
	case !s.quorumOK:
		v.Status = "no-quorum"
	case s.masterSeen != st.master:
		v.Status = "stale"
	}
	return v
}

// monitorSentinels is the adapter for monitor.Options.Sentinels.
func (st *state) monitorSentinels() []monitor.Sentinel {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]monitor.Sentinel, 0, len(st.sentinels))
	for _, s := range st.sentinels {
		out = append(out, monitor.Sentinel{Addr: s.addr, Status: st.sentinelViewLocked(s).Status})
	}
	return out
}
