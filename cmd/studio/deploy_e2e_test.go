package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/charttest"
	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

// deployChild, as the first argument after the test binary's flags, makes
// TestDeployChartSentinel run the rest as `studio …` in this process (a
// child it started), with exactly the environment it was given.
const deployChild = "studio-deploy-child"

// TestDeployChartSentinel renders the Helm chart with Sentinel values that
// point at a real Sentinel topology (three Sentinels, a master and two
// replicas, every process password-protected) and at this machine's
// PostgreSQL, takes the Deployment's container environment — Secrets and
// the rendered ConfigMaps written as the files the pod would mount, the
// pod name from the downward API — and runs two `studio serve` processes
// with exactly that environment (each on a free loopback port). While `studio drill
// failover --fault kill` runs against the same Sentinels with the same
// environment, sessions are created through one instance and validated
// through both. The drill must report recovery; after it every create and
// validation on both instances must succeed and both must follow the new
// master. On SIGTERM each must fail /readyz at once, still serve during
// the drain, and stop within the chart's grace period.
func TestDeployChartSentinel(t *testing.T) {
	if args := flag.Args(); len(args) > 0 && args[0] == deployChild {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, append([]string{"studio"}, args[1:]...), os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if testing.Short() {
		t.Skip("runs a failover drill; -short skips it")
	}
	if _, err := charttest.Helm(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	redisPass := "redis-pass-" + randomHex(12)
	topo := redistest.StartSentinel(t, func(c *redistest.SentinelConfig) { c.Password = redisPass })
	admin := "deploy-admin-" + randomHex(32)
	dbURL := pgtest.Database(t, t, "studio_deploy")
	values := fmt.Sprintf(`image: {repository: registry.example.com/studio}
adminToken:
  existingSecret: {name: studio-admin, key: admin-token}
redis:
  mode: sentinel
  sentinels: [%s]
  masterName: %s
  auth:
    existingSecret: {name: studio-redis, key: password}
    sentinelExistingSecret: {name: studio-redis, key: sentinel-password}
  readReplicas: true
database:
  driver: postgres
  existingSecret: {name: studio-db, key: database-url}
alerting:
  rules: |
    rules:
      - {name: RedisDown, expr: redis_up == 0, for: 15s, severity: critical, summary: Redis is unreachable}
settings:
  monitorInterval: 200ms
  l1TTL: 100ms
`, strings.Join(topo.SentinelAddrs(), ", "), topo.MasterName())
	manifest, err := charttest.Template(ctx, charttest.Options{Values: []string{values}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := charttest.Decode(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(manifest, admin) || strings.Contains(manifest, dbURL) || strings.Contains(manifest, redisPass) {
		t.Fatal("a secret value reached the rendering")
	}
	configMaps := map[string]map[string]string{}
	for _, cm := range objs.ConfigMaps {
		configMaps[cm.Name] = cm.Data
	}
	podEnv := func(name string) []string {
		env, err := charttest.Pod{
			Secrets: map[string]map[string]string{
				"studio-admin": {"admin-token": admin},
				"studio-db":    {"database-url": dbURL},
				"studio-redis": {"password": redisPass, "sentinel-password": redisPass},
			},
			ConfigMaps: configMaps,
			Fields:     map[string]string{"metadata.name": name},
			Root:       t.TempDir(),
		}.Env(objs.Deployment.Spec.Template.Spec, "studio")
		if err != nil {
			t.Fatalf("the pod's environment: %v", err)
		}
		// A free loopback port instead of the container's :8080.
		for i, kv := range env {
			if strings.HasPrefix(kv, "STUDIO_ADDR=") {
				env[i] = "STUDIO_ADDR=127.0.0.1:0"
			}
		}
		return env
	}
	envA, envB := podEnv("studio-7c9d5f6b8-qx2lz"), podEnv("studio-7c9d5f6b8-w4k7p")
	t.Logf("environment from the chart: %s", envNames(envA))
	a, b := startDeployChild(t, ctx, envA, "serve"), startDeployChild(t, ctx, envB, "serve")
	a.waitListening(t)
	b.waitListening(t)

	w := &deployWorkload{admin: admin, a: a.base, b: b.base}
	for range 20 {
		if err := w.createAndValidate(ctx); err != nil {
			t.Fatalf("before the drill: %v", err)
		}
	}

	// The fault and the workload, with the killed master brought back
	// once the Sentinels have replaced it, as its StatefulSet would.
	old, err := topo.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() {
		if _, err := topo.WaitMasterChange(ctx, old); err != nil {
			restarted <- err
			return
		}
		restarted <- old.Restart(ctx)
	}()
	drill := startDeployChild(t, ctx, envA, "drill", "failover", "--fault", "kill", "--json", "--warmup", "2s", "--settle", "2s")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				_ = w.createAndValidate(ctx) // counted; failures are allowed while Redis fails over
			}
		}()
	}
	drillErr := drill.wait(3 * time.Minute)
	close(stop)
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatalf("restart the killed master: %v", err)
	}
	if drillErr != nil {
		t.Fatalf("studio drill failover: %v\nstdout:\n%s\nstderr (tail):\n%s", drillErr, drill.stdout, tail(drill.stderr.String(), 30))
	}
	var report struct {
		Reports []struct {
			Recovered          bool    `json:"recovered"`
			Rejoined           bool    `json:"rejoined"`
			MasterBefore       string  `json:"master_before"`
			MasterAfter        string  `json:"master_after"`
			ValidationsFailed  int64   `json:"validations_failed"`
			CreatesLost        int64   `json:"creates_lost"`
			WriteUnavailableMS float64 `json:"write_unavailable_ms"`
		} `json:"reports"`
	}
	if err := json.Unmarshal([]byte(drill.stdout.String()), &report); err != nil || len(report.Reports) != 1 {
		t.Fatalf("drill output is not one JSON report (%v):\n%s", err, drill.stdout)
	}
	r := report.Reports[0]
	t.Logf("drill: master %s → %s, write unavailability %.0f ms, drill validations failed %d, creates lost %d, old master rejoined %v",
		r.MasterBefore, r.MasterAfter, r.WriteUnavailableMS, r.ValidationsFailed, r.CreatesLost, r.Rejoined)
	t.Logf("during the failover window: %s", w.counts())
	if !r.Recovered || r.MasterAfter == "" || r.MasterAfter == r.MasterBefore || r.MasterBefore != old.Addr() || r.CreatesLost != 0 {
		t.Fatalf("the drill did not report a clean recovery: %+v", r)
	}

	// After recovery: both instances follow the master the Sentinels
	// name now (on a loaded machine they may fail over a second time,
	// from the drill's new master to another replica, before this point:
	// following that is what is asked of Studio), and every create and
	// validation on both succeeds — the sessions created during the
	// failover window included.
	for _, base := range []string{a.base, b.base} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, _, _ := snapshotTopology(t, base, admin)
			now, err := topo.Master(ctx)
			if err == nil && m == now.Addr() {
				break
			}
			if time.Now().After(deadline) {
				var want string
				if now != nil {
					want = now.Addr()
				}
				t.Fatalf("%s never showed the Sentinels' master %q (%v; the drill's new master was %s; Studio shows %q)", base, want, err, r.MasterAfter, m)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	after := &deployWorkload{admin: admin, a: b.base, b: a.base}
	for i := range 30 {
		wl := after
		if i%2 == 0 {
			wl = &deployWorkload{admin: admin, a: a.base, b: b.base}
		}
		if err := wl.createAndValidate(ctx); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	for _, tok := range w.tokens() {
		for _, base := range []string{a.base, b.base} {
			if code, _, err := deployCall(ctx, "GET", base+"/v1/session", tok, ""); code != 200 {
				t.Fatalf("after recovery, a session created during the failover does not validate on %s: %d %v", base, code, err)
			}
		}
	}
	t.Logf("after recovery: 30 creates and %d validations on both instances succeeded", 2*(30+len(w.tokens())))

	// SIGTERM: each drains as the chart sets it — /readyz fails at once
	// while requests are still served, which is why the chart has no
	// preStop hook — and stops within the grace period the chart gives.
	grace := time.Duration(*objs.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	tok := w.tokens()[0]
	for _, p := range []*deployProc{a, b} {
		start := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		for {
			code, _, err := deployCall(ctx, "GET", p.base+"/readyz", "", "")
			if code == 503 {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("%s: /readyz answered %d (%v) 1 s after SIGTERM, want 503 while draining", p.base, code, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code, _, err := deployCall(ctx, "GET", p.base+"/v1/session", tok, ""); code != 200 {
			t.Fatalf("%s: a validation during the drain answered %d (%v)", p.base, code, err)
		}
		if err := p.wait(grace); err != nil {
			t.Fatalf("after SIGTERM: %v (grace period %s)\n%s", err, grace, tail(p.stderr.String(), 20))
		}
		t.Logf("stopped %s after SIGTERM in %s (grace period %s)", p.base, time.Since(start).Round(time.Millisecond), grace)
	}
	if out := a.stdout.String() + a.stderr.String() + b.stdout.String() + b.stderr.String(); strings.Contains(out, admin) || strings.Contains(out, dbURL) || strings.Contains(out, redisPass) {
		t.Error("a secret reached the instances' output")
	}
}

// deployProc is a child process running `studio …`.
type deployProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	done           chan error
	base           string
}

func startDeployChild(t *testing.T, ctx context.Context, env []string, args ...string) *deployProc {
	t.Helper()
	p := &deployProc{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestDeployChartSentinel$", deployChild}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// waitListening waits for the listening log line and records the address.
func (p *deployProc) waitListening(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = "http://" + m[1]
			return
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("studio serve exited (%v) before listening:\n%s%s", err, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("studio serve did not listen within 30 s:\n%s%s", p.stdout, p.stderr)
}

// wait waits up to d for the process to exit with status 0.
func (p *deployProc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

// deployWorkload creates sessions through a and validates them through a
// and b, counting outcomes.
type deployWorkload struct {
	admin, a, b string

	mu                          sync.Mutex
	created                     []string
	createOK, createFailed      atomic.Int64
	validateOK, validateFailed  [2]atomic.Int64
	lastCreateErr, lastValidErr atomic.Value
}

var deployToken = regexp.MustCompile(`"token":"([^"]+)"`)

func (w *deployWorkload) createAndValidate(ctx context.Context) error {
	code, body, err := deployCall(ctx, "POST", w.a+"/v1/sessions", w.admin, `{"user_id":"deploy-e2e"}`)
	m := deployToken.FindStringSubmatch(body)
	if code != 201 || m == nil {
		w.createFailed.Add(1)
		e := fmt.Errorf("create on %s: %d %v %s", w.a, code, err, body)
		w.lastCreateErr.Store(e.Error())
		return e
	}
	w.createOK.Add(1)
	w.mu.Lock()
	w.created = append(w.created, m[1])
	w.mu.Unlock()
	for i, base := range []string{w.a, w.b} {
		code, body, err := deployCall(ctx, "GET", base+"/v1/session", m[1], "")
		if code != 200 {
			w.validateFailed[i].Add(1)
			e := fmt.Errorf("validate on %s: %d %v %s", base, code, err, body)
			w.lastValidErr.Store(e.Error())
			return e
		}
		w.validateOK[i].Add(1)
	}
	return nil
}

func (w *deployWorkload) tokens() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.created...)
}

func (w *deployWorkload) counts() string {
	s := fmt.Sprintf("creates %d ok / %d failed; validations on the creating instance %d ok / %d failed, on the other %d ok / %d failed",
		w.createOK.Load(), w.createFailed.Load(), w.validateOK[0].Load(), w.validateFailed[0].Load(), w.validateOK[1].Load(), w.validateFailed[1].Load())
	for _, v := range []any{w.lastCreateErr.Load(), w.lastValidErr.Load()} {
		if v != nil {
			s += "; last failure: " + v.(string)
		}
	}
	return s
}

var deployClient = &http.Client{Timeout: 5 * time.Second}

func deployCall(ctx context.Context, method, url, auth, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := deployClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func envNames(env []string) string {
	names := make([]string, len(env))
	for i, kv := range env {
		names[i], _, _ = strings.Cut(kv, "=")
	}
	return strings.Join(names, " ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
