package receivertest

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"time"

	"github.com/studiohq/studio/alert"
)

// Start is the StartsAt of the alerts Alert makes.
var Start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Alert returns a firing alert filled in as the engine hands one to a
// receiver: labels alertname, severity and instance; annotations summary,
// description and runbook_url; a fingerprint and dedup key derived from the
// rule; StartsAt = Start; Value and FiringValue 0.25 (a count); a
// GeneratorURL. Each call returns a
// new value the caller may change.
func Alert(rule string, sev alert.Severity) *alert.Alert {
	sum := sha256.Sum256([]byte(rule))
	fp := hex.EncodeToString(sum[:8])
	return &alert.Alert{
		Rule:        rule,
		Fingerprint: fp,
		Labels:      map[string]string{"alertname": rule, "severity": string(sev), "instance": "redis-1:6379"},
		Annotations: map[string]string{
			"summary":     rule + " on redis-1:6379",
			"description": "The condition of rule " + rule + " has held for 1m.",
			"runbook_url": "https://runbooks.example.com/" + rule,
		},
		Severity:     sev,
		State:        alert.StateFiring,
		StartsAt:     Start,
		Value:        0.25,
		FiringValue:  0.25,
		DedupKey:     rule + "/" + fp + "/" + Start.Format("20060102T150405Z"),
		GeneratorURL: "https://studio.example.com/studio/redis",
	}
}

// Resolved returns a copy of a, resolved at endsAt.
func Resolved(a *alert.Alert, endsAt time.Time) *alert.Alert {
	r := *a
	r.Labels = maps.Clone(a.Labels)
	r.Annotations = maps.Clone(a.Annotations)
	r.State = alert.StateResolved
	r.EndsAt = endsAt
	return &r
}
