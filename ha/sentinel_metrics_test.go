package ha

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSentinelMetrics: each Sentinel's view of the master, from its last
// poll, as redis_exporter's redis_sentinel_* gauges: one that sees the
// master ok with a quorum, one that holds it subjectively down with a
// replica down and no quorum, one that does not answer (no series).
func TestSentinelMetrics(t *testing.T) {
	f := newFixture(t)
	f.reg.MustRegister(sentinelCollector{f.st})
	const master = "10.0.0.1:6379"
	f.st.applySentinelPoll(testSentinels[0], healthyPoll(f.clock.now(), master, 3, "10.0.0.2:6379", "10.0.0.3:6379"))
	down := healthyPoll(f.clock.now(), master, 3, "10.0.0.2:6379", "10.0.0.3:6379")
	down.flags = []string{"s_down"}
	down.tilt = true
	down.replicas[1].flags = []string{"s_down", "disconnected"}
	down.quorumOK, down.quorumDetail = false, "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master"
	f.st.applySentinelPoll(testSentinels[1], down)
	f.st.applySentinelPoll(testSentinels[2], sentinelPoll{started: f.clock.now(), err: errors.New("i/o timeout")})

	got := map[string]float64{}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "redis_sentinel_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				if l.GetName() == "sentinel" {
					ls = append(ls, strconv.Itoa(slices.Index(testSentinels, l.GetValue())))
				} else if l.GetName() == "master_status" {
					ls = append(ls, l.GetValue())
				}
			}
			got[mf.GetName()+"/"+strings.Join(ls, "/")] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"redis_sentinel_master_status/ok/0": 1, "redis_sentinel_master_status/sdown/1": 0,
		"redis_sentinel_master_ok_sentinels/0": 3, "redis_sentinel_master_ok_sentinels/1": 1,
		"redis_sentinel_master_sentinels/0": 3, "redis_sentinel_master_sentinels/1": 3,
		"redis_sentinel_master_slaves/0": 2, "redis_sentinel_master_slaves/1": 2,
		"redis_sentinel_master_ok_slaves/0": 2, "redis_sentinel_master_ok_slaves/1": 1,
		"redis_sentinel_master_setting_ckquorum/0": 2, "redis_sentinel_master_setting_ckquorum/1": 2,
		"redis_sentinel_master_config_epoch/0": 3, "redis_sentinel_master_config_epoch/1": 3,
		"redis_sentinel_master_ckquorum_status/0": 1, "redis_sentinel_master_ckquorum_status/1": 0,
		"redis_sentinel_tilt/0": 0, "redis_sentinel_tilt/1": 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("series (sentinel index, master_status):\n got %v\nwant %v", got, want)
	}
	// The master's name and address as the Sentinel reports it label each.
	n, err := testutil.GatherAndCount(f.reg, "redis_sentinel_master_status")
	if err != nil || n != 2 {
		t.Fatalf("redis_sentinel_master_status: %d series, %v", n, err)
	}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(`
# HELP redis_sentinel_master_ok_sentinels Sentinels the Sentinel counts usable for the master, itself included (SENTINEL CKQUORUM).
# TYPE redis_sentinel_master_ok_sentinels gauge
redis_sentinel_master_ok_sentinels{master_address="`+master+`",master_name="mymaster",sentinel="`+testSentinels[0]+`"} 3
redis_sentinel_master_ok_sentinels{master_address="`+master+`",master_name="mymaster",sentinel="`+testSentinels[1]+`"} 1
`), "redis_sentinel_master_ok_sentinels"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

// TestUsableSentinels: the count of usable Sentinels is read from the two
// answers SENTINEL CKQUORUM gives; anything else is refused.
func TestUsableSentinels(t *testing.T) {
	for _, tc := range []struct {
		reply string
		n     int
		ok    bool
	}{
		{"OK 3 usable Sentinels. Quorum and failover authorization can be reached", 3, true},
		{"+OK 3 usable Sentinels. Quorum and failover authorization can be reached", 3, true},
		{"NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master", 1, true},
		{"-NOQUORUM 0 usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover", 0, true},
		{"", 0, false},
		{"OK", 0, false},
		{"OK 3", 0, false},
		{"OK three usable Sentinels", 0, false},
		{"OK -3 usable Sentinels", 0, false},
		{"OK +3 usable Sentinels", 0, false},
		{"OK 3.5 usable Sentinels", 0, false},
		{"OK 99999999999999999999 usable Sentinels", 0, false},
		{"OK 3 useful Sentinels", 0, false},
		{"ERR No such master with that name", 0, false},
		{"NOQUORUM usable 3 Sentinels", 0, false},
		{"ok 3 usable Sentinels", 0, false},
	} {
		n, ok := usableSentinels(tc.reply)
		if n != tc.n || ok != tc.ok {
			t.Errorf("usableSentinels(%q) = %d, %v; want %d, %v", tc.reply, n, ok, tc.n, tc.ok)
		}
	}
}

// FuzzUsableSentinels: any reply gives the count its second field holds,
// or none; never a panic.
func FuzzUsableSentinels(f *testing.F) {
	for _, s := range []string{"OK 3 usable Sentinels. Quorum", "NOQUORUM 1 usable Sentinels.", "OK 3", "", "+OK 0 usable"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		n, ok := usableSentinels(reply)
		if !ok {
			if n != 0 {
				t.Fatalf("%q: refused with %d", reply, n)
			}
			return
		}
		if f := strings.Fields(reply); n < 0 || len(f) < 3 || strings.TrimLeft(f[1], "0") != strings.TrimLeft(strconv.Itoa(n), "0") {
			t.Fatalf("%q: count %d is not its second field", reply, n)
		}
	})
}
