package receivertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"unicode/utf8"
)

// PagerDutyPath is where the PagerDuty receiver takes events.
const PagerDutyPath = "/v2/enqueue"

// PagerDuty stands in for the PagerDuty Events API v2.
type PagerDuty = Receiver[PagerDutyEvent]

// PagerDutyEvent is an Events API v2 event as received.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload"`
	Client      string            `json:"client"`
	ClientURL   string            `json:"client_url"`
	Links       []PagerDutyLink   `json:"links"`
	Images      []PagerDutyImage  `json:"images"`
}

// PagerDutyPayload is an event's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// PagerDutyLink is an entry of an event's links.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// PagerDutyImage is an entry of an event's images.
type PagerDutyImage struct {
	Src  string `json:"src"`
	Href string `json:"href"`
	Alt  string `json:"alt"`
}

// NewPagerDuty starts a PagerDuty Events API v2 receiver at
// URL() = http://127.0.0.1:PORT/v2/enqueue. A valid event gets 202
// {"status":"success","message":"Event processed","dedup_key":…}; an invalid
// one 400 {"status":"invalid event","message":"Event object is invalid",
// "errors":[…]} (and t.Errorf unless AllowInvalid), as PagerDuty answers.
// See ValidatePagerDuty for what is checked.
func NewPagerDuty(tb testing.TB) *PagerDuty {
	tb.Helper()
	return newReceiver(tb, "pagerduty", PagerDutyPath, ValidatePagerDuty,
		func(ev PagerDutyEvent) Reply {
			return jsonReply(http.StatusAccepted, map[string]any{
				"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey,
			})
		},
		func(vs []string) Reply {
			return jsonReply(http.StatusBadRequest, map[string]any{
				"status": "invalid event", "message": "Event object is invalid", "errors": vs,
			})
		})
}

func jsonReply(status int, v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: string(b)}
}

// PagerDuty's documented values and limits.
var (
	pdActions    = []string{"trigger", "acknowledge", "resolve"}
	pdSeverities = []string{"critical", "error", "warning", "info"}
)

const (
	pdRoutingKeyLen = 32
	pdMaxSummary    = 1024
	pdMaxDedupKey   = 255
)

// ValidatePagerDuty decodes an Events API v2 event and lists how it breaks
// the documented schema: routing_key a 32-character string; event_action
// one of trigger, acknowledge, resolve; dedup_key a string of at most 255
// characters (required here even for a trigger: Studio always sends one);
// for a trigger, payload with summary (1–1024 characters), source
// (non-empty), severity (critical, error, warning, info), an RFC 3339
// timestamp if present, optional component/group/class strings and a
// custom_details object; client and client_url strings; links [{href,
// text}] and images [{src (https), href, alt}] with absolute URLs; no
// unknown fields.
func ValidatePagerDuty(body []byte) (PagerDutyEvent, []string) {
	var ev PagerDutyEvent
	c := &check{}
	root, ok := c.decode(body)
	if !ok {
		return ev, c.errs
	}
	m, ok := c.object(root, "event")
	if !ok {
		return ev, c.errs
	}
	_ = json.Unmarshal(body, &ev) // types are checked below
	const p = "event"
	c.known(m, p, "routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links", "images")
	if rk := c.str(m, p, "routing_key", true); rk != "" && utf8.RuneCountInString(rk) != pdRoutingKeyLen {
		c.add(p+".routing_key", "length %d, want %d", utf8.RuneCountInString(rk), pdRoutingKeyLen)
	}
	action := c.enum(m, p, "event_action", true, pdActions...)
	c.maxLen(p+".dedup_key", c.str(m, p, "dedup_key", true), pdMaxDedupKey)
	if v, ok := c.field(m, p, "payload", action == "trigger"); ok {
		checkPDPayload(c, v)
	}
	c.str(m, p, "client", false)
	if u := c.str(m, p, "client_url", false); u != "" {
		c.link(p+".client_url", u, false)
	}
	if v, ok := m["links"]; ok {
		if links, ok := c.array(v, p+".links"); ok {
			for i, l := range links {
				lp := fmt.Sprintf("%s.links[%d]", p, i)
				if lm, ok := c.object(l, lp); ok {
					c.known(lm, lp, "href", "text")
					if h := c.str(lm, lp, "href", true); h != "" {
						c.link(lp+".href", h, false)
					}
					c.str(lm, lp, "text", false)
				}
			}
		}
	}
	if v, ok := m["images"]; ok {
		if images, ok := c.array(v, p+".images"); ok {
			for i, im := range images {
				ip := fmt.Sprintf("%s.images[%d]", p, i)
				if imm, ok := c.object(im, ip); ok {
					c.known(imm, ip, "src", "href", "alt")
					if s := c.str(imm, ip, "src", true); s != "" {
						c.link(ip+".src", s, true)
					}
					if h := c.str(imm, ip, "href", false); h != "" {
						c.link(ip+".href", h, false)
					}
					c.str(imm, ip, "alt", false)
				}
			}
		}
	}
	return ev, c.errs
}

func checkPDPayload(c *check, v any) {
	const p = "event.payload"
	m, ok := c.object(v, p)
	if !ok {
		return
	}
	c.known(m, p, "summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details")
	c.maxLen(p+".summary", c.str(m, p, "summary", true), pdMaxSummary)
	c.str(m, p, "source", true)
	c.enum(m, p, "severity", true, pdSeverities...)
	c.timestamp(m, p, "timestamp", false)
	for _, k := range []string{"component", "group", "class"} {
		c.str(m, p, k, false)
	}
	if d, ok := m["custom_details"]; ok {
		c.object(d, p+".custom_details")
	}
}
