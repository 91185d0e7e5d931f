package receivertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Webhook stands in for a receiver of Alertmanager's webhook payload.
type Webhook = Receiver[WebhookMessage]

// WebhookMessage is Alertmanager's webhook payload (version 4).
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is an alert in a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// NewWebhook starts a receiver of Alertmanager's webhook payload at
// URL() = http://127.0.0.1:PORT/hooks/<random token>. A valid payload gets
// 200 with an empty body, an invalid one 400 (and t.Errorf unless
// AllowInvalid). See ValidateWebhook for what is checked.
func NewWebhook(tb testing.TB) *Webhook {
	tb.Helper()
	return newReceiver(tb, "webhook", "/hooks/"+token(), ValidateWebhook,
		func(WebhookMessage) Reply { return Reply{Status: http.StatusOK} },
		func([]string) Reply { return Reply{Status: http.StatusBadRequest, Body: "bad payload"} })
}

var alertStatuses = []string{"firing", "resolved"}

// ValidateWebhook decodes an Alertmanager webhook payload and lists how it
// breaks the documented format: version "4"; groupKey a non-empty string;
// truncatedAlerts a non-negative integer; status firing|resolved, firing
// exactly when some alert is; receiver a non-empty string; groupLabels,
// commonLabels and commonAnnotations objects of strings, the common ones
// present in every alert and groupLabels within commonLabels; externalURL a
// string; alerts a non-empty array, each with status firing|resolved,
// labels (a non-empty object of strings), annotations (an object of
// strings), startsAt and endsAt (RFC 3339; a resolved alert's endsAt set and
// not before startsAt), generatorURL and fingerprint strings.
func ValidateWebhook(body []byte) (WebhookMessage, []string) {
	var msg WebhookMessage
	c := &check{}
	root, ok := c.decode(body)
	if !ok {
		return msg, c.errs
	}
	m, ok := c.object(root, "payload")
	if !ok {
		return msg, c.errs
	}
	_ = json.Unmarshal(body, &msg)
	const p = "payload"
	if v := c.str(m, p, "version", true); v != "" && v != "4" {
		c.add(p+".version", "%q, want \"4\"", v)
	}
	c.str(m, p, "groupKey", true)
	if n := c.integer(m, p, "truncatedAlerts", true); n < 0 {
		c.add(p+".truncatedAlerts", "negative")
	}
	status := c.enum(m, p, "status", true, alertStatuses...)
	c.str(m, p, "receiver", true)
	groupLabels := c.stringMap(m, p, "groupLabels", true, nil)
	commonLabels := c.stringMap(m, p, "commonLabels", true, nil)
	commonAnn := c.stringMap(m, p, "commonAnnotations", true, nil)
	c.str(m, p, "externalURL", true)
	for k, v := range groupLabels {
		if w, ok := commonLabels[k]; !ok || w != v {
			c.add(p+".groupLabels", "%s=%q is not a common label", k, v)
		}
	}
	v, ok := c.field(m, p, "alerts", true)
	if !ok {
		return msg, c.errs
	}
	alerts, ok := c.array(v, p+".alerts")
	if !ok {
		return msg, c.errs
	}
	if len(alerts) == 0 {
		c.add(p+".alerts", "empty")
	}
	anyFiring := false
	for i, a := range alerts {
		ap := fmt.Sprintf("%s.alerts[%d]", p, i)
		am, ok := c.object(a, ap)
		if !ok {
			continue
		}
		st := c.enum(am, ap, "status", true, alertStatuses...)
		anyFiring = anyFiring || st == "firing"
		labels := c.stringMap(am, ap, "labels", true, nil)
		if labels != nil && len(labels) == 0 {
			c.add(ap+".labels", "empty")
		}
		ann := c.stringMap(am, ap, "annotations", true, nil)
		for what, common := range map[string]map[string]string{"commonLabels": commonLabels, "commonAnnotations": commonAnn} {
			own := labels
			if what == "commonAnnotations" {
				own = ann
			}
			for k, v := range common {
				if w, ok := own[k]; !ok || w != v {
					c.add(ap, "lacks %s %s=%q", what, k, v)
				}
			}
		}
		starts, _ := c.timestamp(am, ap, "startsAt", true)
		ends, okEnds := c.timestamp(am, ap, "endsAt", true)
		if st == "resolved" && (!okEnds || ends.IsZero()) {
			c.add(ap+".endsAt", "a resolved alert needs endsAt")
		}
		if okEnds && !ends.IsZero() && ends.Before(starts) {
			c.add(ap+".endsAt", "before startsAt")
		}
		c.str(am, ap, "generatorURL", true)
		c.str(am, ap, "fingerprint", true)
	}
	if status != "" && len(alerts) > 0 && (status == "firing") != anyFiring {
		c.add(p+".status", "%q but some alert firing is %v", status, anyFiring)
	}
	return msg, c.errs
}

// AlertmanagerPath is where an Alertmanager takes alerts.
const AlertmanagerPath = "/api/v2/alerts"

// Alertmanager stands in for an Alertmanager's POST /api/v2/alerts.
type Alertmanager = Receiver[[]PostableAlert]

// PostableAlert is an element of the body of POST /api/v2/alerts.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// NewAlertmanager starts an Alertmanager API stand-in. URL() is its base
// URL (http://127.0.0.1:PORT); it takes alerts at URL()+"/api/v2/alerts". A
// valid request gets 200 with an empty body, an invalid one 400
// {"code":400,"message":…} (and t.Errorf unless AllowInvalid). See
// ValidateAlertmanager for what is checked.
func NewAlertmanager(tb testing.TB) *Alertmanager {
	tb.Helper()
	r := newReceiver(tb, "alertmanager", AlertmanagerPath, ValidateAlertmanager,
		func([]PostableAlert) Reply { return Reply{Status: http.StatusOK} },
		func(vs []string) Reply {
			return jsonReply(http.StatusBadRequest, map[string]any{"code": 400, "message": fmt.Sprint(vs)})
		})
	r.url = r.srv.URL
	return r
}

// ValidateAlertmanager decodes a POST /api/v2/alerts body and lists how it
// breaks the API's postableAlerts schema: a non-empty array of objects with
// only labels (required, a non-empty object of strings with valid label
// names [a-zA-Z_][a-zA-Z0-9_]*), annotations (an object of strings, valid
// names), startsAt and endsAt (RFC 3339, endsAt not before startsAt) and
// generatorURL (an absolute URL).
func ValidateAlertmanager(body []byte) ([]PostableAlert, []string) {
	var alerts []PostableAlert
	c := &check{}
	root, ok := c.decode(body)
	if !ok {
		return nil, c.errs
	}
	arr, ok := c.array(root, "alerts")
	if !ok {
		return nil, c.errs
	}
	_ = json.Unmarshal(body, &alerts)
	if len(arr) == 0 {
		c.add("alerts", "empty")
	}
	for i, a := range arr {
		ap := fmt.Sprintf("alerts[%d]", i)
		am, ok := c.object(a, ap)
		if !ok {
			continue
		}
		c.known(am, ap, "labels", "annotations", "startsAt", "endsAt", "generatorURL")
		if l := c.stringMap(am, ap, "labels", true, validLabelName); l != nil && len(l) == 0 {
			c.add(ap+".labels", "at least one label pair required")
		}
		c.stringMap(am, ap, "annotations", false, validLabelName)
		starts, okStarts := c.timestamp(am, ap, "startsAt", false)
		ends, okEnds := c.timestamp(am, ap, "endsAt", false)
		if okStarts && okEnds && ends.Before(starts) {
			c.add(ap, "start time must be before end time")
		}
		if g := c.str(am, ap, "generatorURL", false); g != "" {
			if u, err := url.Parse(g); err != nil || !u.IsAbs() {
				c.add(ap+".generatorURL", "%q is not an absolute URL", g)
			}
		}
	}
	return alerts, c.errs
}

// validLabelName reports whether s is a classic Prometheus label name.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
