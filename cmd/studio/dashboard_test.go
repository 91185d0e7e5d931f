package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/studiohq/studio/hotkey"
	"github.com/studiohq/studio/internal/redistest"
)

// chromiumPath is the system Chromium the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// headlessFlags are the flags the browser tests start Chromium with.
func headlessFlags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	}
}

// newBrowser starts the system Chromium, headless, for the test. A missing
// Chromium fails the test: the browser tests are part of the suite.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard browser test needs Chromium at %s (Debian: apt-get install chromium; .ci/run installs it): %v", chromiumPath, err)
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir())}, headlessFlags()...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// artifactDir is where the test keeps its screenshots: $STUDIO_TEST_ARTIFACTS
// or a temporary directory (logged).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("STUDIO_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// pageEval evaluates expr in the page.
func pageEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitPage polls expr in the page until it is truthy.
func waitPage(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	if err := chromedp.Do(pctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("the page never showed %s (%s): %v", what, expr, err)
	}
}

// TestDashboardInChromium runs `studio serve` on a real Sentinel topology
// with validation traffic, opens the dashboard in headless Chromium through
// the login link, and checks that the page agrees with /health/redis, that
// the charts have points, that a hammered session shows as a hot key, that
// a fired alert shows, and that a failover shows in the topology panel with
// the write gap Studio saw. It checks the layout: chart legends show the
// latest values before any hover, the hot key's cell keeps one line wide
// enough for the key, and no grid has an empty cell at 390, 1280, 1440
// and 1920 px. It keeps screenshots, and prints the time from navigation
// to first data and the stream's bytes per minute.
func TestDashboardInChromium(t *testing.T) {
	bctx := newBrowser(t)
	topo := redistest.StartSentinel(t)
	const admin = "dash-admin-44df8d5794acfab28f04a1a96fb30d13da30cd4d2d77c0cc"
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - name: DashboardClients
    expr: connected_clients > 0
    severity: info
    summary: '{{ humanize $value }} clients connected'
    runbook_url: docs/runbooks/redis-connections-near-limit.md
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":      admin,
		"REDIS_SENTINELS":         strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME":       topo.MasterName(),
		"STUDIO_MONITOR_INTERVAL": "500ms",
		"STUDIO_HOTKEY_THRESHOLD": "50",
		"STUDIO_L1_TTL":           "200ms",
		"STUDIO_ALERT_RULES":      rules,
		"STUDIO_INSTANCE_ID":      "studio-dash",
		"DATABASE_URL":            "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	})

	// Traffic: twenty sessions validated in turn, and one hammered.
	var toks []string
	for i := range 20 {
		toks = append(toks, createToken(t, srv.base, admin, fmt.Sprintf("dash-%d", i)))
	}
	hot := createToken(t, srv.base, admin, "hot-user")
	sum := sha256.Sum256([]byte(hot))
	hotKey := hotkey.DisplayKey("studio:s:" + hex.EncodeToString(sum[:]))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var validated atomic.Int64
	traffic := func(pick func(i int) string, pause time.Duration) {
		defer wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", srv.base+"/v1/session", nil)
			req.Header.Set("Authorization", "Bearer "+pick(i))
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				validated.Add(1)
			}
			time.Sleep(pause)
		}
	}
	wg.Add(2)
	go traffic(func(i int) string { return toks[i%len(toks)] }, 5*time.Millisecond)
	go traffic(func(int) string { return hot }, 2*time.Millisecond)
	defer func() { close(stop); wg.Wait() }()

	// A second page-like client counts the stream's bytes meanwhile.
	streamBytes := make(chan [2]int, 1)
	go func() { streamBytes <- countStream(t, srv.base, admin, 12*time.Second) }()

	// Log in through the link `studio up` prints.
	start := time.Now()
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(dashboardLoginURL(srv.base, admin)),
	); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != srv.base+"/studio/redis" {
		t.Fatalf("after login the page is %s, want %s/studio/redis (the token dropped from the address)", loc, srv.base)
	}
	waitPage(t, bctx, "first data", `window.__studio && window.__studio.frames > 0`, 15*time.Second)
	firstData := pageEval[float64](t, bctx, `window.__studio.firstDataMs`)
	wallFirst := time.Since(start)
	if c := pageEval[string](t, bctx, `document.cookie`); c != "" {
		t.Errorf("the page's script can read cookies %q: the session cookie must be HttpOnly", c)
	}
	if m := pageEval[string](t, bctx, `window.__studio.mode`); m != "live" {
		t.Errorf("connection mode %q, want live (SSE)", m)
	}

	// The cards agree with the Snapshot.
	type snap struct {
		Status string `json:"status"`
		Redis  struct {
			Mode      string `json:"mode"`
			Sentinels []any  `json:"sentinels"`
		} `json:"redis"`
		Cache struct {
			HitRate float64 `json:"hit_rate"`
		} `json:"cache"`
		Topology struct {
			Master string `json:"master"`
		} `json:"topology"`
	}
	var agreed bool
	var last string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		_, body := send(t, "GET", srv.base+"/health/redis", admin, "")
		var s snap
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		page := pageEval[map[string]any](t, bctx, `({
			status: document.getElementById('banner').dataset.status,
			mode: document.getElementById('mode').dataset.raw,
			sentinels: Number(document.getElementById('topo-sentinel-count').dataset.raw),
			hit: Number(document.getElementById('v-hit-rate').dataset.raw),
			hitText: document.getElementById('v-hit-rate').textContent,
			master: document.getElementById('topo-master').dataset.raw,
		})`)
		last = fmt.Sprintf("page %v; snapshot status %s mode %s sentinels %d hit %.3f master %s", page, s.Status, s.Redis.Mode, len(s.Redis.Sentinels), s.Cache.HitRate, s.Topology.Master)
		hit, _ := page["hit"].(float64)
		if page["status"] == s.Status && page["mode"] == "sentinel" && s.Redis.Mode == "sentinel" &&
			page["sentinels"] == 3.0 && len(s.Redis.Sentinels) == 3 && math.Abs(hit-s.Cache.HitRate) < 0.05 &&
			strings.HasSuffix(page["hitText"].(string), " %") && page["master"] == s.Topology.Master && s.Topology.Master != "" {
			agreed = true
			break
		}
	}
	if !agreed {
		t.Fatalf("the cards never agreed with /health/redis: %s", last)
	}
	t.Log("cards agree: ", last)

	// The charts have points.
	waitPage(t, bctx, "latency points", `(function(){ var d = window.__studio.charts.latency && window.__studio.charts.latency.data;
		return d && d[0].length >= 2 && d[3].some(function (v) { return v > 0; }); })()`, 10*time.Second)
	points := pageEval[float64](t, bctx, `window.__studio.charts.latency.data[0].length`)
	checkLegends(t, bctx)

	// The hammered session is a hot key, in its display form only.
	waitPage(t, bctx, "the hot key "+hotKey, fmt.Sprintf(`!!document.querySelector('#hotkeys-body tr[data-key=%q]')`, hotKey), 15*time.Second)
	if html := pageEval[string](t, bctx, `document.documentElement.outerHTML`); strings.Contains(html, hot) || strings.Contains(html, hex.EncodeToString(sum[:])) {
		t.Fatal("a raw session token or its full hash reached the page")
	}
	// A page opened now draws the hot key's trend at once, from the
	// history event (the monitor's samples), not one point per frame.
	rowSpark := fmt.Sprintf(`(function(){ var s = document.querySelector('#hotkeys-body tr[data-key=%q] .spark'); return s ? s.textContent.length : 0; })()`, hotKey)
	waitPage(t, bctx, "three frames of the hot key", rowSpark+" >= 3", 15*time.Second)
	checkHotKeyCell(t, bctx, hotKey)
	if err := chromedp.Do(bctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the hot key after a reload", rowSpark+" > 0", 15*time.Second)
	if n := pageEval[float64](t, bctx, rowSpark); n < 3 {
		t.Fatalf("after a reload the hot key's trend has %v points at its first frame, want the server's recent samples (3 or more)", n)
	}

	// The rule fired and shows, with its runbook.
	waitPage(t, bctx, "the fired alert", `!!document.querySelector('#alerts-firing li[data-name="DashboardClients"] a[href$="/docs/runbooks/redis-connections-near-limit.md"]')`, 15*time.Second)

	// Kill the master: the topology panel follows the failover.
	old, err := topo.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	newMaster, err := topo.WaitMasterChange(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the new master "+newMaster.Addr(), fmt.Sprintf(`document.getElementById('topo-master').dataset.raw === %q &&
		document.getElementById('topo-failover').dataset.raw === %q`, newMaster.Addr(), newMaster.Addr()), 20*time.Second)
	shown := time.Since(killed)
	// The line names the write gap Studio's commands saw, then the
	// Sentinels' detection → switch time, each for what it is.
	waitPage(t, bctx, "the measured write gap", `(function () { var g = document.getElementById('topo-write-gap');
		return g && g.dataset.status === 'measured'; })()`, 20*time.Second)
	failoverText := pageEval[string](t, bctx, `document.getElementById('topo-failover').textContent`)
	gapText := pageEval[string](t, bctx, `document.getElementById('topo-write-gap').textContent`)
	if !writeGapLine.MatchString(gapText) {
		t.Errorf("the failover line %q does not name the write gap (want %s)", gapText, writeGapLine)
	}
	checkGrids(t, bctx, 1280)

	// Keep a screenshot.
	time.Sleep(1500 * time.Millisecond) // a few more points on the charts
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := artifactDir(t)
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("STUDIO_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The phone layout too.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if phone, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "dashboard-phone.png"), phone, 0o644)
	}
	if overflow := pageEval[bool](t, bctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); overflow {
		t.Errorf("on a 390 px wide phone the page scrolls sideways")
	}
	checkGrids(t, bctx, 390)
	for _, w := range []int64{1440, 1920} {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(w, 1000)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		checkGrids(t, bctx, w)
		if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("dashboard-%d.png", w)), png, 0o644)
		}
	}

	// Light/dark: the toggle cycles auto → dark → light.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Click("#theme")); err != nil {
		t.Fatal(err)
	}
	if th := pageEval[string](t, bctx, `document.documentElement.getAttribute('data-theme') || 'auto'`); th != "dark" {
		t.Errorf("after one click on the theme button the theme is %q, want dark", th)
	}

	// The charts with an hour of one-second points: time setData on every
	// chart in the page (printed, not asserted).
	// The point count is read in the same evaluation: a live frame may
	// redraw the charts from the page's own buffer a moment later.
	drawn := pageEval[map[string]float64](t, bctx, `(function () {
		var n = 3600, now = Date.now() / 1000, t0 = performance.now();
		Object.keys(window.__studio.charts).forEach(function (id) {
			var c = window.__studio.charts[id], cols = [[]];
			for (var s = 1; s < c.data.length; s++) cols.push([]);
			for (var i = 0; i < n; i++) {
				cols[0].push(now - n + i);
				for (var s = 1; s < cols.length; s++) cols[s].push(Math.random() * 10);
			}
			c.setData(cols);
		});
		return {ms: performance.now() - t0, points: window.__studio.charts.latency.data[0].length};
	})()`)
	chartMS := drawn["ms"]
	if pts := drawn["points"]; pts != 3600 {
		t.Errorf("latency chart holds %.0f points after setData with 3600", pts)
	}

	// The polling fallback: a second tab whose event stream is blocked
	// still gets data, by polling /data.
	tab, cancelTab := chromedp.NewContext(bctx)
	defer cancelTab()
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{
		{URLPattern: "*://*:*/studio/redis/events", Block: true},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(srv.base+"/studio/redis")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, tab, "data by polling with the stream blocked", `window.__studio && window.__studio.mode === 'polling' && window.__studio.frames > 0`, 20*time.Second)

	sb := <-streamBytes
	t.Logf("MEASURED setData of 3600 points on every chart: %.1f ms", chartMS)
	t.Logf("screenshot: %s", shot)
	t.Logf("time from navigation (login link) to first data: %.0f ms in the page (Performance API), %v wall clock incl. browser start-up of the tab",
		firstData, wallFirst.Round(time.Millisecond))
	t.Logf("charts: %.0f latency points; failover shown in the topology panel %v after the kill: %q", points, shown.Round(time.Millisecond), failoverText)
	t.Logf("stream: history event %d B once, then %d B/min of snapshot events per page (%d validations sent)", sb[0], sb[1], validated.Load())
}

// writeGapLine is what the failover line must say: the write gap first,
// then the Sentinels' detection → switch time, both with their unit.
var writeGapLine = regexp.MustCompile(`^Writes unavailable \d+(\.\d+)? s\b.*Sentinel detection → switch \d+(\.\d+)? s$`)

// checkLegends asserts that, with no cursor over the charts, every chart's
// legend shows the latest values (a number, or "no limit" for an unset
// maxmemory), not uPlot's "--" or the page's "–".
func checkLegends(t *testing.T, ctx context.Context) {
	t.Helper()
	legends := pageEval[map[string][]string](t, ctx, `(function () {
		var out = {};
		Object.keys(window.__studio.charts).forEach(function (id) {
			var c = window.__studio.charts[id];
			out[id] = Array.prototype.map.call(c.root.querySelectorAll('.u-legend .u-value'), function (e) { return e.textContent.trim(); });
		});
		return out;
	})()`)
	if len(legends) != 5 {
		t.Errorf("legends of %d charts, want 5: %v", len(legends), legends)
	}
	for id, vals := range legends {
		if len(vals) < 2 {
			t.Errorf("chart %s: legend values %q, want the time and every series", id, vals)
		}
		for _, v := range vals {
			if v == "--" || v == "–" || v == "" || !strings.ContainsAny(v, "0123456789") && v != "no limit" {
				t.Errorf("chart %s: legend %q before any hover, want the latest values", id, vals)
				break
			}
		}
	}
	t.Logf("legends before any hover: %v", legends)
}

// checkHotKeyCell asserts that the hot key's cell shows the display key
// on one line, at least 16 characters wide, with the whole key in a
// title.
func checkHotKeyCell(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	m := pageEval[map[string]any](t, ctx, fmt.Sprintf(`(function () {
		var td = document.querySelector('#hotkeys-body tr[data-key=%q]').cells[1], cs = getComputedStyle(td);
		var rg = document.createRange(); rg.selectNodeContents(td);
		var r = rg.getBoundingClientRect(), titled = td.querySelector('[title]');
		return {width: r.width, height: r.height, font: parseFloat(cs.fontSize), text: td.textContent,
			title: titled ? titled.title : '', clipped: titled ? titled.scrollWidth > titled.clientWidth : false};
	})()`, key))
	width, height, font := m["width"].(float64), m["height"].(float64), m["font"].(float64)
	const minChars = 16
	if width < minChars*0.55*font {
		t.Errorf("hot key cell %.0f px wide at a %.1f px font: narrower than %d characters (%v)", width, font, minChars, m)
	}
	if height > 1.7*font {
		t.Errorf("hot key %q wraps: its text is %.0f px high at a %.1f px font (%v)", key, height, font, m)
	}
	if m["text"] != key || m["title"] != key || m["clipped"] == true {
		t.Errorf("hot key cell %v, want %q in full and in its title", m, key)
	}
	t.Logf("hot key cell: %.0f×%.0f px at a %.1f px font for %q", width, height, font, key)
}

// checkGrids asserts that no grid of the page (cards, charts, panels) has
// an empty cell at the current width: every cell of every track is under
// one of the grid's items.
func checkGrids(t *testing.T, ctx context.Context, width int64) {
	t.Helper()
	grids := pageEval[map[string]map[string]any](t, ctx, `(function () {
		var out = {};
		['.cards', '.charts', '.panels'].forEach(function (sel) {
			var g = document.querySelector(sel), cs = getComputedStyle(g), r = g.getBoundingClientRect();
			var cols = cs.gridTemplateColumns.split(' ').map(parseFloat), rows = cs.gridTemplateRows.split(' ').map(parseFloat);
			var cg = parseFloat(cs.columnGap) || 0, rgap = parseFloat(cs.rowGap) || 0;
			var items = Array.prototype.map.call(g.children, function (c) { return c.getBoundingClientRect(); });
			var empty = [], y = r.top + parseFloat(cs.paddingTop) + parseFloat(cs.borderTopWidth);
			rows.forEach(function (h, ri) {
				var x = r.left + parseFloat(cs.paddingLeft) + parseFloat(cs.borderLeftWidth);
				cols.forEach(function (w, ci) {
					var cx = x + w / 2, cy = y + h / 2;
					if (!items.some(function (k) { return cx >= k.left && cx <= k.right && cy >= k.top && cy <= k.bottom; })) {
						empty.push('row ' + (ri + 1) + ' column ' + (ci + 1));
					}
					x += w + cg;
				});
				y += h + rgap;
			});
			out[sel] = {columns: cols.length, rows: rows.length, empty: empty};
		});
		return out;
	})()`)
	for sel, g := range grids {
		if e, _ := g["empty"].([]any); len(e) > 0 {
			t.Errorf("at %d px the %s grid (%v columns, %v rows) has empty cells: %v", width, sel, g["columns"], g["rows"], e)
		}
	}
	t.Logf("grids at %d px: %v", width, grids)
}

// countStream logs in like a page and reads the event stream for d,
// returning the bytes of the initial history event and the snapshot bytes
// per minute after it.
func countStream(t *testing.T, base, admin string, d time.Duration) [2]int {
	jar := &cookieJar{}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/studio/redis/login?token=" + url.QueryEscape(admin))
	if err != nil {
		t.Error(err)
		return [2]int{}
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/studio/redis/events", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Error(err)
		return [2]int{}
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var hist, snaps int
	var first time.Time
	inHistory := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		switch {
		case line == "event: history\n":
			inHistory = true
		case line == "event: snapshot\n":
			inHistory = false
			if first.IsZero() {
				first = time.Now()
				continue
			}
		}
		if inHistory {
			hist += len(line)
		} else if !first.IsZero() {
			snaps += len(line)
		}
	}
	secs := time.Since(first).Seconds()
	if secs <= 0 {
		return [2]int{hist, 0}
	}
	return [2]int{hist, int(float64(snaps) / secs * 60)}
}

// cookieJar keeps the cookies of one host (enough for one test server).
type cookieJar struct {
	mu sync.Mutex
	cs []*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	j.cs = append(j.cs, cs...)
	j.mu.Unlock()
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cs
}

// processCPU returns the CPU time (user + system) this process has used,
// from /proc/self/stat (in clock ticks of 10 ms).
func processCPU(tb testing.TB) time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at state.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkDashboard50Pages measures the process CPU of `studio serve`
// (run in this process, on a real Redis, with ~150 validations/s of
// traffic) with no dashboard page open, then with 50 open event streams
// (each a page that logged in), in the same run, and the bytes each stream
// receives per minute. The test process also runs the traffic and the 50
// readers, so the difference is an upper bound of the dashboard's cost.
//
//	go test -run '^$' -bench Dashboard50Pages -benchtime 1x ./cmd/studio/
func BenchmarkDashboard50Pages(b *testing.B) {
	rs := redistest.Start(b)
	const admin = "bench-admin-49ee37b19b5ed1af3009ab2b7b6739b5bbf221e7dd5147ec"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(b, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN": admin,
		"REDIS_URL":          rs.URL(),
		"DATABASE_URL":       "sqlite:" + filepath.Join(b.TempDir(), "studio.db"),
	})
	var toks []string
	for i := range 20 {
		req, _ := http.NewRequest("POST", srv.base+"/v1/sessions", strings.NewReader(fmt.Sprintf(`{"user_id":"b%d"}`, i)))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		toks = append(toks, body.Token)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", srv.base+"/v1/session", nil)
			req.Header.Set("Authorization", "Bearer "+toks[i%len(toks)])
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	const window = 20 * time.Second
	measure := func() float64 {
		c0, t0 := processCPU(b), time.Now()
		time.Sleep(window)
		return float64(processCPU(b)-c0) / float64(time.Since(t0))
	}
	time.Sleep(2 * time.Second) // warm up
	b.ResetTimer()
	base := measure()

	const pages = 50
	sctx, scancel := context.WithCancel(ctx)
	var bytes atomic.Int64
	var swg sync.WaitGroup
	for range pages {
		jar := &cookieJar{}
		client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(srv.base + "/studio/redis/login?token=" + url.QueryEscape(admin))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		req, _ := http.NewRequestWithContext(sctx, "GET", srv.base+"/studio/redis/events", nil)
		resp, err = client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("stream: %v %v", err, resp)
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			defer resp.Body.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := resp.Body.Read(buf)
				bytes.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(2 * time.Second) // every history event sent
	b0 := bytes.Load()
	with := measure()
	perMin := float64(bytes.Load()-b0) / pages / window.Minutes()
	scancel()
	swg.Wait()
	b.StopTimer()
	b.ReportMetric(100*base, "cpu%_0pages")
	b.ReportMetric(100*with, "cpu%_50pages")
	b.ReportMetric(perMin, "B/min/page")
	b.Logf("process CPU (of one core): %.2f %% with no page, %.2f %% with %d open pages (+%.2f %%); %.0f B/min per page (%.1f KiB)",
		100*base, 100*with, pages, 100*(with-base), perMin, perMin/1024)
}
