package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/internal/notify"
)

// AlertsPath is where an Alertmanager takes alerts (API v2), below its base
// URL.
const AlertsPath = "/api/v2/alerts"

// DefaultResendInterval is how often firing alerts are sent again to an
// Alertmanager when Config.ResendInterval is 0: Prometheus's resend delay.
const DefaultResendInterval = time.Minute

// Alertmanager forwards alerts to a Prometheus Alertmanager, which then
// groups, silences and routes them itself. It is safe for concurrent use;
// the zero value is not usable (use NewAlertmanager).
//
// As Prometheus does, it sends a firing alert with endsAt = now + 4 ×
// ResendInterval, and (as an alert.Resender) has the dispatcher send it
// again every ResendInterval while it fires, each time moving endsAt on.
// If Studio stops sending — every instance died, or lost the Alertmanager
// — the Alertmanager resolves the alert at that endsAt, four resends
// after the last one it got, rather than keeping it firing. A resolved
// alert is sent with its real end (its EndsAt, or now; never in the
// future).
type Alertmanager struct {
	sender *notify.Sender
	cfg    Config
	now    func() time.Time
	resend time.Duration
}

var (
	_ alert.Notifier = (*Alertmanager)(nil)
	_ alert.Resender = (*Alertmanager)(nil)
)

// NewAlertmanager validates cfg and returns an Alertmanager. cfg.URL is the
// Alertmanager's base URL (e.g. "http://alertmanager:9093", or with the
// path prefix it is served under); alerts are POSTed to
// {URL}/api/v2/alerts. Receiver, MaxAlerts and GroupBy are not used. Its
// errors never contain the URL or the Authorization value.
func NewAlertmanager(cfg Config) (*Alertmanager, error) {
	if cfg.ResendInterval < 0 {
		return nil, errors.New("alertmanager: ResendInterval must not be negative")
	}
	target := cfg.URL
	if u, err := notify.ParseURL(cfg.URL); err == nil {
		target = u.JoinPath(AlertsPath).String()
	}
	s, err := newSender("alertmanager", &cfg, target)
	if err != nil {
		return nil, err
	}
	resend := cfg.ResendInterval
	if resend == 0 {
		resend = DefaultResendInterval
	}
	return &Alertmanager{sender: s, cfg: cfg, now: nowFunc(cfg.Now), resend: resend}, nil
}

// ResendInterval implements alert.Resender.
func (m *Alertmanager) ResendInterval() time.Duration { return m.resend }

// firingEndsAt is the endsAt of a firing alert sent at now: four resends
// ahead, as Prometheus sets it (4 × its resend delay, which is longer than
// its evaluation interval as Studio's one-second evaluation is).
func (m *Alertmanager) firingEndsAt(now time.Time) time.Time {
	return now.Add(4 * m.resend).UTC()
}

// postableAlert is an element of the body of POST /api/v2/alerts.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     *time.Time        `json:"startsAt,omitempty"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notify POSTs the alerts (nil ones skipped; none means no request) in one
// request. Label and annotation names are made valid Prometheus names
// (characters other than [a-zA-Z0-9_] become "_"), since an Alertmanager
// refuses the whole request over one bad name. retry and err follow
// alert.Notifier; the error never holds the URL or the Authorization value.
func (m *Alertmanager) Notify(ctx context.Context, alerts ...*alert.Alert) (retry bool, err error) {
	var body []postableAlert
	now := m.now()
	for _, a := range alerts {
		if a == nil {
			continue
		}
		p := postableAlert{
			Labels:       legalNames(alertLabels(a)),
			Annotations:  legalNames(a.Annotations),
			GeneratorURL: a.GeneratorURL,
		}
		if p.GeneratorURL == "" {
			p.GeneratorURL = m.cfg.ExternalURL
		}
		if !a.StartsAt.IsZero() {
			t := a.StartsAt.UTC()
			p.StartsAt = &t
		}
		t := m.firingEndsAt(now)
		if a.Resolved() {
			t = resolvedAt(a, now)
		}
		p.EndsAt = &t
		body = append(body, p)
	}
	if len(body) == 0 {
		return false, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return false, fmt.Errorf("alertmanager: encode alerts: %s", m.sender.Redact(err.Error()))
	}
	if retry, err := m.sender.Send(ctx, b, nil); err != nil {
		return retry, fmt.Errorf("alertmanager: post %d alerts: %w", len(body), err)
	}
	return false, nil
}

// legalNames returns a copy of m whose names match [a-zA-Z_][a-zA-Z0-9_]*;
// nil for an empty m.
func legalNames(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[legalName(k)] = m[k]
	}
	return out
}

func legalName(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
