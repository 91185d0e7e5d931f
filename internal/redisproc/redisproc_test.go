package redisproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redisproc"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

func TestTwoServersConcurrently(t *testing.T) {
	t.Parallel()
	var (
		wg      sync.WaitGroup
		servers [2]*redisproc.Server
		errs    [2]error
	)
	for i := range servers {
		dir := t.TempDir()
		wg.Go(func() { servers[i], errs[i] = redisproc.Launch(t.Context(), redisproc.Config{Dir: dir}) })
	}
	wg.Wait()
	for _, s := range servers {
		if s != nil {
			t.Cleanup(func() { _ = s.Stop() })
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("launch server %d: %v", i, err)
		}
	}
	if servers[0].Port() == servers[1].Port() {
		t.Fatalf("both servers on port %d", servers[0].Port())
	}
	ctx := t.Context()
	for i, s := range servers {
		c := s.Client(t)
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("server %d (%s): PING: %v", i, s.Addr(), err)
		}
		if err := c.Set(ctx, "owner", strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatalf("server %d: SET: %v", i, err)
		}
	}
	for i, s := range servers {
		got, err := s.Client(t).Get(ctx, "owner").Result()
		if err != nil || got != strconv.Itoa(i) {
			t.Errorf("server %d: GET owner = %q, %v; want %q", i, got, err, strconv.Itoa(i))
		}
		if s.URL() != "redis://"+s.Addr()+"/0" || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
			t.Errorf("server %d: Addr %q URL %q", i, s.Addr(), s.URL())
		}
	}
}

func TestStopIsIdempotentAndFreesPort(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := s.Client(t)
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), redisproc.PidFileName)); err != nil {
		t.Errorf("pidfile while running: %v", err)
	}
	// A paused server must still stop cleanly through SIGTERM (Stop resumes
	// it), not only by the SIGKILL fallback: Wait reports a clean exit.
	if err := s.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := s.Wait(); err != nil {
		t.Errorf("Wait after Stop = %v; want a clean exit", err)
	}
	if pid := s.PID(); pid != 0 {
		t.Errorf("PID after Stop = %d; want 0", pid)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), redisproc.PidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile after Stop: %v; want it removed", err)
	}
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Fatalf("port %d not free after Stop: %v", s.Port(), err)
	}
	l.Close()
	if err := s.Pause(); err == nil {
		t.Error("Pause after Stop succeeded; want an error")
	}
}

func TestKillThenRestartKeepsPortLosesData(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	port, oldPID := s.Port(), s.PID()
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	<-s.Done()
	var ee *exec.ExitError
	if err := s.Wait(); !errors.As(err, &ee) {
		t.Errorf("Wait after Kill = %v; want an *exec.ExitError", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Errorf("port after Restart = %d; want %d", s.Port(), port)
	}
	if s.PID() == oldPID || s.PID() == 0 {
		t.Errorf("PID after Restart = %d; old %d", s.PID(), oldPID)
	}
	select {
	case <-s.Done():
		t.Fatal("Done closed for the restarted process")
	default:
	}
	// The old client reconnects to the new process on the same address.
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET k after Kill+Restart = %v; want redis.Nil (no persistence)", err)
	}
}

func TestStopRestartPersistence(t *testing.T) {
	t.Parallel()
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%v", persist), func(t *testing.T) {
			t.Parallel()
			var opts []redistest.Option
			if persist {
				opts = append(opts, redistest.WithPersist())
			}
			s := redistest.Start(t, opts...)
			ctx := t.Context()
			if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if err := s.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := s.Restart(ctx); err != nil {
				t.Fatalf("Restart: %v", err)
			}
			got, err := s.Client(t).Get(ctx, "k").Result()
			_, statErr := os.Stat(filepath.Join(s.Dir(), "dump.rdb"))
			if persist {
				if got != "v" || err != nil {
					t.Errorf("GET k = %q, %v; want v kept", got, err)
				}
				if statErr != nil {
					t.Errorf("dump.rdb: %v", statErr)
				}
			} else {
				if !errors.Is(err, redis.Nil) {
					t.Errorf("GET k = %q, %v; want redis.Nil", got, err)
				}
				if !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("dump.rdb exists without Persist (%v)", statErr)
				}
			}
		})
	}
}

func TestRestartWhileRunning(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	old := s.PID()
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.PID() == old {
		t.Fatalf("Restart kept pid %d", old)
	}
	if err := s.Client(t).Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := s.Client(t, func(o *redis.Options) {
		o.DialTimeout = 200 * time.Millisecond
		o.ReadTimeout = 200 * time.Millisecond
		o.WriteTimeout = 200 * time.Millisecond
		o.MaxRetries = -1
	})
	ctx := t.Context()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if err := s.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	err := c.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("PING while paused = %v; want a timeout", err)
	}
	select {
	case <-s.Done():
		t.Fatal("Done closed while paused")
	default:
	}
	if err := s.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = c.Ping(ctx).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PING after Resume: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExtraArgsAndDefaults(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.WithArgs("--maxmemory", "10mb"))
	ctx := t.Context()
	c := s.Client(t)
	for param, want := range map[string]string{
		"maxmemory":  "10485760",
		"save":       "",
		"appendonly": "no",
		"bind":       "127.0.0.1",
		"port":       strconv.Itoa(s.Port()),
	} {
		got, err := c.ConfigGet(ctx, param).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", param, err)
		}
		if got[param] != want {
			t.Errorf("CONFIG GET %s = %q; want %q", param, got[param], want)
		}
	}
	if !strings.Contains(s.LogTail(0), "Ready to accept connections") {
		t.Errorf("LogTail lacks the ready line:\n%s", s.LogTail(0))
	}
	if b, err := os.ReadFile(filepath.Join(s.Dir(), redisproc.LogFileName)); err != nil || !strings.Contains(string(b), "Ready to accept connections") {
		t.Errorf("log file: %v\n%s", err, b)
	}
}

func TestStdoutReceivesLog(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	s, err := redisproc.Launch(t.Context(), redisproc.Config{Dir: t.TempDir(), Stdout: &buf})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !strings.Contains(buf.String(), "Ready to accept connections") {
		t.Errorf("Stdout got:\n%s", buf.String())
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), redisproc.LogFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log file written although Stdout was set (%v)", err)
	}
}

func TestDoneReportsUnexpectedDeath(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed 10s after the process was killed")
	}
	if err := s.Wait(); err == nil {
		t.Error("Wait after an external SIGKILL = nil; want an error")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop after death: %v", err)
	}
}

func TestFixedPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = redisproc.Launch(t.Context(), redisproc.Config{Dir: t.TempDir(), Port: port})
	if err == nil {
		t.Fatal("Launch on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "Address already in use") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error lacks the port or the log line: %v", err)
	}
}

func TestBadArgsReportsLog(t *testing.T) {
	t.Parallel()
	_, err := redisproc.Launch(t.Context(), redisproc.Config{Dir: t.TempDir(), ExtraArgs: []string{"--no-such-directive", "1"}})
	if err == nil {
		t.Fatal("Launch with a bad directive succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-directive") {
		t.Errorf("error lacks redis-server's complaint: %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Parallel()
	_, err := redisproc.Launch(t.Context(), redisproc.Config{Dir: t.TempDir(), Binary: "/nonexistent/redis-server"})
	if !errors.Is(err, redisproc.ErrNoRedisServer) {
		t.Fatalf("Launch = %v; want ErrNoRedisServer", err)
	}
	for _, want := range []string{"/nonexistent/redis-server", "apt-get install redis-server", "Debian package redis-server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestConfigNeedsDir(t *testing.T) {
	t.Parallel()
	if _, err := redisproc.Launch(t.Context(), redisproc.Config{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("Launch without Dir = %v; want an error naming Dir", err)
	}
}

// TestLaunchFromExitingThread guards the Pdeathsig thread gotcha: a server
// launched from a goroutine whose OS thread then exits must keep running.
// Two launches, because the runtime parks rather than ends the main thread
// if that is where the first goroutine ran; the second then ends a real one.
func TestLaunchFromExitingThread(t *testing.T) {
	t.Parallel()
	var servers []*redisproc.Server
	for range 2 {
		dir := t.TempDir()
		type result struct {
			s   *redisproc.Server
			err error
		}
		res := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			s, err := redisproc.Launch(t.Context(), redisproc.Config{Dir: dir})
			res <- result{s, err}
		}()
		r := <-res
		if r.err != nil {
			t.Fatalf("Launch: %v", r.err)
		}
		t.Cleanup(func() { _ = r.s.Stop() })
		servers = append(servers, r.s)
	}
	time.Sleep(300 * time.Millisecond)
	for i, s := range servers {
		select {
		case <-s.Done():
			t.Fatalf("server %d died after the launching thread exited: %v", i, s.Wait())
		default:
		}
		if err := s.Client(t).Ping(t.Context()).Err(); err != nil {
			t.Fatalf("server %d: PING: %v", i, err)
		}
	}
}

// startLeftover starts a redis-server the way a crashed run leaves one: not
// owned by a Server, pidfile in dir. It is reaped in the background.
func startLeftover(t *testing.T, dir string) (pid int, exited <-chan struct{}) {
	t.Helper()
	port, err := redisproc.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--pidfile", filepath.Join(dir, redisproc.PidFileName), "--save", "", "--appendonly", "no")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start leftover redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, redisproc.PidFileName)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leftover redis-server wrote no pidfile")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd.Process.Pid, done
}

func TestKillStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, exited := startLeftover(t, dir)
	if err := redisproc.KillStale(dir); err != nil {
		t.Fatalf("KillStale: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("leftover redis-server still running after KillStale")
	}
	if _, err := os.Stat(filepath.Join(dir, redisproc.PidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile after KillStale: %v; want removed", err)
	}
	if err := redisproc.KillStale(dir); err != nil {
		t.Errorf("KillStale without a pidfile: %v", err)
	}
}

func TestKillStaleSparesOthers(t *testing.T) {
	t.Parallel()
	// Not a redis-server.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	sleepDone := make(chan error, 1)
	go func() { sleepDone <- sleep.Wait() }()
	t.Cleanup(func() { _ = sleep.Process.Kill(); <-sleepDone })
	// A redis-server, but of another dir.
	other := redistest.Start(t)

	for name, pid := range map[string]int{"sleep": sleep.Process.Pid, "redis-server of another dir": other.PID()} {
		dir := t.TempDir()
		pidfile := filepath.Join(dir, redisproc.PidFileName)
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := redisproc.KillStale(dir); err != nil {
			t.Errorf("%s: KillStale: %v", name, err)
		}
		if _, err := os.Stat(pidfile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: stale pidfile kept (%v)", name, err)
		}
	}
	select {
	case err := <-sleepDone:
		t.Errorf("KillStale killed an unrelated process: %v", err)
	default:
	}
	select {
	case <-other.Done():
		t.Error("KillStale killed a redis-server of another dir")
	default:
	}
}

const helperDirEnv = "REDISTEST_HELPER_DIR"

// TestHelperProcess is not a test: TestOrphanDiesWithParent runs the test
// binary with helperDirEnv set, and then this launches a redis-server, prints
// its pid and port, and SIGKILLs its own process.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		return
	}
	s, err := redisproc.Launch(context.Background(), redisproc.Config{Dir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("pid=%d port=%d\n", s.PID(), s.Port())
	_ = os.Stdout.Sync()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestOrphanDiesWithParent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t.Cleanup(func() { _ = redisproc.KillStale(dir) }) // if Pdeathsig failed
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL; stdout %q; stderr:\n%s", err, out, stderr.String())
	}
	var pid, port int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if n, _ := fmt.Sscanf(sc.Text(), "pid=%d port=%d", &pid, &port); n == 2 {
			break
		}
	}
	if pid == 0 {
		t.Fatalf("helper printed no pid: %q; stderr:\n%s", out, stderr.String())
	}
	if !redisproc.WaitGone(pid, 10*time.Second) {
		t.Fatalf("redis-server pid %d (port %d) still alive 10s after its parent was SIGKILLed", pid, port)
	}
}
