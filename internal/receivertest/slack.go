package receivertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Slack stands in for a Slack incoming webhook.
type Slack = Receiver[SlackMessage]

// SlackMessage is an incoming-webhook payload as received.
type SlackMessage struct {
	Channel string       `json:"channel"`
	Text    string       `json:"text"`
	Blocks  []SlackBlock `json:"blocks"`
}

// SlackBlock is a Block Kit layout block (only the fields Studio uses are
// decoded).
type SlackBlock struct {
	Type     string         `json:"type"`
	BlockID  string         `json:"block_id"`
	Text     *SlackText     `json:"text"`
	Fields   []SlackText    `json:"fields"`
	Elements []SlackElement `json:"elements"`
}

// SlackText is a text object.
type SlackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji"`
}

// SlackElement is an element of a context or actions block: a text object
// (Text is its text) or a button (Text is its label).
type SlackElement struct {
	Type     string
	Text     string
	URL      string
	ActionID string
	Style    string
}

// UnmarshalJSON decodes a text object ("text" a string) or an interactive
// element ("text" a text object).
func (e *SlackElement) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type     string          `json:"type"`
		Text     json.RawMessage `json:"text"`
		URL      string          `json:"url"`
		ActionID string          `json:"action_id"`
		Style    string          `json:"style"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = SlackElement{Type: raw.Type, URL: raw.URL, ActionID: raw.ActionID, Style: raw.Style}
	if len(raw.Text) == 0 {
		return nil
	}
	if json.Unmarshal(raw.Text, &e.Text) == nil {
		return nil
	}
	var t SlackText
	if err := json.Unmarshal(raw.Text, &t); err != nil {
		return err
	}
	e.Text = t.Text
	return nil
}

// Buttons returns the buttons of the message's actions blocks.
func (m SlackMessage) Buttons() []SlackElement {
	var out []SlackElement
	for _, b := range m.Blocks {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				if e.Type == "button" {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// Headers returns the texts of the message's header blocks.
func (m SlackMessage) Headers() []string {
	var out []string
	for _, b := range m.Blocks {
		if b.Type == "header" && b.Text != nil {
			out = append(out, b.Text.Text)
		}
	}
	return out
}

// NewSlack starts a Slack incoming-webhook receiver at
// URL() = http://127.0.0.1:PORT/services/T…/B…/<random token>. A valid
// message gets 200 "ok"; an invalid one 400 "invalid_payload" (and t.Errorf
// unless AllowInvalid), as Slack answers. See ValidateSlack for what is
// checked; see ExpectMinGap for Slack's rate limit.
func NewSlack(tb testing.TB) *Slack {
	tb.Helper()
	path := "/services/T0STUDIO/B0STUDIO/" + token()
	return newReceiver(tb, "slack", path, ValidateSlack,
		func(SlackMessage) Reply {
			return Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/html"}}, Body: "ok"}
		},
		func([]string) Reply {
			return Reply{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"text/html"}}, Body: "invalid_payload"}
		})
}

// Block Kit limits.
const (
	slackMaxBlocks      = 50
	slackMaxText        = 40000
	slackMaxBlockID     = 255
	slackMaxHeader      = 150
	slackMaxSectionText = 3000
	slackMaxFields      = 10
	slackMaxField       = 2000
	slackMaxContextEls  = 10
	slackMaxContextText = 2000
	slackMaxActionEls   = 25
	slackMaxButtonText  = 75
	slackMaxButtonURL   = 3000
	slackMaxActionID    = 255
	slackMaxButtonValue = 2000
)

// Block types Slack documents for messages; header, section, divider,
// context and actions are checked in depth.
var slackBlockTypes = []string{"header", "section", "divider", "context", "actions", "image", "rich_text", "markdown", "file", "video", "input", "table"}

// ValidateSlack decodes an incoming-webhook payload and lists how it breaks
// Slack's documented limits: text a non-empty string (Slack shows it in
// notifications; Studio always sends it) of at most 40,000 characters;
// blocks an array of at most 50 blocks of known types with unique block_ids
// (≤255); header: plain_text ≤150; section: text (≤3000) and/or 1–10
// fields (each ≤2000); divider: nothing else; context: 1–10 text or image
// elements (text ≤2000); actions: 1–25 elements, buttons with plain_text
// (≤75), an absolute url (≤3000), unique action_id (≤255) and style
// primary|danger; text objects of type plain_text or mrkdwn with non-empty
// text (emoji only on plain_text, verbatim only on mrkdwn); no unknown
// fields on the checked blocks.
func ValidateSlack(body []byte) (SlackMessage, []string) {
	var msg SlackMessage
	c := &check{}
	root, ok := c.decode(body)
	if !ok {
		return msg, c.errs
	}
	m, ok := c.object(root, "message")
	if !ok {
		return msg, c.errs
	}
	_ = json.Unmarshal(body, &msg)
	c.maxLen("message.text", c.str(m, "message", "text", true), slackMaxText)
	v, ok := m["blocks"]
	if !ok {
		return msg, c.errs
	}
	blocks, ok := c.array(v, "message.blocks")
	if !ok {
		return msg, c.errs
	}
	if len(blocks) > slackMaxBlocks {
		c.add("message.blocks", "%d blocks, limit %d", len(blocks), slackMaxBlocks)
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		p := fmt.Sprintf("message.blocks[%d]", i)
		bm, ok := c.object(b, p)
		if !ok {
			continue
		}
		typ := c.enum(bm, p, "type", true, slackBlockTypes...)
		if id := c.str(bm, p, "block_id", false); id != "" {
			c.maxLen(p+".block_id", id, slackMaxBlockID)
			if ids[id] {
				c.add(p+".block_id", "duplicate %q", id)
			}
			ids[id] = true
		}
		slackBlock(c, p, typ, bm)
	}
	return msg, c.errs
}

// slackBlock checks one block of the kind typ at path p.
func slackBlock(c *check, p, typ string, bm map[string]any) {
	switch typ {
	case "header":
		c.known(bm, p, "type", "block_id", "text")
		if t, ok := c.field(bm, p, "text", true); ok {
			slackText(c, p+".text", t, slackMaxHeader, "plain_text")
		}
	case "section":
		slackSection(c, p, bm)
	case "divider":
		c.known(bm, p, "type", "block_id")
	case "context":
		slackContext(c, p, bm)
	case "actions":
		slackActions(c, p, bm)
	}
}

// slackSection checks a section block: text or 1-10 fields, an accessory.
func slackSection(c *check, p string, bm map[string]any) {
	c.known(bm, p, "type", "block_id", "text", "fields", "accessory", "expand")
	t, hasText := bm["text"]
	f, hasFields := bm["fields"]
	if !hasText && !hasFields {
		c.add(p, "section needs text or fields")
	}
	if hasText {
		slackText(c, p+".text", t, slackMaxSectionText)
	}
	if hasFields {
		if fs, ok := c.array(f, p+".fields"); ok {
			if len(fs) == 0 || len(fs) > slackMaxFields {
				c.add(p+".fields", "%d fields, want 1 to %d", len(fs), slackMaxFields)
			}
			for j, fv := range fs {
				slackText(c, fmt.Sprintf("%s.fields[%d]", p, j), fv, slackMaxField)
			}
		}
	}
	if a, ok := bm["accessory"]; ok {
		c.object(a, p+".accessory")
	}
	c.boolean(bm, p, "expand")
}

// slackContext checks a context block: text and image elements.
func slackContext(c *check, p string, bm map[string]any) {
	c.known(bm, p, "type", "block_id", "elements")
	els := slackElements(c, bm, p, slackMaxContextEls)
	for j, e := range els {
		ep := fmt.Sprintf("%s.elements[%d]", p, j)
		em, ok := c.object(e, ep)
		if !ok {
			continue
		}
		if em["type"] == "image" {
			c.known(em, ep, "type", "image_url", "alt_text", "slack_file")
			c.str(em, ep, "alt_text", true)
			continue
		}
		slackText(c, ep, e, slackMaxContextText)
	}
}

// slackActions checks an actions block: the buttons Studio sends.
func slackActions(c *check, p string, bm map[string]any) {
	c.known(bm, p, "type", "block_id", "elements")
	actionIDs := map[string]bool{}
	for j, e := range slackElements(c, bm, p, slackMaxActionEls) {
		ep := fmt.Sprintf("%s.elements[%d]", p, j)
		em, ok := c.object(e, ep)
		if !ok {
			continue
		}
		if c.str(em, ep, "type", true) != "button" {
			continue // other interactive elements are not used by Studio
		}
		c.known(em, ep, "type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label")
		if t, ok := c.field(em, ep, "text", true); ok {
			slackText(c, ep+".text", t, slackMaxButtonText, "plain_text")
		}
		if id := c.str(em, ep, "action_id", false); id != "" {
			c.maxLen(ep+".action_id", id, slackMaxActionID)
			if actionIDs[id] {
				c.add(ep+".action_id", "duplicate %q in the block", id)
			}
			actionIDs[id] = true
		}
		if u := c.str(em, ep, "url", false); u != "" {
			c.maxLen(ep+".url", u, slackMaxButtonURL)
			c.link(ep+".url", u, false)
		}
		c.maxLen(ep+".value", c.str(em, ep, "value", false), slackMaxButtonValue)
		c.enum(em, ep, "style", false, "primary", "danger")
	}
}

// slackElements returns bm's elements array, checking it has 1 to max.
func slackElements(c *check, bm map[string]any, p string, max int) []any {
	v, ok := c.field(bm, p, "elements", true)
	if !ok {
		return nil
	}
	els, ok := c.array(v, p+".elements")
	if !ok {
		return nil
	}
	if len(els) == 0 || len(els) > max {
		c.add(p+".elements", "%d elements, want 1 to %d", len(els), max)
	}
	return els
}

// slackText checks a text object: type one of types (default plain_text or
// mrkdwn), text non-empty and at most max characters.
func slackText(c *check, p string, v any, max int, types ...string) {
	m, ok := c.object(v, p)
	if !ok {
		return
	}
	if len(types) == 0 {
		types = []string{"plain_text", "mrkdwn"}
	}
	c.known(m, p, "type", "text", "emoji", "verbatim")
	typ := c.enum(m, p, "type", true, types...)
	t := c.str(m, p, "text", true)
	if strings.TrimSpace(t) == "" && t != "" {
		c.add(p+".text", "only white space")
	}
	c.maxLen(p+".text", t, max)
	c.boolean(m, p, "emoji")
	c.boolean(m, p, "verbatim")
	if _, ok := m["emoji"]; ok && typ == "mrkdwn" {
		c.add(p+".emoji", "only allowed on plain_text")
	}
	if _, ok := m["verbatim"]; ok && typ == "plain_text" {
		c.add(p+".verbatim", "only allowed on mrkdwn")
	}
}
