// Command benchtables rewrites the generated sections of
// docs/PERFORMANCE.md from the results scripts/bench.sh collected in a
// directory: the default section (between <!-- bench:begin --> and
// <!-- bench:end -->) when the directory holds its results, the scale
// section (between <!-- bench-scale:begin --> and <!-- bench-scale:end
// -->, see scale.go for its files) when it holds those. The default
// section's files:
//
//	rN-<target>.json          `studio bench --json` of round N (targets below)
//	rN-redis-benchmark.csv    `redis-benchmark --csv` of round N
//	started, finished         UTC times of the run
//	nproc, cpu                the machine
//	placement                 which CPUs the generator and servers ran on
//	loadavg-start, loadavg-end  /proc/loadavg at the start and the end
//	versions                  free text (Go, redis-server), one per line
//	commands.txt              the exact commands, one per line
//
// Usage: go run ./scripts/benchtables -dir DIR -doc docs/PERFORMANCE.md
//
// Only the marked sections change; the rest of the file is kept byte for
// byte.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// target is one measured thing, in the order of the results table.
type target struct {
	name  string // file name part: rN-<name>.json (or .csv)
	label string
}

var targets = []target{
	{"redis-benchmark", "`redis-benchmark` GET (C client, 32 connections): Redis's own ceiling"},
	{"redis-get", "bare go-redis GET (`--target redis-get`)"},
	{"inprocess", "**Studio in process**, L1 hits (`--target inprocess`)"},
	{"common", "common-way store in process: GET + EXPIRE (`--target common`)"},
	{"empty", "empty `net/http` handler over HTTP, in its own process (`studio bench --serve empty`; `--target empty --url U`)"},
	{"http", "**Studio over HTTP**, `studio serve` `GET /v1/session` (`--target http`)"},
	{"common-http", "common-way store over HTTP, in its own process (`studio bench --serve common-http`; `--target common-http --url U`)"},
	{"empty-open", "empty `net/http` handler, **open loop** at half Studio's closed-loop HTTP rate of the round (`--target empty --url U --rate R`)"},
	{"http-open", "**Studio over HTTP, open loop** at half its closed-loop rate of the round: 50 % load (`--target http --rate R`)"},
	{"empty-open-quarter", "empty `net/http` handler, **open loop** at a quarter of Studio's closed-loop HTTP rate of the round (`--target empty --url U --rate R`)"},
	{"http-open-quarter", "**Studio over HTTP, open loop** at a quarter of its closed-loop rate of the round: 25 % load (`--target http --rate R`)"},
}

// measure is one target's validation figures in one round; NaN when not
// measured.
type measure struct {
	OpsPerSec, P50, P99, P999 float64 // µs
	Count, Errors             int64
}

// input is everything the section is made from.
type input struct {
	Rounds             []map[string]measure
	Started, Finished  string
	Nproc, CPU         string
	Placement          string
	LoadStart, LoadEnd string
	Versions, Commands []string
	Concurrency        int
	DurationS, WarmupS float64
}

func main() {
	dir := flag.String("dir", "", "directory of results written by scripts/bench.sh")
	doc := flag.String("doc", "docs/PERFORMANCE.md", "the Markdown file whose marked section to rewrite")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: benchtables -dir DIR [-doc docs/PERFORMANCE.md]")
		os.Exit(2)
	}
	if err := run(*dir, *doc); err != nil {
		fmt.Fprintln(os.Stderr, "benchtables:", err)
		os.Exit(1)
	}
}

// run rewrites the sections of doc whose results dir holds.
func run(dir, doc string) error {
	in, err := load(dir)
	if err != nil && !errors.Is(err, errNoResults) {
		return err
	}
	sc, serr := loadScale(dir)
	if serr != nil && !errors.Is(serr, errNoResults) {
		return serr
	}
	if in == nil && sc == nil {
		return fmt.Errorf("no results (r1-*.json, r1-*.csv, scale-*) in %s", dir)
	}
	if in != nil {
		if err := rewrite(doc, beginMarker, endMarker, render(in)); err != nil {
			return err
		}
	}
	if sc != nil {
		return rewrite(doc, scaleBegin, scaleEnd, renderScale(sc))
	}
	return nil
}

// errNoResults: the directory holds no results of a section.
var errNoResults = errors.New("no results")

// machine is what both sections say of the run and the machine.
type machine struct {
	Started, Finished  string
	Nproc, CPU         string
	Placement          string
	LoadStart, LoadEnd string
	Versions           []string
}

// dirText is the trimmed text of a file of dir ("" when missing).
func dirText(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return strings.TrimSpace(string(b))
}

// dirLines is the non-blank lines of a file of dir.
func dirLines(dir, name string) []string {
	var out []string
	for l := range strings.SplitSeq(dirText(dir, name), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func loadMachine(dir string) machine {
	return machine{
		Started: dirText(dir, "started"), Finished: dirText(dir, "finished"),
		Nproc: dirText(dir, "nproc"), CPU: dirText(dir, "cpu"), Placement: dirText(dir, "placement"),
		LoadStart: loadavg(dirText(dir, "loadavg-start")), LoadEnd: loadavg(dirText(dir, "loadavg-end")),
		Versions: dirLines(dir, "versions"),
	}
}

// writeMachine writes the machine table.
func writeMachine(w func(string, ...any), m machine) {
	w("| machine | |\n|---|---|\n")
	w("| CPUs (`nproc`) | %s |\n| CPU model | %s |\n| load average (1, 5, 15 min) at the start | %s |\n| … at the end | %s |\n",
		orDash(m.Nproc), orDash(m.CPU), orDash(m.LoadStart), orDash(m.LoadEnd))
	w("| CPU placement | %s |\n", orDash(m.Placement))
	for _, v := range m.Versions {
		k, val, ok := strings.Cut(v, ":")
		if !ok {
			k, val = v, ""
		}
		w("| %s | %s |\n", strings.TrimSpace(k), orDash(strings.TrimSpace(val)))
	}
}

// load reads the default section's results; an error wrapping
// errNoResults when there are none.
func load(dir string) (*input, error) {
	m := loadMachine(dir)
	in := &input{Started: m.Started, Finished: m.Finished, Nproc: m.Nproc, CPU: m.CPU, Placement: m.Placement,
		LoadStart: m.LoadStart, LoadEnd: m.LoadEnd, Versions: m.Versions, Commands: dirLines(dir, "commands.txt")}
	for r := 1; ; r++ {
		round := map[string]measure{}
		for _, t := range targets {
			var m measure
			var ok bool
			var err error
			if t.name == "redis-benchmark" {
				m, ok, err = readCSV(filepath.Join(dir, fmt.Sprintf("r%d-%s.csv", r, t.name)))
			} else {
				m, ok, err = readJSON(filepath.Join(dir, fmt.Sprintf("r%d-%s.json", r, t.name)), in)
			}
			if err != nil {
				return nil, err
			}
			if ok {
				round[t.name] = m
			}
		}
		if len(round) == 0 {
			break
		}
		in.Rounds = append(in.Rounds, round)
	}
	if len(in.Rounds) == 0 {
		return nil, fmt.Errorf("%w (r1-*.json, r1-*.csv) in %s", errNoResults, dir)
	}
	return in, nil
}

// loadavg keeps the three load averages of a /proc/loadavg line.
func loadavg(line string) string {
	f := strings.Fields(line)
	if len(f) < 3 {
		return line
	}
	return strings.Join(f[:3], " ")
}

func readJSON(path string, in *input) (measure, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return measure{}, false, nil
	}
	if err != nil {
		return measure{}, false, err
	}
	var res struct {
		Concurrency int     `json:"concurrency"`
		DurationS   float64 `json:"duration_s"`
		WarmupS     float64 `json:"warmup_s"`
		Validate    struct {
			Count     int64   `json:"count"`
			Errors    int64   `json:"errors"`
			OpsPerSec float64 `json:"ops_per_sec"`
			P50US     float64 `json:"p50_us"`
			P99US     float64 `json:"p99_us"`
			P999US    float64 `json:"p999_us"`
		} `json:"validate"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return measure{}, false, fmt.Errorf("%s: %w", path, err)
	}
	in.Concurrency, in.DurationS, in.WarmupS = res.Concurrency, res.DurationS, res.WarmupS
	v := res.Validate
	return measure{OpsPerSec: v.OpsPerSec, P50: v.P50US, P99: v.P99US, P999: v.P999US, Count: v.Count, Errors: v.Errors}, true, nil
}

// readCSV reads `redis-benchmark --csv` output: a header line
// ("test","rps","avg_latency_ms",…,"p50_latency_ms",…,"p99_latency_ms",…)
// and a GET line.
func readCSV(path string) (measure, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return measure{}, false, nil
	}
	if err != nil {
		return measure{}, false, err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) < 2 {
		return measure{}, false, fmt.Errorf("%s: want a header and a GET line of redis-benchmark --csv (%v)", path, err)
	}
	col := map[string]string{}
	for i, h := range recs[0] {
		if i < len(recs[1]) {
			col[h] = recs[1][i]
		}
	}
	num := func(name string, scale float64) (float64, error) {
		v, err := strconv.ParseFloat(col[name], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: column %q: %q", path, name, col[name])
		}
		return v * scale, nil
	}
	m := measure{P999: math.NaN(), Count: -1}
	for _, f := range []struct {
		name  string
		scale float64
		dst   *float64
	}{{"rps", 1, &m.OpsPerSec}, {"p50_latency_ms", 1e3, &m.P50}, {"p99_latency_ms", 1e3, &m.P99}} {
		if *f.dst, err = num(f.name, f.scale); err != nil {
			return measure{}, false, err
		}
	}
	return m, true, nil
}

// ratio is one line of the ratios table.
type ratio struct {
	label string
	value func(r map[string]measure) (float64, bool) // false: not measured
	show  func(v float64, r map[string]measure) string
	goal  string
	met   func(v float64) bool // nil: no goal
}

func times(v float64, _ map[string]measure) string {
	if v >= 10 {
		return fmt.Sprintf("%.1f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

func div(a, b string) func(r map[string]measure) (float64, bool) {
	return func(r map[string]measure) (float64, bool) {
		x, ok1 := r[a]
		y, ok2 := r[b]
		if !ok1 || !ok2 || y.OpsPerSec == 0 {
			return 0, false
		}
		return x.OpsPerSec / y.OpsPerSec, true
	}
}

var ratios = []ratio{
	{label: "L1 validation in process ÷ bare go-redis GET (throughput)", value: div("inprocess", "redis-get"), show: times,
		goal: "≥ 20×", met: func(v float64) bool { return v >= 20 }},
	{label: "Studio over HTTP ÷ empty handler (throughput)", value: div("http", "empty"), show: times,
		goal: "≥ 0.6×", met: func(v float64) bool { return v >= 0.6 }},
	{label: "Studio over HTTP, p99 at 32 connections, closed loop (saturated: every connection always has a request queued)", value: p99Of("http"),
		show: beside("empty"), goal: "≤ 1 ms", met: func(v float64) bool { return v <= 1000 }},
	{label: "Studio over HTTP, p99 at 32 connections, open loop at 50 % load (half its closed-loop rate)", value: p99Of("http-open"),
		show: beside("empty-open"), goal: "≤ 1 ms", met: func(v float64) bool { return v <= 1000 }},
	{label: "Studio over HTTP, p99 at 32 connections, open loop at 25 % load (a quarter of its closed-loop rate)", value: p99Of("http-open-quarter"),
		show: beside("empty-open-quarter"), goal: "≤ 1 ms", met: func(v float64) bool { return v <= 1000 }},
	{label: "Studio over HTTP ÷ common-way store over HTTP (throughput)", value: div("http", "common-http"), show: times, goal: "—"},
	{label: "Studio in process ÷ common-way store in process (throughput)", value: div("inprocess", "common"), show: times, goal: "—"},
	{label: "bare go-redis GET ÷ `redis-benchmark` GET (throughput; context)", value: div("redis-get", "redis-benchmark"), show: times, goal: "—"},
}

// p99Of is the p99 of one target.
func p99Of(name string) func(r map[string]measure) (float64, bool) {
	return func(r map[string]measure) (float64, bool) {
		m, ok := r[name]
		return m.P99, ok
	}
}

// beside shows a latency with the p99 of the baseline target of the same
// round.
func beside(baseline string) func(v float64, r map[string]measure) string {
	return func(v float64, r map[string]measure) string {
		if e, ok := r[baseline]; ok {
			return lat(v) + " (empty handler " + lat(e.P99) + ")"
		}
		return lat(v)
	}
}

// render makes the section between the markers.
func render(in *input) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	n := len(in.Rounds)
	w("%s of %d targets, interleaved (each round runs every target once, in the order below); `studio bench` targets: %d connections/workers, closed loop unless marked open loop, `--mix validate=1`, %s measured after %s warm-up.\n\n",
		rounds(n), len(targets), in.Concurrency, secs(in.DurationS), secs(in.WarmupS))
	writeMachine(w, machine{Nproc: in.Nproc, CPU: in.CPU, LoadStart: in.LoadStart, LoadEnd: in.LoadEnd, Placement: in.Placement, Versions: in.Versions})
	w("\nValidations (each row beside its baselines from the same run):\n\n")
	w("| target | round | validations/s | p50 | p99 | p99.9 | errors |\n|---|---|---|---|---|---|---|\n")
	for _, t := range targets {
		for i, r := range in.Rounds {
			m, ok := r[t.name]
			if !ok {
				continue
			}
			errs := "—"
			if m.Count >= 0 {
				errs = strconv.FormatInt(m.Errors, 10)
			}
			w("| %s | %d | %s | %s | %s | %s | %s |\n", t.label, i+1, group(m.OpsPerSec), lat(m.P50), lat(m.P99), lat(m.P999), errs)
		}
	}
	w("\nRatios, each of two figures from the same round:\n\n| ratio |")
	for i := range n {
		w(" round %d |", i+1)
	}
	w(" goal | met? |\n|---|")
	for range n {
		w("---|")
	}
	w("---|---|\n")
	for _, q := range ratios {
		w("| %s |", q.label)
		measured, met := 0, 0
		for _, r := range in.Rounds {
			v, ok := q.value(r)
			if !ok {
				w(" — |")
				continue
			}
			measured++
			if q.met != nil && q.met(v) {
				met++
			}
			w(" %s |", q.show(v, r))
		}
		verdict := "—"
		switch {
		case q.met == nil:
		case measured == 0:
			verdict = "not measured"
		case met == measured:
			verdict = fmt.Sprintf("**yes** (%d of %s)", met, rounds(measured))
		case met == 0:
			verdict = fmt.Sprintf("**not met** (0 of %s)", rounds(measured))
		default:
			verdict = fmt.Sprintf("in %d of %s", met, rounds(measured))
		}
		w(" %s | %s |\n", q.goal, verdict)
	}
	if len(in.Commands) > 0 {
		w("\nThe exact commands, in the order they ran:\n\n```sh\n")
		for _, c := range in.Commands {
			w("%s\n", c)
		}
		w("```\n")
	}
	return b.String()
}

// rewrite replaces what is between the markers begin and end in the file
// at path with section, keeping everything else.
func rewrite(path, begin, end, section string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceSection(string(doc), begin, end, section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".benchtables.tmp"
	if err := os.WriteFile(tmp, []byte(out), st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func replaceSection(doc, begin, end, section string) (string, error) {
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return "", fmt.Errorf("want exactly one %s and one %s", begin, end)
	}
	i := strings.Index(doc, begin) + len(begin)
	j := strings.Index(doc, end)
	if j < i {
		return "", fmt.Errorf("%s comes before %s", end, begin)
	}
	return doc[:i] + "\n" + strings.TrimRight(section, "\n") + "\n" + doc[j:], nil
}

// lat formats microseconds: "412 µs", "3.10 ms"; NaN is "—".
func lat(us float64) string {
	switch {
	case math.IsNaN(us):
		return "—"
	case us >= 1e3:
		return fmt.Sprintf("%.2f ms", us/1e3)
	case us >= 10:
		return fmt.Sprintf("%.0f µs", us)
	}
	return fmt.Sprintf("%.1f µs", us)
}

// group formats a rate as a whole number with thousands separated by
// spaces: "1 445 480".
func group(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return strconv.Itoa(n) + " rounds"
}

func secs(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) + " s" }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
