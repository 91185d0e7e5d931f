package monitor

import (
	"testing"
	"time"
)

func TestRingWraps(t *testing.T) {
	r := newRing(5)
	if _, ok := r.last(); ok {
		t.Fatal("empty ring has a last point")
	}
	if got := r.after(time.Time{}); len(got) != 0 || got == nil {
		t.Fatalf("empty ring: %v", got)
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for i := range 12 {
		r.add(Point{Time: at(i), ClientOps: float64(i)})
		// Always the newest min(i+1, 5) points, oldest first.
		got := r.after(time.Time{})
		wantN := min(i+1, 5)
		if len(got) != wantN {
			t.Fatalf("after %d adds: %d points, want %d", i+1, len(got), wantN)
		}
		for j, p := range got {
			if want := float64(i - wantN + 1 + j); p.ClientOps != want {
				t.Fatalf("after %d adds: point %d is %v, want %v", i+1, j, p.ClientOps, want)
			}
		}
		if l, _ := r.last(); l.ClientOps != float64(i) {
			t.Fatalf("last = %v, want %d", l.ClientOps, i)
		}
	}
	// Held: 7..11. after is strict.
	if got := r.after(at(9)); len(got) != 2 || got[0].ClientOps != 10 {
		t.Errorf("after(9) = %+v", got)
	}
	if got := r.after(at(11)); len(got) != 0 {
		t.Errorf("after(newest) = %+v", got)
	}
	if got := r.after(at(3)); len(got) != 5 {
		t.Errorf("after a time older than the ring: %d points", len(got))
	}
	if p, ok := r.atOrBefore(at(9).Add(500 * time.Millisecond)); !ok || p.ClientOps != 9 {
		t.Errorf("atOrBefore(9.5) = %v, %v", p.ClientOps, ok)
	}
	if p, ok := r.atOrBefore(at(10)); !ok || p.ClientOps != 10 {
		t.Errorf("atOrBefore(10) = %v, %v", p.ClientOps, ok)
	}
	if _, ok := r.atOrBefore(at(6)); ok {
		t.Error("atOrBefore a time older than the ring found a point")
	}
	// The copy is the caller's.
	got := r.after(time.Time{})
	got[0].ClientOps = -1
	if r.after(time.Time{})[0].ClientOps == -1 {
		t.Error("after returned the ring's own storage")
	}
}

func TestRingCapacityOne(t *testing.T) {
	r := newRing(1)
	for i := range 3 {
		r.add(Point{Time: t0.Add(time.Duration(i) * time.Second), ClientOps: float64(i)})
	}
	if got := r.after(time.Time{}); len(got) != 1 || got[0].ClientOps != 2 {
		t.Errorf("capacity 1: %+v", got)
	}
}

func TestCacheTierRates(t *testing.T) {
	for _, c := range []struct {
		name          string
		st            CacheStats
		wantL1, wantR float64
	}{
		{"no lookups", CacheStats{}, 0, 0},
		{"all L1", CacheStatsFromAnswers(10, 0, 0, 0), 1, 0},
		{"split", CacheStatsFromAnswers(60, 30, 10, 0), 0.6, 0.75},
		{"no L1", CacheStatsFromAnswers(0, 8, 2, 0), 0, 0.8},
		{"store failing", CacheStatsFromAnswers(0, 0, 0, 5), 0, 0},
	} {
		l1, r := c.st.tierRates()
		if l1 != c.wantL1 || r != c.wantR {
			t.Errorf("%s: tierRates = %v, %v; want %v, %v", c.name, l1, r, c.wantL1, c.wantR)
		}
	}
}
