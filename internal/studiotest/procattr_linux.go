package studiotest

import "syscall"

// procAttr makes Studio die with the process that started it, even when
// that process is killed.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
