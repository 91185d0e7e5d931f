package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// breakdownRow is one part of Studio's CPU time in the profiled run: the
// samples under a function (pprof's cum), as a share of all samples and
// as time per validation.
type breakdownRow struct {
	Label  string
	Func   string  // the function whose cum it is ("" for the total)
	Share  float64 // of all samples, 0–1; -1 when pprof dropped the node
	PerOp  float64 // µs per validation; 0 when the run's rate is unknown
	Indent int
}

// breakdownParts names the functions whose cumulative samples make the
// breakdown, in the order of the request path, each with the depth it is
// shown at (a part of the row above it at a smaller depth).
var breakdownParts = []struct {
	fn, label string
	indent    int
}{
	{"net/http.(*conn).serve", "serving requests: `net/http`'s connection loop and all it calls", 0},
	{"net/http.(*conn).readRequest", "reading and parsing the request (`net/http`)", 1},
	{"github.com/studiohq/studio/internal/server.(*Server).middleware.func2", "Studio's middleware and handler", 1},
	{"github.com/studiohq/studio/session.(*Service).Validate", "the validation (`Service.Validate`)", 2},
	{"github.com/studiohq/studio/session.(*Service).redisGet", "its Redis GET (go-redis with Studio's hooks and breaker)", 3},
	{"github.com/studiohq/studio/session.(*Service).l1Put", "the L1 insert (otter, evictions included)", 3},
	{"github.com/studiohq/studio/session.(*toucher).record", "recording the use for last_seen_at", 3},
	{"github.com/studiohq/studio/session.decodeCached", "decoding the Redis value", 3},
	{"github.com/studiohq/studio/session.(*Service).observeKey", "hot-key observation", 3},
	{"github.com/studiohq/studio/internal/server.writeSession", "the session's JSON", 2},
	{"github.com/studiohq/studio/internal/server.(*accessLog).write", "the access log (default `sampled`: errors, slow requests, a route's first each second)", 2},
	{"net/http.(*response).finishRequest", "writing the response to the socket (`net/http`)", 1},
	{"github.com/studiohq/studio/session.(*Service).flushTouches", "the last_seen_at flusher (background)", 0},
	{"github.com/studiohq/studio/session/sqlstore.(*Store).Touch", "the store's batched UPDATE (`Store.Touch`)", 1},
	{"github.com/studiohq/studio/session.(*Service).extendCopies", "extending the Redis copies of live sessions", 1},
	{"github.com/studiohq/studio/session.(*Service).refreshLoop", "refresh-ahead of L1 entries near expiry (background)", 0},
	{"runtime.gcBgMarkWorker", "the garbage collector's background marking", 0},
}

// cumLine is one row of `go tool pprof -top -cum`: flat, flat%, sum%,
// cum, cum%, then the function's name (which may hold spaces).
var cumLine = regexp.MustCompile(`^\s*\S+\s+\S+%\s+\S+%\s+(\S+)\s+(\S+)%\s+(.+?)\s*$`)

// totalLine is the header's "Total samples = 8.21s".
var totalLine = regexp.MustCompile(`Total samples = ([0-9.]+)(ms|s|mins|hrs)`)

// loadBreakdown reads studio-cpu-top-cum.txt and the profiled run's rate
// (scale-profiled-run.json) into the breakdown; nil when the profile is
// missing. profileSeconds is the profile's duration ("" when unknown:
// then no time per validation).
func loadBreakdown(dir, profileSeconds string) ([]breakdownRow, error) {
	b, err := os.ReadFile(filepath.Join(dir, "studio-cpu-top-cum.txt"))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	text := string(b)
	m := totalLine.FindStringSubmatch(text)
	if m == nil {
		return nil, fmt.Errorf("studio-cpu-top-cum.txt: no %q line", "Total samples")
	}
	total, err := seconds(m[1], m[2])
	if err != nil || total <= 0 {
		return nil, fmt.Errorf("studio-cpu-top-cum.txt: bad total %q", m[0])
	}
	cum := map[string]float64{}
	for l := range strings.SplitSeq(text, "\n") {
		if f := cumLine.FindStringSubmatch(l); f != nil {
			if v, err := durationSeconds(f[1]); err == nil {
				cum[f[3]] = v
			}
		}
	}
	var ops float64 // validations in the profile's window
	run, ok, err := readScaleRun(filepath.Join(dir, "scale-profiled-run.json"))
	if err != nil {
		return nil, err
	}
	if ps, perr := strconv.ParseFloat(profileSeconds, 64); ok && perr == nil {
		ops = run.OpsPerSec * ps
	}
	rows := []breakdownRow{{Label: "all of Studio's CPU samples", Share: 1, PerOp: perOp(total, ops)}}
	for _, p := range breakdownParts {
		r := breakdownRow{Label: p.label, Func: p.fn, Share: -1, Indent: p.indent}
		if v, ok := cum[p.fn]; ok {
			r.Share, r.PerOp = v/total, perOp(v, ops)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func perOp(sec, ops float64) float64 {
	if ops <= 0 {
		return 0
	}
	return sec * 1e6 / ops
}

// durationSeconds parses pprof's "3.46s", "120ms", "1.5mins".
func durationSeconds(v string) (float64, error) {
	for _, u := range []string{"ms", "mins", "hrs", "s"} {
		if n, ok := strings.CutSuffix(v, u); ok {
			return seconds(n, u)
		}
	}
	return 0, fmt.Errorf("no unit in %q", v)
}

func seconds(n, unit string) (float64, error) {
	v, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0, err
	}
	return v * map[string]float64{"ms": 1e-3, "s": 1, "mins": 60, "hrs": 3600}[unit], nil
}

func writeScaleBreakdown(w func(string, ...any), in *scaleInput) {
	if len(in.Breakdown) == 0 {
		return
	}
	w("\nWhere Studio's CPU goes during the profiled run of (a) below: each part is the samples under its function, as `go tool pprof -top -cum` counts them; its time per validation is that CPU time over the validations of the profile's window (the run's rate × the profile's seconds); a part of the row above it is indented; — is a function under pprof's 0.5 %% cut-off or inlined:\n\n")
	w("| part | function | share of Studio's CPU | per validation |\n|---|---|---|---|\n")
	for _, r := range in.Breakdown {
		label := strings.Repeat("… ", r.Indent) + r.Label
		fn := "—"
		if r.Func != "" {
			fn = "`" + strings.TrimPrefix(r.Func, "github.com/studiohq/studio/") + "`"
		}
		share, per := "—", "—"
		if r.Share >= 0 {
			share = fmt.Sprintf("%.1f %%", r.Share*100)
			if r.PerOp > 0 {
				per = fmt.Sprintf("%.1f µs", r.PerOp)
			}
		}
		w("| %s | %s | %s | %s |\n", label, fn, share, per)
	}
}
