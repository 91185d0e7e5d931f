package main

// The scale section: Studio at SESSIONS sessions beside its plain
// baselines, from the files scripts/benchscale.sh writes:
//
//	scale-sessions, scale-out, scale-stores, scale-params   the run's settings
//	scale-commands.txt                                      the exact commands
//	scale-seed-<store>.json                                 `studio bench --seed --json`
//	rN-scale-redis-get.json, rN-scale-studio.json            (a) the Redis path
//	rN-scale-mem-<studio|redis-get>.json                     (c) VmRSS, VmHWM, Go heap
//	rN-scale-alloc-<studio|redis-get>.json                   (d) bytes and CPU per validation
//	rN-scale-out-1.json, rN-scale-out-K.json                 (e) 1 and K instances
//	rN-scale-miss-<store>-<baseline|studio>.json             (b) Redis copies gone
//	rN-scale-<run>-tiers.json                                Studio's validations by tier
//	studio-cpu-top.txt, studio-allocs-top.txt                the profiled run's tops
//	studio-cpu-top-cum.txt, scale-profiled-run.json          its breakdown (pprof -top -cum)

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	scaleBegin = "<!-- bench-scale:begin -->"
	scaleEnd   = "<!-- bench-scale:end -->"
)

// scaleRun is one `studio bench --json` run of the scale section.
type scaleRun struct {
	measure
	Shares []share
	Tiers  map[string]float64 // Studio's validations by tier; nil for a baseline
}

// share is one instance's part of a spread run.
type share struct {
	Target    string
	Workers   int
	OpsPerSec float64
	P99       float64
}

// memFigures is one process's memory after the Redis-path runs.
type memFigures struct {
	VmRSSKB   float64 `json:"vmrss_kb"`
	VmHWMKB   float64 `json:"vmhwm_kb"`
	HeapInuse float64 `json:"heap_inuse_bytes"`
	HeapAlloc float64 `json:"heap_alloc_bytes"`
	GoSys     float64 `json:"go_sys_bytes"`
}

// allocFigures is one process's allocations over an allocation run.
type allocFigures struct {
	Bytes       float64 `json:"bytes"`
	ScrapeBytes float64 `json:"scrape_bytes"`
	Validations float64 `json:"validations"`
	PerOp       float64 `json:"bytes_per_validation"`
	CPUPerOp    float64 `json:"cpu_us_per_validation"` // µs of the process's CPU time
}

// seedFigures is what --seed printed.
type seedFigures struct {
	Sessions     int     `json:"sessions"`
	Store        string  `json:"store"`
	Seconds      float64 `json:"seconds"`
	SessionsPerS float64 `json:"sessions_per_second"`
}

// scaleRound is one round's results.
type scaleRound struct {
	Runs   map[string]scaleRun
	Mem    map[string]memFigures
	Allocs map[string]allocFigures
}

// scaleInput is everything the scale section is made from.
type scaleInput struct {
	machine
	Sessions, ScaleOut int
	Stores             []string
	Params             map[string]string
	Seeds              []seedFigures
	Rounds             []scaleRound
	Commands           []string
	CPUTop, AllocTop   []string
	Breakdown          []breakdownRow
}

// loadScale reads the scale section's results; an error wrapping
// errNoResults when there are none.
func loadScale(dir string) (*scaleInput, error) {
	sessions := dirText(dir, "scale-sessions")
	if sessions == "" {
		return nil, fmt.Errorf("%w (scale-sessions) in %s", errNoResults, dir)
	}
	in := &scaleInput{machine: loadMachine(dir), Params: map[string]string{}, Stores: strings.Fields(dirText(dir, "scale-stores")),
		Commands: dirLines(dir, "scale-commands.txt")}
	var err error
	if in.Sessions, err = strconv.Atoi(sessions); err != nil {
		return nil, fmt.Errorf("scale-sessions: %q is not a number", sessions)
	}
	in.ScaleOut, _ = strconv.Atoi(dirText(dir, "scale-out"))
	for _, l := range dirLines(dir, "scale-params") {
		k, v, _ := strings.Cut(l, " ")
		in.Params[k] = v
	}
	for _, st := range in.Stores {
		var sf seedFigures
		if ok, err := readInto(filepath.Join(dir, "scale-seed-"+st+".json"), &sf); err != nil {
			return nil, err
		} else if ok {
			in.Seeds = append(in.Seeds, sf)
		}
	}
	for r := 1; ; r++ {
		round, err := loadScaleRound(dir, r, in)
		if err != nil {
			return nil, err
		}
		if round == nil {
			break
		}
		in.Rounds = append(in.Rounds, *round)
	}
	if len(in.Rounds) == 0 {
		return nil, fmt.Errorf("no scale rounds (r1-scale-*.json) in %s", dir)
	}
	in.CPUTop, in.AllocTop = topLines(dir, "studio-cpu-top.txt"), topLines(dir, "studio-allocs-top.txt")
	if in.Breakdown, err = loadBreakdown(dir, in.Params["profile_seconds"]); err != nil {
		return nil, err
	}
	return in, nil
}

// topLines is the table of a `go tool pprof -top` output, its columns
// kept aligned, without the header lines that name the binary's build and
// the time.
func topLines(dir, name string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		l = strings.TrimRight(l, " \r")
		if l == "" || strings.HasPrefix(l, "File: ") || strings.HasPrefix(l, "Build ID: ") || strings.HasPrefix(l, "Time: ") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// scaleRunNames are the runs of a round, as named in their files.
func scaleRunNames(in *scaleInput) []string {
	names := []string{"redis-get", "studio", "out-1", "out-" + strconv.Itoa(in.ScaleOut)}
	for _, st := range in.Stores {
		names = append(names, "miss-"+st+"-baseline", "miss-"+st+"-studio")
	}
	return names
}

// loadScaleRound reads round r; nil when it has no file.
func loadScaleRound(dir string, r int, in *scaleInput) (*scaleRound, error) {
	round := &scaleRound{Runs: map[string]scaleRun{}, Mem: map[string]memFigures{}, Allocs: map[string]allocFigures{}}
	prefix := filepath.Join(dir, fmt.Sprintf("r%d-scale-", r))
	for _, name := range scaleRunNames(in) {
		run, ok, err := readScaleRun(prefix + name + ".json")
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var tiers map[string]float64
		if _, err := readInto(prefix+name+"-tiers.json", &tiers); err != nil {
			return nil, err
		}
		run.Tiers = tiers
		round.Runs[name] = run
	}
	for _, p := range []string{"studio", "redis-get"} {
		var m memFigures
		if ok, err := readInto(prefix+"mem-"+p+".json", &m); err != nil {
			return nil, err
		} else if ok {
			round.Mem[p] = m
		}
		var a allocFigures
		if ok, err := readInto(prefix+"alloc-"+p+".json", &a); err != nil {
			return nil, err
		} else if ok {
			round.Allocs[p] = a
		}
	}
	if len(round.Runs) == 0 && len(round.Mem) == 0 && len(round.Allocs) == 0 {
		return nil, nil
	}
	return round, nil
}

// readInto decodes the JSON file at path into v; false when it does not
// exist.
func readInto(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// readScaleRun reads a `studio bench --json` result with its shares.
func readScaleRun(path string) (scaleRun, bool, error) {
	var res struct {
		Validate struct {
			Count     int64   `json:"count"`
			Errors    int64   `json:"errors"`
			OpsPerSec float64 `json:"ops_per_sec"`
			P50US     float64 `json:"p50_us"`
			P99US     float64 `json:"p99_us"`
			P999US    float64 `json:"p999_us"`
		} `json:"validate"`
		Shares []struct {
			Target   string `json:"target"`
			Workers  int    `json:"workers"`
			Validate struct {
				OpsPerSec float64 `json:"ops_per_sec"`
				P99US     float64 `json:"p99_us"`
			} `json:"validate"`
		} `json:"shares"`
	}
	ok, err := readInto(path, &res)
	if !ok || err != nil {
		return scaleRun{}, ok, err
	}
	v := res.Validate
	run := scaleRun{measure: measure{OpsPerSec: v.OpsPerSec, P50: v.P50US, P99: v.P99US, P999: v.P999US, Count: v.Count, Errors: v.Errors}}
	for _, s := range res.Shares {
		run.Shares = append(run.Shares, share{Target: s.Target, Workers: s.Workers, OpsPerSec: s.Validate.OpsPerSec, P99: s.Validate.P99US})
	}
	return run, true, nil
}

// scaleGoal is one line of the goals table: Studio's figure and its
// baseline's in a round, the ratio, and whether it meets the goal.
type scaleGoal struct {
	label, goal, baseline string
	// figures returns Studio's figure, the baseline's, their ratio, the
	// text of each, and false when the round did not measure it.
	figures func(r scaleRound) (studio, base string, ratio float64, ok bool)
	met     func(ratio float64) bool
	ratioOf string // how the ratio is shown: "×" of the baseline, or "abs" (the ratio holds Studio's figure)
}

// runPair compares Studio's run with its baseline's: throughput or p99.
func runPair(studio, base string, p99 bool) func(r scaleRound) (string, string, float64, bool) {
	return func(r scaleRound) (string, string, float64, bool) {
		s, ok1 := r.Runs[studio]
		b, ok2 := r.Runs[base]
		if !ok1 || !ok2 {
			return "", "", 0, false
		}
		if p99 {
			return lat(s.P99), lat(b.P99), s.P99 / b.P99, b.P99 > 0
		}
		return group(s.OpsPerSec) + "/s", group(b.OpsPerSec) + "/s", s.OpsPerSec / b.OpsPerSec, b.OpsPerSec > 0
	}
}

func scaleGoals(in *scaleInput) []scaleGoal {
	atLeast := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	atMost := func(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
	goals := []scaleGoal{
		{label: "(a) Redis path: throughput", baseline: "plain-GET handler", goal: "≥ 0.9×", figures: runPair("studio", "redis-get", false), met: atLeast(0.9)},
		{label: "(a) Redis path: p99", baseline: "plain-GET handler", goal: "≤ 1.5×", figures: runPair("studio", "redis-get", true), met: atMost(1.5)},
	}
	for _, st := range in.Stores {
		goals = append(goals,
			scaleGoal{label: "(b) Redis copies gone, " + st + ": throughput", baseline: "plain store-miss handler", goal: "≥ 0.8×",
				figures: runPair("miss-"+st+"-studio", "miss-"+st+"-baseline", false), met: atLeast(0.8)},
			scaleGoal{label: "(b) Redis copies gone, " + st + ": p99", baseline: "plain store-miss handler", goal: "≤ 2×",
				figures: runPair("miss-"+st+"-studio", "miss-"+st+"-baseline", true), met: atMost(2)})
	}
	goals = append(goals,
		scaleGoal{label: "(c) memory: Studio's RSS after (a)", baseline: "plain-GET handler", goal: "≤ 150 MB", ratioOf: "abs",
			figures: func(r scaleRound) (string, string, float64, bool) {
				s, ok1 := r.Mem["studio"]
				b, ok2 := r.Mem["redis-get"]
				if !ok1 {
					return "", "", 0, false
				}
				base := "—"
				if ok2 {
					base = mb(b.VmRSSKB * 1024)
				}
				return mb(s.VmRSSKB * 1024), base, s.VmRSSKB * 1024 / 1e6, true
			}, met: atMost(150)},
		scaleGoal{label: "(d) bytes allocated per validation over HTTP", baseline: "plain-GET handler", goal: "≤ 1 KB", ratioOf: "abs",
			figures: func(r scaleRound) (string, string, float64, bool) {
				s, ok1 := r.Allocs["studio"]
				b, ok2 := r.Allocs["redis-get"]
				if !ok1 || s.Validations == 0 {
					return "", "", 0, false
				}
				base := "—"
				if ok2 {
					base = bytesOf(b.PerOp)
				}
				return bytesOf(s.PerOp), base, s.PerOp, true
			}, met: atMost(1000)})
	return goals
}

// renderScale makes the scale section.
func renderScale(in *scaleInput) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("%s; **%s sessions** in each store, validated uniformly at random (`--zipf 0`); closed loop, %s connections, %s measured after %s warm-up; allocation runs %s with no warm-up. `studio serve` at its default settings (L1 of 100 000 entries for 5 s, `GOGC=400`) except `STUDIO_WARM_ON_START=false`.\n\n",
		rounds(len(in.Rounds)), group(float64(in.Sessions)),
		orDash(in.Params["concurrency"]), orDash(in.Params["duration"]), orDash(in.Params["warmup"]), orDash(in.Params["alloc_duration"]))
	writeMachine(w, in.machine)
	writeScaleGoals(w, in)
	writeScaleRuns(w, in)
	writeScaleTiers(w, in)
	writeScaleMemory(w, in)
	writeScaleOut(w, in)
	writeScaleBreakdown(w, in)
	writeScaleProfile(w, in)
	if len(in.Commands) > 0 {
		w("\nThe exact commands, in the order they ran (`$TMP` the run's temporary directory):\n\n```sh\n")
		for _, c := range in.Commands {
			w("%s\n", c)
		}
		w("```\n")
	}
	return b.String()
}

func writeScaleGoals(w func(string, ...any), in *scaleInput) {
	if len(in.Seeds) > 0 {
		w("\nSeeding (`studio bench --seed N --tokens-out FILE`: `Service.CreateBatch`, 100 000 sessions a store write):\n\n| store | sessions | time | sessions/s |\n|---|---|---|---|\n")
		for _, s := range in.Seeds {
			w("| %s | %s | %.1f s | %s |\n", s.Store, group(float64(s.Sessions)), s.Seconds, group(s.SessionsPerS))
		}
	}
	w("\nGoals, each figure beside its baseline from the same round:\n\n| goal | round | Studio | baseline (same round) | ratio | goal | met? |\n|---|---|---|---|---|---|---|\n")
	for _, g := range scaleGoals(in) {
		for i, r := range in.Rounds {
			s, base, v, ok := g.figures(r)
			if !ok {
				continue
			}
			ratio := times(v, nil)
			if g.ratioOf == "abs" {
				ratio = "—"
			}
			verdict := "**not met**"
			if g.met(v) {
				verdict = "**yes**"
			}
			w("| %s | %d | %s | %s: %s | %s | %s | %s |\n", g.label, i+1, s, g.baseline, base, ratio, g.goal, verdict)
		}
	}
}

// scaleLabel names a run in the tables.
func scaleLabel(name string) string {
	switch {
	case name == "redis-get":
		return "(a) plain-GET handler (`studio bench --serve redis-get`; `--target redis-get --url U`)"
	case name == "studio":
		return "(a) **Studio**, `studio serve` on SQLite, Redis holding every copy (`--target http`)"
	case name == "out-1":
		return "(e) **Studio**, 1 instance"
	case strings.HasPrefix(name, "out-"):
		return "(e) **Studio**, " + strings.TrimPrefix(name, "out-") + " instances on the servers' CPUs (`--url U1,U2,…`)"
	case strings.HasSuffix(name, "-baseline"):
		return "(b) plain store-miss handler, " + strings.TrimSuffix(strings.TrimPrefix(name, "miss-"), "-baseline") + " (`studio bench --serve store-miss`), Redis emptied"
	case strings.HasSuffix(name, "-studio"):
		return "(b) **Studio**, " + strings.TrimSuffix(strings.TrimPrefix(name, "miss-"), "-studio") + ", Redis emptied"
	}
	return name
}

func writeScaleRuns(w func(string, ...any), in *scaleInput) {
	w("\nValidations:\n\n| run | round | validations/s | p50 | p99 | p99.9 | errors |\n|---|---|---|---|---|---|---|\n")
	for _, name := range scaleRunNames(in) {
		for i, r := range in.Rounds {
			if m, ok := r.Runs[name]; ok {
				w("| %s | %d | %s | %s | %s | %s | %d |\n", scaleLabel(name), i+1, group(m.OpsPerSec), lat(m.P50), lat(m.P99), lat(m.P999), m.Errors)
			}
		}
	}
}

func writeScaleTiers(w func(string, ...any), in *scaleInput) {
	w("\nWhich tier answered Studio's validations (`studio_session_validations_total` over the run, warm-up included):\n\n| run | round | L1 | Redis | store |\n|---|---|---|---|---|\n")
	for _, name := range scaleRunNames(in) {
		for i, r := range in.Rounds {
			m, ok := r.Runs[name]
			if !ok || m.Tiers == nil {
				continue
			}
			total := 0.0
			for _, v := range m.Tiers {
				total += v
			}
			pct := func(t string) string {
				if total == 0 {
					return "—"
				}
				return fmt.Sprintf("%.1f %%", 100*m.Tiers[t]/total)
			}
			w("| %s | %d | %s | %s | %s |\n", scaleLabel(name), i+1, pct("l1"), pct("redis"), pct("store"))
		}
	}
}

func writeScaleMemory(w func(string, ...any), in *scaleInput) {
	w("\nMemory after (a) (`/proc/PID/status`; the Go heap from `/metrics`), and bytes allocated and CPU time spent per validation over an allocation run (`go_gc_heap_allocs_bytes_total`, less one scrape's own, and `process_cpu_seconds_total`, before and after):\n\n")
	w("| process | round | VmRSS | VmHWM | Go heap in use | Go heap live + garbage | Go runtime total | allocated per validation | CPU per validation | validations |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range []string{"studio", "redis-get"} {
		for i, r := range in.Rounds {
			m, ok := r.Mem[p]
			a, aok := r.Allocs[p]
			if !ok && !aok {
				continue
			}
			label := "**Studio**"
			if p == "redis-get" {
				label = "plain-GET handler"
			}
			per, cpu, n := "—", "—", "—"
			if aok {
				per, n = bytesOf(a.PerOp), group(a.Validations)
				if a.CPUPerOp > 0 {
					cpu = fmt.Sprintf("%.1f µs", a.CPUPerOp)
				}
			}
			if !ok {
				w("| %s | %d | — | — | — | — | — | %s | %s | %s |\n", label, i+1, per, cpu, n)
				continue
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, i+1, mb(m.VmRSSKB*1024), mb(m.VmHWMKB*1024),
				mb(m.HeapInuse), mb(m.HeapAlloc), mb(m.GoSys), per, cpu, n)
		}
	}
}

func writeScaleOut(w func(string, ...any), in *scaleInput) {
	name := "out-" + strconv.Itoa(in.ScaleOut)
	found := false
	for _, r := range in.Rounds {
		_, ok := r.Runs[name]
		found = found || ok
	}
	if !found || in.ScaleOut < 2 {
		return
	}
	w("\nScale-out: %d `studio serve` instances against one Redis and one SQLite file, every instance on the servers' CPUs (on 2 cores: one core shared by all, so the total is what one core does, split):\n\n", in.ScaleOut)
	w("| round | 1 instance | %d instances, total | per instance | total ÷ 1 instance |\n|---|---|---|---|---|\n", in.ScaleOut)
	for i, r := range in.Rounds {
		one, ok1 := r.Runs["out-1"]
		many, ok2 := r.Runs[name]
		if !ok2 {
			continue
		}
		var parts []string
		for _, s := range many.Shares {
			parts = append(parts, fmt.Sprintf("%s/s (p99 %s, %d connections)", group(s.OpsPerSec), lat(s.P99), s.Workers))
		}
		oneText, ratio := "—", "—"
		if ok1 && one.OpsPerSec > 0 {
			oneText, ratio = group(one.OpsPerSec)+"/s", times(many.OpsPerSec/one.OpsPerSec, nil)
		}
		w("| %d | %s | %s/s | %s | %s |\n", i+1, oneText, group(many.OpsPerSec), strings.Join(parts, "; "), ratio)
	}
}

// profileLines is how many lines of each profile's top the doc shows.
const profileLines = 25

func writeScaleProfile(w func(string, ...any), in *scaleInput) {
	for _, p := range []struct {
		lines []string
		title string
	}{
		{in.CPUTop, "Studio's CPU profile during a run of (a) (`go tool pprof -top`; the run is not in the tables)"},
		{in.AllocTop, "Studio's allocations over the same window (`go tool pprof -sample_index=alloc_space -top -base before after`)"},
	} {
		if len(p.lines) == 0 {
			continue
		}
		w("\n%s:\n\n```\n", p.title)
		for i, l := range p.lines {
			if i == profileLines {
				break
			}
			w("%s\n", l)
		}
		w("```\n")
	}
}

// mb formats bytes in MB (10^6 bytes).
func mb(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f MB", v/1e6)
}

// bytesOf formats a byte count: "812 B", "3.1 KB" (10^3).
func bytesOf(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1f KB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}
