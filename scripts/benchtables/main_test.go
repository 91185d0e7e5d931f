package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func benchJSON(ops, p50, p99, p999 float64, errs int64) string {
	return fmt.Sprintf(`{"target":"x","mode":"closed","concurrency":32,"duration_s":10,"warmup_s":2,
"validate":{"count":%d,"ok":%d,"errors":%d,"ops_per_sec":%g,"p50_us":%g,"p99_us":%g,"p999_us":%g},
"total":{"count":1}}`, int64(ops*10), int64(ops*10)-errs, errs, ops, p50, p99, p999)
}

// sampleDir writes two rounds of results as scripts/bench.sh does.
func sampleDir(t *testing.T) string {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"started":       "2026-11-29T10:00:00Z",
		"finished":      "2026-11-29T10:04:00Z",
		"nproc":         "2",
		"placement":     "load generator of the HTTP runs on CPUs 0-0; studio serve and the baseline servers on CPUs 1-1",
		"cpu":           "AMD EPYC",
		"loadavg-start": "1.27 2.90 2.86 1/138 3614",
		"loadavg-end":   "3.50 3.00 2.90 2/140 4000",
		"versions":      "Go: go1.26.8 linux/amd64\nredis-server: 7.0.15\n",
		"commands.txt":  "redis-benchmark -p 6400 -t get -n 200000 -c 32 --csv\nbin/studio bench --target redis-get\n",
		"r1-redis-benchmark.csv": `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","98039.22","0.180","0.048","0.167","0.271","0.399","1.887"
`,
		"r2-redis-benchmark.csv": `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","90000.00","0.190","0.048","0.175","0.290","0.450","2.000"
`,
		"r1-redis-get.json":          benchJSON(60000, 450, 1670, 3000, 0),
		"r1-inprocess.json":          benchJSON(1440000, 1.1, 1.8, 20, 0),
		"r1-common.json":             benchJSON(30000, 900, 3000, 5000, 0),
		"r1-empty.json":              benchJSON(14000, 1580, 9700, 45000, 0),
		"r1-http.json":               benchJSON(10000, 2130, 20000, 73000, 0),
		"r1-common-http.json":        benchJSON(8000, 3000, 25000, 80000, 2),
		"r2-redis-get.json":          benchJSON(62000, 456, 2000, 3000, 0),
		"r2-inprocess.json":          benchJSON(636000, 1.0, 1.9, 25, 0),
		"r2-common.json":             benchJSON(31000, 880, 2900, 5000, 0),
		"r2-empty.json":              benchJSON(13000, 1670, 800, 24000, 0),
		"r2-http.json":               benchJSON(11000, 2090, 900, 54000, 0),
		"r2-common-http.json":        benchJSON(8500, 2900, 24000, 70000, 0),
		"r1-empty-open.json":         benchJSON(7000, 90, 400, 1500, 0),
		"r1-http-open.json":          benchJSON(7000, 110, 700, 2500, 0),
		"r2-empty-open.json":         benchJSON(6500, 95, 1200, 3000, 0),
		"r2-http-open.json":          benchJSON(6500, 120, 1500, 4000, 0),
		"r1-empty-open-quarter.json": benchJSON(3500, 70, 300, 900, 0),
		"r1-http-open-quarter.json":  benchJSON(3500, 80, 950, 1800, 0),
		"r2-empty-open-quarter.json": benchJSON(3250, 72, 320, 1000, 0),
		"r2-http-open-quarter.json":  benchJSON(3250, 85, 880, 2000, 0),
	} {
		writeFile(t, filepath.Join(dir, name), text)
	}
	return dir
}

func TestRender(t *testing.T) {
	in, err := load(sampleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Rounds) != 2 {
		t.Fatalf("%d rounds, want 2", len(in.Rounds))
	}
	md := render(in)
	for _, want := range []string{
		"2 rounds of 11 targets",
		"32 connections/workers, closed loop unless marked open loop, `--mix validate=1`, 10 s measured after 2 s warm-up",
		"| CPUs (`nproc`) | 2 |",
		"| CPU model | AMD EPYC |",
		"| CPU placement | load generator of the HTTP runs on CPUs 0-0; studio serve and the baseline servers on CPUs 1-1 |",
		"| load average (1, 5, 15 min) at the start | 1.27 2.90 2.86 |",
		"| … at the end | 3.50 3.00 2.90 |",
		"| redis-server | 7.0.15 |",
		"| target | round | validations/s | p50 | p99 | p99.9 | errors |",
		"| `redis-benchmark` GET (C client, 32 connections): Redis's own ceiling | 1 | 98 039 | 167 µs | 399 µs | — | — |",
		"| bare go-redis GET (`--target redis-get`) | 2 | 62 000 | 456 µs | 2.00 ms | 3.00 ms | 0 |",
		"| **Studio in process**, L1 hits (`--target inprocess`) | 1 | 1 440 000 | 1.1 µs | 1.8 µs | 20 µs | 0 |",
		"| common-way store over HTTP, in its own process (`studio bench --serve common-http`; `--target common-http --url U`) | 1 | 8 000 | 3.00 ms | 25.00 ms | 80.00 ms | 2 |",
		"| ratio | round 1 | round 2 | goal | met? |",
		"| L1 validation in process ÷ bare go-redis GET (throughput) | 24.0× | 10.3× | ≥ 20× | in 1 of 2 rounds |",
		"| Studio over HTTP ÷ empty handler (throughput) | 0.71× | 0.85× | ≥ 0.6× | **yes** (2 of 2 rounds) |",
		"| Studio over HTTP, p99 at 32 connections, closed loop (saturated: every connection always has a request queued) | 20.00 ms (empty handler 9.70 ms) | 900 µs (empty handler 800 µs) | ≤ 1 ms | in 1 of 2 rounds |",
		"| Studio over HTTP, p99 at 32 connections, open loop at 50 % load (half its closed-loop rate) | 700 µs (empty handler 400 µs) | 1.50 ms (empty handler 1.20 ms) | ≤ 1 ms | in 1 of 2 rounds |",
		"| **Studio over HTTP, open loop** at half its closed-loop rate of the round: 50 % load (`--target http --rate R`) | 1 | 7 000 | 110 µs | 700 µs | 2.50 ms | 0 |",
		"| Studio over HTTP, p99 at 32 connections, open loop at 25 % load (a quarter of its closed-loop rate) | 950 µs (empty handler 300 µs) | 880 µs (empty handler 320 µs) | ≤ 1 ms | **yes** (2 of 2 rounds) |",
		"| **Studio over HTTP, open loop** at a quarter of its closed-loop rate of the round: 25 % load (`--target http --rate R`) | 2 | 3 250 | 85 µs | 880 µs | 2.00 ms | 0 |",
		"| Studio over HTTP ÷ common-way store over HTTP (throughput) | 1.25× | 1.29× | — | — |",
		"| Studio in process ÷ common-way store in process (throughput) | 48.0× | 20.5× | — | — |",
		"| bare go-redis GET ÷ `redis-benchmark` GET (throughput; context) | 0.61× | 0.69× | — | — |",
		"```sh\nredis-benchmark -p 6400 -t get -n 200000 -c 32 --csv\nbin/studio bench --target redis-get\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	// Rows are in the documented order: baselines before what they judge.
	if strings.Index(md, "`redis-benchmark` GET (C") > strings.Index(md, "**Studio over HTTP**") {
		t.Error("rows out of order")
	}
}

func TestRenderNotMet(t *testing.T) {
	dir := sampleDir(t)
	writeFile(t, filepath.Join(dir, "r1-http.json"), benchJSON(5000, 2000, 20000, 50000, 0))
	writeFile(t, filepath.Join(dir, "r2-http.json"), benchJSON(5000, 2000, 20000, 50000, 0))
	in, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if md := render(in); !strings.Contains(md, "| Studio over HTTP ÷ empty handler (throughput) | 0.36× | 0.38× | ≥ 0.6× | **not met** (0 of 2 rounds) |") {
		t.Fatal(md)
	}
}

func TestRewriteOnlyTheMarkedSection(t *testing.T) {
	in, err := load(sampleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	before := "# Performance\n\nHand-written text.\n\n## Load\n\nIntro.\n\n"
	after := "\n\n## Later\n\nMore text, | a | table |\n"
	doc := filepath.Join(t.TempDir(), "PERFORMANCE.md")
	writeFile(t, doc, before+beginMarker+"\nold tables\n"+endMarker+after)

	if err := rewrite(doc, beginMarker, endMarker, render(in)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, before+beginMarker+"\n") || !strings.HasSuffix(got, "\n"+endMarker+after) {
		t.Fatalf("text outside the markers changed:\n%s", got)
	}
	if strings.Contains(got, "old tables") || !strings.Contains(got, "| ratio | round 1 | round 2 | goal | met? |") {
		t.Fatalf("section not replaced:\n%s", got)
	}
	// Running it again gives the same file.
	if err := rewrite(doc, beginMarker, endMarker, render(in)); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(doc); string(b2) != got {
		t.Fatal("a second rewrite changed the file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(doc)); len(entries) != 1 {
		t.Fatalf("left files behind: %v", entries)
	}
}

func TestReplaceSectionBadMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"none":     "# P\n",
		"no end":   beginMarker + "\n",
		"twice":    beginMarker + endMarker + beginMarker + endMarker,
		"reversed": endMarker + "\n" + beginMarker,
	} {
		if _, err := replaceSection(doc, beginMarker, endMarker, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLoadEmptyDir(t *testing.T) {
	if _, err := load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no results") {
		t.Fatalf("err %v", err)
	}
}

func TestLoadBadCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "r1-redis-benchmark.csv"), "GET: 98039.22 requests per second\n")
	if _, err := load(dir); err == nil {
		t.Fatal("no error for -q output in the CSV file")
	}
}
