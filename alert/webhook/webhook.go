// Package webhook sends Studio alerts to HTTP endpoints in Prometheus
// Alertmanager's formats:
//
//   - Notifier POSTs Alertmanager's webhook_config payload (version "4") to
//     any URL, so tools written for Alertmanager webhooks work unchanged;
//   - Alertmanager forwards alerts to an Alertmanager's API
//     (POST {base}/api/v2/alerts), for teams that route with their own
//     Alertmanager.
//
// Both send every alert of a Notify call in one request, and both retry on
// network errors, 408, 429 and 5xx (see alert.Notifier).
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/internal/notify"
)

// Version is the webhook payload version Alertmanager documents.
const Version = "4"

// DefaultReceiver is the "receiver" sent when Config.Receiver is empty.
const DefaultReceiver = "studio"

// Config configures a Notifier or an Alertmanager.
type Config struct {
	// URL is where the webhook is POSTed; for NewAlertmanager, the
	// Alertmanager's base URL (alerts go to {URL}/api/v2/alerts). Required,
	// http or https. It is treated as a secret: it never appears in an
	// error.
	URL string
	// Client sends the requests; nil means a client with a 10 s timeout
	// that does not follow redirects.
	Client *http.Client
	// Authorization, if set, is sent as the Authorization header (e.g.
	// "Bearer <token>"). It is a secret: it never appears in an error.
	Authorization string
	// Receiver is the payload's "receiver"; "" means DefaultReceiver.
	// Notifier only.
	Receiver string
	// ExternalURL is the payload's "externalURL" (Studio's dashboard);
	// for an Alertmanager, the generatorURL of alerts that have none.
	// Optional; if set it must be an absolute http(s) URL.
	ExternalURL string
	// MaxAlerts caps the alerts in one payload, the rest being counted in
	// "truncatedAlerts" (Alertmanager's max_alerts); firing alerts are kept
	// ahead of resolved ones. 0 means no limit. Notifier only.
	MaxAlerts int
	// GroupBy names the labels that make "groupLabels" (those whose value
	// is the same in every alert sent) and so "groupKey"; nil means
	// ["alertname"]. Notifier only.
	GroupBy []string
	// Now is the clock for the endsAt of resolved alerts that have none
	// (and an Alertmanager's endsAt of firing alerts); nil means time.Now.
	Now func() time.Time
	// ResendInterval is how often firing alerts are sent again to an
	// Alertmanager, whose endsAt is 4 × ResendInterval ahead; 0 means
	// DefaultResendInterval. Alertmanager only.
	ResendInterval time.Duration
}

// Notifier POSTs alerts in Alertmanager's webhook format. It is safe for
// concurrent use; the zero value is not usable (use New).
type Notifier struct {
	sender *notify.Sender
	cfg    Config
	now    func() time.Time
}

var _ alert.Notifier = (*Notifier)(nil)

// New validates cfg and returns a Notifier. Its errors name the setting at
// fault and never contain the URL or the Authorization value.
func New(cfg Config) (*Notifier, error) {
	s, err := newSender("webhook", &cfg, cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAlerts < 0 {
		return nil, errors.New("webhook: MaxAlerts must not be negative")
	}
	if cfg.Receiver == "" {
		cfg.Receiver = DefaultReceiver
	}
	if cfg.GroupBy == nil {
		cfg.GroupBy = []string{"alertname"}
	}
	cfg.GroupBy = slices.Clone(cfg.GroupBy)
	return &Notifier{sender: s, cfg: cfg, now: nowFunc(cfg.Now)}, nil
}

func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}

// newSender validates what Notifier and Alertmanager share and builds the
// Sender for target.
func newSender(what string, cfg *Config, target string) (*notify.Sender, error) {
	u, err := notify.ParseURL(target)
	if err != nil {
		return nil, fmt.Errorf("%s: URL %w", what, err)
	}
	if cfg.ExternalURL != "" && !notify.IsLink(cfg.ExternalURL) {
		return nil, fmt.Errorf("%s: ExternalURL must be an absolute http or https URL", what)
	}
	if strings.ContainsAny(cfg.Authorization, "\r\n") {
		return nil, fmt.Errorf("%s: Authorization must be one line", what)
	}
	var h http.Header
	if cfg.Authorization != "" {
		h = http.Header{"Authorization": {cfg.Authorization}}
	}
	return notify.NewSender(notify.Config{URL: u, Client: cfg.Client, Header: h, Now: nowFunc(cfg.Now)}), nil
}

// Notify POSTs the alerts (nil ones skipped; none means no request) as one
// webhook payload. The payload's status is "firing" if any alert is not
// resolved, else "resolved"; an alert in any state other than resolved is
// sent as firing. retry and err follow alert.Notifier; the error never holds
// the URL or the Authorization value.
func (n *Notifier) Notify(ctx context.Context, alerts ...*alert.Alert) (retry bool, err error) {
	alerts = slices.DeleteFunc(slices.Clone(alerts), func(a *alert.Alert) bool { return a == nil })
	if len(alerts) == 0 {
		return false, nil
	}
	body, err := json.Marshal(n.payload(alerts))
	if err != nil {
		return false, fmt.Errorf("webhook: encode payload: %s", n.sender.Redact(err.Error()))
	}
	if retry, err := n.sender.Send(ctx, body, nil); err != nil {
		return retry, fmt.Errorf("webhook: post %d alerts: %w", len(alerts), err)
	}
	return false, nil
}

// payload is Alertmanager's webhook message (version 4).
type payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func (n *Notifier) payload(alerts []*alert.Alert) *payload {
	p := &payload{
		Version:     Version,
		Status:      "resolved",
		Receiver:    n.cfg.Receiver,
		ExternalURL: n.cfg.ExternalURL,
	}
	labels := make([]map[string]string, len(alerts))
	annotations := make([]map[string]string, len(alerts))
	for i, a := range alerts {
		labels[i] = alertLabels(a)
		annotations[i] = nonNil(a.Annotations)
		if !a.Resolved() {
			p.Status = "firing"
		}
	}
	p.CommonLabels = common(labels)
	p.CommonAnnotations = common(annotations)
	p.GroupLabels = map[string]string{}
	for _, k := range n.cfg.GroupBy {
		if v, ok := p.CommonLabels[k]; ok {
			p.GroupLabels[k] = v
		}
	}
	p.GroupKey = "{}:" + labelSetString(p.GroupLabels)

	order := make([]int, len(alerts))
	for i := range order {
		order[i] = i
	}
	if n.cfg.MaxAlerts > 0 && len(alerts) > n.cfg.MaxAlerts {
		// Keep firing alerts ahead of resolved ones when some must go.
		slices.SortStableFunc(order, func(i, j int) int {
			return boolInt(alerts[i].Resolved()) - boolInt(alerts[j].Resolved())
		})
		order = order[:n.cfg.MaxAlerts]
		p.TruncatedAlerts = len(alerts) - n.cfg.MaxAlerts
	}
	for _, i := range order {
		a := alerts[i]
		w := webhookAlert{
			Status:       "firing",
			Labels:       labels[i],
			Annotations:  annotations[i],
			StartsAt:     a.StartsAt.UTC(),
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.Fingerprint,
		}
		if a.Resolved() {
			w.Status = "resolved"
			w.EndsAt = resolvedAt(a, n.now())
		}
		p.Alerts = append(p.Alerts, w)
	}
	return p
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// alertLabels is a copy of a's labels with alertname set.
func alertLabels(a *alert.Alert) map[string]string {
	l := nonNil(a.Labels)
	if l["alertname"] == "" && a.Rule != "" {
		l["alertname"] = a.Rule
	}
	return l
}

// resolvedAt is when a resolved: its EndsAt, else now, never in the future
// (a receiver would take a future end for still firing) and never before
// StartsAt.
func resolvedAt(a *alert.Alert, now time.Time) time.Time {
	t := a.EndsAt
	if t.IsZero() || t.After(now) {
		t = now
	}
	if t.Before(a.StartsAt) {
		t = a.StartsAt
	}
	return t.UTC()
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// common returns the pairs present, with the same value, in every map.
func common(ms []map[string]string) map[string]string {
	out := map[string]string{}
	if len(ms) == 0 {
		return out
	}
	for k, v := range ms[0] {
		all := true
		for _, m := range ms[1:] {
			if w, ok := m[k]; !ok || w != v {
				all = false
				break
			}
		}
		if all {
			out[k] = v
		}
	}
	return out
}

// labelSetString formats labels as Alertmanager does in a group key:
// {a="1", b="2"}, sorted by name.
func labelSetString(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=" + strconv.Quote(l[k]))
	}
	b.WriteByte('}')
	return b.String()
}
