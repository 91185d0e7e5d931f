package ha

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Event is one message a Sentinel published on its own Pub/Sub (the
// watcher subscribes with PSUBSCRIBE *). The same change usually arrives
// once from every Sentinel; Duplicate marks the copies after the first.
type Event struct {
	// Time is when the watcher received the event (its clock, not the
	// Sentinel's).
	Time time.Time `json:"time"`
	// Sentinel is the configured address of the Sentinel that published it.
	Sentinel string `json:"sentinel"`
	// Kind is the channel name exactly as Sentinel names it: "+sdown",
	// "-odown", "+switch-master", "+failover-end", "+tilt", …
	Kind string `json:"kind"`
	// Role is the instance type the payload names: "master", "slave" or
	// "sentinel" (as Sentinel spells it). Empty when the payload names no
	// instance (+tilt, -tilt, +new-epoch, +vote-for-leader, …).
	Role string `json:"role,omitempty"`
	// Name is the instance's name: the master name for a master, ip:port
	// for a replica, the run id for a Sentinel.
	Name string `json:"name,omitempty"`
	// Addr is the instance's host:port. For +switch-master it is the new
	// master.
	Addr string `json:"addr,omitempty"`
	// Master and MasterAddr are the master the instance belongs to (the
	// instance itself for a master; for +switch-master the new master).
	Master     string `json:"master,omitempty"`
	MasterAddr string `json:"master_addr,omitempty"`
	// OldAddr is, for +switch-master only, the master before the switch.
	OldAddr string `json:"old_addr,omitempty"`
	// Detail is the raw payload.
	Detail string `json:"detail"`
	// Duplicate is true when the same event (kind and instance) already
	// arrived from another Sentinel within the deduplication window.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ErrBadEvent is wrapped by every error ParseEvent returns.
var ErrBadEvent = errors.New("malformed sentinel event")

// MaxEventPayload is the longest payload ParseEvent accepts. Sentinel's own
// are under 200 bytes; anything longer was published by someone else.
const MaxEventPayload = 1024

// Event kinds the watcher acts on.
const (
	KindSDown        = "+sdown"
	KindSDownEnd     = "-sdown"
	KindODown        = "+odown"
	KindODownEnd     = "-odown"
	KindSwitchMaster = "+switch-master"
	KindTryFailover  = "+try-failover"
	KindElected      = "+elected-leader"
	KindFailoverEnd  = "+failover-end"
	KindTilt         = "+tilt"
	KindTiltEnd      = "-tilt"
)

// knownKinds are the event names Sentinel (Redis 6 to 8) publishes; they
// are the only values of the metrics' event label besides "other". The
// value says whether the payload must name an instance
// ("<type> <name> <ip> <port> [@ <master> <ip> <port>] …").
var knownKinds = map[string]bool{
	"+reset-master": true, "+slave": true, "+sentinel": true, "-dup-sentinel": true,
	"+sdown": true, "-sdown": true, "+odown": true, "-odown": true,
	"+try-failover": true, "+elected-leader": true, "+failover-detected": true,
	"+failover-state-select-slave": true, "+selected-slave": true,
	"+failover-state-send-slaveof-noone": true, "+failover-state-wait-promotion": true,
	"+promoted-slave": true, "+failover-state-reconf-slaves": true,
	"+slave-reconf-sent": true, "+slave-reconf-inprog": true, "+slave-reconf-done": true,
	"-slave-reconf-sent-timeout": true, "+failover-end": true, "+failover-end-for-timeout": true,
	"-failover-abort-not-elected": true, "-failover-abort-no-good-slave": true,
	"-failover-abort-slave-timeout": true, "-failover-abort-master-is-back": true,
	"-no-good-slave": true, "+config-update-from": true, "+role-change": true, "-role-change": true,
	"+convert-to-slave": true, "+fix-slave-config": true, "+reboot": true,
	"+monitor": true, "-monitor": true, "+set": true, "+script-child": true, "-script-child": true,
	"-script-error": true, "+cmd": true,
	// No instance in the payload.
	"+switch-master": false, "+tilt": false, "-tilt": false, "+new-epoch": false,
	"+vote-for-leader": false,
}

// kindLabel maps a kind to the bounded set of metric label values.
func kindLabel(kind string) string {
	if _, ok := knownKinds[kind]; ok {
		return kind
	}
	return "other"
}

// ParseEvent parses one Sentinel event: kind is the channel name, payload
// the message. Payloads follow three shapes:
//
//	<instance-type> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>] [extra…]
//	<master-name> <old-ip> <old-port> <new-ip> <new-port>        (+switch-master)
//	free text                                                    (+tilt "#tilt mode entered", +new-epoch "3", …)
//
// A known kind whose payload must name an instance, or +switch-master, is
// refused (an error wrapping ErrBadEvent) when the payload does not have
// that shape. An unknown kind is never refused: its instance is filled in
// when the payload has the first shape, else only Kind and Detail are.
// Time and Sentinel are left for the caller.
func ParseEvent(kind, payload string) (Event, error) {
	ev := Event{Kind: kind, Detail: payload}
	switch {
	case kind == "":
		return Event{}, fmt.Errorf("%w: empty event name", ErrBadEvent)
	case len(kind) > 64 || strings.IndexFunc(kind, badNameRune) >= 0:
		return Event{}, fmt.Errorf("%w: bad event name %.64q", ErrBadEvent, kind)
	case len(payload) > MaxEventPayload:
		return Event{}, fmt.Errorf("%w: %s: payload of %d bytes, more than %d", ErrBadEvent, kind, len(payload), MaxEventPayload)
	}
	if kind == KindSwitchMaster {
		f := strings.Fields(payload)
		if len(f) != 5 {
			return Event{}, fmt.Errorf("%w: %s: want <master-name> <old-ip> <old-port> <new-ip> <new-port>, got %d fields", ErrBadEvent, kind, len(f))
		}
		old, err := hostPort(f[1], f[2])
		if err != nil {
			return Event{}, fmt.Errorf("%w: %s: old master: %v", ErrBadEvent, kind, err)
		}
		addr, err := hostPort(f[3], f[4])
		if err != nil {
			return Event{}, fmt.Errorf("%w: %s: new master: %v", ErrBadEvent, kind, err)
		}
		ev.Role, ev.Name, ev.Master = "master", f[0], f[0]
		ev.Addr, ev.MasterAddr, ev.OldAddr = addr, addr, old
		return ev, nil
	}
	needs, known := knownKinds[kind]
	err := parseInstance(&ev, payload)
	switch {
	case err == nil:
		return ev, nil
	case known && needs:
		return Event{}, fmt.Errorf("%w: %s: %v", ErrBadEvent, kind, err)
	}
	return Event{Kind: kind, Detail: payload}, nil
}

// badNameRune reports runes that no Sentinel channel name holds.
func badNameRune(r rune) bool { return r <= ' ' || r == 0x7f || r > '~' }

// parseInstance fills ev's instance fields from an instance-shaped payload.
func parseInstance(ev *Event, payload string) error {
	f := strings.Fields(payload)
	if len(f) == 0 {
		return errors.New("empty payload, want <instance-type> <name> <ip> <port>")
	}
	switch f[0] {
	case "master", "slave", "replica", "sentinel":
	default:
		return fmt.Errorf("unknown instance type %.32q", f[0])
	}
	if len(f) < 4 {
		return fmt.Errorf("want <instance-type> <name> <ip> <port>, got %d fields", len(f))
	}
	addr, err := hostPort(f[2], f[3])
	if err != nil {
		return err
	}
	ev.Role, ev.Name, ev.Addr = f[0], f[1], addr
	if len(f) > 4 && f[4] == "@" {
		if len(f) < 8 {
			return errors.New("want <master-name> <ip> <port> after @")
		}
		maddr, err := hostPort(f[6], f[7])
		if err != nil {
			return fmt.Errorf("master: %v", err)
		}
		ev.Master, ev.MasterAddr = f[5], maddr
	} else if f[0] == "master" {
		ev.Master, ev.MasterAddr = f[1], addr
	}
	return nil
}

// hostPort joins an announced ip (or host name) and port, checking the
// port.
func hostPort(host, port string) (string, error) {
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("bad port %.16q", port)
	}
	if host == "" || strings.ContainsAny(host, "@[]") {
		return "", fmt.Errorf("bad host %.64q", host)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// identity is what makes two Sentinels' copies of an event the same event:
// everything but the free text after the instance (the #quorum counts
// differ between Sentinels).
type identity struct {
	kind, role, name, addr, master, masterAddr, oldAddr string
}

func (ev *Event) identity() identity {
	id := identity{ev.Kind, ev.Role, ev.Name, ev.Addr, ev.Master, ev.MasterAddr, ev.OldAddr}
	switch {
	case ev.Kind == KindTilt || ev.Kind == KindTiltEnd:
		// About the publishing Sentinel itself: never the same event as
		// another Sentinel's.
		id.name = ev.Sentinel
	case ev.Role == "":
		id.name = ev.Detail
	}
	return id
}
