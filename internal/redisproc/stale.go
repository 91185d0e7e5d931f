package redisproc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KillStale stops a redis-server that an earlier, crashed run left behind
// with its pidfile (PidFileName) in dir. Call it before Launch on a Dir that
// outlives processes, as `studio up` does.
//
// It signals the pid only after checking, through /proc (Linux), that it is
// a live redis-server whose working directory is dir, so a stale pidfile
// whose pid now belongs to another process (even another redis-server) never
// harms it. It sends SIGTERM, then SIGKILL if the server has not exited after
// 5 seconds. A pidfile that names no such server is removed. It returns nil
// if there is no pidfile, and an error if the pid cannot be checked or the
// server will not die.
func KillStale(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("redisproc: kill stale server: dir %q: %w", dir, err)
	}
	path := filepath.Join(abs, PidFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redisproc: kill stale server: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return removeStalePidfile(path)
	}
	ours, err := isRedisIn(pid, abs)
	if err != nil {
		return fmt.Errorf("redisproc: kill stale server: check pid %d from %s: %w", pid, path, err)
	}
	if !ours {
		return removeStalePidfile(path)
	}
	target := pid
	if st, err := readProcStat(pid); err == nil && st.pgrp == pid {
		target = -pid // it leads its own group (Setpgid): include its children
	}
	for _, step := range []struct {
		sigs []syscall.Signal
		wait time.Duration
	}{
		{[]syscall.Signal{syscall.SIGTERM, syscall.SIGCONT}, stopTimeout},
		{[]syscall.Signal{syscall.SIGKILL}, stopTimeout},
	} {
		for _, sig := range step.sigs {
			if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("redisproc: kill stale server: signal pid %d: %w", pid, err)
			}
		}
		if waitGone(pid, step.wait) {
			return removeStalePidfile(path)
		}
	}
	return fmt.Errorf("redisproc: kill stale server: pid %d still alive after SIGKILL", pid)
}

func removeStalePidfile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("redisproc: remove stale pidfile: %w", err)
	}
	return nil
}

// isRedisIn reports whether pid is a live redis-server with working
// directory dir. A process that is gone or a zombie is not.
func isRedisIn(pid int, dir string) (bool, error) {
	st, err := readProcStat(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.state == 'Z' || st.state == 'X' {
		return false, nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// redis-server rewrites its title to "redis-server HOST:PORT", so the
	// first word, split on NUL or space, is the binary.
	first, _, _ := strings.Cut(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), " ")
	if filepath.Base(first) != "redis-server" {
		return false, nil
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	return filepath.Clean(cwd) == want, nil
}

// waitGone polls until pid is gone or a zombie, for at most d.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie (a dead process its
// parent has not reaped yet — common in containers whose init does not reap).
func alive(pid int) bool {
	st, err := readProcStat(pid)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return st.state != 'Z' && st.state != 'X'
}

type procStat struct {
	state byte
	pgrp  int
}

// readProcStat reads /proc/PID/stat. The error wraps fs.ErrNotExist if the
// process is gone.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid pgrp ..."; comm may contain spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp}, nil
}

// KillStaleTree runs KillStale on dir and on every directory below it that
// holds a pidfile, as left by LaunchSentinel or LaunchCluster (one
// sub-directory per process). Call it before launching a topology into a
// state directory an earlier run may have left processes in, as `studio up`
// does. It visits every directory even when one fails, and returns the
// failures joined; a missing dir is not an error.
func KillStaleTree(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			errs = append(errs, fmt.Errorf("redisproc: kill stale servers: %w", err))
			return nil
		}
		if !d.IsDir() && d.Name() == PidFileName {
			if err := KillStale(filepath.Dir(path)); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("redisproc: kill stale servers: %w", err))
	}
	return errors.Join(errs...)
}
