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
