// Package sleep waits for a duration unless a context ends first.
package sleep

import (
	"context"
	"time"
)

// Ctx waits for d or until ctx ends, whichever comes first, and reports
// whether the whole of d passed (false: ctx ended first, or had already
// ended). A d of zero or less returns at once, true unless ctx has ended.
// It holds no timer after it returns.
func Ctx(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Err is Ctx for callers that pass the context's error on: nil when the
// whole of d passed, else ctx.Err().
func Err(ctx context.Context, d time.Duration) error {
	if Ctx(ctx, d) {
		return nil
	}
	return ctx.Err()
}
