package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/session"
)

// studioProc is a `studio serve` in a process of its own: the test binary
// run as the studio command (see TestMain), so a test can stop it with
// SIGTERM or kill it with SIGKILL as a crash would, and read its
// /metrics without the test's own goroutines in them.
type studioProc struct {
	cmd  *exec.Cmd
	base string          // http://host:port
	out  *syncbuf.Buffer // its log: stdout and stderr
	done chan struct{}   // closed when it has exited
}

// startStudioProc starts `studio serve` with env as its only settings
// (besides PATH and HOME; STUDIO_ADDR defaults to a free loopback port,
// STUDIO_SHUTDOWN_DRAIN to none) and returns once it listens. The test's
// cleanup kills it if it still runs.
func startStudioProc(t *testing.T, env map[string]string) *studioProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = []string{asStudioEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if _, ok := env["STUDIO_ADDR"]; !ok {
		cmd.Env = append(cmd.Env, "STUDIO_ADDR=127.0.0.1:0")
	}
	if _, ok := env["STUDIO_SHUTDOWN_DRAIN"]; !ok {
		cmd.Env = append(cmd.Env, "STUDIO_SHUTDOWN_DRAIN=0s")
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &studioProc{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start studio serve: %v", err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.out.String()); m != nil {
			p.base = "http://" + m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("studio serve exited before listening:\n%s", p.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("studio serve did not listen within 30 s:\n%s", p.out)
		}
	}
}

// stop sends sig and waits for the process to exit.
func (p *studioProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal studio serve: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("studio serve did not exit 40 s after %v:\n%s", sig, p.out)
	}
}

// metric reads one unlabelled sample from the process's /metrics.
func (p *studioProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

// sessionKey is the Redis key of the session whose token is tok.
func sessionKey(t *testing.T, tok string) string {
	t.Helper()
	h, err := session.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return "studio:s:" + h.Hex()
}

// liveCopy reports whether v is a live session copy as Studio writes it in
// Redis (its binary layout starts with 1), not a tombstone or an absent
// marker.
func liveCopy(v string) bool { return len(v) > 1 && v[0] == 0x01 }
