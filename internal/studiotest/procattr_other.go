//go:build !linux

package studiotest

import "syscall"

// procAttr: without Linux's parent-death signal, Stop is the only way
// Studio ends.
func procAttr() *syscall.SysProcAttr { return nil }
