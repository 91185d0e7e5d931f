package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/studiohq/studio/alert/config"
)

// State is where an alert is in its life.
type State string

// Alert states: a condition that holds but not yet for the rule's `for`
// duration is pending; then it fires; once the condition stops holding it
// is resolved.
const (
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Alert is one instance of a rule (one label set) as a receiver sees it.
// Receivers must treat an Alert as read-only: the same value may be passed
// to several receivers concurrently.
type Alert struct {
	// Rule is the name of the rule that produced the alert.
	Rule string `json:"rule"`
	// Fingerprint identifies the alert's label set: the same rule and
	// labels give the same fingerprint on every instance and across
	// restarts (hex, 16 characters).
	Fingerprint string `json:"fingerprint"`
	// Labels always include "alertname" (the rule) and "severity".
	Labels map[string]string `json:"labels"`
	// Annotations hold "summary", "description" and "runbook_url" (the
	// rendered templates) and any the rule adds.
	Annotations map[string]string `json:"annotations"`
	Severity    Severity          `json:"severity"`
	State       State             `json:"state"`
	// StartsAt is when the alert began firing (for a pending alert, when
	// its condition began to hold); EndsAt is when it resolved (zero while
	// firing).
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Value is the sample value that last met (or, once resolved, last
	// failed) the rule's condition: once resolved, the value at resolve,
	// unless NoSample.
	Value float64 `json:"value"`
	// FiringValue is the value that last met the condition: Value while
	// the alert fires, the last firing value once it resolved.
	FiringValue float64 `json:"firing_value"`
	// NoSample is true when the alert's sample was absent at its last
	// evaluation (too little traffic, a key gone from the top 10): a
	// resolved alert then has no value at resolve, and Value is the last
	// one seen.
	NoSample bool `json:"no_sample,omitempty"`
	// Unit is what the values measure (the rule's unit, or its sample's),
	// for showing them: "100%" rather than 1 for an error rate.
	Unit config.Unit `json:"unit,omitempty"`
	// DedupKey is stable for the life of the alert (one firing episode)
	// and the same on every instance: receivers use it as PagerDuty's
	// dedup_key and to match a resolve to its trigger.
	DedupKey string `json:"dedup_key"`
	// GeneratorURL links back to Studio (the dashboard), if known.
	GeneratorURL string `json:"generator_url,omitempty"`
}

// Summary is the rendered summary annotation.
func (a *Alert) Summary() string { return a.Annotations["summary"] }

// Description is the rendered description annotation.
func (a *Alert) Description() string { return a.Annotations["description"] }

// RunbookURL is the runbook link annotation.
func (a *Alert) RunbookURL() string { return a.Annotations["runbook_url"] }

// Resolved reports whether the alert has resolved.
func (a *Alert) Resolved() bool { return a.State == StateResolved }

// Notifier delivers alerts to one receiver. Notify sends every alert given
// (firing ones as triggers, resolved ones as resolve notices) and returns
// whether a failure is worth retrying: true for network errors, 5xx and 429
// responses, false for other 4xx (the payload or the credentials are wrong,
// and sending it again cannot help). A nil error means every alert was
// accepted.
//
// Errors must never contain the receiver's URL, routing key or any other
// secret: they are logged and shown to operators. A Notifier must be safe
// for concurrent use.
type Notifier interface {
	Notify(ctx context.Context, alerts ...*Alert) (retry bool, err error)
}

// Resender is implemented by a Notifier whose receiver forgets a firing
// alert that is not sent again in time — an Alertmanager resolves it at
// the endsAt it came with. The dispatcher resends such a receiver's firing
// alerts at least every ResendInterval, whatever the route's
// repeat_interval, and flushes its groups at least four times as often,
// so that each resend is due within a quarter interval.
type Resender interface {
	ResendInterval() time.Duration
}

// RetryAfterError is returned (wrapped or not) by a Notifier whose receiver
// asked to wait before the next attempt (HTTP 429 with Retry-After); the
// dispatcher waits at least After before retrying.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the wait a Notifier's error asks for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}
