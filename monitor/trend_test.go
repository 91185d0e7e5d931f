package monitor

import (
	"slices"
	"sync"
	"testing"
)

// TestNextTrends: each poll appends the rate of every key it saw, keeps
// the last hotTrendLen, and forgets a key it did not see (it starts afresh
// on return).
func TestNextTrends(t *testing.T) {
	var tr map[string][]float64
	for i := range 70 {
		tr = nextTrends(tr, []HotKey{{Key: "a", PerMin: float64(i)}, {Key: "b", PerMin: 5}})
	}
	if len(tr["a"]) != hotTrendLen || tr["a"][0] != 10 || tr["a"][hotTrendLen-1] != 69 || len(tr["b"]) != hotTrendLen {
		t.Fatalf("after 70 polls: a %v (want 10…69), b has %d", tr["a"], len(tr["b"]))
	}
	tr = nextTrends(tr, []HotKey{{Key: "a", PerMin: 70}})
	tr = nextTrends(tr, []HotKey{{Key: "a", PerMin: 71}, {Key: "b", PerMin: 9}})
	if !slices.Equal(tr["b"], []float64{9}) || tr["a"][hotTrendLen-1] != 71 || tr["a"][hotTrendLen-2] != 70 {
		t.Fatalf("after b left and came back: b %v, a ends %v", tr["b"], tr["a"][hotTrendLen-2:])
	}
}

// TestHotKeyTrends: the monitor follows the top 10 of each poll (a poll
// that cannot reach Redis still samples the hot keys, which are this
// process's own) and hands out copies.
func TestHotKeyTrends(t *testing.T) {
	var mu sync.Mutex
	var hot []HotKey
	set := func(ks ...HotKey) { mu.Lock(); hot = ks; mu.Unlock() }
	m := offlineMonitor(t, Options{HotKeys: func() []HotKey { mu.Lock(); defer mu.Unlock(); return hot }})
	if got := m.HotKeyTrends(); len(got) != 0 {
		t.Fatalf("before a poll: %v", got)
	}
	var many []HotKey
	for i := range 15 {
		many = append(many, HotKey{Key: string(rune('a' + i)), PerMin: float64(100 - i)})
	}
	set(many...)
	m.pollOnce(t.Context())
	many[0].PerMin = 120
	set(many...)
	m.pollOnce(t.Context())
	got := m.HotKeyTrends()
	if len(got) != 10 || got["k"] != nil || !slices.Equal(got["a"], []float64{100, 120}) {
		t.Fatalf("trends %v: want the top 10 (a: 100, 120; no k)", got)
	}
	got["a"][0] = -1
	if m.HotKeyTrends()["a"][0] != 100 {
		t.Fatal("HotKeyTrends returned the monitor's own slice")
	}
}
