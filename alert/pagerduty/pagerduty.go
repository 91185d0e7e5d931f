// Package pagerduty sends Studio alerts to PagerDuty through the Events API
// v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/).
//
// Each alert becomes one event: a firing alert a "trigger", a resolved one a
// "resolve", both carrying the alert's DedupKey as dedup_key so PagerDuty
// folds repeats into one incident and the resolve closes it. Triggers are
// idempotent for PagerDuty (same dedup_key), so resending a whole batch
// after a partial failure is safe.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/internal/notify"
)

// DefaultURL is the Events API v2 endpoint (Studio's PAGERDUTY_EVENTS_URL
// setting overrides it, e.g. for the EU service region or a test receiver).
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Limits PagerDuty documents for an event.
const (
	MaxSummaryLen  = 1024 // payload.summary
	MaxDedupKeyLen = 255  // dedup_key
)

// Config configures a Notifier.
type Config struct {
	// URL is the Events API v2 enqueue endpoint; "" means DefaultURL.
	URL string
	// RoutingKey is the integration key of an Events API v2 integration
	// (32 characters). Required. It is a secret: it never appears in an
	// error.
	RoutingKey string
	// Client sends the events; nil means a client with a 10 s timeout
	// that does not follow redirects.
	Client *http.Client
	// Source is payload.source, "the unique location of the affected
	// system" (e.g. the instance's hostname). When empty the alert's
	// "instance" label is used, then "studio".
	Source string
	// Component, Group and Class fill the optional payload fields of the
	// same names; an empty Class means the alert's rule name.
	Component, Group, Class string
	// ClientName is the event's "client"; "" means "Studio".
	ClientName string
	// ClientURL is the event's "client_url" (the Studio dashboard), also
	// linked from the event when the alert has no GeneratorURL. Optional;
	// if set it must be an absolute http(s) URL.
	ClientURL string
	// Now is the clock for the timestamp of events whose alert has none;
	// nil means time.Now.
	Now func() time.Time
}

// Notifier sends alerts to PagerDuty. It is safe for concurrent use; the
// zero value is not usable (use New).
type Notifier struct {
	sender     *notify.Sender
	routingKey string
	cfg        Config
	now        func() time.Time
}

var _ alert.Notifier = (*Notifier)(nil)

// New validates cfg and returns a Notifier. Its errors name the setting at
// fault and never contain the routing key or the URL.
func New(cfg Config) (*Notifier, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	u, err := notify.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pagerduty: URL %w", err)
	}
	switch {
	case cfg.RoutingKey == "":
		return nil, errors.New("pagerduty: RoutingKey must not be empty")
	case strings.IndexFunc(cfg.RoutingKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return nil, errors.New("pagerduty: RoutingKey must not contain white space or control characters")
	}
	if cfg.ClientURL != "" && !notify.IsLink(cfg.ClientURL) {
		return nil, errors.New("pagerduty: ClientURL must be an absolute http or https URL")
	}
	if cfg.ClientName == "" {
		cfg.ClientName = "Studio"
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Notifier{
		sender: notify.NewSender(notify.Config{
			URL:     u,
			Client:  cfg.Client,
			Secrets: []string{cfg.RoutingKey},
			Now:     now,
		}),
		routingKey: cfg.RoutingKey,
		cfg:        cfg,
		now:        now,
	}, nil
}

// Notify sends one event per alert, in order (nil alerts are skipped). An
// alert PagerDuty refuses (400) does not stop the others; the first
// retryable failure (network error, 429, 5xx) does, since PagerDuty is then
// unavailable or throttling and the caller will resend the batch. retry is
// true if any failure is retryable; a 429 with Retry-After yields an
// *alert.RetryAfterError. The error joins one error per failed alert, each
// naming the alert by rule and fingerprint and never holding the routing key
// or the URL.
func (n *Notifier) Notify(ctx context.Context, alerts ...*alert.Alert) (retry bool, err error) {
	var errs []error
	for _, a := range alerts {
		if a == nil {
			continue
		}
		ev, err := n.event(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("pagerduty: alert %s: %w", ident(a), err))
			continue
		}
		body, err := json.Marshal(ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("pagerduty: alert %s: encode event: %s", ident(a), n.sender.Redact(err.Error())))
			continue
		}
		r, err := n.sender.Send(ctx, body, errorDetail)
		if err != nil {
			errs = append(errs, fmt.Errorf("pagerduty: %s alert %s: %w", ev.EventAction, ident(a), err))
			if r {
				retry = true
				break
			}
		}
	}
	return retry, errors.Join(errs...)
}

// ident names an alert in an error.
func ident(a *alert.Alert) string {
	if a.Fingerprint == "" {
		return a.Rule
	}
	return a.Rule + "/" + a.Fingerprint
}

// event is an Events API v2 event.
type event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []link   `json:"links,omitempty"`
}

type payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// event builds the event for a. A resolve carries only what PagerDuty reads
// for it (routing_key, event_action, dedup_key).
func (n *Notifier) event(a *alert.Alert) (*event, error) {
	key, err := dedupKey(a)
	if err != nil {
		return nil, err
	}
	ev := &event{RoutingKey: n.routingKey, DedupKey: key}
	if a.Resolved() {
		ev.EventAction = "resolve"
		return ev, nil
	}
	ev.EventAction = "trigger"
	ev.Client = n.cfg.ClientName
	ev.ClientURL = n.cfg.ClientURL
	ts := a.StartsAt
	if ts.IsZero() {
		ts = n.now()
	}
	class := n.cfg.Class
	if class == "" {
		class = a.Rule
	}
	ev.Payload = &payload{
		Summary:       summary(a),
		Source:        source(n.cfg.Source, a),
		Severity:      Severity(a.Severity),
		Timestamp:     ts.UTC().Format(time.RFC3339Nano),
		Component:     n.cfg.Component,
		Group:         n.cfg.Group,
		Class:         class,
		CustomDetails: customDetails(a),
	}
	if u := a.RunbookURL(); notify.IsLink(u) {
		ev.Links = append(ev.Links, link{Href: u, Text: "Runbook"})
	}
	dash := a.GeneratorURL
	if !notify.IsLink(dash) {
		dash = n.cfg.ClientURL
	}
	if dash != "" {
		ev.Links = append(ev.Links, link{Href: dash, Text: "Studio dashboard"})
	}
	return ev, nil
}

// dedupKey is the alert's DedupKey (its Fingerprint if it has none). A key
// longer than PagerDuty's 255 characters is replaced by its SHA-256 (hex),
// which stays stable and unique where cutting it would not.
func dedupKey(a *alert.Alert) (string, error) {
	k := a.DedupKey
	if k == "" {
		k = a.Fingerprint
	}
	if k == "" {
		return "", errors.New("alert has neither a dedup key nor a fingerprint")
	}
	if len(k) > MaxDedupKeyLen {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return k, nil
}

// Severity maps a Studio severity to PagerDuty's (critical, error, warning,
// info). An unknown or empty severity maps to "error", so it still pages.
func Severity(s alert.Severity) string {
	switch s {
	case alert.SeverityCritical:
		return "critical"
	case alert.SeverityWarning:
		return "warning"
	case alert.SeverityInfo:
		return "info"
	}
	return "error"
}

// summary is the alert's summary annotation (else its rule name), at most
// MaxSummaryLen bytes.
func summary(a *alert.Alert) string {
	s := strings.TrimSpace(a.Summary())
	if s == "" {
		s = a.Rule
	}
	if s == "" {
		s = "Studio alert"
	}
	return notify.Truncate(s, MaxSummaryLen)
}

func source(configured string, a *alert.Alert) string {
	if configured != "" {
		return configured
	}
	if s := a.Labels["instance"]; s != "" {
		return s
	}
	return "studio"
}

func customDetails(a *alert.Alert) map[string]any {
	d := map[string]any{
		"rule":        a.Rule,
		"fingerprint": a.Fingerprint,
		"state":       string(a.State),
		"severity":    string(a.Severity),
		"value":       jsonNumber(a.Value),
		"labels":      nonNil(a.Labels),
		"annotations": nonNil(a.Annotations),
	}
	if !a.StartsAt.IsZero() {
		d["starts_at"] = a.StartsAt.UTC().Format(time.RFC3339Nano)
	}
	if a.GeneratorURL != "" {
		d["generator_url"] = a.GeneratorURL
	}
	return d
}

// jsonNumber returns v, or its text for NaN and ±Inf, which JSON cannot
// carry as numbers.
func jsonNumber(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return v
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// errorDetail extracts PagerDuty's reason from an error response:
// {"status":"invalid event","message":"Event object is invalid","errors":["…"]}.
// A body that is not such JSON is returned as text.
func errorDetail(body []byte) string {
	var r struct {
		Status  string            `json:"status"`
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return string(body)
	}
	head := r.Message
	if head == "" {
		head = r.Status
	}
	var errs []string
	for _, e := range r.Errors {
		var s string
		if json.Unmarshal(e, &s) != nil {
			s = string(e) // not a string: show it as it came
		}
		if s != "" {
			errs = append(errs, s)
		}
	}
	switch {
	case head == "" && len(errs) == 0:
		return string(body)
	case len(errs) == 0:
		return head
	case head == "":
		return strings.Join(errs, "; ")
	}
	return head + ": " + strings.Join(errs, "; ")
}
