package session

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLatBucketEdges: every duration falls in a bucket whose upper edge is
// at or above it and at most 1/16 (or 1 µs) above its bucket's lower edge.
func TestLatBucketEdges(t *testing.T) {
	prev := -1
	for us := range 1 << 20 {
		d := time.Duration(us) * time.Microsecond
		i := latBucket(d)
		if i < prev {
			t.Fatalf("bucket of %v is %d, below %d for a shorter one", d, i, prev)
		}
		prev = i
		up := latUpper(i)
		if up <= d {
			t.Fatalf("%v in bucket %d whose upper edge is %v", d, i, up)
		}
		if float64(up-d) > max(float64(d)/16, float64(time.Microsecond))+1 {
			t.Fatalf("%v in bucket %d: upper edge %v is too far above", d, i, up)
		}
	}
	if latBucket(-time.Second) != 0 || latBucket(1000*time.Hour) != latBuckets-1 {
		t.Fatal("out-of-range durations not clamped")
	}
}

// TestQuantileBetween: the p99 of an interval's counts is within a bucket
// of the exact one, and only that interval counts.
func TestQuantileBetween(t *testing.T) {
	var h latHist
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 { // before the interval: slow, must not count
		h.add(50 * time.Millisecond)
	}
	var from, to latCounts
	h.snapshot(&from)
	var exact []time.Duration
	for range 10000 {
		d := time.Duration(rng.ExpFloat64() * float64(200*time.Microsecond))
		exact = append(exact, d)
		h.add(d)
	}
	h.snapshot(&to)
	slices.Sort(exact)
	want := exact[len(exact)*99/100]
	got, n := quantileBetween(&from, &to, 0.99)
	if n != 10000 {
		t.Fatalf("counted %d", n)
	}
	if got < want || float64(got) > float64(want)*(1+1.0/16)+float64(time.Microsecond) {
		t.Fatalf("p99 %v, exact %v", got, want)
	}
	if p, n := quantileBetween(&to, &to, 0.99); p != 0 || n != 0 {
		t.Fatalf("empty interval: %v, %d", p, n)
	}
}
