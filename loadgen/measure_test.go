package loadgen_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/loadgen"
)

// nopTarget answers at once: a run against it measures the load tool's
// own cost per operation.
type nopTarget struct{ n atomic.Int64 }

func (*nopTarget) String() string                         { return "nop" }
func (*nopTarget) Validate(context.Context, string) error { return nil }
func (t *nopTarget) Create(context.Context) (string, error) {
	return strconv.FormatInt(t.n.Add(1), 10), nil
}
func (*nopTarget) Revoke(context.Context, string) error { return nil }

// BenchmarkOverhead: the load tool's own cost per validation (closed
// loop, 32 workers, Zipf 1.1 over 1000 sessions) against a target that
// does nothing; ns/op is wall time per operation over all workers.
func BenchmarkOverhead(b *testing.B) {
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Target: &nopTarget{}, Concurrency: 32, Duration: 2 * time.Second, Zipf: 1.1,
	})
	if err != nil {
		b.Fatal(err)
	}
	st := res.Op(loadgen.OpValidate)
	b.ReportMetric(float64(2*time.Second)/float64(st.Count), "ns/validation")
	b.ReportMetric(float64(st.Count)/2, "validations/s")
}

// stallTarget answers at once, except that every call made during one
// 300 ms stall waits until the stall ends.
type stallTarget struct {
	nopTarget
	from, until time.Time
}

func (t *stallTarget) Validate(context.Context, string) error {
	if now := time.Now(); now.After(t.from) && now.Before(t.until) {
		time.Sleep(time.Until(t.until))
	}
	return nil
}

// TestOpenLoopCountsStalls: operations scheduled while the target stalls
// are measured from their intended time, so a 300 ms stall in a 2 s run
// at 1000/s shows in the p95 (about 300 delayed operations of 2000), not
// only in the few that were in flight (coordinated omission).
func TestOpenLoopCountsStalls(t *testing.T) {
	start := time.Now()
	tgt := &stallTarget{from: start.Add(700 * time.Millisecond), until: start.Add(time.Second)}
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Target: tgt, Concurrency: 4, Rate: 1000, Duration: 2 * time.Second, Sessions: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Op(loadgen.OpValidate)
	t.Logf("p50 %.0f µs, p95 %.0f µs, max %.0f µs over %d", st.P50US, st.P95US, st.MaxUS, st.Count)
	if st.P95US < 50_000 || st.MaxUS < 200_000 {
		t.Fatalf("the stall is missing from the latencies: p95 %.0f µs, max %.0f µs", st.P95US, st.MaxUS)
	}
}
