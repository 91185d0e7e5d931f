package hotkey

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// benchKeys are session keys drawn from a Zipf(1.1) law over 100 000
// sessions, so the benchmark exercises hits and Space-Saving replacements.
func benchKeys() []string {
	const n = 1 << 16
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, 100_000-1)
	names := map[uint64]string{}
	keys := make([]string, n)
	for i := range keys {
		v := z.Uint64()
		k, ok := names[v]
		if !ok {
			sum := sha256.Sum256([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
			k = "studio:s:" + hex.EncodeToString(sum[:])
			names[v] = k
		}
		keys[i] = k
	}
	return keys
}

var sink uint64

func BenchmarkBaselineXXHash(b *testing.B) {
	keys := benchKeys()
	b.ReportAllocs()
	var s uint64
	i := 0
	for b.Loop() {
		s += xxhash.Sum64String(keys[i&(len(keys)-1)])
		i++
	}
	sink = s
}

func BenchmarkObserve(b *testing.B) {
	keys := benchKeys()
	d := New(Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(keys[i&(len(keys)-1)])
		i++
	}
	b.ReportMetric(float64(d.MemoryBytes()), "B/detector")
}

func BenchmarkBaselineAtomicAddParallel(b *testing.B) {
	keys := benchKeys()
	var n atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			n.Add(xxhash.Sum64String(keys[i&(len(keys)-1)]) & 1)
			i++
		}
	})
}

func BenchmarkObserveParallel(b *testing.B) {
	keys := benchKeys()
	d := New(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			d.Observe(keys[i&(len(keys)-1)])
			i++
		}
	})
	b.ReportMetric(float64(d.MemoryBytes()), "B/detector")
}
