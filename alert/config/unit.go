package config

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unit is what a rule's value measures, and so how notifications show it
// ("100%" rather than "1" for an error rate).
type Unit string

// The units a rule may declare.
const (
	UnitCount        Unit = "count"   // a number of things: 1234567
	UnitRatio        Unit = "ratio"   // a fraction, shown as a percentage: 0.05 → 5%
	UnitSeconds      Unit = "seconds" // 90 → 1m 30s
	UnitMilliseconds Unit = "ms"      // 12.5 → 12.5 ms
	UnitBytes        Unit = "bytes"   // 1536 → 1.5 KiB
	UnitDays         Unit = "days"    // 13.5 → 13.5 days
)

var units = []Unit{UnitCount, UnitRatio, UnitSeconds, UnitMilliseconds, UnitBytes, UnitDays}

// Valid reports whether u is one of the known units.
func (u Unit) Valid() bool {
	for _, k := range units {
		if u == k {
			return true
		}
	}
	return false
}

// UnmarshalYAML decodes a unit from a non-empty string (leave the field
// out for the sample's unit); Config checks that it is one of the known
// ones.
func (u *Unit) UnmarshalYAML(n *yaml.Node) error {
	var t text
	if err := t.UnmarshalYAML(n); err != nil {
		return err
	}
	if t == "" {
		return errAt(n, "empty (want one of %s, or leave it out for the sample's unit)", unitNames())
	}
	*u = Unit(t)
	return nil
}

// sampleUnits is the unit of each sample whose value is not a count: a
// rule without a unit of its own takes its sample's.
var sampleUnits = map[string]Unit{
	"cache_hit_rate": UnitRatio, "memory_used_ratio": UnitRatio, "connected_clients_ratio": UnitRatio, "error_rate": UnitRatio,
	"latency_p50_ms": UnitMilliseconds, "latency_p95_ms": UnitMilliseconds, "latency_p99_ms": UnitMilliseconds,
	"used_memory_bytes": UnitBytes, "cert_expiry_days": UnitDays,
}

// ValueUnit is the unit of the rule's value: its unit field, else its
// sample's (a ratio for cache_hit_rate, bytes for used_memory_bytes, …),
// else a count (event rules: the number of events).
func (r *Rule) ValueUnit() Unit {
	switch {
	case r.Unit != "":
		return r.Unit
	case r.Expr != nil && sampleUnits[r.Expr.Sample] != "":
		return sampleUnits[r.Expr.Sample]
	}
	return UnitCount
}

// Format shows v in unit u: a count in full when whole (1234567, not
// 1.23457e+06), a ratio as a percentage, seconds as a duration (1m 30s),
// bytes in binary multiples; an unknown unit as a count.
func (u Unit) Format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch u {
	case UnitRatio:
		s, _ := humanizePercentage(v)
		return s
	case UnitSeconds:
		s, _ := humanizeDuration(v)
		return s
	case UnitMilliseconds:
		return trimFloat(v) + " ms"
	case UnitBytes:
		s, _ := humanizeBytes(v)
		return s
	case UnitDays:
		if v == 1 {
			return "1 day"
		}
		return trimFloat(v) + " days"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// trimFloat shows v with at most four significant digits.
func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if strings.ContainsAny(s, "e") {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return s
}

// unitNames lists the units for error messages.
func unitNames() string {
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = string(u)
	}
	return strings.Join(names, ", ")
}
