//go:build linux

package loadgen

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// newPacer returns a pacer backed by a timerfd in the Go netpoller: the
// kernel's high-resolution timer wakes the worker at its deadline, where a
// Go timer on an otherwise idle process fires up to a millisecond late
// (the netpoller sleeps in whole milliseconds), and the late workers then
// send together, a burst the target did not ask for. It falls back to the
// portable pacer if no timerfd can be made.
func newPacer(ctx context.Context) pacer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newTimerPacer(ctx)
	}
	p := &fdPacer{ctx: ctx, f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}
	// Deadlines work only on a file the netpoller took; without one a read
	// would fail at once (EAGAIN) and cancellation could not wake it.
	if err := p.f.SetReadDeadline(time.Time{}); err != nil {
		_ = p.f.Close()
		return newTimerPacer(ctx)
	}
	p.stop = context.AfterFunc(ctx, func() { _ = p.f.SetReadDeadline(time.Unix(1, 0)) })
	return p
}

type fdPacer struct {
	ctx  context.Context
	f    *os.File
	fd   int
	stop func() bool
	buf  [8]byte
}

func (p *fdPacer) sleepUntil(t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return p.ctx.Err()
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(p.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("arm timerfd: %w", err)
	}
	if _, err := p.f.Read(p.buf[:]); err != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("read timerfd: %w", err)
	}
	return nil
}

func (p *fdPacer) close() {
	p.stop()
	_ = p.f.Close()
}
