package session

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

func touchHash(i uint64) TokenHash {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	return sha256.Sum256(b[:])
}

func pendingLen(t *toucher) int {
	n := 0
	for i := range t.shards {
		n += len(t.shards[i].pending)
	}
	return n
}

// TestToucherRecordsOncePerInterval: a session's use is recorded once per
// interval, remembered across one generation swap, and forgotten after
// two; the times survive the wrap of their low 32 bits.
func TestToucherRecordsOncePerInterval(t *testing.T) {
	const interval = 60_000
	for _, base := range []int64{1_700_000_000_000, 1<<32 - 30_000} { // the second wraps within the interval
		var tc toucher
		tc.init()
		h := touchHash(1)
		if got := tc.record(h, base, interval); got != base {
			t.Fatalf("first use: %d, want %d", got, base)
		}
		if got := tc.record(h, base+interval-1, interval); got != base {
			t.Fatalf("use within the interval: recorded %d, want the first, %d", got, base)
		}
		if got := tc.last(h, base+40_000, interval); got != base {
			t.Fatalf("last: %d, want %d", got, base)
		}
		if n := pendingLen(&tc); n != 1 {
			t.Fatalf("%d pending, want 1", n)
		}
		parts := tc.drain(base+interval, interval) // swaps generations
		if len(parts) != 1 || len(parts[0]) != 1 || parts[0][0].h != h || parts[0][0].ms != base {
			t.Fatalf("drained %v, want the one use", parts)
		}
		if got := tc.record(h, base+interval, interval); got != base+interval {
			t.Fatalf("use an interval later: %d, want it recorded", got)
		}
		tc.drain(base+2*interval, interval)
		tc.drain(base+3*interval, interval)
		if got := tc.last(h, base+3*interval, interval); got != 0 {
			t.Fatalf("last after two swaps: %d, want forgotten", got)
		}
		for i := range tc.shards {
			if sh := &tc.shards[i]; len(sh.cur)+len(sh.prev) != 0 {
				t.Fatalf("shard %d still holds %d+%d entries", i, len(sh.cur), len(sh.prev))
			}
		}
	}
}

// TestToucherHashPrefixCollision: two sessions whose hashes share their
// first 8 bytes share a dedup entry, so the second's use within the
// interval is not recorded (documented: its last_seen_at lags by at most
// an interval); it is recorded once the interval has passed.
func TestToucherHashPrefixCollision(t *testing.T) {
	const interval, now = 60_000, 1_700_000_000_000
	var tc toucher
	tc.init()
	a := touchHash(1)
	b := a
	b[31] ^= 0xff
	tc.record(a, now, interval)
	tc.record(b, now+1, interval)
	if n := pendingLen(&tc); n != 1 {
		t.Fatalf("%d pending, want 1 (the collision skips one)", n)
	}
	tc.record(b, now+interval, interval)
	if n := pendingLen(&tc); n != 2 {
		t.Fatalf("%d pending, want 2 once the interval passed", n)
	}
}

// TestToucherBounded: uses waiting to be written never exceed
// maxPendingTouches, whether recorded or requeued after a failed write;
// the rest are counted as dropped.
func TestToucherBounded(t *testing.T) {
	const interval, now = 60_000, 1_700_000_000_000
	var tc toucher
	tc.init()
	total := maxPendingTouches + 5000
	for i := range total {
		tc.record(touchHash(uint64(i)), now, interval)
	}
	if n := pendingLen(&tc); n > maxPendingTouches {
		t.Fatalf("%d pending, bound %d", n, maxPendingTouches)
	}
	kept := pendingLen(&tc)
	if d := tc.dropped.Load(); d == 0 || int(d)+kept != total {
		t.Fatalf("dropped %d and kept %d of %d", d, kept, total)
	}
	parts := tc.drain(now+1, interval)
	for i := range total { // new uses fill the buffer again
		tc.record(touchHash(uint64(i)), now+interval+1, interval)
	}
	for _, p := range parts { // a failed write's requeue stays within the bound
		tc.requeue(p)
	}
	if n := pendingLen(&tc); n > maxPendingTouches {
		t.Fatalf("%d pending after requeue, bound %d", n, maxPendingTouches)
	}
}
