package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// sketchAccuracy is the relative accuracy of the latency quantiles: a
// reported p99 is within 1 % of the true one.
const sketchAccuracy = 0.01

// recorder is one worker's record of one operation. Not safe for
// concurrent use.
type recorder struct {
	sk      *ddsketch.DDSketch // latency in nanoseconds
	count   int64
	errs    int64
	skipped int64
	max     time.Duration
	kinds   map[string]int64
}

func newRecorder() recorder {
	sk, err := ddsketch.NewDefaultDDSketch(sketchAccuracy)
	if err != nil {
		panic(err) // only for an accuracy outside (0, 1)
	}
	return recorder{sk: sk}
}

func (r *recorder) add(d time.Duration) {
	r.count++
	_ = r.sk.Add(float64(max(d, 0)))
	r.max = max(r.max, d)
}

func (r *recorder) record(d time.Duration, kind string) {
	r.add(d)
	if kind != "" {
		r.errs++
		if r.kinds == nil {
			r.kinds = map[string]int64{}
		}
		r.kinds[kind]++
	}
}

func (r *recorder) merge(o *recorder) {
	_ = r.sk.MergeWith(o.sk)
	r.count += o.count
	r.errs += o.errs
	r.skipped += o.skipped
	r.max = max(r.max, o.max)
	for k, n := range o.kinds {
		if r.kinds == nil {
			r.kinds = map[string]int64{}
		}
		r.kinds[k] += n
	}
}

// Result is what a Run measured; it marshals to JSON as documented by its
// tags. Latencies are in microseconds, from the intended start (open loop)
// or the send (closed loop) to the answer, over every completed
// operation, failed ones included; quantiles are within 1 % (DDSketch).
type Result struct {
	Target      string  `json:"target"`
	Mode        string  `json:"mode"` // "closed" or "open"
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"` // open loop: the target rate, ops/s
	DurationS   float64 `json:"duration_s"`     // the measured window
	WarmupS     float64 `json:"warmup_s"`
	Sessions    int     `json:"sessions"`
	Zipf        float64 `json:"zipf"` // 0: uniform
	Mix         Mix     `json:"mix"`
	Seed        uint64  `json:"seed"`
	// Interrupted: the run was stopped before its end; DurationS is the
	// part measured.
	Interrupted bool `json:"interrupted,omitempty"`

	Validate OpStats `json:"validate"`
	Create   OpStats `json:"create"`
	Revoke   OpStats `json:"revoke"`
	Total    OpStats `json:"total"`

	// RevokedChecked counts re-checks of revoked tokens that were refused,
	// as they must be; RevokedAccepted those that succeeded (correctness
	// errors, also among Validate's errors as "revoked_accepted").
	RevokedChecked  int64 `json:"revoked_checked"`
	RevokedAccepted int64 `json:"revoked_accepted"`
	// RevokeRaced counts validations refused because a concurrent revoke
	// had taken their token (not errors).
	RevokeRaced int64 `json:"revoke_raced"`

	// Schedule is the open loop's bookkeeping; nil for a closed loop.
	Schedule *Schedule `json:"schedule,omitempty"`

	// Shares are the validations each target of a Spread served, in the
	// order of its Targets; nil for any other target.
	Shares []Share `json:"shares,omitempty"`
}

// Share is one Spread target's part of a run: the validations its
// workers sent it in the measured window.
type Share struct {
	Target   string  `json:"target"`
	Workers  int     `json:"workers"`
	Validate OpStats `json:"validate"`
}

// OpStats is the record of one operation (or all, in Result.Total).
type OpStats struct {
	// Count is the operations completed in the window, OK the successful
	// ones, Errors the failed ones (Count = OK + Errors), by kind in
	// ErrorKinds.
	Count      int64            `json:"count"`
	OK         int64            `json:"ok"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// Skipped counts operations not sent because the pool had no session
	// to act on (every session revoked).
	Skipped   int64   `json:"skipped,omitempty"`
	OpsPerSec float64 `json:"ops_per_sec"` // Count / duration
	MeanUS    float64 `json:"mean_us"`
	P50US     float64 `json:"p50_us"`
	P95US     float64 `json:"p95_us"`
	P99US     float64 `json:"p99_us"`
	P999US    float64 `json:"p999_us"`
	MaxUS     float64 `json:"max_us"`
}

// Schedule is an open loop's bookkeeping over the measured window.
type Schedule struct {
	// Intended is the operations the schedule placed in the window, Sent
	// those started by its end, NotSent the rest (the generator fell
	// behind: too few workers for the target's latency).
	Intended int64 `json:"intended"`
	Sent     int64 `json:"sent"`
	NotSent  int64 `json:"not_sent"`
	// AchievedRate is Sent per second of the window.
	AchievedRate float64 `json:"achieved_rate"`
	// StartLag is how late operations were sent after their intended
	// time, in microseconds (timer lateness and waiting for a free worker).
	StartLagP50US float64 `json:"start_lag_p50_us"`
	StartLagP99US float64 `json:"start_lag_p99_us"`
	StartLagMaxUS float64 `json:"start_lag_max_us"`
}

// Op returns the stats of one operation.
func (r *Result) Op(o Op) *OpStats {
	switch o {
	case OpValidate:
		return &r.Validate
	case OpCreate:
		return &r.Create
	case OpRevoke:
		return &r.Revoke
	}
	return nil
}

func (r *runner) result(finished time.Time, interrupted bool) *Result {
	o := r.opts
	window := o.Duration
	if interrupted {
		if finished.After(r.end) {
			finished = r.end
		}
		window = max(finished.Sub(r.measure), 0)
	}
	res := &Result{
		Mode: "closed", Concurrency: o.Concurrency,
		DurationS: window.Seconds(), WarmupS: o.Warmup.Seconds(), Sessions: o.Sessions,
		Zipf: o.Zipf, Mix: o.Mix, Seed: o.Seed, Interrupted: interrupted,
	}
	res.Target = targetName(o.Target)
	if sp, ok := o.Target.(*Spread); ok {
		res.Shares = r.shares(sp, window)
	}
	total, lag := newRecorder(), newRecorder()
	for op := range numOps {
		all := newRecorder()
		for _, w := range r.workers {
			all.merge(&w.rec[op])
		}
		*res.Op(op) = stats(&all, window)
		total.merge(&all)
	}
	res.Total = stats(&total, window)
	for _, w := range r.workers {
		res.RevokedChecked += w.checked
		res.RevokedAccepted += w.accepted
		res.RevokeRaced += w.raced
		lag.merge(&w.lag)
	}
	if o.Rate > 0 {
		res.Mode, res.Rate = "open", o.Rate
		// Operation k is intended at start + k/Rate; count those in
		// [measure, measure+window).
		at := func(d time.Duration) int64 { return int64(math.Ceil(d.Seconds() * o.Rate)) }
		s := &Schedule{Intended: at(o.Warmup+window) - at(o.Warmup)}
		s.Sent = total.count + total.skipped
		s.NotSent = max(s.Intended-s.Sent, 0)
		if window > 0 {
			s.AchievedRate = float64(s.Sent) / window.Seconds()
		}
		s.StartLagP50US, s.StartLagP99US = quantileUS(lag.sk, 0.5), quantileUS(lag.sk, 0.99)
		s.StartLagMaxUS = us(lag.max)
		res.Schedule = s
	}
	return res
}

// shares splits the validations of the workers by the target of sp each
// drove.
func (r *runner) shares(sp *Spread, window time.Duration) []Share {
	out := make([]Share, len(sp.Targets))
	recs := make([]recorder, len(sp.Targets))
	for i, t := range sp.Targets {
		out[i].Target = targetName(t)
		recs[i] = newRecorder()
	}
	for i, w := range r.workers {
		k := sp.targetOf(i)
		out[k].Workers++
		recs[k].merge(&w.rec[OpValidate])
	}
	for i := range out {
		out[i].Validate = stats(&recs[i], window)
	}
	return out
}

func stats(r *recorder, window time.Duration) OpStats {
	s := OpStats{Count: r.count, OK: r.count - r.errs, Errors: r.errs, Skipped: r.skipped, MaxUS: us(r.max)}
	if len(r.kinds) > 0 {
		s.ErrorKinds = maps.Clone(r.kinds)
	}
	if window > 0 {
		s.OpsPerSec = float64(r.count) / window.Seconds()
	}
	if r.count > 0 {
		s.MeanUS = r.sk.GetSum() / float64(r.count) / 1e3
	}
	s.P50US, s.P95US = quantileUS(r.sk, 0.50), quantileUS(r.sk, 0.95)
	s.P99US, s.P999US = quantileUS(r.sk, 0.99), quantileUS(r.sk, 0.999)
	// The sketch's quantile is within 1 % of a real value, which can put
	// it just above the exact maximum.
	for _, q := range []*float64{&s.P50US, &s.P95US, &s.P99US, &s.P999US} {
		*q = min(*q, s.MaxUS)
	}
	return s
}

func quantileUS(sk *ddsketch.DDSketch, q float64) float64 {
	if sk.IsEmpty() {
		return 0
	}
	v, err := sk.GetValueAtQuantile(q)
	if err != nil {
		return 0
	}
	return math.Round(v/10) / 100 // ns → µs, two decimals
}

func us(d time.Duration) float64 { return math.Round(float64(d)/10) / 100 }

// WriteTable writes the result as a table for people: a header line, one
// row per operation that ran (count, ops/s, latency quantiles, errors),
// the total, then errors by kind, the revocation checks and, for an open
// loop, the schedule.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %s ops/s", num(r.Rate))
	}
	zipf := "uniform"
	if r.Zipf > 0 {
		zipf = fmt.Sprintf("zipf %g", r.Zipf)
	}
	fmt.Fprintf(&b, "%s: %s, %d workers, %.1fs (after %.1fs warmup), %d sessions (%s), mix %s\n\n",
		r.Target, mode, r.Concurrency, r.DurationS, r.WarmupS, r.Sessions, zipf, r.Mix)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op      \tcount\tops/s\tp50\tp95\tp99\tp99.9\tmax\terrors\t")
	row := func(name string, s *OpStats) {
		fmt.Fprintf(tw, "%-8s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", name, s.Count, num(s.OpsPerSec),
			lat(s.P50US), lat(s.P95US), lat(s.P99US), lat(s.P999US), lat(s.MaxUS), s.Errors)
	}
	weights := r.Mix.weights()
	for op := range numOps {
		if s := r.Op(op); s.Count > 0 || s.Skipped > 0 || weights[op] > 0 {
			row(op.String(), s)
		}
	}
	row("total", &r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for op := range numOps {
		s := r.Op(op)
		if len(s.ErrorKinds) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(s.ErrorKinds)) {
				parts = append(parts, fmt.Sprintf("%s %d", k, s.ErrorKinds[k]))
			}
			fmt.Fprintf(&b, "%s errors: %s\n", op, strings.Join(parts, ", "))
		}
		if s.Skipped > 0 {
			fmt.Fprintf(&b, "%s skipped (no session left in the pool): %d\n", op, s.Skipped)
		}
	}
	if r.Revoke.Count > 0 || r.RevokedChecked > 0 || r.RevokedAccepted > 0 {
		fmt.Fprintf(&b, "revoked tokens re-validated: %d refused, %d accepted (must be 0); validations raced by a revoke: %d\n",
			r.RevokedChecked, r.RevokedAccepted, r.RevokeRaced)
	}
	if s := r.Schedule; s != nil {
		fmt.Fprintf(&b, "schedule: %d intended, %d sent (%s ops/s), %d not sent; start lag p50 %s, p99 %s, max %s\n",
			s.Intended, s.Sent, num(s.AchievedRate), s.NotSent, lat(s.StartLagP50US), lat(s.StartLagP99US), lat(s.StartLagMaxUS))
	}
	for _, sh := range r.Shares {
		fmt.Fprintf(&b, "%s (%d workers): %d validations, %s/s, p99 %s, %d errors\n",
			sh.Target, sh.Workers, sh.Validate.Count, num(sh.Validate.OpsPerSec), lat(sh.Validate.P99US), sh.Validate.Errors)
	}
	if r.Interrupted {
		b.WriteString("interrupted: the figures cover the part that ran\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lat formats microseconds: "412µs", "3.10ms", "1.20s".
func lat(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	case us >= 10:
		return fmt.Sprintf("%.0fµs", us)
	}
	return fmt.Sprintf("%.2fµs", us)
}

func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
