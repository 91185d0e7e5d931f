// Package slack sends Studio alerts to a Slack channel through an incoming
// webhook (https://api.slack.com/messaging/webhooks), as Block Kit messages
// with the top-level text Slack uses for notifications.
//
// Grouping: the alerts of one Notify call go in as few messages as Slack's
// 50-block limit allows (each alert takes at most five blocks: header,
// section, context, actions and a divider, so ten alerts a message); more
// alerts are split over several messages, each waiting its turn at the
// rate limiter. A resolved alert is shown as RESOLVED.
//
// Rate limit: at most one message per second per webhook URL, shared by
// every Notifier in the process (see Limiter). A 429 from Slack blocks the
// URL for its Retry-After and is returned as an *alert.RetryAfterError.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/internal/notify"
)

// Slack's Block Kit limits that the messages are built within.
const (
	MaxBlocks        = 50   // blocks in a message
	maxHeaderText    = 150  // header block plain_text
	maxSectionText   = 3000 // section text
	maxFieldText     = 2000 // each section field
	maxContextText   = 2000 // each context element
	maxButtonText    = 75   // button label
	maxButtonURL     = 3000 // button url
	maxFallbackText  = 3000 // top-level text (Slack truncates at 40,000)
	blocksPerAlert   = 5
	alertsPerMessage = MaxBlocks / blocksPerAlert
)

// Config configures a Notifier.
type Config struct {
	// WebhookURL is the incoming webhook URL (Studio's SLACK_WEBHOOK_URL).
	// It must be https; plain http is accepted only for a loopback host
	// (localhost, 127.0.0.0/8, ::1), for local receivers in tests. It is a
	// secret: it never appears in an error.
	WebhookURL string
	// Client sends the messages; nil means a client with a 10 s timeout
	// that does not follow redirects.
	Client *http.Client
	// Limiter spaces the messages; nil means the process-wide default
	// Limiter (one message per second per webhook URL, real clock).
	Limiter *Limiter
	// Channel, if set, names the channel to post to ("#ops", "@someone"
	// or a channel ID), sent as the payload's "channel". Legacy incoming
	// webhooks honour it; the webhooks of Slack apps ignore it and post to
	// the channel chosen when the app was installed.
	Channel string
	// DashboardURL is linked from every alert that has no GeneratorURL.
	// Optional; if set it must be an absolute http(s) URL.
	DashboardURL string
}

// Notifier posts alerts to one Slack incoming webhook. It is safe for
// concurrent use; the zero value is not usable (use New).
type Notifier struct {
	sender    *notify.Sender
	key       string // the limiter's key: the webhook URL
	limiter   *Limiter
	dashboard string
	channel   string
}

var _ alert.Notifier = (*Notifier)(nil)

// New validates cfg and returns a Notifier. Its errors name the setting at
// fault and never contain the webhook URL.
func New(cfg Config) (*Notifier, error) {
	u, err := notify.ParseURL(cfg.WebhookURL)
	if err != nil {
		return nil, fmt.Errorf("slack: WebhookURL %w", err)
	}
	if u.Scheme != "https" && !notify.IsLoopback(u) {
		return nil, errors.New("slack: WebhookURL must use https (http is accepted only for a loopback host)")
	}
	if cfg.DashboardURL != "" && !notify.IsLink(cfg.DashboardURL) {
		return nil, errors.New("slack: DashboardURL must be an absolute http or https URL")
	}
	l := cfg.Limiter
	if l == nil {
		l = defaultLimiter
	}
	return &Notifier{
		sender:    notify.NewSender(notify.Config{URL: u, Client: cfg.Client, Now: l.now}),
		key:       u.String(),
		limiter:   l,
		dashboard: cfg.DashboardURL,
		channel:   cfg.Channel,
	}, nil
}

// Notify posts the alerts (nil ones skipped) as one message, or several
// when they need more than MaxBlocks blocks, each after waiting its turn at
// the Limiter (which honours ctx). It stops at the first failure; messages
// already posted stay posted, so a retried batch may repeat them.
//
// retry is true for network errors, 429 and 5xx. While Slack's Retry-After
// is in force, Notify sends nothing and returns an *alert.RetryAfterError
// with the time left. Other 4xx answers (Slack's "invalid_payload",
// "no_service", "channel_not_found", …) give retry=false with Slack's reason
// in the error, which never holds the webhook URL.
func (n *Notifier) Notify(ctx context.Context, alerts ...*alert.Alert) (retry bool, err error) {
	alerts = slices.DeleteFunc(slices.Clone(alerts), func(a *alert.Alert) bool { return a == nil })
	for chunk := range slices.Chunk(alerts, alertsPerMessage) {
		body, err := json.Marshal(n.message(chunk))
		if err != nil {
			return false, fmt.Errorf("slack: encode message: %s", n.sender.Redact(err.Error()))
		}
		if _, err := n.limiter.wait(ctx, n.key); err != nil {
			if be, ok := errors.AsType[*blockedError](err); ok {
				return true, &alert.RetryAfterError{After: be.after, Err: fmt.Errorf("slack: %w", be)}
			}
			return true, fmt.Errorf("slack: wait for rate limit: %w", err)
		}
		retry, err := n.sender.Send(ctx, body, nil)
		if err != nil {
			if d, ok := alert.RetryAfter(err); ok {
				n.limiter.block(n.key, d)
			}
			return retry, fmt.Errorf("slack: post message: %w", err)
		}
	}
	return false, nil
}

// message is an incoming-webhook payload.
type message struct {
	Channel string  `json:"channel,omitempty"`
	Text    string  `json:"text"`
	Blocks  []block `json:"blocks"`
}

type block struct {
	Type     string     `json:"type"`
	Text     *textObj   `json:"text,omitempty"`
	Fields   []*textObj `json:"fields,omitempty"`
	Elements []any      `json:"elements,omitempty"`
}

type textObj struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type button struct {
	Type     string   `json:"type"` // button
	Text     *textObj `json:"text"`
	URL      string   `json:"url"`
	ActionID string   `json:"action_id"`
}

func plain(s string, max int) *textObj {
	return &textObj{Type: "plain_text", Text: notify.Truncate(s, max), Emoji: true}
}

func mrkdwn(s string) *textObj { return &textObj{Type: "mrkdwn", Text: s} }

func (n *Notifier) message(alerts []*alert.Alert) message {
	m := message{Channel: n.channel, Text: fallbackText(alerts)}
	for i, a := range alerts {
		if i > 0 {
			m.Blocks = append(m.Blocks, block{Type: "divider"})
		}
		m.Blocks = append(m.Blocks, n.alertBlocks(a)...)
	}
	return m
}

// status is the word and emoji shown for a.
func status(a *alert.Alert) (emoji, word string) {
	if a.Resolved() {
		return ":white_check_mark:", "RESOLVED"
	}
	switch a.Severity {
	case alert.SeverityCritical:
		return ":red_circle:", "CRITICAL"
	case alert.SeverityWarning:
		return ":warning:", "WARNING"
	case alert.SeverityInfo:
		return ":information_source:", "INFO"
	}
	return ":large_orange_circle:", strings.ToUpper(string(a.Severity))
}

func name(a *alert.Alert) string {
	if a.Rule != "" {
		return a.Rule
	}
	if s := a.Labels["alertname"]; s != "" {
		return s
	}
	return "alert"
}

// alertBlocks renders a as header, section (summary, description and
// fields), context (labels) and, when it has links, actions.
func (n *Notifier) alertBlocks(a *alert.Alert) []block {
	emoji, word := status(a)
	head := strings.TrimSpace(emoji + " " + word + ": " + name(a))
	blocks := []block{{Type: "header", Text: plain(head, maxHeaderText)}}

	text := strings.TrimSpace(a.Summary())
	if text != "" {
		text = "*" + text + "*"
	}
	if d := strings.TrimSpace(a.Description()); d != "" {
		text = strings.TrimSpace(text + "\n" + d)
	}
	if text == "" {
		text = "Alert " + name(a) + " is " + string(a.State) + "."
	}
	sec := block{Type: "section", Text: mrkdwn(escapeTruncate(text, maxSectionText))}
	sev := string(a.Severity)
	if sev == "" {
		sev = "unknown"
	}
	st := string(a.State)
	if st == "" {
		st = "unknown"
	}
	sec.Fields = append(sec.Fields,
		field("Severity", escapeTruncate(sev, 200)),
		field("State", escapeTruncate(st, 200)),
	)
	sec.Fields = append(sec.Fields, valueFields(a)...)
	if !a.StartsAt.IsZero() {
		sec.Fields = append(sec.Fields, field("Started", date(a.StartsAt)))
	}
	if a.Resolved() && !a.EndsAt.IsZero() {
		sec.Fields = append(sec.Fields, field("Resolved", date(a.EndsAt)))
	}
	blocks = append(blocks, sec)

	blocks = append(blocks, block{Type: "context", Elements: []any{mrkdwn(labelsText(a))}})

	var buttons []any
	if u := a.RunbookURL(); notify.IsLink(u) && len(u) <= maxButtonURL {
		buttons = append(buttons, button{Type: "button", Text: plain("Runbook", maxButtonText), URL: u, ActionID: "runbook"})
	}
	dash := a.GeneratorURL
	if !notify.IsLink(dash) {
		dash = n.dashboard
	}
	if dash != "" && len(dash) <= maxButtonURL {
		buttons = append(buttons, button{Type: "button", Text: plain("Dashboard", maxButtonText), URL: dash, ActionID: "dashboard"})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, block{Type: "actions", Elements: buttons})
	}
	return blocks
}

// field is a section field; value is mrkdwn already escaped and short.
func field(title, value string) *textObj {
	return mrkdwn("*" + title + "*\n" + value)
}

// valueFields shows a's value in its unit ("100%" for an error rate of
// 1): while firing, the value; once resolved, the value at resolve (or
// that there was no sample) and the last firing value.
func valueFields(a *alert.Alert) []*textObj {
	u := a.Unit
	if !a.Resolved() {
		return []*textObj{field("Value", escapeTruncate(u.Format(a.Value), 200))}
	}
	atResolve := u.Format(a.Value)
	if a.NoSample {
		atResolve = "no sample"
	}
	return []*textObj{
		field("Value at resolve", escapeTruncate(atResolve, 200)),
		field("Last firing value", escapeTruncate(u.Format(a.FiringValue), 200)),
	}
}

// date renders t with Slack's date formatting (shown in the reader's time
// zone), falling back to RFC 3339 UTC.
func date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

// labelsText lists the labels other than alertname and severity (shown
// already), sorted, and the fingerprint.
func labelsText(a *alert.Alert) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if k == "alertname" || k == "severity" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		b.WriteString("`" + k + "=" + a.Labels[k] + "`")
	}
	if a.Fingerprint != "" {
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		b.WriteString("fingerprint `" + a.Fingerprint + "`")
	}
	if b.Len() == 0 {
		b.WriteString(name(a))
	}
	return escapeTruncate(b.String(), maxContextText)
}

// fallbackText is the top-level text Slack shows in notifications, e.g.
// ":red_circle: [CRITICAL] RedisDown: Redis master unreachable" for one
// alert, "[FIRING:2] RedisDown, HighLatency · [RESOLVED:1] MemoryHigh" for
// several.
func fallbackText(alerts []*alert.Alert) string {
	if len(alerts) == 1 {
		a := alerts[0]
		emoji, word := status(a)
		s := emoji + " [" + word + "] " + name(a)
		if sum := strings.TrimSpace(a.Summary()); sum != "" {
			s += ": " + sum
		}
		return escapeTruncate(s, maxFallbackText)
	}
	var firing, resolved []string
	for _, a := range alerts {
		if a.Resolved() {
			resolved = append(resolved, name(a))
		} else {
			firing = append(firing, name(a))
		}
	}
	var parts []string
	if len(firing) > 0 {
		parts = append(parts, fmt.Sprintf("[FIRING:%d] %s", len(firing), strings.Join(firing, ", ")))
	}
	if len(resolved) > 0 {
		parts = append(parts, fmt.Sprintf("[RESOLVED:%d] %s", len(resolved), strings.Join(resolved, ", ")))
	}
	s := strings.Join(parts, " · ")
	if s == "" {
		s = "Studio alerts"
	}
	return escapeTruncate(s, maxFallbackText)
}

// escape makes text from an alert safe in Slack mrkdwn: &, < and > are the
// characters Slack requires escaped (an unescaped "<!channel>" would ping
// everyone).
func escape(s string) string {
	return escaper.Replace(s)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeTruncate escapes s and cuts it to at most max bytes without
// splitting an entity.
func escapeTruncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if e := escape(s); len(e) <= max {
		return e
	}
	budget := max - len(notify.Ellipsis)
	var b strings.Builder
	for _, r := range s {
		e := escape(string(r))
		if b.Len()+len(e) > budget {
			break
		}
		b.WriteString(e)
	}
	return b.String() + notify.Ellipsis
}
