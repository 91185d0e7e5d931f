//go:build soak

package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/loadgen"
)

// The shape of the soak. Every figure the verdict uses is defined here.
const (
	defaultDuration = 10 * time.Minute // SOAK_DURATION overrides it
	sampleEvery     = 10 * time.Second // /metrics sampling period (shorter for short soaks: window/60)
	warmupFraction  = 0.2              // share of the soak's samples discarded as warm-up
	edgeFraction    = 0.1              // start and end: medians of the first and last tenth of the rest

	capacityDuration = 15 * time.Second // the closed-loop capacity run
	capacityConns    = 32               // its workers (and connections)
	soakWorkers      = 64               // open-loop workers: room for stalls at half capacity
	sessions         = 1000             // loadgen's session pool, per run

	// Limits. A series passes when its least-squares growth projected
	// over the whole soak window (slope × window) stays under:
	heapFraction   = 0.10    // live heap: 10 % of its median…
	heapFloor      = 2 << 20 // …or 2 MiB, whichever is larger
	rssFraction    = 0.10    // RSS: 10 % of its median
	goroutineDrift = 5       // goroutines: |end − start| and |projected| ≤ 5
	fdDrift        = 10      // open files: |end − start| and |projected| ≤ 10
	notSentMax     = 0.01    // the open loop must send ≥ 99 % of its schedule

	adminToken = "soak-admin-c6d3d33c8dab8ed181cd09af1ea235275f6e403917af4a15"

	// serverGOGC is the server's GC target: studio serve's own default
	// (cmd/studio defaultGCPercent), set explicitly so the live heap can be
	// derived from the GC's heap goal.
	serverGOGC = 400
)

var mix = loadgen.Mix{Validate: 90, Create: 5, Revoke: 5}

// The series sampled from the server's /metrics (Prometheus Go and
// process collectors).
var series = []struct {
	metric, name string
	bytes        bool
}{
	// The live heap, derived (no metric): the GC's heap goal ÷ (1 +
	// GOGC/100), the heap that survived the last collection. Heap in use
	// saw-tooths with the GC cycle, by a factor of 1 + GOGC/100, which
	// buries a slow leak in noise; the live heap does not.
	{"", "live heap (GC heap goal ÷ 5)", true},
	{"process_resident_memory_bytes", "RSS", true},
	{"go_goroutines", "goroutines", false},
	{"process_open_fds", "open fds", false},
	// Informational, no limit.
	{"go_memstats_next_gc_bytes", "GC heap goal", true},
	{"go_memstats_heap_inuse_bytes", "heap in use", true},
}

func TestSoak(t *testing.T) {
	window := defaultDuration
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 30*time.Second {
			t.Fatalf("SOAK_DURATION=%q: want a duration of at least 30s", s)
		}
		window = d
	}

	bin := buildStudio(t)
	rs := redistest.Start(t)
	srv := startStudio(t, bin, map[string]string{
		"STUDIO_ADDR":        "127.0.0.1:0",
		"STUDIO_ADMIN_TOKEN": adminToken,
		"REDIS_URL":          rs.URL(),
		"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
		"GOGC":               strconv.Itoa(serverGOGC),
	})
	t.Logf("studio serve (pid %d) at %s, redis %s", srv.cmd.Process.Pid, srv.base, rs.Addr())
	ctx := t.Context()

	// 1. Capacity: a closed loop as fast as the server answers.
	// The lean client, as studio bench uses by default.
	capTarget := &loadgen.HTTPTarget{Base: srv.base, AdminToken: adminToken, Raw: true}
	capRes, err := loadgen.Run(ctx, loadgen.Options{
		Target:      capTarget,
		Concurrency: capacityConns,
		Duration:    capacityDuration,
		Sessions:    sessions,
		Zipf:        loadgen.DefaultZipf,
		Mix:         mix,
	})
	if err != nil {
		t.Fatalf("capacity run: %v", err)
	}
	t.Logf("capacity run:\n%s", table(capRes))
	capacity := capRes.Total.OpsPerSec
	if capacity < 10 {
		t.Fatalf("capacity %.1f ops/s: too low to soak", capacity)
	}
	rate := math.Round(capacity / 2)
	every := min(sampleEvery, window/60)
	// Close the capacity run's connections now, or their server-side
	// goroutines and sockets would vanish 90 s into the soak (the client's
	// idle timeout) and read as a fall.
	capTarget.CloseIdleConnections()
	time.Sleep(5 * time.Second) // let the server's connections and garbage settle

	// 2. The soak: an open loop at half the capacity, sampled every 10 s
	// (window/60 for soaks shorter than 10 minutes).
	t.Logf("soak: open loop at %.0f ops/s (half of %.0f) for %s, mix %s, sampling every %s", rate, capacity, window, mix, every)
	var (
		mu      sync.Mutex
		samples []sample
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	start := time.Now()
	take := func() {
		s, err := scrape(ctx, srv.base)
		if err != nil {
			t.Errorf("sample at %s: %v", time.Since(start).Round(time.Second), err)
			return
		}
		s.at = time.Since(start)
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
		t.Logf("sample %6s  live heap %7.2f MiB  rss %7.2f MiB  goroutines %4.0f  fds %4.0f  gc goal %7.2f MiB  heap in use %7.2f MiB",
			s.at.Round(time.Second), s.v[0]/(1<<20), s.v[1]/(1<<20), s.v[2], s.v[3], s.v[4]/(1<<20), s.v[5]/(1<<20))
	}
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		take()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				take()
			}
		}
	})
	res, err := loadgen.Run(ctx, loadgen.Options{
		Target:           &loadgen.HTTPTarget{Base: srv.base, AdminToken: adminToken, Raw: true},
		Concurrency:      soakWorkers,
		Rate:             rate,
		Duration:         window,
		Sessions:         sessions,
		Zipf:             loadgen.DefaultZipf,
		Mix:              mix,
		ProgressInterval: time.Minute,
		OnProgress: func(p loadgen.Progress) {
			t.Logf("progress: %s %s/%s, %d ops, %d errors, %.0f ops/s", p.Phase, p.Elapsed.Round(time.Second), p.Length, p.Done, p.Errors, p.OpsPerSec)
		},
	})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("soak run: %v", err)
	}
	t.Logf("soak run:\n%s", table(res))

	// 3. The verdict.
	mu.Lock()
	defer mu.Unlock()
	rep := analyse(samples, window)
	t.Logf("samples (every %s; the first %.0f %%, before %s, are warm-up):\n%s", every, warmupFraction*100, rep.cut.Round(time.Second), samplesTable(samples))
	t.Logf("summary over %d samples from %s to %s (start, end: medians of the first and last tenth; slope: least squares), growth projected over %s:\n%s",
		rep.kept, rep.from.Round(time.Second), rep.to.Round(time.Second), window, rep.markdown())
	t.Logf("load: capacity %.0f ops/s (closed loop, %d conns, %s); soak at %.0f ops/s for %s: achieved %.1f ops/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, errors %d, not sent %d, revoked accepted %d (re-checked %d)",
		capacity, capacityConns, capacityDuration, rate, window, res.Schedule.AchievedRate,
		res.Total.P50US/1e3, res.Total.P99US/1e3, res.Total.P999US/1e3, res.Total.MaxUS/1e3,
		res.Total.Errors, res.Schedule.NotSent, res.RevokedAccepted, res.RevokedChecked)

	failed := false
	fail := func(format string, args ...any) {
		failed = true
		t.Errorf(format, args...)
	}
	for _, r := range rep.rows {
		if !r.ok {
			fail("%s grew beyond noise: %s", r.name, r.why)
		}
	}
	if res.RevokedAccepted != 0 {
		fail("%d revoked sessions were accepted", res.RevokedAccepted)
	}
	if res.Total.Errors != 0 {
		fail("%d operations failed: validate %v, create %v, revoke %v", res.Total.Errors,
			res.Validate.ErrorKinds, res.Create.ErrorKinds, res.Revoke.ErrorKinds)
	}
	if s := res.Schedule; float64(s.NotSent) > notSentMax*float64(s.Intended) {
		fail("the open loop fell behind: %d of %d operations not sent", s.NotSent, s.Intended)
	}
	if len(samples) < 5 {
		fail("only %d samples", len(samples))
	}
	verdict := "PASS"
	if failed {
		verdict = "FAIL"
	}
	t.Logf("VERDICT %s", verdict)

	// 4. The server must still shut down cleanly.
	if err := srv.stop(); err != nil {
		t.Errorf("studio serve did not stop cleanly: %v; stderr:\n%s", err, srv.stderr.String())
	}
}

// buildStudio builds cmd/studio into a temporary directory.
func buildStudio(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // `go test` puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "studio")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, "github.com/studiohq/studio/cmd/studio")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/studio: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// server is a `studio serve` child process.
type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *tail
	waited chan error
	once   sync.Once
	err    error
}

// startStudio runs `bin serve` with env added to the test's environment,
// and returns once it logs its listening address. The last 64 KiB of its
// JSON log (one line per request, about 1 MB/s at the soak's rate) and of
// its stderr are kept, and shown when the test fails. The process is stopped (SIGTERM, then SIGKILL
// after 15 s) at cleanup.
func startStudio(t *testing.T, bin string, env map[string]string) *server {
	t.Helper()
	addr := make(chan string, 1)
	stdout := &tail{max: 64 << 10}
	w := &watch{out: stdout, re: listening, found: addr}

	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s := &server{cmd: cmd, stderr: &tail{max: 64 << 10}, waited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = w, s.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start studio serve: %v", err)
	}
	go func() { s.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.stop()
		if t.Failed() {
			t.Logf("studio serve, last lines of its log:\n%s", lastLines(stdout.String(), 20))
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.waited:
		s.waited <- err
		t.Fatalf("studio serve exited before listening: %v\nstderr:\n%s\nlog:\n%s", err, s.stderr.String(), lastLines(stdout.String(), 20))
	case <-time.After(60 * time.Second):
		t.Fatalf("studio serve did not log its address in 60s\nstderr:\n%s\nlog:\n%s", s.stderr.String(), lastLines(stdout.String(), 20))
	}
	return s
}

// stop sends SIGTERM and waits up to 15 s for a clean exit, then kills.
// It returns the exit error; later calls return the same.
func (s *server) stop() error {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case s.err = <-s.waited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.waited
			s.err = errors.New("no exit 15s after SIGTERM: killed")
		}
	})
	return s.err
}

// watch copies a child's stdout to out and sends the first submatch of re
// on found; it stops matching once found.
type watch struct {
	out   io.Writer
	re    *regexp.Regexp
	found chan<- string
	mu    sync.Mutex
	buf   []byte
	done  bool
}

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	if !w.done {
		w.buf = append(w.buf, p...)
		if m := w.re.FindSubmatch(w.buf); m != nil {
			w.done, w.buf = true, nil
			w.found <- string(m[1])
		} else if len(w.buf) > 1<<20 {
			w.buf = w.buf[len(w.buf)-64<<10:]
		}
	}
	w.mu.Unlock()
	return w.out.Write(p)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = slices.Clone(t.b[len(t.b)-t.max:])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// sample is one scrape of /metrics: the values of series, in order.
type sample struct {
	at time.Duration // since the soak started
	v  [6]float64
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// scrape reads the series from the server's /metrics.
func scrape(ctx context.Context, base string) (sample, error) {
	var s sample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := metricsClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	seen := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		for i, m := range series {
			if m.metric != "" && f[0] == m.metric {
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return s, fmt.Errorf("%s: %v", sc.Text(), err)
				}
				s.v[i] = v
				seen |= 1 << i
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	s.v[0] = s.v[4] / (1 + serverGOGC/100.0)
	for i, m := range series {
		if m.metric != "" && seen&(1<<i) == 0 {
			return s, fmt.Errorf("/metrics has no %s", m.metric)
		}
	}
	return s, nil
}

// report is the analysis of the samples.
type report struct {
	cut, from, to time.Duration
	kept          int
	rows          []row
}

// row is the figures of one series over the kept samples. Start and end
// are the medians of the first and last edgeFraction of them (5 samples,
// 50 s, in a 10-minute soak), so that one sample taken during a burst of
// connections does not decide a drift; slope is the least-squares slope
// per minute over all of them; projected is slope × the soak window.
type row struct {
	name                         string
	bytes                        bool
	start, median, end, min, max float64
	slope, projected, limit      float64
	ok                           bool
	why                          string
}

// analyse discards the samples of the first warmupFraction of the window,
// fits a line to each series over the rest and applies the limits.
func analyse(all []sample, window time.Duration) report {
	rep := report{cut: time.Duration(warmupFraction * float64(window))}
	var kept []sample
	for _, s := range all {
		if s.at >= rep.cut {
			kept = append(kept, s)
		}
	}
	rep.kept = len(kept)
	if len(kept) < 2 {
		for _, m := range series {
			rep.rows = append(rep.rows, row{name: m.name, why: "fewer than 2 samples after the warm-up"})
		}
		return rep
	}
	rep.from, rep.to = kept[0].at, kept[len(kept)-1].at
	mins := window.Minutes()
	for i, m := range series {
		xs, ys := make([]float64, len(kept)), make([]float64, len(kept))
		for j, s := range kept {
			xs[j], ys[j] = s.at.Minutes(), s.v[i]
		}
		k := int(math.Ceil(edgeFraction * float64(len(ys))))
		r := row{name: m.name, bytes: m.bytes, start: median(ys[:k]), end: median(ys[len(ys)-k:]), median: median(ys),
			min: slices.Min(ys), max: slices.Max(ys), slope: slope(xs, ys)}
		r.projected = r.slope * mins
		switch i {
		case 0: // live heap
			r.limit = max(heapFraction*r.median, heapFloor)
			r.ok = r.projected < r.limit
			r.why = fmt.Sprintf("projected %s over %s, limit max(10 %% of median, 2 MiB) = %s", r.fmt(r.projected), window, r.fmt(r.limit))
		case 1: // RSS
			r.limit = rssFraction * r.median
			r.ok = r.projected < r.limit
			r.why = fmt.Sprintf("projected %s over %s, limit 10 %% of median = %s", r.fmt(r.projected), window, r.fmt(r.limit))
		case 2, 3: // goroutines, open fds
			r.limit = goroutineDrift
			if i == 3 {
				r.limit = fdDrift
			}
			r.ok = math.Abs(r.end-r.start) <= r.limit && math.Abs(r.projected) <= r.limit
			r.why = fmt.Sprintf("end − start %+.0f, projected %+.1f over %s, limit ±%.0f", r.end-r.start, r.projected, window, r.limit)
		default: // informational
			r.ok, r.limit = true, math.NaN()
		}
		rep.rows = append(rep.rows, r)
	}
	return rep
}

func (r row) fmt(v float64) string {
	if r.bytes {
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// markdown formats the summary as a Markdown table.
func (rep report) markdown() string {
	var b strings.Builder
	b.WriteString("| series | start | median | end | min | max | slope / min | projected over the window | limit | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.rows {
		v := "pass"
		if !r.ok {
			v = "**FAIL**"
		}
		lim := "< " + r.fmt(r.limit)
		switch {
		case math.IsNaN(r.limit):
			lim, v = "—", "(information)"
		case !r.bytes:
			lim = "±" + r.fmt(r.limit) + " (and end − start)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name,
			r.fmt(r.start), r.fmt(r.median), r.fmt(r.end), r.fmt(r.min), r.fmt(r.max),
			signed(r.fmt(r.slope)), signed(r.fmt(r.projected)), lim, v)
	}
	return b.String()
}

func signed(s string) string {
	if !strings.HasPrefix(s, "-") {
		return "+" + s
	}
	return s
}

func samplesTable(all []sample) string {
	var b strings.Builder
	b.WriteString("     t  live MiB    RSS MiB  goroutines  fds  GC goal MiB  in use MiB\n")
	for _, s := range all {
		fmt.Fprintf(&b, "%6s  %8.2f  %9.2f  %10.0f  %3.0f  %11.2f  %10.2f\n", s.at.Round(time.Second), s.v[0]/(1<<20), s.v[1]/(1<<20), s.v[2], s.v[3], s.v[4]/(1<<20), s.v[5]/(1<<20))
	}
	return b.String()
}

func table(r *loadgen.Result) string {
	var b bytes.Buffer
	_ = r.WriteTable(&b)
	return b.String()
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}
