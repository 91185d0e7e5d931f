package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sampleScaleDir writes one round of the scale section's results as
// scripts/benchscale.sh does, into dir (a new one when empty).
func sampleScaleDir(t *testing.T, dir string) string {
	if dir == "" {
		dir = t.TempDir()
	}
	share := func(ops, p99 float64, workers int) string {
		return `{"target":"http x","workers":` + itoaT(workers) + `,"validate":{"ops_per_sec":` + ftoaT(ops) + `,"p99_us":` + ftoaT(p99) + `}}`
	}
	withShares := strings.Replace(benchJSON(9000, 2000, 9000, 20000, 0), `"total":{"count":1}}`,
		`"total":{"count":1},"shares":[`+share(3100, 8000, 11)+","+share(3000, 9000, 11)+","+share(2900, 10000, 10)+`]}`, 1)
	for name, text := range map[string]string{
		"started":                                "2026-12-01T10:00:00Z",
		"finished":                               "2026-12-01T10:30:00Z",
		"nproc":                                  "2",
		"placement":                              "load generator of the HTTP runs on CPUs 0; studio serve and the baseline servers on CPUs 1",
		"versions":                               "Go: go1.26.8 linux/amd64\n",
		"scale-sessions":                         "1000000",
		"scale-out":                              "3",
		"scale-stores":                           "sqlite postgresql",
		"scale-params":                           "concurrency 32\nduration 10s\nwarmup 2s\nalloc_duration 5s\nprofile_seconds 10\n",
		"scale-commands.txt":                     "env DATABASE_URL=sqlite:$TMP/scale.db bin/studio bench --seed 1000000 --tokens-out $TMP/tokens-sqlite.txt --json\n",
		"scale-seed-sqlite.json":                 `{"sessions":1000000,"store":"sqlite","seconds":31.5,"sessions_per_second":31746,"tokens_file":"x"}`,
		"scale-seed-postgresql.json":             `{"sessions":1000000,"store":"postgresql","seconds":14.2,"sessions_per_second":70422,"tokens_file":"y"}`,
		"r1-scale-redis-get.json":                benchJSON(20000, 1200, 5000, 9000, 0),
		"r1-scale-studio.json":                   benchJSON(16000, 1500, 9000, 20000, 0),
		"r1-scale-studio-tiers.json":             `{"l1": 1000, "redis": 99000, "store": 0, "none": 0}`,
		"r1-scale-mem-studio.json":               `{"vmrss_kb": 200000, "vmhwm_kb": 210000, "heap_inuse_bytes": 90000000, "heap_alloc_bytes": 80000000, "go_sys_bytes": 150000000}`,
		"r1-scale-mem-redis-get.json":            `{"vmrss_kb": 16000, "vmhwm_kb": 17000, "heap_inuse_bytes": 4000000, "heap_alloc_bytes": 3000000, "go_sys_bytes": 12000000}`,
		"r1-scale-alloc-studio.json":             `{"bytes": 150000000, "scrape_bytes": 200000, "validations": 50000, "bytes_per_validation": 3000, "cpu_seconds": 3, "cpu_us_per_validation": 60}`,
		"r1-scale-alloc-redis-get.json":          `{"bytes": 40000000, "scrape_bytes": 90000, "validations": 100000, "bytes_per_validation": 400}`,
		"r1-scale-out-1.json":                    benchJSON(15000, 1500, 9000, 20000, 0),
		"r1-scale-out-3.json":                    withShares,
		"r1-scale-miss-sqlite-baseline.json":     benchJSON(10000, 2000, 8000, 12000, 0),
		"r1-scale-miss-sqlite-studio.json":       benchJSON(8500, 2500, 15000, 30000, 0),
		"r1-scale-miss-sqlite-studio-tiers.json": `{"l1": 0, "redis": 5000, "store": 95000}`,
		"r1-scale-miss-postgresql-baseline.json": benchJSON(6000, 3000, 9000, 12000, 0),
		"r1-scale-miss-postgresql-studio.json":   benchJSON(4000, 4000, 30000, 40000, 3),
		"studio-cpu-top.txt":                     "File: studio\nBuild ID: 35f6e1248840\nType: cpu\nTime: 2026-12-01 10:29:00 UTC\nShowing nodes accounting for 5s, 100% of 5s total\n      flat  flat%   sum%        cum   cum%\n     1.00s 20.00% 20.00%      1.00s 20.00%  internal/runtime/syscall/linux.Syscall6\n",
		"scale-profiled-run.json":                benchJSON(10000, 1500, 9000, 20000, 0),
		"studio-cpu-top-cum.txt":                 sampleCumTop,
		"studio-allocs-top.txt":                  "      flat  flat%   sum%        cum   cum%\n  100MB 50.00% 50.00%   100MB 50.00%  net/http.readRequest\n",
	} {
		writeFile(t, filepath.Join(dir, name), text)
	}
	return dir
}

func itoaT(n int) string     { return strconv.Itoa(n) }
func ftoaT(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func TestRenderScale(t *testing.T) {
	in, err := loadScale(sampleScaleDir(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	md := renderScale(in)
	if strings.Contains(md, "Build ID") || strings.Contains(md, "10:29:00") {
		t.Errorf("the profile's header is in the section:\n%s", md)
	}
	for _, want := range []string{
		"1 round; **1 000 000 sessions** in each store",
		"closed loop, 32 connections, 10s measured after 2s warm-up; allocation runs 5s with no warm-up",
		"| CPU placement | load generator of the HTTP runs on CPUs 0; studio serve and the baseline servers on CPUs 1 |",
		"| sqlite | 1 000 000 | 31.5 s | 31 746 |",
		"| postgresql | 1 000 000 | 14.2 s | 70 422 |",
		"| (a) Redis path: throughput | 1 | 16 000/s | plain-GET handler: 20 000/s | 0.80× | ≥ 0.9× | **not met** |",
		"| (a) Redis path: p99 | 1 | 9.00 ms | plain-GET handler: 5.00 ms | 1.80× | ≤ 1.5× | **not met** |",
		"| (b) Redis copies gone, sqlite: throughput | 1 | 8 500/s | plain store-miss handler: 10 000/s | 0.85× | ≥ 0.8× | **yes** |",
		"| (b) Redis copies gone, sqlite: p99 | 1 | 15.00 ms | plain store-miss handler: 8.00 ms | 1.88× | ≤ 2× | **yes** |",
		"| (b) Redis copies gone, postgresql: throughput | 1 | 4 000/s | plain store-miss handler: 6 000/s | 0.67× | ≥ 0.8× | **not met** |",
		"| (c) memory: Studio's RSS after (a) | 1 | 205 MB | plain-GET handler: 16 MB | — | ≤ 150 MB | **not met** |",
		"| (d) bytes allocated per validation over HTTP | 1 | 3.0 KB | plain-GET handler: 400 B | — | ≤ 1 KB | **not met** |",
		"| (a) **Studio**, `studio serve` on SQLite, Redis holding every copy (`--target http`) | 1 | 16 000 | 1.50 ms | 9.00 ms | 20.00 ms | 0 |",
		"| (b) **Studio**, postgresql, Redis emptied | 1 | 4 000 | 4.00 ms | 30.00 ms | 40.00 ms | 3 |",
		"| (a) **Studio**, `studio serve` on SQLite, Redis holding every copy (`--target http`) | 1 | 1.0 % | 99.0 % | 0.0 % |",
		"| (b) **Studio**, sqlite, Redis emptied | 1 | 0.0 % | 5.0 % | 95.0 % |",
		"| **Studio** | 1 | 205 MB | 215 MB | 90 MB | 80 MB | 150 MB | 3.0 KB | 60.0 µs | 50 000 |",
		"| plain-GET handler | 1 | 16 MB | 17 MB | 4 MB | 3 MB | 12 MB | 400 B | — | 100 000 |",
		// 8 s of samples over 10 000/s × 10 s: 80 µs a validation.
		"| all of Studio's CPU samples | — | 100.0 % | 80.0 µs |",
		"| serving requests: `net/http`'s connection loop and all it calls | `net/http.(*conn).serve` | 75.0 % | 60.0 µs |",
		"| … … … its Redis GET (go-redis with Studio's hooks and breaker) | `session.(*Service).redisGet` | 22.5 % | 18.0 µs |",
		"| … the store's batched UPDATE (`Store.Touch`) | `session/sqlstore.(*Store).Touch` | 12.5 % | 10.0 µs |",
		"| … … … hot-key observation | `session.(*Service).observeKey` | — | — |",
		"| 1 | 15 000/s | 9 000/s | 3 100/s (p99 8.00 ms, 11 connections); 3 000/s (p99 9.00 ms, 11 connections); 2 900/s (p99 10.00 ms, 10 connections) | 0.60× |",
		"```\nType: cpu\nShowing nodes accounting for 5s, 100% of 5s total\n      flat  flat%   sum%        cum   cum%\n     1.00s 20.00% 20.00%      1.00s 20.00%  internal/runtime/syscall/linux.Syscall6\n```",
		"net/http.readRequest",
		"```sh\nenv DATABASE_URL=sqlite:$TMP/scale.db bin/studio bench --seed 1000000",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
}

// TestRunRewritesTheSectionsOfItsResults: a directory of scale results
// rewrites the scale section and leaves the default one; a directory of
// both rewrites both; one of neither is an error.
func TestRunRewritesTheSectionsOfItsResults(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "PERFORMANCE.md")
	text := "# P\n\n" + beginMarker + "\nold default\n" + endMarker + "\n\n## Scale\n\n" + scaleBegin + "\nold scale\n" + scaleEnd + "\nend\n"
	writeFile(t, doc, text)
	if err := run(sampleScaleDir(t, ""), doc); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	got := string(b)
	if !strings.Contains(got, "old default") || strings.Contains(got, "old scale") || !strings.Contains(got, "(a) Redis path: throughput") ||
		!strings.HasSuffix(got, "\n"+scaleEnd+"\nend\n") {
		t.Fatalf("scale results only:\n%s", got)
	}
	both := sampleScaleDir(t, sampleDir(t))
	if err := run(both, doc); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(doc)
	if got := string(b); strings.Contains(got, "old default") || !strings.Contains(got, "| ratio | round 1 | round 2 | goal | met? |") {
		t.Fatalf("both results:\n%s", got)
	}
	if err := run(t.TempDir(), doc); err == nil || !strings.Contains(err.Error(), "no results") {
		t.Fatalf("no results: err %v", err)
	}
}

func TestLoadScaleBad(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"sessions not a number": {"scale-sessions": "a million"},
		"no rounds":             {"scale-sessions": "10"},
		"bad run JSON":          {"scale-sessions": "10", "r1-scale-studio.json": "{"},
		"bad memory JSON":       {"scale-sessions": "10", "r1-scale-mem-studio.json": "[1]"},
		"bad seed JSON":         {"scale-sessions": "10", "scale-stores": "sqlite", "scale-seed-sqlite.json": "seeded"},
		"CPU profile without a total": {"scale-sessions": "10", "r1-scale-studio.json": benchJSON(1, 1, 1, 1, 0),
			"studio-cpu-top-cum.txt": "Type: cpu\n      flat  flat%   sum%        cum   cum%\n"},
		"CPU profile total of nothing": {"scale-sessions": "10", "r1-scale-studio.json": benchJSON(1, 1, 1, 1, 0),
			"studio-cpu-top-cum.txt": "Duration: 10s, Total samples = 0s (0%)\n"},
		"bad profiled run JSON": {"scale-sessions": "10", "r1-scale-studio.json": benchJSON(1, 1, 1, 1, 0),
			"studio-cpu-top-cum.txt": sampleCumTop, "scale-profiled-run.json": "{"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, text := range files {
				writeFile(t, filepath.Join(dir, f), text)
			}
			if in, err := loadScale(dir); err == nil {
				t.Fatalf("loaded %+v", in)
			}
		})
	}
}

// sampleCumTop is a `go tool pprof -top -cum` output as the profiled run
// keeps it: 8 s of samples, a name with a space, minutes as a unit.
const sampleCumTop = `File: studio
Type: cpu
Duration: 10s, Total samples = 8s (80.00%)
Showing nodes accounting for 5s, 62.50% of 8s total
      flat  flat%   sum%        cum   cum%
     0.03s  0.38%  0.38%      6s 75.00%  net/http.(*conn).serve
         0     0%  0.38%      1.80s 22.50%  github.com/studiohq/studio/session.(*Service).redisGet
         0     0%  0.38%      1.80s 22.50%  github.com/sony/gobreaker/v2.(*CircuitBreaker[go.shape.struct {}]).Execute
         0     0%  0.38%      1000ms 12.50%  github.com/studiohq/studio/session/sqlstore.(*Store).Touch
`
