package receivertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const key32 = "0123456789abcdef0123456789abcdef"

func pdEvent(mod func(m map[string]any)) string {
	m := map[string]any{
		"routing_key": key32, "event_action": "trigger", "dedup_key": "k1",
		"payload": map[string]any{
			"summary": "s", "source": "host", "severity": "critical", "timestamp": "2030-01-02T03:04:05.123Z",
			"component": "redis", "group": "g", "class": "c", "custom_details": map[string]any{"a": 1},
		},
		"client": "Studio", "client_url": "https://studio.example.com",
		"links":  []any{map[string]any{"href": "https://runbooks.example.com/x", "text": "Runbook"}},
		"images": []any{map[string]any{"src": "https://img.example.com/x.png", "alt": "graph"}},
	}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func payloadOf(m map[string]any) map[string]any { return m["payload"].(map[string]any) }

type badCase struct {
	name string
	body string
	want string // a substring of one violation; "" means valid
}

func runBad[P any](t *testing.T, validate func([]byte) (P, []string), cases []badCase) {
	t.Helper()
	for _, tt := range cases {
		_, vs := validate([]byte(tt.body))
		if tt.want == "" {
			if len(vs) != 0 {
				t.Errorf("%s: violations %q, want none", tt.name, vs)
			}
			continue
		}
		found := false
		for _, v := range vs {
			found = found || strings.Contains(v, tt.want)
		}
		if !found {
			t.Errorf("%s: violations %q, want one containing %q", tt.name, vs, tt.want)
		}
	}
}

func TestValidatePagerDuty(t *testing.T) {
	runBad(t, ValidatePagerDuty, []badCase{
		{"valid trigger", pdEvent(nil), ""},
		{"valid resolve", `{"routing_key":"` + key32 + `","event_action":"resolve","dedup_key":"k1"}`, ""},
		{"not JSON", `{"routing_key":`, "body: not JSON"},
		{"trailing data", pdEvent(nil) + `{}`, "data after the JSON value"},
		{"array", `[]`, "event: is array, want object"},
		{"empty", `{}`, "event.routing_key: missing"},
		{"no action", `{}`, "event.event_action: missing"},
		{"no dedup key", pdEvent(func(m map[string]any) { delete(m, "dedup_key") }), "event.dedup_key: missing"},
		{"short key", pdEvent(func(m map[string]any) { m["routing_key"] = "short" }), "event.routing_key: length 5, want 32"},
		{"key type", pdEvent(func(m map[string]any) { m["routing_key"] = 12 }), "event.routing_key: is number, want string"},
		{"action", pdEvent(func(m map[string]any) { m["event_action"] = "fire" }), `event.event_action: "fire" is not one of`},
		{"long dedup key", pdEvent(func(m map[string]any) { m["dedup_key"] = strings.Repeat("k", 256) }), "event.dedup_key: 256 characters, limit 255"},
		{"trigger without payload", pdEvent(func(m map[string]any) { delete(m, "payload") }), "event.payload: missing"},
		{"payload type", pdEvent(func(m map[string]any) { m["payload"] = "x" }), "event.payload: is string, want object"},
		{"no summary", pdEvent(func(m map[string]any) { delete(payloadOf(m), "summary") }), "event.payload.summary: missing"},
		{"long summary", pdEvent(func(m map[string]any) { payloadOf(m)["summary"] = strings.Repeat("s", 1025) }), "event.payload.summary: 1025 characters, limit 1024"},
		{"emoji summary counted as UTF-16", pdEvent(func(m map[string]any) { payloadOf(m)["summary"] = strings.Repeat("😀", 513) }), "1026 characters, limit 1024"},
		{"no source", pdEvent(func(m map[string]any) { payloadOf(m)["source"] = "" }), "event.payload.source: empty"},
		{"severity", pdEvent(func(m map[string]any) { payloadOf(m)["severity"] = "fatal" }), `event.payload.severity: "fatal" is not one of`},
		{"timestamp", pdEvent(func(m map[string]any) { payloadOf(m)["timestamp"] = "yesterday" }), `event.payload.timestamp: "yesterday" is not an RFC 3339 time`},
		{"custom details", pdEvent(func(m map[string]any) { payloadOf(m)["custom_details"] = "x" }), "event.payload.custom_details: is string, want object"},
		{"payload unknown", pdEvent(func(m map[string]any) { payloadOf(m)["sumary"] = "x" }), `event.payload: unknown field "sumary"`},
		{"unknown", pdEvent(func(m map[string]any) { m["routingkey"] = "x" }), `event: unknown field "routingkey"`},
		{"link href", pdEvent(func(m map[string]any) { m["links"] = []any{map[string]any{"text": "x"}} }), "event.links[0].href: missing"},
		{"link relative", pdEvent(func(m map[string]any) { m["links"] = []any{map[string]any{"href": "/runbook"}} }), `event.links[0].href: "/runbook" is not an absolute URL`},
		{"links type", pdEvent(func(m map[string]any) { m["links"] = map[string]any{} }), "event.links: is object, want array"},
		{"image http", pdEvent(func(m map[string]any) { m["images"] = []any{map[string]any{"src": "http://x.example.com/a.png"}} }), `event.images[0].src: scheme "http", want https`},
		{"client url", pdEvent(func(m map[string]any) { m["client_url"] = "studio" }), `event.client_url: "studio" is not an absolute URL`},
	})
}

func slackMsg(blocks ...string) string {
	return `{"text":"fallback","blocks":[` + strings.Join(blocks, ",") + `]}`
}

func TestValidateSlack(t *testing.T) {
	header := `{"type":"header","text":{"type":"plain_text","text":":red_circle: CRITICAL","emoji":true}}`
	section := `{"type":"section","text":{"type":"mrkdwn","text":"*s*"},"fields":[{"type":"mrkdwn","text":"*Severity*\ncritical"}]}`
	context := `{"type":"context","elements":[{"type":"mrkdwn","text":"labels"}]}`
	actions := `{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Runbook"},"url":"https://x.example.com","action_id":"runbook","style":"primary"}]}`
	button := func(s string) string {
		return `{"type":"actions","elements":[` + s + `]}`
	}
	runBad(t, ValidateSlack, []badCase{
		{"valid", slackMsg(header, section, `{"type":"divider"}`, context, actions), ""},
		{"text only", `{"text":"hello"}`, ""},
		{"no text", `{"blocks":[]}`, "message.text: missing"},
		{"empty text", `{"text":""}`, "message.text: empty"},
		{"text type", `{"text":5}`, "message.text: is number, want string"},
		{"too many blocks", slackMsg(strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}`), "message.blocks: 51 blocks, limit 50"},
		{"blocks type", `{"text":"x","blocks":{}}`, "message.blocks: is object, want array"},
		{"block type", slackMsg(`{"type":"banner"}`), `message.blocks[0].type: "banner" is not one of`},
		{"no block type", slackMsg(`{}`), "message.blocks[0].type: missing"},
		{"dup block id", slackMsg(`{"type":"divider","block_id":"a"}`, `{"type":"divider","block_id":"a"}`), `message.blocks[1].block_id: duplicate "a"`},
		{"header mrkdwn", slackMsg(`{"type":"header","text":{"type":"mrkdwn","text":"x"}}`), `message.blocks[0].text.type: "mrkdwn" is not one of ["plain_text"]`},
		{"header long", slackMsg(`{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("h", 151) + `"}}`), "message.blocks[0].text.text: 151 characters, limit 150"},
		{"header no text", slackMsg(`{"type":"header"}`), "message.blocks[0].text: missing"},
		{"section empty", slackMsg(`{"type":"section"}`), "section needs text or fields"},
		{"section long", slackMsg(`{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("s", 3001) + `"}}`), "message.blocks[0].text.text: 3001 characters, limit 3000"},
		{"section unknown", slackMsg(`{"type":"section","txt":{}}`), `message.blocks[0]: unknown field "txt"`},
		{"fields many", slackMsg(`{"type":"section","fields":[` + strings.Repeat(`{"type":"mrkdwn","text":"f"},`, 10) + `{"type":"mrkdwn","text":"f"}]}`), "11 fields, want 1 to 10"},
		{"field long", slackMsg(`{"type":"section","fields":[{"type":"mrkdwn","text":"` + strings.Repeat("f", 2001) + `"}]}`), "message.blocks[0].fields[0].text: 2001 characters, limit 2000"},
		{"text object type", slackMsg(`{"type":"section","text":{"type":"markdown","text":"x"}}`), `message.blocks[0].text.type: "markdown" is not one of`},
		{"text object empty", slackMsg(`{"type":"section","text":{"type":"mrkdwn","text":""}}`), "message.blocks[0].text.text: empty"},
		{"text object blank", slackMsg(`{"type":"section","text":{"type":"mrkdwn","text":"  "}}`), "message.blocks[0].text.text: only white space"},
		{"emoji on mrkdwn", slackMsg(`{"type":"section","text":{"type":"mrkdwn","text":"x","emoji":true}}`), "message.blocks[0].text.emoji: only allowed on plain_text"},
		{"divider extra", slackMsg(`{"type":"divider","text":{"type":"mrkdwn","text":"x"}}`), `message.blocks[0]: unknown field "text"`},
		{"context empty", slackMsg(`{"type":"context","elements":[]}`), "message.blocks[0].elements: 0 elements, want 1 to 10"},
		{"context missing", slackMsg(`{"type":"context"}`), "message.blocks[0].elements: missing"},
		{"context long", slackMsg(`{"type":"context","elements":[{"type":"mrkdwn","text":"` + strings.Repeat("c", 2001) + `"}]}`), "2001 characters, limit 2000"},
		{"button label long", slackMsg(button(`{"type":"button","text":{"type":"plain_text","text":"` + strings.Repeat("b", 76) + `"}}`)), "76 characters, limit 75"},
		{"button label mrkdwn", slackMsg(button(`{"type":"button","text":{"type":"mrkdwn","text":"b"}}`)), `"mrkdwn" is not one of ["plain_text"]`},
		{"button url", slackMsg(button(`{"type":"button","text":{"type":"plain_text","text":"b"},"url":"runbook"}`)), `"runbook" is not an absolute URL`},
		{"button style", slackMsg(button(`{"type":"button","text":{"type":"plain_text","text":"b"},"style":"green"}`)), `"green" is not one of`},
		{"button dup id", slackMsg(button(`{"type":"button","text":{"type":"plain_text","text":"a"},"action_id":"x"},{"type":"button","text":{"type":"plain_text","text":"b"},"action_id":"x"}`)), `duplicate "x" in the block`},
	})
}

func webhookMsg(mod func(m map[string]any)) string {
	alert := func(status, ends string) map[string]any {
		return map[string]any{
			"status": status, "labels": map[string]any{"alertname": "A", "severity": "warning"}, "annotations": map[string]any{"summary": "s"},
			"startsAt": "2030-01-02T03:04:05Z", "endsAt": ends, "generatorURL": "https://studio.example.com", "fingerprint": "0123456789abcdef",
		}
	}
	m := map[string]any{
		"version": "4", "groupKey": `{}:{alertname="A"}`, "truncatedAlerts": 0, "status": "firing", "receiver": "ops",
		"groupLabels": map[string]any{"alertname": "A"}, "commonLabels": map[string]any{"alertname": "A", "severity": "warning"},
		"commonAnnotations": map[string]any{"summary": "s"}, "externalURL": "https://studio.example.com",
		"alerts": []any{alert("firing", "0001-01-01T00:00:00Z"), alert("resolved", "2030-01-02T03:05:05Z")},
	}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func alertOf(m map[string]any, i int) map[string]any { return m["alerts"].([]any)[i].(map[string]any) }

func TestValidateWebhook(t *testing.T) {
	runBad(t, ValidateWebhook, []badCase{
		{"valid", webhookMsg(nil), ""},
		{"version", webhookMsg(func(m map[string]any) { m["version"] = "3" }), `payload.version: "3", want "4"`},
		{"version number", webhookMsg(func(m map[string]any) { m["version"] = 4 }), "payload.version: is number, want string"},
		{"group key", webhookMsg(func(m map[string]any) { delete(m, "groupKey") }), "payload.groupKey: missing"},
		{"truncated negative", webhookMsg(func(m map[string]any) { m["truncatedAlerts"] = -1 }), "payload.truncatedAlerts: negative"},
		{"truncated fraction", webhookMsg(func(m map[string]any) { m["truncatedAlerts"] = 1.5 }), "payload.truncatedAlerts: 1.5 is not an integer"},
		{"status", webhookMsg(func(m map[string]any) { m["status"] = "pending" }), `payload.status: "pending" is not one of`},
		{"status mismatch", webhookMsg(func(m map[string]any) { m["status"] = "resolved" }), `payload.status: "resolved" but some alert firing is true`},
		{"receiver", webhookMsg(func(m map[string]any) { m["receiver"] = "" }), "payload.receiver: empty"},
		{"group labels null", webhookMsg(func(m map[string]any) { m["groupLabels"] = nil }), "payload.groupLabels: is null, want object"},
		{"group label not common", webhookMsg(func(m map[string]any) { m["groupLabels"] = map[string]any{"job": "x"} }), `payload.groupLabels: job="x" is not a common label`},
		{"common label missing", webhookMsg(func(m map[string]any) { delete(alertOf(m, 1)["labels"].(map[string]any), "severity") }), `payload.alerts[1]: lacks commonLabels severity="warning"`},
		{"no alerts", webhookMsg(func(m map[string]any) { m["alerts"] = []any{} }), "payload.alerts: empty"},
		{"alert status", webhookMsg(func(m map[string]any) { alertOf(m, 0)["status"] = "pending" }), `payload.alerts[0].status: "pending" is not one of`},
		{"resolved without end", webhookMsg(func(m map[string]any) { alertOf(m, 1)["endsAt"] = "0001-01-01T00:00:00Z" }), "payload.alerts[1].endsAt: a resolved alert needs endsAt"},
		{"end before start", webhookMsg(func(m map[string]any) { alertOf(m, 1)["endsAt"] = "2030-01-01T00:00:00Z" }), "payload.alerts[1].endsAt: before startsAt"},
		{"bad time", webhookMsg(func(m map[string]any) { alertOf(m, 0)["startsAt"] = "now" }), `payload.alerts[0].startsAt: "now" is not an RFC 3339 time`},
		{"label type", webhookMsg(func(m map[string]any) { alertOf(m, 0)["labels"].(map[string]any)["n"] = 1 }), "payload.alerts[0].labels.n: is number, want string"},
		{"no fingerprint", webhookMsg(func(m map[string]any) { delete(alertOf(m, 0), "fingerprint") }), "payload.alerts[0].fingerprint: missing"},
	})
}

func TestValidateAlertmanager(t *testing.T) {
	runBad(t, ValidateAlertmanager, []badCase{
		{"valid", `[{"labels":{"alertname":"A"},"annotations":{"summary":"s"},"startsAt":"2030-01-02T03:04:05Z","endsAt":"2030-01-02T03:05:05Z","generatorURL":"https://studio.example.com"}]`, ""},
		{"minimal", `[{"labels":{"alertname":"A"}}]`, ""},
		{"object", `{}`, "alerts: is object, want array"},
		{"empty", `[]`, "alerts: empty"},
		{"no labels", `[{"annotations":{}}]`, "alerts[0].labels: missing"},
		{"empty labels", `[{"labels":{}}]`, "at least one label pair required"},
		{"label name", `[{"labels":{"a.b":"x"}}]`, `alerts[0].labels: invalid name "a.b"`},
		{"annotation name", `[{"labels":{"a":"x"},"annotations":{"1x":"y"}}]`, `alerts[0].annotations: invalid name "1x"`},
		{"times", `[{"labels":{"a":"x"},"startsAt":"2030-01-02T03:04:05Z","endsAt":"2030-01-02T03:00:00Z"}]`, "start time must be before end time"},
		{"unknown", `[{"labels":{"a":"x"},"status":"firing"}]`, `alerts[0]: unknown field "status"`},
		{"generator", `[{"labels":{"a":"x"},"generatorURL":"dashboard"}]`, `alerts[0].generatorURL: "dashboard" is not an absolute URL`},
	})
}

// recTB records Errorf calls instead of failing the test.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recTB) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPagerDutyReceiver(t *testing.T) {
	tb := &recTB{TB: t}
	rcv := NewPagerDuty(tb)
	if !strings.HasSuffix(rcv.URL(), "/v2/enqueue") {
		t.Errorf("URL = %q", rcv.URL())
	}
	code, body := post(t, rcv.URL(), pdEvent(nil))
	if code != 202 || body != `{"dedup_key":"k1","message":"Event processed","status":"success"}` {
		t.Errorf("valid event: %d %s", code, body)
	}
	code, body = post(t, rcv.URL(), pdEvent(func(m map[string]any) { m["routing_key"] = "short" }))
	if code != 400 || !strings.Contains(body, `"status":"invalid event"`) || !strings.Contains(body, "routing_key: length 5") {
		t.Errorf("invalid event: %d %s", code, body)
	}
	if errs := tb.errors(); len(errs) != 1 || !strings.Contains(errs[0], "pagerduty receiver: event.routing_key: length 5, want 32") {
		t.Errorf("Errorf calls = %q", errs)
	}
	rcv.AllowInvalid()
	post(t, rcv.URL(), `{}`)
	if len(tb.errors()) != 1 {
		t.Errorf("AllowInvalid: Errorf still called: %q", tb.errors())
	}
	if got := len(rcv.Violations()); got < 4 {
		t.Errorf("violations = %q", rcv.Violations())
	}
	if got := rcv.Accepted(); len(got) != 1 || got[0].Payload.Summary != "s" || got[0].Links[0].Text != "Runbook" {
		t.Errorf("accepted = %+v", got)
	}
}

func TestReceiverScriptAndChecks(t *testing.T) {
	tb := &recTB{TB: t}
	rcv := NewWebhook(tb)
	rcv.ReplyNext(2, TooManyRequests("2"))
	rcv.ReplyNext(1, Reply{Status: 500, Body: "boom"})
	for i, want := range []int{429, 429, 500, 200} {
		resp, err := http.Post(rcv.URL(), "application/json", strings.NewReader(webhookMsg(nil)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("request %d: Retry-After %q", i, resp.Header.Get("Retry-After"))
		}
	}
	if ds := rcv.Deliveries(); len(ds) != 4 || ds[0].Accepted() || !ds[3].Accepted() || len(rcv.Accepted()) != 1 {
		t.Errorf("deliveries = %d", len(ds))
	}

	// Wrong method, path and content type are violations.
	req, _ := http.NewRequest(http.MethodPut, rcv.URL()+"x", bytes.NewReader([]byte(webhookMsg(nil))))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	errs := strings.Join(tb.errors(), "\n")
	for _, want := range []string{"method PUT, want POST", "path ", `Content-Type "text/plain", want application/json`} {
		if !strings.Contains(errs, want) {
			t.Errorf("Errorf calls %q lack %q", errs, want)
		}
	}

	if _, ok := rcv.Wait(5, 5*time.Second); !ok {
		t.Error("Wait(5) = false with 5 requests in")
	}
	if _, ok := rcv.Wait(6, 10*time.Millisecond); ok {
		t.Error("Wait(6) = true with 5 requests in")
	}
}

func TestReceiverDelayAndWait(t *testing.T) {
	rcv := NewAlertmanager(t)
	if strings.Contains(rcv.URL(), "/api/") {
		t.Errorf("URL = %q, want the base URL", rcv.URL())
	}
	rcv.ReplyNext(1, Reply{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rcv.URL()+AlertmanagerPath, strings.NewReader(`[{"labels":{"a":"b"}}]`))
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("a delayed reply did not time out")
	}
	done := make(chan bool)
	go func() {
		_, ok := rcv.Wait(2, 5*time.Second)
		done <- ok
	}()
	post(t, rcv.URL()+AlertmanagerPath, `[{"labels":{"alertname":"A"}}]`)
	if !<-done {
		t.Error("Wait(2) timed out")
	}
	if got := rcv.Accepted(); len(got) != 1 || got[0][0].Labels["alertname"] != "A" {
		t.Errorf("accepted = %+v", got)
	}
}

func TestExpectMinGap(t *testing.T) {
	tb := &recTB{TB: t}
	rcv := NewSlack(tb)
	clock := NewClock(Start)
	rcv.SetNow(clock.Now)
	rcv.ExpectMinGap(time.Second)
	post(t, rcv.URL(), `{"text":"a"}`)
	clock.Advance(999 * time.Millisecond)
	post(t, rcv.URL(), `{"text":"b"}`)
	clock.Advance(time.Second)
	code, body := post(t, rcv.URL(), `{"text":"c"}`)
	if code != 200 || body != "ok" {
		t.Errorf("valid message: %d %q", code, body)
	}
	if errs := tb.errors(); len(errs) != 1 || !strings.Contains(errs[0], "arrived 999ms after the previous request, want at least 1s") {
		t.Errorf("Errorf calls = %q", errs)
	}
	if g := rcv.Gaps(); len(g) != 2 || g[0] != 999*time.Millisecond || g[1] != time.Second {
		t.Errorf("gaps = %v", g)
	}
	if !strings.Contains(rcv.URL(), "/services/T0STUDIO/B0STUDIO/") {
		t.Errorf("URL = %q", rcv.URL())
	}
}

func TestClock(t *testing.T) {
	c := NewClock(Start)
	if err := c.Sleep(context.Background(), 2*time.Second); err != nil || !c.Now().Equal(Start.Add(2*time.Second)) {
		t.Errorf("Sleep: %v, now %v", err, c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil || !c.Now().Equal(Start.Add(2*time.Second)) {
		t.Errorf("Sleep with a done context: %v, now %v", err, c.Now())
	}
	if s := c.Slept(); len(s) != 1 || s[0] != 2*time.Second {
		t.Errorf("Slept = %v", s)
	}
}

func TestAlertHelpers(t *testing.T) {
	a := Alert("RedisDown", "critical")
	r := Resolved(a, Start.Add(time.Minute))
	r.Labels["x"] = "y"
	if a.Resolved() || !r.Resolved() || a.Labels["x"] != "" || len(a.Fingerprint) != 16 || a.DedupKey == "" {
		t.Errorf("alert %+v, resolved %+v", a, r)
	}
}

// FuzzValidators feeds arbitrary bodies to every validator: none may panic.
func FuzzValidators(f *testing.F) {
	f.Add([]byte(pdEvent(nil)))
	f.Add([]byte(slackMsg(`{"type":"section","fields":[{"type":"mrkdwn","text":"x"}]}`)))
	f.Add([]byte(webhookMsg(nil)))
	f.Add([]byte(`[{"labels":{"a":"b"}}]`))
	f.Add([]byte(`{"text":"x","blocks":[{"type":"actions","elements":[{"type":"button","text":"x"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ValidatePagerDuty(body)
		ValidateSlack(body)
		ValidateWebhook(body)
		ValidateAlertmanager(body)
	})
}
