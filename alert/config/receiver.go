package config

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ReceiverConfig declares a receiver: a name routes refer to, a kind, and
// the kind's settings that are not secret. Secrets (PagerDuty's routing
// key, Slack's webhook URL) come from Studio's settings, never from the
// rule file: cmd/studio builds the Notifier of each declared receiver it
// has what it needs for, and gives them to the Engine by name.
type ReceiverConfig struct {
	Name string `json:"name" yaml:"name"`
	// Kind is pagerduty, slack, webhook or alertmanager.
	Kind string `json:"kind" yaml:"kind"`
	// URL is the target of a webhook or alertmanager receiver (required
	// for those), or an alternative PagerDuty Events API endpoint (such as
	// https://events.eu.pagerduty.com/v2/enqueue). Not allowed for slack.
	URL string `json:"-" yaml:"url,omitempty"`
	// Channel overrides the Slack webhook's channel (slack only).
	Channel string `json:"channel,omitempty" yaml:"channel,omitempty"`
	// SecretEnv names the environment variable that holds this
	// receiver's secret, instead of the shared one: the routing key of a
	// pagerduty receiver (instead of PAGERDUTY_ROUTING_KEY), the webhook
	// URL of a slack receiver (instead of SLACK_WEBHOOK_URL), or the
	// Authorization header value a webhook or alertmanager receiver sends
	// (none otherwise). The file holds the name only, never the secret.
	SecretEnv string `json:"secret_env,omitempty" yaml:"secret_env,omitempty"`
	// SendResolved, when false, suppresses resolve notices (default true).
	SendResolved *bool `json:"send_resolved,omitempty" yaml:"send_resolved,omitempty"`
	// Timeout bounds one delivery attempt (0: the Engine's default).
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Line is where the receiver starts in its file (0: implicit).
	Line int `json:"line,omitempty" yaml:"-"`
}

// SendsResolved reports whether the receiver gets resolve notices.
func (rc *ReceiverConfig) SendsResolved() bool { return rc.SendResolved == nil || *rc.SendResolved }

// implicit reports whether rc is one of the receivers every Config has
// without declaring them (see withImplicitReceivers).
func (rc *ReceiverConfig) implicit() bool {
	return rc.Line == 0 && rc.Name == rc.Kind && rc.URL == "" && rc.Channel == "" && rc.SecretEnv == "" && rc.SendResolved == nil && rc.Timeout == 0
}

// UnmarshalYAML decodes a receiver strictly (see decodeFields); Config
// checks it once decoded.
func (rc *ReceiverConfig) UnmarshalYAML(n *yaml.Node) error {
	_, err := rc.decode(n)
	return err
}

// decode decodes the receiver from n and returns its fields, for the
// lines of check's errors.
func (rc *ReceiverConfig) decode(n *yaml.Node) (*fields, error) {
	*rc = ReceiverConfig{Line: n.Line}
	return decodeFields(n,
		field{"name", (*text)(&rc.Name)},
		field{"kind", (*text)(&rc.Kind)},
		field{"url", (*text)(&rc.URL)},
		field{"channel", (*text)(&rc.Channel)},
		field{"secret_env", (*text)(&rc.SecretEnv)},
		field{"send_resolved", optional(func(b *flag) { rc.SendResolved = (*bool)(b) })},
		field{"timeout", (*duration)(&rc.Timeout)},
	)
}

var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

var receiverNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (rc *ReceiverConfig) check() *fieldError {
	switch {
	case rc.Name == "":
		return ferr("name", "missing")
	case !receiverNameRE.MatchString(rc.Name):
		return ferr("name", "invalid %q: want letters, digits, _ and - (at most 64)", rc.Name)
	case rc.Kind == "":
		return ferr("kind", "missing (want pagerduty, slack, webhook or alertmanager)")
	}
	switch rc.Kind {
	case KindPagerDuty, KindSlack, KindWebhook, KindAlertmanager:
	default:
		return ferr("kind", "unknown %q (want pagerduty, slack, webhook or alertmanager)", rc.Kind)
	}
	if rc.URL != "" {
		if rc.Kind == KindSlack {
			return ferr("url", "not allowed for slack: the webhook URL is a secret and comes from SLACK_WEBHOOK_URL")
		}
		u, err := url.Parse(rc.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Never echo the URL: it may carry a token.
			return ferr("url", "invalid: want an absolute http or https URL")
		}
	} else if rc.Kind == KindWebhook || rc.Kind == KindAlertmanager {
		return ferr("url", "missing (required for kind %s)", rc.Kind)
	}
	if rc.Channel != "" && rc.Kind != KindSlack {
		return ferr("channel", "only for kind slack")
	}
	if rc.Channel != "" && !validSlackChannel(rc.Channel) {
		return ferr("channel", "want #name, @user or a channel ID (C…, G…, D…)")
	}
	if rc.SecretEnv != "" && !envNameRE.MatchString(rc.SecretEnv) {
		return ferr("secret_env", "invalid %q: want an environment variable name (A-Z, 0-9, _; not starting with a digit)", rc.SecretEnv)
	}
	if rc.Timeout < 0 {
		return ferr("timeout", "negative duration")
	}
	return nil
}

// validSlackChannel accepts "#name" (lower-case letters, digits, -, _ and
// ., at most 80), "@user", or a Slack channel ID (C, G or D and 8 or more
// upper-case letters or digits).
func validSlackChannel(c string) bool {
	ok := func(s string, max int, allowed func(r rune) bool) bool {
		if s == "" || len(s) > max {
			return false
		}
		for _, r := range s {
			if !allowed(r) {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasPrefix(c, "#"):
		return ok(c[1:], 80, func(r rune) bool {
			return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		})
	case strings.HasPrefix(c, "@"):
		return ok(c[1:], 80, func(r rune) bool {
			return r > ' ' && r != 0x7f && r != '<' && r != '>' && r != '&'
		})
	case len(c) >= 9 && strings.ContainsRune("CGD", rune(c[0])):
		return ok(c[1:], 20, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' })
	}
	return false
}
