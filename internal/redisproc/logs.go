package redisproc

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// logRing keeps the last lines of a server's log, across restarts. It is
// safe for concurrent use.
type logRing struct {
	mu      sync.Mutex
	max     int
	lines   []string // the kept lines, oldest first
	total   int      // complete lines ever written
	partial []byte   // an unfinished last line
}

func newLogRing(max int) *logRing { return &logRing{max: max} }

func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			r.partial = append(r.partial, rest...)
			break
		}
		line := string(r.partial) + string(bytes.TrimRight(rest[:i], "\r"))
		r.partial = r.partial[:0]
		rest = rest[i+1:]
		r.lines = append(r.lines, line)
		r.total++
		if len(r.lines) > 2*r.max {
			r.lines = append([]string(nil), r.lines[len(r.lines)-r.max:]...)
		}
	}
	return len(p), nil
}

// mark returns a position for containsSince.
func (r *logRing) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// containsSince reports whether a line written after mark contains s.
func (r *logRing) containsSince(mark int, s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.total - len(r.lines) // index of r.lines[0]
	for i := max(mark-first, 0); i < len(r.lines); i++ {
		if strings.Contains(r.lines[i], s) {
			return true
		}
	}
	return strings.Contains(string(r.partial), s)
}

// tail returns up to the last n kept lines (all of them, at most max, if
// n <= 0), including an unfinished last line.
func (r *logRing) tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.lines
	if len(r.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(r.partial))
	}
	if n <= 0 || n > r.max {
		n = r.max
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logSink receives a process's stdout and stderr: every write goes to the
// ring and to out. It never fails, so redis-server never blocks or sees
// EPIPE because of a bad out.
type logSink struct {
	ring *logRing
	out  io.Writer
}

func (w *logSink) Write(p []byte) (int, error) {
	_, _ = w.ring.Write(p)
	if w.out != nil {
		_, _ = w.out.Write(p)
	}
	return len(p), nil
}
