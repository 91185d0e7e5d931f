package ha

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Payloads as Redis 7.0 Sentinels published them during a kill -9 of the
// master (captured with redis-cli PSUBSCRIBE '*').
func TestParseEvent(t *testing.T) {
	tests := []struct {
		kind, payload string
		want          Event
	}{
		{"+sdown", "master mymaster 127.0.0.1 17379",
			Event{Role: "master", Name: "mymaster", Addr: "127.0.0.1:17379", Master: "mymaster", MasterAddr: "127.0.0.1:17379"}},
		{"+odown", "master mymaster 127.0.0.1 17379 #quorum 3/2",
			Event{Role: "master", Name: "mymaster", Addr: "127.0.0.1:17379", Master: "mymaster", MasterAddr: "127.0.0.1:17379"}},
		{"+new-epoch", "1", Event{}},
		{"+vote-for-leader", "a4af48ba6b96afd8c46b3ddec4bbcf774d5f3bee 1", Event{}},
		{"-role-change", "slave 127.0.0.1:17380 127.0.0.1 17380 @ mymaster 127.0.0.1 17379 new reported role is master",
			Event{Role: "slave", Name: "127.0.0.1:17380", Addr: "127.0.0.1:17380", Master: "mymaster", MasterAddr: "127.0.0.1:17379"}},
		{"+config-update-from", "sentinel a4af48ba6b96afd8c46b3ddec4bbcf774d5f3bee 127.0.0.1 27382 @ mymaster 127.0.0.1 17379",
			Event{Role: "sentinel", Name: "a4af48ba6b96afd8c46b3ddec4bbcf774d5f3bee", Addr: "127.0.0.1:27382", Master: "mymaster", MasterAddr: "127.0.0.1:17379"}},
		{"+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380",
			Event{Role: "master", Name: "mymaster", Addr: "127.0.0.1:17380", Master: "mymaster", MasterAddr: "127.0.0.1:17380", OldAddr: "127.0.0.1:17379"}},
		{"+slave", "slave 127.0.0.1:17381 127.0.0.1 17381 @ mymaster 127.0.0.1 17380",
			Event{Role: "slave", Name: "127.0.0.1:17381", Addr: "127.0.0.1:17381", Master: "mymaster", MasterAddr: "127.0.0.1:17380"}},
		{"+failover-end", "master mymaster 127.0.0.1 17379",
			Event{Role: "master", Name: "mymaster", Addr: "127.0.0.1:17379", Master: "mymaster", MasterAddr: "127.0.0.1:17379"}},
		{"+tilt", "#tilt mode entered", Event{}},
		{"-tilt", "#tilt mode exited", Event{}},
		// IPv6 and host names (announce-hostnames yes).
		{"+sdown", "slave [::1]:6380 ::1 6380 @ m ::1 6379",
			Event{Role: "slave", Name: "[::1]:6380", Addr: "[::1]:6380", Master: "m", MasterAddr: "[::1]:6379"}},
		{"+switch-master", "m redis-0.svc 6379 redis-1.svc 6379",
			Event{Role: "master", Name: "m", Addr: "redis-1.svc:6379", Master: "m", MasterAddr: "redis-1.svc:6379", OldAddr: "redis-0.svc:6379"}},
		// Unknown kinds: instance when the payload has one, else raw.
		{"+future-event", "slave a 10.0.0.1 6379 @ m 10.0.0.2 6379",
			Event{Role: "slave", Name: "a", Addr: "10.0.0.1:6379", Master: "m", MasterAddr: "10.0.0.2:6379"}},
		{"+future-event", "slave a 10.0.0.1 notaport", Event{}},
		{"+future-event", "", Event{}},
		{"chat", "hello world", Event{}},
	}
	for _, tt := range tests {
		got, err := ParseEvent(tt.kind, tt.payload)
		if err != nil {
			t.Errorf("ParseEvent(%q, %q): %v", tt.kind, tt.payload, err)
			continue
		}
		tt.want.Kind, tt.want.Detail = tt.kind, tt.payload
		if got != tt.want {
			t.Errorf("ParseEvent(%q, %q)\n got %+v\nwant %+v", tt.kind, tt.payload, got, tt.want)
		}
	}
}

func TestParseEventBad(t *testing.T) {
	tests := []struct {
		kind, payload, err string
	}{
		{"", "master m 1.2.3.4 6379", "malformed sentinel event: empty event name"},
		{"+s down", "x", `malformed sentinel event: bad event name "+s down"`},
		{"+sdown\n", "x", `malformed sentinel event: bad event name "+sdown\n"`},
		{"+sdöwn", "x", `malformed sentinel event: bad event name "+sdöwn"`},
		{strings.Repeat("x", 65), "x", `malformed sentinel event: bad event name "` + strings.Repeat("x", 64) + `"`},
		{"+sdown", strings.Repeat("a", 1025), "malformed sentinel event: +sdown: payload of 1025 bytes, more than 1024"},
		{"+sdown", "", "malformed sentinel event: +sdown: empty payload, want <instance-type> <name> <ip> <port>"},
		{"+sdown", "   ", "malformed sentinel event: +sdown: empty payload, want <instance-type> <name> <ip> <port>"},
		{"+sdown", "cluster m 1.2.3.4 6379", `malformed sentinel event: +sdown: unknown instance type "cluster"`},
		{"+odown", "master m 1.2.3.4", "malformed sentinel event: +odown: want <instance-type> <name> <ip> <port>, got 3 fields"},
		{"+sdown", "master m 1.2.3.4 port", `malformed sentinel event: +sdown: bad port "port"`},
		{"+sdown", "master m 1.2.3.4 0", `malformed sentinel event: +sdown: bad port "0"`},
		{"+sdown", "master m 1.2.3.4 65536", `malformed sentinel event: +sdown: bad port "65536"`},
		{"+sdown", "master m 1.2.3.4 -1", `malformed sentinel event: +sdown: bad port "-1"`},
		{"+sdown", "master m [::1] 6379", `malformed sentinel event: +sdown: bad host "[::1]"`},
		{"+sdown", "slave a 1.2.3.4 6380 @ m 1.2.3.4", "malformed sentinel event: +sdown: want <master-name> <ip> <port> after @"},
		{"+sdown", "slave a 1.2.3.4 6380 @", "malformed sentinel event: +sdown: want <master-name> <ip> <port> after @"},
		{"+sdown", "slave a 1.2.3.4 6380 @ m 1.2.3.4 x", `malformed sentinel event: +sdown: master: bad port "x"`},
		{"+failover-end", "#tilt mode entered", `malformed sentinel event: +failover-end: unknown instance type "#tilt"`},
		{"+switch-master", "", "malformed sentinel event: +switch-master: want <master-name> <old-ip> <old-port> <new-ip> <new-port>, got 0 fields"},
		{"+switch-master", "m 1.2.3.4 6379 1.2.3.5", "malformed sentinel event: +switch-master: want <master-name> <old-ip> <old-port> <new-ip> <new-port>, got 4 fields"},
		{"+switch-master", "m 1.2.3.4 6379 1.2.3.5 6379 extra", "malformed sentinel event: +switch-master: want <master-name> <old-ip> <old-port> <new-ip> <new-port>, got 6 fields"},
		{"+switch-master", "m 1.2.3.4 x 1.2.3.5 6379", `malformed sentinel event: +switch-master: old master: bad port "x"`},
		{"+switch-master", "m 1.2.3.4 6379 1.2.3.5 99999", `malformed sentinel event: +switch-master: new master: bad port "99999"`},
		{"+switch-master", "m 1.2.3.4 6379 a@b 6379", `malformed sentinel event: +switch-master: new master: bad host "a@b"`},
	}
	for _, tt := range tests {
		ev, err := ParseEvent(tt.kind, tt.payload)
		if err == nil {
			t.Errorf("ParseEvent(%.40q, %.40q) = %+v, want error %q", tt.kind, tt.payload, ev, tt.err)
			continue
		}
		if !errors.Is(err, ErrBadEvent) {
			t.Errorf("ParseEvent(%.40q, %.40q): %v does not wrap ErrBadEvent", tt.kind, tt.payload, err)
		}
		if err.Error() != tt.err {
			t.Errorf("ParseEvent(%.40q, %.40q):\n got %s\nwant %s", tt.kind, tt.payload, err, tt.err)
		}
		if ev != (Event{}) {
			t.Errorf("ParseEvent(%.40q, %.40q) returned %+v with its error", tt.kind, tt.payload, ev)
		}
	}
}

func TestKindLabel(t *testing.T) {
	for kind, want := range map[string]string{
		"+sdown": "+sdown", "+switch-master": "+switch-master", "+tilt": "+tilt",
		"+made-up": "other", "": "other", "user-channel": "other",
	} {
		if got := kindLabel(kind); got != want {
			t.Errorf("kindLabel(%q) = %q, want %q", kind, got, want)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range [][2]string{
		{"+sdown", "master mymaster 127.0.0.1 17379"},
		{"+odown", "master mymaster 127.0.0.1 17379 #quorum 3/2"},
		{"+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380"},
		{"+slave", "slave 127.0.0.1:17381 127.0.0.1 17381 @ mymaster 127.0.0.1 17380"},
		{"+tilt", "#tilt mode entered"},
		{"+new-epoch", "1"},
		{"+sdown", "slave [::1]:6380 ::1 6380 @ m ::1 6379"},
		{"x", "sentinel a b 1 @ c d 2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, kind, payload string) {
		ev, err := ParseEvent(kind, payload)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v does not wrap ErrBadEvent", err)
			}
			if ev != (Event{}) {
				t.Fatalf("event %+v returned with error", ev)
			}
			return
		}
		if ev.Kind != kind || ev.Detail != payload {
			t.Fatalf("Kind/Detail %q/%q, want %q/%q", ev.Kind, ev.Detail, kind, payload)
		}
		if _, known := knownKinds[kind]; known && ev.Kind != kindLabel(kind) {
			t.Fatalf("known kind %q labelled %q", kind, kindLabel(kind))
		}
		checkAddr := func(what, a string) {
			host, port, err := net.SplitHostPort(a)
			if err != nil || host == "" {
				t.Fatalf("%s %q: %v", what, a, err)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
				t.Fatalf("%s %q: bad port", what, a)
			}
		}
		if ev.Role == "" {
			if ev.Name != "" || ev.Addr != "" || ev.Master != "" || ev.MasterAddr != "" || ev.OldAddr != "" {
				t.Fatalf("instance fields without a role: %+v", ev)
			}
			return
		}
		checkAddr("addr", ev.Addr)
		if ev.MasterAddr != "" {
			checkAddr("master addr", ev.MasterAddr)
		}
		if (ev.Master == "") != (ev.MasterAddr == "") {
			t.Fatalf("master name and address not both set: %+v", ev)
		}
		if kind == KindSwitchMaster {
			checkAddr("old addr", ev.OldAddr)
		} else if ev.OldAddr != "" {
			t.Fatalf("OldAddr outside +switch-master: %+v", ev)
		}
		if !strings.Contains(payload, ev.Name) {
			t.Fatalf("name %q not in the payload", ev.Name)
		}
	})
}
