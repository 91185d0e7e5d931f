package redistest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartFailsLoudlyWithoutBinary(t *testing.T) {
	t.Parallel()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec, WithBinary("/nonexistent/redis-server"))
		rec.msg = "Start returned"
	}()
	<-done
	if !strings.Contains(rec.msg, "apt-get install redis-server") || !strings.Contains(rec.msg, "/nonexistent/redis-server") {
		t.Errorf("Start's failure = %q; want it to name the binary and the package", rec.msg)
	}
}
