//go:build !linux

package loadgen

import "context"

// newPacer returns the portable pacer (a Go timer) off Linux.
func newPacer(ctx context.Context) pacer { return newTimerPacer(ctx) }
