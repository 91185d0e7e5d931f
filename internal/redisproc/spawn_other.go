//go:build unix && !linux

package redisproc

import (
	"os/exec"
	"syscall"
)

// Outside Linux there is no parent-death signal: a child outlives a parent
// that crashes. Stop (or tb.Cleanup in tests) and KillStale are the only
// protection there.

func startProcess(cmd *exec.Cmd) error { return cmd.Start() }

// sysProcAttr puts the child in its own process group, so a terminal's
// Ctrl-C reaches only the parent and signals to the group also reach
// children redis-server forks.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
