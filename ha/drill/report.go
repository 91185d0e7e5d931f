package drill

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as an aligned two-column table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	ms := func(v float64) string {
		if v < 0 {
			return "not seen"
		}
		return fmt.Sprintf("%.0f ms", v)
	}
	row("fault", "%s", r.Fault)
	if r.FrozenSentinel != "" {
		row("frozen sentinel", "%s", r.FrozenSentinel)
	}
	row("master", "%s → %s", r.MasterBefore, orDash(r.MasterAfter))
	row("detected (+sdown)", "%s", ms(r.DetectedMS))
	row("objectively down (+odown)", "%s", ms(r.OdownMS))
	row("switched (+switch-master)", "%s", ms(r.SwitchedMS))
	row("all Sentinels agree", "%s", ms(r.AgreedMS))
	row("first write on new master", "%s", ms(r.FirstWriteMS))
	row("write unavailability", "%s", ms(r.WriteUnavailableMS))
	row("writes acked / failed / lost", "%d / %d / %d", r.WritesAcked, r.WritesFailed, r.WritesLost)
	row("write errors", "%s", kinds(r.ErrorsByKind))
	row("validations / failed", "%d / %d", r.Validations, r.ValidationsFailed)
	if r.ValidationsFailed > 0 {
		row("validation errors", "%s", kinds(r.ValidationErrors))
	}
	row("validation p99", "%.2f ms", r.ValidateP99MS)
	row("session creates acked / failed / lost", "%d / %d / %d", r.CreatesAcked, r.CreatesFailed, r.CreatesLost)
	row("recovered", "%v", r.Recovered)
	if r.Rejoined {
		row("old master rejoined as replica", "yes, at %s", ms(r.RejoinedMS))
	} else {
		row("old master rejoined as replica", "no")
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Summary aggregates several drills: the median of each timing and the
// totals of the losses and failures.
type Summary struct {
	Drills                   int     `json:"drills"`
	MedianWriteUnavailableMS float64 `json:"median_write_unavailable_ms"`
	MaxWriteUnavailableMS    float64 `json:"max_write_unavailable_ms"`
	MedianDetectedMS         float64 `json:"median_detected_ms"`
	MedianSwitchedMS         float64 `json:"median_switched_ms"`
	ValidationsFailed        int64   `json:"validations_failed"`
	WritesLost               int64   `json:"writes_lost"`
	CreatesLost              int64   `json:"creates_lost"`
	AllRecovered             bool    `json:"all_recovered"`
	AllRejoined              bool    `json:"all_rejoined"`
}

// Summarize aggregates reports (nil entries are skipped).
func Summarize(reports []*Report) Summary {
	s := Summary{AllRecovered: true, AllRejoined: true}
	var unav, det, sw []float64
	for _, r := range reports {
		if r == nil {
			continue
		}
		s.Drills++
		unav = append(unav, r.WriteUnavailableMS)
		det = append(det, r.DetectedMS)
		sw = append(sw, r.SwitchedMS)
		s.MaxWriteUnavailableMS = max(s.MaxWriteUnavailableMS, r.WriteUnavailableMS)
		s.ValidationsFailed += r.ValidationsFailed
		s.WritesLost += r.WritesLost
		s.CreatesLost += r.CreatesLost
		s.AllRecovered = s.AllRecovered && r.Recovered
		s.AllRejoined = s.AllRejoined && r.Rejoined
	}
	s.MedianWriteUnavailableMS = median(unav)
	s.MedianDetectedMS = median(det)
	s.MedianSwitchedMS = median(sw)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
