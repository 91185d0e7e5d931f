// Package filewatch re-reads files when they change: the admin token
// file and the HTTP listener's certificate and key. A Watch notices a
// change by polling the files' identity, size and modification time (a
// rewrite in place, a rename over them, a Kubernetes secret's symlink
// swap), and on SIGHUP the caller forces a reload.
package filewatch

import (
	"context"
	"os"
	"slices"
	"sync"
	"time"
)

// Watch calls its load function when one of its files changes. It does
// not read the files itself: load does, and keeps what it had when they
// are bad. Safe for concurrent use; loads never run at once.
type Watch struct {
	files []string
	load  func() error

	mu    sync.Mutex // serialises loads; guards stats
	stats []os.FileInfo
}

// New returns a Watch of files that calls load on a change. It records
// the files as they are now: the caller has loaded them already.
func New(load func() error, files ...string) *Watch {
	w := &Watch{files: slices.Clone(files), load: load}
	w.stats = w.stat()
	return w
}

func (w *Watch) stat() []os.FileInfo {
	out := make([]os.FileInfo, len(w.files))
	for i, f := range w.files {
		if fi, err := os.Stat(f); err == nil { // follows symlinks
			out[i] = fi
		}
	}
	return out
}

func same(a, b []os.FileInfo) bool {
	for i := range a {
		switch {
		case a[i] == nil || b[i] == nil:
			if a[i] != b[i] {
				return false
			}
		case !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()):
			return false
		}
	}
	return true
}

// Check calls load if a file changed since the last load or Check, and
// reports whether it did, with load's error. A file that changed to
// something bad is not loaded again until it changes again.
func (w *Watch) Check() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stat()
	if same(st, w.stats) {
		return false, nil
	}
	w.stats = st
	return true, w.load()
}

// Reload calls load now (for SIGHUP) and returns its error.
func (w *Watch) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats = w.stat()
	return w.load()
}

// Run calls Check every interval until ctx ends. load reports its own
// failures (log them there).
func (w *Watch) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = w.Check()
		}
	}
}
