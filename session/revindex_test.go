package session

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

func hashOf(i int) TokenHash { return sha256.Sum256([]byte("token " + strconv.Itoa(i))) }

// TestRevocationIndexKeepsEachRevocationForTheWindow: an entry is in the
// index from add until revoked_at + W, by the clock passed in, then pruned
// (its filter slot counted down: a pruned index answers from the filter
// alone); a later revocation time extends an entry, an earlier one does
// not shorten it, and one already out of the window is not kept.
func TestRevocationIndexKeepsEachRevocationForTheWindow(t *testing.T) {
	const w = 10 * time.Minute
	x := newRevocationIndex(w, 5*time.Second, 100)
	t0 := time.Unix(1_700_000_000, 0)
	a, b, c := hashOf(1), hashOf(2), hashOf(3)
	x.add(a, t0, t0)
	x.add(b, t0.Add(time.Minute), t0.Add(time.Minute))
	x.add(b, t0, t0.Add(time.Minute)) // an earlier time does not shorten it
	if !x.add(c, t0.Add(-w), t0) || x.entries.Load() != 2 {
		t.Fatalf("an entry out of the window was kept: %d entries", x.entries.Load())
	}
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	for _, tc := range []struct {
		h    TokenHash
		at   time.Duration
		want bool
	}{
		{a, 0, true}, {a, w - time.Nanosecond, true}, {a, w, false},
		{b, w, true}, {b, w + time.Minute - time.Nanosecond, true}, {b, w + time.Minute, false},
		{c, 0, false}, {hashOf(4), 0, false},
	} {
		if got := x.has(tc.h, at(tc.at)); got != tc.want {
			t.Errorf("has(%x…, t0+%s) = %v, want %v", tc.h[:4], tc.at, got, tc.want)
		}
	}
	x.prune(t0.Add(w), 0, revShards)
	if n := x.entries.Load(); n != 1 {
		t.Fatalf("after pruning at t0+W: %d entries, want 1 (b)", n)
	}
	x.prune(t0.Add(w+time.Minute), 0, revShards)
	if n := x.entries.Load(); n != 0 {
		t.Fatalf("after pruning everything: %d entries", n)
	}
	for i := range x.filter {
		if n := x.filter[i].Load(); n != 0 {
			t.Fatalf("filter slot %d counts %d entries after everything was pruned", i, n)
		}
	}
}

// TestRevocationIndexStaleness: the index trusts no Redis copy until it
// has been loaded, and none once its last successful read of the store
// started staleAfter ago or more; a revoked session is never trusted.
func TestRevocationIndexStaleness(t *testing.T) {
	const poll = time.Second
	x := newRevocationIndex(11*time.Minute, revocationStalePolls*poll, 100)
	t0 := time.Unix(1_700_000_000, 0)
	live, revoked := hashOf(1), hashOf(2)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	if x.trusts(live, at(0)) || x.state(at(0)) != RevocationsLoading {
		t.Fatalf("an index never loaded: trusts %v, state %s; want no trust, loading", x.trusts(live, at(0)), x.state(at(0)))
	}
	x.add(revoked, t0, t0)
	x.readDone(t0)
	for _, tc := range []struct {
		at    time.Duration
		state RevocationIndexState
	}{
		{0, RevocationsCurrent},
		{5*poll - time.Nanosecond, RevocationsCurrent},
		{5 * poll, RevocationsStale},
		{time.Hour, RevocationsStale},
	} {
		if got := x.state(at(tc.at)); got != tc.state {
			t.Errorf("state at t0+%s = %s, want %s", tc.at, got, tc.state)
		}
		if got := x.trusts(live, at(tc.at)); got != (tc.state == RevocationsCurrent) {
			t.Errorf("trusts(live) at t0+%s = %v in state %s", tc.at, got, tc.state)
		}
		if x.trusts(revoked, at(tc.at)) {
			t.Errorf("trusts(revoked) at t0+%s", tc.at)
		}
	}
	// A read that started later makes it current again; an older one
	// finishing late does not move it back.
	x.readDone(t0.Add(time.Hour))
	x.readDone(t0.Add(time.Minute))
	if !x.current(at(time.Hour + 4*poll)) {
		t.Error("not current 4 polls after a read")
	}
}

// TestRevocationIndexOverflowFailsSafe: a revocation that does not fit is
// not kept, and the index trusts no Redis copy until it has left the
// window; expired entries are pruned to make room before that happens.
func TestRevocationIndexOverflowFailsSafe(t *testing.T) {
	const w = time.Minute
	x := newRevocationIndex(w, time.Hour, 3)
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	x.readDone(t0)
	for i := range 3 {
		if !x.add(hashOf(i), t0, t0) {
			t.Fatalf("add %d of 3 refused", i)
		}
	}
	if x.add(hashOf(3), t0.Add(time.Second), t0.Add(time.Second)) {
		t.Fatal("a fourth entry fitted in an index of 3")
	}
	if x.dropped.Load() != 1 || x.has(hashOf(3), at(time.Second)) {
		t.Fatalf("dropped %d, has(dropped) %v", x.dropped.Load(), x.has(hashOf(3), at(time.Second)))
	}
	// Nothing is trusted until the dropped revocation leaves the window.
	for _, d := range []time.Duration{time.Second, w, w + time.Second - time.Nanosecond} {
		if x.trusts(hashOf(99), at(d)) || x.state(at(d)) != RevocationsFull {
			t.Errorf("at t0+%s: trusts %v, state %s; want no trust, full", d, x.trusts(hashOf(99), at(d)), x.state(at(d)))
		}
	}
	if !x.trusts(hashOf(99), at(w+time.Second)) {
		t.Errorf("at t0+W+1s the dropped revocation left the window; the index should trust again")
	}
	// The expired entries are pruned to make room for a new one.
	if !x.add(hashOf(4), t0.Add(2*w), t0.Add(2*w)) || x.entries.Load() > 3 {
		t.Fatalf("after the window a new entry did not fit: %d entries", x.entries.Load())
	}
}

// TestRevocationIndexConcurrent: adds, lookups and prunes from many
// goroutines (run with -race); an entry added is seen by every lookup
// that starts after add returned.
func TestRevocationIndexConcurrent(t *testing.T) {
	x := newRevocationIndex(time.Hour, time.Hour, 1_000_000)
	t0 := time.Unix(1_700_000_000, 0)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				h := hashOf(g*10_000 + i)
				x.add(h, t0, t0)
				if !x.has(h, t0.UnixNano()) {
					t.Errorf("entry %d not seen right after add", i)
					return
				}
				if i%500 == 0 {
					x.prune(t0, 0, revShards)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := x.entries.Load(); n != 8000 {
		t.Fatalf("%d entries, want 8000", n)
	}
}

func BenchmarkRevocationIndexHas(b *testing.B) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, n := range []int{0, 10_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			x := newRevocationIndex(time.Hour, time.Hour, 1_000_000)
			for i := range n {
				x.add(hashOf(i), t0, t0)
			}
			probe := hashOf(-1)
			for b.Loop() {
				if x.has(probe, t0.UnixNano()) {
					b.Fatal("probe found")
				}
			}
		})
	}
}
