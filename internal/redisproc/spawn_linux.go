//go:build linux

package redisproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Why children are started from one dedicated goroutine:
//
// SysProcAttr.Pdeathsig (prctl PR_SET_PDEATHSIG) makes the kernel signal the
// child when the *thread* that forked it exits, not when the parent process
// exits. The Go runtime runs goroutines on any thread and terminates a thread
// when a goroutine locked to it (runtime.LockOSThread) returns without
// unlocking, so a child forked from an arbitrary goroutine could be SIGKILLed
// at a random moment while its parent is still running.
//
// So every child is forked by spawnLoop, which locks itself to its OS thread
// and never unlocks or returns. That thread lives exactly as long as the
// process: the child gets SIGKILL when, and only when, the parent process
// dies, including by SIGKILL or a crash. (Go's fork code also handles the
// parent dying during the fork itself: the child checks getppid after prctl.)
//
// The goroutine starts on first use, blocks on its channel when idle, and
// lives until the process exits. It is this package's only global state;
// that is inherent, since a parent-death signal is tied to a thread of this
// process.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd    *exec.Cmd
	result chan<- error
}

// startProcess runs cmd.Start on the spawner thread. It is safe for
// concurrent use.
func startProcess(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go spawnLoop(spawner.reqs)
	})
	res := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, result: res}
	return <-res
}

func spawnLoop(reqs <-chan spawnRequest) {
	runtime.LockOSThread() // never unlocked, and this function never returns
	for req := range reqs {
		req.result <- req.cmd.Start()
	}
}

// sysProcAttr puts the child in its own process group, so a terminal's
// Ctrl-C reaches only the parent (`studio up` then stops children in order)
// and signals to the group also reach children redis-server forks; and sets
// the parent-death signal (see above).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
}
