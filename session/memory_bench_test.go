package session_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// BenchmarkMemoryPerEntry measures what the L1 and the last-seen buffer
// hold per entry: the heap in use (runtime.MemStats.HeapInuse, after a
// GC) before and after filling them, divided by the entries added.
//
//	l1_100k        the default L1 full: 100 000 typical sessions
//	touch_1m       the last-seen buffer after one use each of 1 000 000
//	               sessions within one TouchInterval (a million active
//	               sessions), before the flusher has written them
//	touch_1m_sent  the same once the flusher has taken them (what stays
//	               for the rest of the interval: the record of who was
//	               seen)
//
// Run with -benchtime 1x: each iteration builds a Service and fills it.
func BenchmarkMemoryPerEntry(b *testing.B) {
	srv := redistest.Start(b)
	st, err := sqlstore.Open(b.Context(), "sqlite::memory:", sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cases := []struct {
		name string
		n    int
		fill func(*session.Service, int)
	}{
		{"l1_100k", 100_000, func(s *session.Service, n int) {
			session.FillL1(s, n)
			if got := session.L1Len(s); got < n*99/100 {
				b.Fatalf("L1 holds %d entries, want about %d", got, n)
			}
		}},
		{"touch_1m", 1_000_000, session.FillTouches},
		{"touch_1m_sent", 1_000_000, func(s *session.Service, n int) {
			session.FillTouches(s, n)
			session.DrainTouches(s)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				svc := benchService(b, b, srv.URL(), st, func(o *session.Options) {
					o.FlushInterval, o.L1TTL = time.Hour, time.Hour
				})
				before := heapInUse()
				c.fill(svc, c.n)
				after := heapInUse()
				b.ReportMetric(float64(after-before)/float64(c.n), "B/entry")
				b.ReportMetric(float64(after-before)/(1<<20), "MiB")
				runtime.KeepAlive(svc)
				svc.Close()
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
