package pagerduty

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/internal/notify"
	"github.com/studiohq/studio/internal/receivertest"
)

const routingKey = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y32" // 32 characters, like PagerDuty's

func newNotifier(t *testing.T, rcv *receivertest.PagerDuty, mod ...func(*Config)) *Notifier {
	t.Helper()
	cfg := Config{
		URL:        rcv.URL(),
		RoutingKey: routingKey,
		Source:     "studio-1.example.com",
		Component:  "redis",
		Group:      "sessions",
		ClientURL:  "https://studio.example.com/studio/redis",
	}
	for _, m := range mod {
		m(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no routing key", Config{}, "pagerduty: RoutingKey must not be empty"},
		{"routing key with space", Config{RoutingKey: routingKey + " "}, "pagerduty: RoutingKey must not contain white space or control characters"},
		{"routing key with newline", Config{RoutingKey: "abc\ndef"}, "pagerduty: RoutingKey must not contain white space or control characters"},
		{"URL scheme", Config{URL: "ftp://events.pagerduty.com/v2/enqueue", RoutingKey: routingKey}, "pagerduty: URL must use http or https"},
		{"URL relative", Config{URL: "events.pagerduty.com/v2/enqueue", RoutingKey: routingKey}, "pagerduty: URL is not a valid absolute URL"},
		{"URL bad port", Config{URL: "https://events.pagerduty.com:x/v2/enqueue", RoutingKey: routingKey}, "pagerduty: URL is not a valid absolute URL"},
		{"URL space", Config{URL: "https://events.pagerduty.com/v2/enqueue\n", RoutingKey: routingKey}, "pagerduty: URL must not have leading or trailing white space"},
		{"URL no host", Config{URL: "https:///v2/enqueue", RoutingKey: routingKey}, "pagerduty: URL has no host"},
		{"client URL", Config{RoutingKey: routingKey, ClientURL: "studio/redis"}, "pagerduty: ClientURL must be an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New = %v, %v; want error %q", n, err, tt.want)
			}
			if strings.Contains(err.Error(), routingKey) || tt.cfg.URL != "" && strings.Contains(err.Error(), tt.cfg.URL) {
				t.Errorf("error %q holds a secret", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	n, err := New(Config{RoutingKey: routingKey})
	if err != nil {
		t.Fatal(err)
	}
	if n.cfg.URL != DefaultURL || n.cfg.ClientName != "Studio" {
		t.Errorf("defaults: URL %q, ClientName %q", n.cfg.URL, n.cfg.ClientName)
	}
}

func TestTriggerThenResolve(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)

	if retry, err := n.Notify(context.Background(), a); err != nil || retry {
		t.Fatalf("Notify(firing) = %v, %v", retry, err)
	}
	end := receivertest.Start.Add(5 * time.Minute)
	if retry, err := n.Notify(context.Background(), receivertest.Resolved(a, end)); err != nil || retry {
		t.Fatalf("Notify(resolved) = %v, %v", retry, err)
	}
	evs := rcv.Accepted()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	trig, res := evs[0], evs[1]
	if trig.EventAction != "trigger" || trig.RoutingKey != routingKey || trig.DedupKey != a.DedupKey {
		t.Errorf("trigger = %+v", trig)
	}
	p := trig.Payload
	if p == nil {
		t.Fatal("trigger has no payload")
	}
	if p.Summary != "RedisDown on redis-1:6379" || p.Source != "studio-1.example.com" || p.Severity != "critical" ||
		p.Timestamp != "2030-01-02T03:04:05Z" || p.Component != "redis" || p.Group != "sessions" || p.Class != "RedisDown" {
		t.Errorf("payload = %+v", p)
	}
	cd := p.CustomDetails
	if cd["fingerprint"] != a.Fingerprint || cd["value"] != 0.25 || cd["rule"] != "RedisDown" || cd["state"] != "firing" {
		t.Errorf("custom_details = %v", cd)
	}
	if labels, _ := cd["labels"].(map[string]any); labels["instance"] != "redis-1:6379" || labels["alertname"] != "RedisDown" {
		t.Errorf("custom_details.labels = %v", cd["labels"])
	}
	if ann, _ := cd["annotations"].(map[string]any); ann["runbook_url"] != a.RunbookURL() {
		t.Errorf("custom_details.annotations = %v", cd["annotations"])
	}
	if trig.Client != "Studio" || trig.ClientURL != "https://studio.example.com/studio/redis" {
		t.Errorf("client = %q, %q", trig.Client, trig.ClientURL)
	}
	wantLinks := []receivertest.PagerDutyLink{
		{Href: a.RunbookURL(), Text: "Runbook"},
		{Href: a.GeneratorURL, Text: "Studio dashboard"},
	}
	if fmt.Sprint(trig.Links) != fmt.Sprint(wantLinks) {
		t.Errorf("links = %v, want %v", trig.Links, wantLinks)
	}

	if res.EventAction != "resolve" || res.DedupKey != a.DedupKey || res.RoutingKey != routingKey || res.Payload != nil {
		t.Errorf("resolve = %+v", res)
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[alert.Severity]string{
		alert.SeverityCritical: "critical", alert.SeverityWarning: "warning", alert.SeverityInfo: "info",
		"": "error", "page": "error",
	} {
		if got := Severity(in); got != want {
			t.Errorf("Severity(%q) = %q, want %q", in, got, want)
		}
	}
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	a := receivertest.Alert("Odd", "page")
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := rcv.Accepted()[0].Payload.Severity; got != "error" {
		t.Errorf("severity %q, want error", got)
	}
}

func TestPayloadFallbacks(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	fixed := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	n := newNotifier(t, rcv, func(c *Config) {
		c.Source, c.ClientURL, c.Class = "", "", "redis-health"
		c.Now = func() time.Time { return fixed }
	})
	a := receivertest.Alert("Bare", alert.SeverityWarning)
	a.Annotations = nil
	a.StartsAt = time.Time{}
	a.GeneratorURL = ""
	a.Value = math.NaN()
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ev := rcv.Accepted()[0]
	p := ev.Payload
	if p.Summary != "Bare" || p.Source != "redis-1:6379" || p.Timestamp != "2031-05-06T07:08:09Z" || p.Class != "redis-health" {
		t.Errorf("payload = %+v", p)
	}
	if p.CustomDetails["value"] != "NaN" {
		t.Errorf("value = %v, want \"NaN\"", p.CustomDetails["value"])
	}
	if len(ev.Links) != 0 || ev.ClientURL != "" {
		t.Errorf("links = %v, client_url %q; want none", ev.Links, ev.ClientURL)
	}

	delete(a.Labels, "instance")
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := rcv.Accepted()[1].Payload.Source; got != "studio" {
		t.Errorf("source = %q, want studio", got)
	}
}

func TestLongSummaryIsTruncated(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	a := receivertest.Alert("Long", alert.SeverityCritical)
	a.Annotations["summary"] = strings.Repeat("é日", 1000) + "\xff"
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	s := rcv.Accepted()[0].Payload.Summary
	if len(s) > MaxSummaryLen || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Errorf("summary: %d bytes, valid %v, %q…", len(s), utf8.ValidString(s), s[:20])
	}
}

func TestDedupKey(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)

	long := receivertest.Alert("LongKey", alert.SeverityCritical)
	long.DedupKey = strings.Repeat("k", 300)
	noKey := receivertest.Alert("NoKey", alert.SeverityCritical)
	noKey.DedupKey = ""
	if _, err := n.Notify(context.Background(), long, long, noKey); err != nil {
		t.Fatal(err)
	}
	evs := rcv.Accepted()
	if len(evs[0].DedupKey) > MaxDedupKeyLen || evs[0].DedupKey != evs[1].DedupKey {
		t.Errorf("long key → %q, %q: want one stable key of at most %d", evs[0].DedupKey, evs[1].DedupKey, MaxDedupKeyLen)
	}
	if evs[2].DedupKey != noKey.Fingerprint {
		t.Errorf("no key → %q, want the fingerprint %q", evs[2].DedupKey, noKey.Fingerprint)
	}

	neither := receivertest.Alert("Neither", alert.SeverityCritical)
	neither.DedupKey, neither.Fingerprint = "", ""
	retry, err := n.Notify(context.Background(), neither)
	if retry || err == nil || !strings.Contains(err.Error(), "pagerduty: alert Neither: alert has neither a dedup key nor a fingerprint") {
		t.Errorf("Notify = %v, %v", retry, err)
	}
	if got := len(rcv.Deliveries()); got != 3 {
		t.Errorf("%d requests, want 3 (none for the keyless alert)", got)
	}
}

func TestNotifyNothing(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	if retry, err := n.Notify(context.Background()); retry || err != nil {
		t.Errorf("Notify() = %v, %v", retry, err)
	}
	if retry, err := n.Notify(context.Background(), nil, nil); retry || err != nil {
		t.Errorf("Notify(nil, nil) = %v, %v", retry, err)
	}
	if len(rcv.Deliveries()) != 0 {
		t.Error("requests were sent")
	}
}

func TestRetryClassification(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	pdError := `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`
	tests := []struct {
		name      string
		reply     receivertest.Reply
		wantRetry bool
		wantErr   string
		wantAfter time.Duration // 0: no RetryAfterError; <0: any positive
	}{
		{"500", receivertest.Status(500), true, "HTTP 500 Internal Server Error", 0},
		{"502", receivertest.Status(502), true, "HTTP 502 Bad Gateway", 0},
		{"503", receivertest.Status(503), true, "HTTP 503 Service Unavailable", 0},
		{"429", receivertest.TooManyRequests(""), true, "HTTP 429 Too Many Requests", 0},
		{"429 Retry-After seconds", receivertest.TooManyRequests("2"), true, "(retry after 2s)", 2 * time.Second},
		{"429 Retry-After date", receivertest.TooManyRequests(date), true, "HTTP 429", -1},
		{"400", receivertest.Reply{Status: 400, Body: pdError}, false,
			"HTTP 400 Bad Request: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)", 0},
		{"403", receivertest.Status(403), false, "HTTP 403 Forbidden", 0},
		{"404", receivertest.Reply{Status: 404, Body: "not found"}, false, "HTTP 404 Not Found: not found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := receivertest.NewPagerDuty(t)
			rcv.ReplyNext(1, tt.reply)
			n := newNotifier(t, rcv)
			retry, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
			if retry != tt.wantRetry || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify = %v, %v; want %v, error containing %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "pagerduty: trigger alert RedisDown/") {
				t.Errorf("error %q does not name the alert", err)
			}
			after, ok := alert.RetryAfter(err)
			switch {
			case tt.wantAfter == 0 && ok, tt.wantAfter > 0 && after != tt.wantAfter, tt.wantAfter < 0 && (!ok || after <= 0):
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tt.wantAfter)
			}
			assertNoSecret(t, err, rcv.URL())
		})
	}
}

func TestTimeoutAndUnreachable(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	rcv.ReplyNext(1, receivertest.Reply{Status: 202, Delay: 5 * time.Second})
	n := newNotifier(t, rcv, func(c *Config) { c.Client = &http.Client{Timeout: 100 * time.Millisecond} })
	retry, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if !retry || err == nil {
		t.Fatalf("timeout: Notify = %v, %v; want retry", retry, err)
	}
	assertNoSecret(t, err, rcv.URL())

	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/v2/enqueue"
	srv.Close()
	n, err = New(Config{URL: url, RoutingKey: routingKey})
	if err != nil {
		t.Fatal(err)
	}
	retry, err = n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if !retry || err == nil {
		t.Fatalf("unreachable: Notify = %v, %v; want retry", retry, err)
	}
	assertNoSecret(t, err, url)
}

func TestEchoedSecretsAreRedacted(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	rcv.ReplyNext(1, receivertest.Reply{Status: 400, Body: `{"status":"invalid event","message":"bad key ` + routingKey + `","errors":["sent to ` + rcv.URL() + `"]}`})
	n := newNotifier(t, rcv)
	_, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if err == nil || !strings.Contains(err.Error(), "bad key <redacted>") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, rcv.URL())
}

func assertNoSecret(t *testing.T, err error, url string) {
	t.Helper()
	for _, s := range []string{routingKey, url} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestBatchPartialFailures(t *testing.T) {
	a := receivertest.Alert("A", alert.SeverityCritical)
	b := receivertest.Alert("B", alert.SeverityCritical)
	c := receivertest.Alert("C", alert.SeverityCritical)

	// A refused event does not stop the others, and is not retried.
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	rcv.ReplyNext(1, receivertest.Status(202))
	rcv.ReplyNext(1, receivertest.Reply{Status: 400, Body: `{"status":"invalid event","message":"Event object is invalid"}`})
	retry, err := n.Notify(context.Background(), a, b, c)
	if retry || err == nil || !strings.Contains(err.Error(), "alert B/"+b.Fingerprint) || strings.Contains(err.Error(), "alert A/") {
		t.Errorf("Notify = %v, %v; want retry=false and an error naming only B", retry, err)
	}
	if got := len(rcv.Deliveries()); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}

	// A retryable failure stops the batch: PagerDuty is unavailable.
	rcv = receivertest.NewPagerDuty(t)
	n = newNotifier(t, rcv)
	rcv.ReplyNext(1, receivertest.Status(503))
	retry, err = n.Notify(context.Background(), a, b, c)
	if !retry || err == nil {
		t.Errorf("Notify = %v, %v; want retry", retry, err)
	}
	if got := len(rcv.Deliveries()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestCancelledContext(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := n.Notify(ctx, receivertest.Alert("A", alert.SeverityCritical))
	if !retry || err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Notify = %v, %v", retry, err)
	}
}

func TestConcurrentNotify(t *testing.T) {
	rcv := receivertest.NewPagerDuty(t)
	n := newNotifier(t, rcv)
	a := receivertest.Alert("Shared", alert.SeverityWarning) // one value, many goroutines: read-only
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := n.Notify(context.Background(), a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(rcv.Accepted()); got != 8 {
		t.Errorf("%d events accepted, want 8", got)
	}
}

func TestErrorDetail(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"status":"invalid event","message":"Event object is invalid","errors":["a","b"]}`, "Event object is invalid: a; b"},
		{`{"status":"Unrecognized object","message":"","errors":["JSON parse error"]}`, "Unrecognized object: JSON parse error"},
		{`{"errors":["only"]}`, "only"},
		{`{"errors":[1,{"x":2}]}`, `1; {"x":2}`},
		{`{"message":"m"}`, "m"},
		{`{}`, `{}`},
		{`null`, `null`},
		{`not json`, `not json`},
		{`["a"]`, `["a"]`},
	}
	for _, tt := range tests {
		if got := errorDetail([]byte(tt.in)); got != tt.want {
			t.Errorf("errorDetail(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzErrorDetail parses whatever PagerDuty might answer: the resulting
// error is bounded, valid UTF-8 and never holds the routing key.
func FuzzErrorDetail(f *testing.F) {
	f.Add([]byte(`{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}`))
	f.Add([]byte(`{"errors":[null,1,"x"]}`))
	f.Add([]byte(`{"message":"` + routingKey + `"}`))
	f.Add([]byte(`{"errors":["` + routingKey[:16] + `", "` + routingKey[16:] + `"]}`))
	f.Add([]byte("\xff\x00"))
	n, err := New(Config{RoutingKey: routingKey})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = errorDetail(body) // must not panic
		_, err := n.sender.Check(&notify.Response{StatusCode: 400, Header: http.Header{}, Body: body}, errorDetail)
		msg := err.Error()
		if strings.Contains(msg, routingKey) || !utf8.ValidString(msg) || len(msg) > notify.MaxDetail+64 {
			t.Errorf("body %q: error %q", body, msg)
		}
	})
}
