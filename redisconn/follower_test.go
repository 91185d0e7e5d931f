package redisconn

import (
	"testing"
)

func newTestFollower(t *testing.T) (*MasterFollower, *int) {
	t.Helper()
	f, err := NewMasterFollower(Config{Sentinels: []string{"127.0.0.1:26379"}, MasterName: "studio"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	switches := 0
	f.onSwitch = func(string, string) { switches++ }
	return f, &switches
}

func TestMasterFollowerRedirect(t *testing.T) {
	f, switches := newTestFollower(t)
	if got := f.Redirect("10.0.0.1:6379"); got != "10.0.0.1:6379" {
		t.Fatalf("before any switch: Redirect = %q", got)
	}
	f.observe("s1", "studio 10.0.0.1 6379 10.0.0.2 6379")
	f.observe("s2", "studio 10.0.0.1 6379 10.0.0.2 6379") // the same switch from another Sentinel
	if *switches != 1 {
		t.Fatalf("onSwitch ran %d times for one switch", *switches)
	}
	if got := f.Redirect("10.0.0.1:6379"); got != "10.0.0.2:6379" {
		t.Fatalf("old master: Redirect = %q, want the new one", got)
	}
	if got := f.Redirect("10.0.0.3:6379"); got != "10.0.0.3:6379" {
		t.Fatalf("another node: Redirect = %q", got)
	}
	// A later failover back to the first node: only the latest switch is
	// followed, so the first node is dialled as itself again.
	f.observe("s1", "studio 10.0.0.2 6379 10.0.0.1 6379")
	if got := f.Redirect("10.0.0.1:6379"); got != "10.0.0.1:6379" {
		t.Fatalf("after the switch back: Redirect(first) = %q", got)
	}
	if got := f.Redirect("10.0.0.2:6379"); got != "10.0.0.1:6379" {
		t.Fatalf("after the switch back: Redirect(second) = %q", got)
	}
	if *switches != 2 {
		t.Fatalf("onSwitch ran %d times, want 2", *switches)
	}
}

func TestMasterFollowerIgnoresBadPayloads(t *testing.T) {
	for _, p := range []string{
		"",
		"studio",
		"studio 10.0.0.1 6379 10.0.0.2", // too few fields
		"studio 10.0.0.1 6379 10.0.0.2 6379 extra",   // too many
		"other 10.0.0.1 6379 10.0.0.2 6379",          // another master
		"master studio 10.0.0.1 6379",                // a +sdown-shaped payload
		"studio\x0010.0.0.1 6379 10.0.0.2 6379 more", // garbage
	} {
		f, switches := newTestFollower(t)
		f.observe("s", p)
		if *switches != 0 || f.Redirect("10.0.0.1:6379") != "10.0.0.1:6379" {
			t.Errorf("payload %q was followed", p)
		}
	}
}

func TestNewMasterFollowerNeedsSentinelMode(t *testing.T) {
	for _, c := range []Config{{URL: "redis://127.0.0.1:6379"}, {Cluster: []string{"127.0.0.1:7000"}}, {Sentinels: []string{"127.0.0.1:26379"}}} {
		if _, err := NewMasterFollower(c, nil); err == nil {
			t.Errorf("NewMasterFollower(%+v) accepted", c)
		}
	}
}

// FuzzFollowerObserve: any payload a Sentinel (or anyone who can publish
// on it) sends is parsed without panicking, and a redirect only ever names
// an address taken from a well-formed switch of our master.
func FuzzFollowerObserve(f *testing.F) {
	f.Add("studio 10.0.0.1 6379 10.0.0.2 6379")
	f.Add("studio ::1 6379 ::2 6380")
	f.Add("x y z")
	f.Fuzz(func(t *testing.T, payload string) {
		fl, err := NewMasterFollower(Config{Sentinels: []string{"127.0.0.1:26379"}, MasterName: "studio"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fl.observe("s", payload)
		if fl.from != "" && fl.to == "" {
			t.Fatalf("half a switch recorded from %q", payload)
		}
	})
}
