// Package logfile is a log file capped in size: when a write would take
// it past its limit, the file is renamed with the suffix ".1" (replacing
// the previous one) and a new one is started, so the two together never
// hold much more than twice the limit.
package logfile

import (
	"fmt"
	"os"
	"sync"
)

// File is a size-capped, rotating log file. It is safe for concurrent use;
// each Write goes whole into one file (a log line is never split across
// two). The zero value is not usable: use Open.
type File struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens path for appending (created with mode 0600 if missing); a
// write that would take it past max bytes first moves it to path+".1".
// max must be positive.
func Open(path string, max int64) (*File, error) {
	if max <= 0 {
		return nil, fmt.Errorf("logfile: the size limit must be positive, got %d", max)
	}
	lf := &File{path: path, max: max}
	if err := lf.open(os.O_APPEND); err != nil {
		return nil, err
	}
	return lf, nil
}

func (lf *File) open(mode int) error {
	f, err := os.OpenFile(lf.path, os.O_CREATE|os.O_WRONLY|mode, 0o600)
	if err != nil {
		return fmt.Errorf("logfile: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logfile: stat: %w", err)
	}
	lf.f, lf.size = f, st.Size()
	return nil
}

// Write writes p, rotating first when the file is not empty and p would
// take it past the limit. A failed rotation is returned and the file kept.
func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, os.ErrClosed
	}
	if lf.size > 0 && lf.size+int64(len(p)) > lf.max {
		if err := lf.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := lf.f.Write(p)
	lf.size += int64(n)
	return n, err
}

// rotate moves the file to path.1 and starts an empty one.
func (lf *File) rotate() error {
	if err := lf.f.Close(); err != nil {
		return fmt.Errorf("logfile: close before rotating: %w", err)
	}
	lf.f = nil
	if err := os.Rename(lf.path, lf.path+".1"); err != nil {
		// Keep writing to the file we have.
		if oerr := lf.open(os.O_APPEND); oerr != nil {
			return oerr
		}
		return fmt.Errorf("logfile: rotate: %w", err)
	}
	return lf.open(os.O_TRUNC)
}

// Close closes the file; later writes fail with os.ErrClosed.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}
