package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"

	"github.com/studiohq/studio/internal/syncbuf"
)

// waitMatch polls out until re matches, returning the submatches.
func waitMatch(t testing.TB, out fmt.Stringer, re *regexp.Regexp, done <-chan int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d before printing %s; output:\n%s", code, re, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %s in output:\n%s", re, out)
	return nil
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// serving is a `studio serve` started by startServe.
type serving struct {
	base           string // http://host:port
	stdout, stderr *syncbuf.Buffer
	done           chan int // receives the exit status
}

// startServe runs `studio serve` with env (STUDIO_ADDR defaults to a free
// loopback port, STUDIO_SHUTDOWN_DRAIN to none) until ctx ends, and
// returns once it listens.
func startServe(t testing.TB, ctx context.Context, env map[string]string) *serving {
	t.Helper()
	if _, ok := env["STUDIO_ADDR"]; !ok {
		env["STUDIO_ADDR"] = "127.0.0.1:0"
	}
	if _, ok := env["STUDIO_SHUTDOWN_DRAIN"]; !ok {
		env["STUDIO_SHUTDOWN_DRAIN"] = "0s" // no load balancer to tell
	}
	s := &serving{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan int, 1)}
	go func() { s.done <- run(ctx, []string{"studio", "serve"}, envOf(env), s.stdout, s.stderr) }()
	s.base = "http://" + waitMatch(t, s.stdout, listening, s.done)[1]
	return s
}

func call(t *testing.T, method, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestServeEndToEnd runs the program as main would, on port 0, against a
// real Redis and SQLite, and shuts it down through its context.
func TestServeEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	const adminTok = "e2e-admin-5b3a1a9152529b7dbfe5c00f3e3ae778efd9a66b71b58efc"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN": adminTok,
		"REDIS_URL":          rs.URL(),
		"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	})
	base, stdout, stderr, done := srv.base, srv.stdout, srv.stderr, srv.done

	if code, _ := call(t, "GET", base+"/healthz", "", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	code, body := call(t, "POST", base+"/v1/sessions", adminTok, `{"user_id":"e2e"}`)
	if code != 201 {
		t.Fatalf("create %d %v", code, body)
	}
	tok := body["token"].(string)
	if code, body = call(t, "GET", base+"/v1/session", tok, ""); code != 200 {
		t.Fatalf("validate %d %v", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d; stderr %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if strings.Contains(stdout.String(), tok) || strings.Contains(stdout.String(), adminTok) {
		t.Fatal("a token reached the log")
	}
}

var (
	bannerAPI   = regexp.MustCompile(`API +(http://\S+)`)
	bannerAdmin = regexp.MustCompile(`Admin token +(\S+)`)
	bannerRedis = regexp.MustCompile(`\((?:pid \d+, data|files) in (\S+)\)`)
	bannerTry   = regexp.MustCompile(`Bearer (stu_\S+)'`)
)

func TestUpRunsEverythingAndStopsIt(t *testing.T) {
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"studio", "up", "--state-dir", state, "--addr", "127.0.0.1:0", "--demo-load", "--demo-users", "5"}, envOf(nil), stdout, stderr)
	}()
	base := waitMatch(t, stdout, bannerAPI, done)[1]
	adminTok := bannerAdmin.FindStringSubmatch(stdout.String())[1]
	redisDir := bannerRedis.FindStringSubmatch(stdout.String())[1]
	pids := redisPIDs(t, redisDir)
	if len(pids) != 6 {
		t.Fatalf("%d redis processes in %s, want a master, two replicas and three Sentinels", len(pids), redisDir)
	}
	demoTok := bannerTry.FindStringSubmatch(stdout.String())[1]
	// The banner's studio commands name this binary as a shell here reaches
	// it (in a test, the test binary; see TestMain).
	prog := shellQuote(commandPath())
	if !strings.Contains(stdout.String(), prog+" drill failover --redis-sentinels ") {
		t.Errorf("the banner shows no drill command:\n%s", stdout.String())
	}

	if code, body := call(t, "GET", base+"/readyz", "", ""); code != 200 || body["status"] != "ok" {
		t.Fatalf("readyz %d %v", code, body)
	}
	if code, _ := call(t, "GET", base+"/v1/session", demoTok, ""); code != 200 {
		t.Fatalf("demo token: %d", code)
	}
	if code, _ := call(t, "POST", base+"/v1/sessions", adminTok, `{"user_id":"newcomer"}`); code != 201 {
		t.Fatalf("create with the printed admin token: %d", code)
	}
	// The banner's "Try it" lines work as printed.
	tried := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		cmdline, ok := strings.CutPrefix(strings.TrimSpace(line), "curl -s ")
		if !ok {
			continue
		}
		out, err := exec.Command("sh", "-c", "curl -sS --fail-with-body "+cmdline).CombinedOutput()
		if err != nil || !json.Valid(out) || !bytes.Contains(out, []byte(`"`)) {
			t.Errorf("the banner's curl -s %s: %v\n%s", cmdline, err, out)
		}
		tried++
	}
	if tried != 3 {
		t.Errorf("the banner has %d curl lines, want 3:\n%s", tried, stdout.String())
	}
	// Its studio lines work as printed too: warm runs; bench and the drill,
	// which would load or break the topology, parse their flags (-h).
	studioLines := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		cmdline, ok := strings.CutPrefix(strings.TrimSpace(line), prog+" ")
		if !ok {
			continue
		}
		want := "warmed "
		if !strings.HasPrefix(cmdline, "warm ") {
			want = "Usage: studio " + strings.Fields(cmdline)[0]
			cmdline += " -h"
		}
		cmd := exec.Command("sh", "-c", prog+" "+cmdline)
		cmd.Env = append(os.Environ(), asStudioEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(want)) {
			t.Errorf("the banner's %s %s: %v, want %q in\n%s", prog, cmdline, err, want, out)
		}
		studioLines++
	}
	if studioLines != 3 {
		t.Errorf("the banner has %d studio lines, want warm, bench and drill:\n%s", studioLines, stdout.String())
	}
	// The Snapshot shows the Sentinel topology.
	if code, body := call(t, "GET", base+"/health/redis", adminTok, ""); code != 200 || body["redis"].(map[string]any)["mode"] != "sentinel" ||
		len(body["redis"].(map[string]any)["sentinels"].([]any)) != 3 || body["topology"] == nil {
		t.Fatalf("health/redis %d: mode, sentinels or topology missing: %v", code, body["redis"])
	}
	// The supervisor restarts a process that dies.
	var replica int
	for p, name := range pids {
		if strings.Contains(name, "node-2") {
			replica = p
		}
	}
	if err := syscall.Kill(replica, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now().Add(15 * time.Second)
	for {
		now := redisPIDs(t, redisDir)
		if len(now) == 6 {
			if _, old := now[replica]; !old {
				break
			}
		}
		if time.Now().After(restarted) {
			t.Fatalf("the killed replica was not restarted: %v", now)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pids = redisPIDs(t, redisDir)
	// The demo load reaches the service (counted in /metrics: the access
	// log samples it), and the log file has its sampled lines.
	logPath := filepath.Join(state, "studio.log")
	served := regexp.MustCompile(`studio_http_request_duration_seconds_count\{method="GET",route="GET /v1/session",status="200"\} (\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, metrics := send(t, "GET", base+"/metrics", "", "")
		if m := served.FindStringSubmatch(metrics); m != nil && atoi(m[1]) > 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo traffic in /metrics")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, _ := os.ReadFile(logPath); !bytes.Contains(b, []byte(`"route":"GET /v1/session"`)) {
		t.Fatalf("no access line of the demo traffic in %s", logPath)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("up did not stop")
	}
	for pid, name := range pids {
		if alive(pid) {
			t.Fatalf("redis process %d (%s) still running after up stopped", pid, name)
		}
	}
}

// redisPIDs returns the live redis processes whose pidfiles are under dir,
// with the directory each belongs to.
func redisPIDs(t *testing.T, dir string) map[int]string {
	t.Helper()
	out := map[int]string{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "redis-server.pid" {
			b, _ := os.ReadFile(path)
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && alive(pid) {
				out[pid] = filepath.Dir(path)
			}
		}
		return nil
	})
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie is dead for our purposes.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// TestUpLeavesNoOrphanWhenKilled kills a running `studio up` with SIGKILL,
// as a crash would, and checks that its redis-server dies with it.
func TestUpLeavesNoOrphanWhenKilled(t *testing.T) {
	if os.Getenv("STUDIO_TEST_UP_CHILD") != "" {
		os.Exit(run(context.Background(), []string{"studio", "up", "--state-dir", os.Getenv("STUDIO_TEST_UP_CHILD"), "--addr", "127.0.0.1:0", "--demo-users", "1"}, os.Getenv, os.Stdout, os.Stderr))
	}
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpLeavesNoOrphanWhenKilled$")
	cmd.Env = append(os.Environ(), "STUDIO_TEST_UP_CHILD="+state)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	dir := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := bannerRedis.FindStringSubmatch(sc.Text()); m != nil {
			dir = m[1]
			break
		}
	}
	if dir == "" {
		t.Fatal("child printed no redis directory")
	}
	go io.Copy(io.Discard, out)
	pids := redisPIDs(t, dir)
	if len(pids) != 6 {
		t.Fatalf("%d redis processes running, want 6", len(pids))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for pid, name := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("redis process %d (%s) outlived its killed parent", pid, name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The next run starts cleanly in the same state dir (here with a
	// single Redis).
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"studio", "up", "--single-redis", "--state-dir", state, "--addr", "127.0.0.1:0", "--demo-users", "1"}, envOf(nil), stdout, io.Discard)
	}()
	waitMatch(t, stdout, bannerAPI, done)
	if n := len(redisPIDs(t, dir)); n != 1 || !strings.Contains(stdout.String(), "redis://") {
		t.Errorf("--single-redis: %d redis processes, banner:\n%s", n, stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("second up exited %d", code)
	}
}

func TestUpNamesThePackageWhenRedisIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var stderr bytes.Buffer
	state := t.TempDir()
	code := run(context.Background(), []string{"studio", "up", "--state-dir", state, "--addr", "127.0.0.1:0"}, envOf(nil), io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "apt-get install redis-server") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if dir := redisStateDir(state); strings.HasPrefix(dir, "/dev/shm/") {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("the failed start left %s behind", dir)
		}
	}
}
