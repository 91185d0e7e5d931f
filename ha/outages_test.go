package ha

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)

func ms(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }

// Outages keeps runs of failures, each from the last answer before it to
// the first answer after it, whatever order commands report in.
func TestOutagesRecordRuns(t *testing.T) {
	o := NewOutages()
	for i := 0; i <= 100; i += 10 {
		o.ObserveAvailability(ms(float64(i)), true)
	}
	o.ObserveAvailability(ms(100.4), true) // within the millisecond: not stored
	o.ObserveAvailability(ms(103), false)
	o.ObserveAvailability(ms(101), true) // ended before the first failure, reported late
	o.ObserveAvailability(ms(102), false)
	o.ObserveAvailability(ms(1500), false)
	if got := o.List(); len(got) != 1 || !got[0].Back.IsZero() || got[0].Failed != 3 {
		t.Fatalf("during the outage: %+v", got)
	}
	o.ObserveAvailability(ms(2300), true)
	o.ObserveAvailability(ms(2350), false) // a straggler: a run of its own
	o.ObserveAvailability(ms(2360), true)

	got := o.List()
	if len(got) != 2 {
		t.Fatalf("outages %+v, want 2", got)
	}
	want := Outage{LastAnswer: ms(101), FirstFailure: ms(102), LastFailure: ms(1500), Failed: 3, Back: ms(2300)}
	if g := got[0]; !g.LastAnswer.Equal(want.LastAnswer) || !g.FirstFailure.Equal(want.FirstFailure) ||
		!g.LastFailure.Equal(want.LastFailure) || g.Failed != want.Failed || !g.Back.Equal(want.Back) {
		t.Errorf("outage\n got %+v\nwant %+v", g, want)
	}
	if g := got[0].Gap(ms(9999)); g != 2199*time.Millisecond {
		t.Errorf("gap %v, want 2.199s (last answer 101 ms → back 2300 ms)", g)
	}
	if g := got[1]; !g.LastAnswer.Equal(ms(2300)) || !g.Back.Equal(ms(2360)) || g.Failed != 1 {
		t.Errorf("straggler %+v", g)
	}

	// One in progress is listed last, its gap growing with now.
	o.ObserveAvailability(ms(3000), false)
	got = o.List()
	if len(got) != 3 || !got[2].Back.IsZero() || got[2].Gap(ms(3500)) != 1140*time.Millisecond {
		t.Errorf("in progress: %+v", got)
	}

	// Failures before any answer: the gap starts at the first failure.
	o = NewOutages()
	o.ObserveAvailability(ms(50), false)
	o.ObserveAvailability(ms(80), true)
	if got := o.List(); len(got) != 1 || !got[0].LastAnswer.IsZero() || got[0].Gap(ms(100)) != 30*time.Millisecond {
		t.Errorf("no answer before: %+v", got)
	}

	// At most maxOutages are kept, the newest.
	for i := range maxOutages + 8 {
		o.ObserveAvailability(ms(float64(1000+10*i)), false)
		o.ObserveAvailability(ms(float64(1005+10*i)), true)
	}
	if got := o.List(); len(got) != maxOutages || !got[len(got)-1].Back.Equal(ms(float64(1005+10*(maxOutages+7)))) {
		t.Errorf("%d outages kept, last %+v", len(got), got[len(got)-1])
	}
}

func TestOutagesConcurrent(t *testing.T) {
	o := NewOutages()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				o.ObserveAvailability(time.Now(), (i+g)%50 != 0)
			}
		})
	}
	wg.Wait()
	o.ObserveAvailability(time.Now(), true)
	var failed uint64
	for _, x := range o.List() {
		failed += x.Failed
		if x.Back.IsZero() || x.Back.Before(x.FirstFailure) {
			t.Errorf("outage %+v", x)
		}
	}
	if failed == 0 || failed > 8*2000/50 {
		t.Errorf("%d failures kept, want between 1 and %d", failed, 8*2000/50)
	}
}

// killFailover plays what the Sentinels and Studio's commands see when the
// master is killed at kill: commands answered every 10 ms until then and
// failing after, +sdown a second later, +switch-master at switch, the
// first answer at back.
func killFailover(t *testing.T, f *stateFixture, kill, switchAt, back time.Duration) {
	t.Helper()
	o := f.st.outages
	start := f.clock.now()
	step := func(to time.Duration, answered bool) {
		for f.clock.now().Sub(start) < to {
			f.clock.advance(10 * time.Millisecond)
			o.ObserveAvailability(f.clock.now(), answered)
		}
	}
	step(kill, true)
	step(kill+time.Second, false)
	for i := range 3 {
		f.event(t, i, "+sdown", "master mymaster 127.0.0.1 17379")
	}
	step(kill+time.Second+100*time.Millisecond, false)
	f.event(t, 0, "+odown", "master mymaster 127.0.0.1 17379 #quorum 3/2")
	step(switchAt, false)
	f.event(t, 2, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	step(back-10*time.Millisecond, false)
	step(back, true)
}

// The write gap of a killed master: from Studio's last answer before the
// kill to its first answer after the switch, longer than the Sentinels'
// detection-to-switch time; measuring while commands fail, settled 5 s
// after the switch, then logged and exported once.
func TestFailoverWriteGap(t *testing.T) {
	f := newFixture(t)
	f.st.outages = NewOutages()
	f.pollAll("127.0.0.1:17379", 0, "127.0.0.1:17380", "127.0.0.1:17381")
	start := f.clock.now()
	// An earlier outage, longer than the failover's but over before the
	// detection, is not the failover's.
	f.st.outages.ObserveAvailability(start.Add(-40*time.Second), false)
	f.st.outages.ObserveAvailability(start.Add(-30*time.Second), true)

	killFailover(t, f, 500*time.Millisecond, 2700*time.Millisecond, 2700*time.Millisecond)
	lf := f.st.topology().LastFailover
	if lf == nil || lf.WriteGapStatus != gapMeasuring || lf.WriteGapSeconds < 2.19 || lf.WriteGapSeconds > 2.21 || !lf.WritesBackAt.IsZero() {
		t.Fatalf("at the switch: %+v; want measuring, 2.2 s so far", lf)
	}
	f.clock.advance(50 * time.Millisecond)
	f.st.outages.ObserveAvailability(f.clock.now(), true) // writes are back
	f.clock.advance(20 * time.Millisecond)
	f.st.outages.ObserveAvailability(f.clock.now(), false) // a straggler timing out
	f.clock.advance(5 * time.Millisecond)
	f.st.outages.ObserveAvailability(f.clock.now(), true)

	lf = f.st.topology().LastFailover
	if lf.WriteGapStatus != gapMeasured || !lf.LastAnswerAt.Equal(start.Add(500*time.Millisecond)) ||
		!lf.FirstFailureAt.Equal(start.Add(510*time.Millisecond)) || !lf.WritesBackAt.Equal(start.Add(2750*time.Millisecond)) {
		t.Fatalf("after the first answer: %+v", lf)
	}
	if lf.WriteGapSeconds < 2.249 || lf.WriteGapSeconds > 2.251 || lf.DurationSeconds < 1.199 || lf.DurationSeconds > 1.201 {
		t.Errorf("write gap %v s, detection → switch %v s; want 2.25 and 1.2", lf.WriteGapSeconds, lf.DurationSeconds)
	}
	if lf.FailedCommands != 220 {
		t.Errorf("%d failed commands, want 220 (one every 10 ms from 510 to 2700 ms)", lf.FailedCommands)
	}
	if g := testutil.ToFloat64(f.st.m.writeGapSeconds); g != 0 {
		t.Errorf("write gap metric %v before it settled", g)
	}

	f.clock.advance(5 * time.Second)
	f.st.applyNodePoll("127.0.0.1:17380", nodeState{role: "master"}, nil)
	if g := testutil.ToFloat64(f.st.m.writeGapSeconds); g < 2.249 || g > 2.251 {
		t.Errorf("studio_redis_last_failover_write_gap_seconds %v, want 2.25", g)
	}
	// Settled: a later outage does not change it.
	f.st.outages.ObserveAvailability(f.clock.now(), false)
	f.clock.advance(3 * time.Second)
	f.st.outages.ObserveAvailability(f.clock.now(), true)
	if lf2 := f.st.topology().LastFailover; lf2.WriteGapSeconds != lf.WriteGapSeconds || lf2.WriteGapStatus != gapMeasured {
		t.Errorf("settled gap changed: %+v", lf2)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, `"msg":"redis failover write gap"`); n != 1 ||
		!strings.Contains(logs, `"from":"127.0.0.1:17379","to":"127.0.0.1:17380","write_gap":2250000000,"failed_commands":220`) {
		t.Errorf("want one write gap line with the figures:\n%s", logs)
	}
}

// A failover no command of Studio's noticed (SENTINEL FAILOVER on an
// idle instance) has no write gap once settled; without Outages a
// failover has no write gap fields at all.
func TestFailoverWriteGapNone(t *testing.T) {
	f := newFixture(t)
	f.st.outages = NewOutages()
	f.pollAll("127.0.0.1:17379", 0)
	f.st.outages.ObserveAvailability(f.clock.now(), true)
	f.clock.advance(time.Second)
	f.event(t, 0, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	if lf := f.st.topology().LastFailover; lf.WriteGapStatus != gapMeasuring {
		t.Errorf("right after the switch: %+v, want measuring", lf)
	}
	f.clock.advance(writeGapWindow)
	if lf := f.st.topology().LastFailover; lf.WriteGapStatus != gapNone || lf.WriteGapSeconds != 0 || !lf.LastAnswerAt.IsZero() {
		t.Errorf("settled: %+v, want none", lf)
	}

	g := newFixture(t)
	g.pollAll("127.0.0.1:17379", 0)
	g.event(t, 0, "+switch-master", "mymaster 127.0.0.1 17379 127.0.0.1 17380")
	g.clock.advance(time.Minute)
	if lf := g.st.topology().LastFailover; lf.WriteGapStatus != "" || lf.WriteGapSeconds != 0 {
		t.Errorf("without Outages: %+v", lf)
	}
}
