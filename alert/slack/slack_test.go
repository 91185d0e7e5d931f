package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/config"
	"github.com/studiohq/studio/internal/receivertest"
)

// fixture is a Slack receiver and a fake clock shared by the receiver and
// the limiter, so spacing is checked without waiting.
type fixture struct {
	rcv   *receivertest.Slack
	clock *receivertest.Clock
	lim   *Limiter
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{rcv: receivertest.NewSlack(t), clock: receivertest.NewClock(receivertest.Start.Add(time.Hour))}
	f.rcv.SetNow(f.clock.Now)
	f.rcv.ExpectMinGap(time.Second)
	f.lim = NewLimiter(LimiterConfig{Now: f.clock.Now, Sleep: f.clock.Sleep})
	return f
}

func (f *fixture) notifier(t *testing.T) *Notifier {
	t.Helper()
	n, err := New(Config{WebhookURL: f.rcv.URL(), Limiter: f.lim, DashboardURL: "https://studio.example.com/studio/redis"})
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
		{"empty", Config{}, "slack: WebhookURL must not be empty"},
		{"http remote", Config{WebhookURL: "http://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX"}, "slack: WebhookURL must use https (http is accepted only for a loopback host)"},
		{"http private", Config{WebhookURL: "http://10.1.2.3/hook"}, "slack: WebhookURL must use https (http is accepted only for a loopback host)"},
		{"http localhost lookalike", Config{WebhookURL: "http://localhost.example.com/hook"}, "slack: WebhookURL must use https (http is accepted only for a loopback host)"},
		{"scheme", Config{WebhookURL: "ftp://hooks.slack.com/services/T0/B0/X"}, "slack: WebhookURL must use http or https"},
		{"relative", Config{WebhookURL: "hooks.slack.com/services/T0/B0/X"}, "slack: WebhookURL is not a valid absolute URL"},
		{"space", Config{WebhookURL: "https://hooks.slack.com/services/T0/B0/X "}, "slack: WebhookURL must not have leading or trailing white space"},
		{"no host", Config{WebhookURL: "https:///services/T0/B0/X"}, "slack: WebhookURL has no host"},
		{"dashboard", Config{WebhookURL: "https://hooks.slack.com/services/T0/B0/X", DashboardURL: "/studio"}, "slack: DashboardURL must be an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New = %v, %v; want error %q", n, err, tt.want)
			}
			if tt.cfg.WebhookURL != "" && strings.Contains(err.Error(), tt.cfg.WebhookURL) {
				t.Errorf("error %q holds the URL", err)
			}
		})
	}
	for _, ok := range []string{
		"https://hooks.slack.com/services/T0/B0/X", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/hook",
	} {
		if _, err := New(Config{WebhookURL: ok}); err != nil {
			t.Errorf("New(%q) = %v", ok, err)
		}
	}
}

func TestFiringMessage(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	a.Annotations["summary"] = "Master <!channel> down & out"
	if retry, err := n.Notify(context.Background(), a); retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	msgs := f.rcv.Accepted()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if want := ":red_circle: [CRITICAL] RedisDown: Master &lt;!channel&gt; down &amp; out"; m.Text != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	if h := m.Headers(); len(h) != 1 || h[0] != ":red_circle: CRITICAL: RedisDown" {
		t.Errorf("headers = %q", h)
	}
	sec := m.Blocks[1]
	if sec.Type != "section" || !strings.Contains(sec.Text.Text, "*Master &lt;!channel&gt; down &amp; out*\nThe condition") {
		t.Errorf("section = %+v", sec.Text)
	}
	var fields []string
	for _, fl := range sec.Fields {
		fields = append(fields, fl.Text)
	}
	wantFields := []string{"*Severity*\ncritical", "*State*\nfiring", "*Value*\n0.25",
		fmt.Sprintf("*Started*\n<!date^%d^{date_short_pretty} {time_secs}|2030-01-02T03:04:05Z>", receivertest.Start.Unix())}
	if fmt.Sprint(fields) != fmt.Sprint(wantFields) {
		t.Errorf("fields = %q, want %q", fields, wantFields)
	}
	if ctx := m.Blocks[2]; ctx.Type != "context" || ctx.Elements[0].Text != "`instance=redis-1:6379`  fingerprint `"+a.Fingerprint+"`" {
		t.Errorf("context = %+v", ctx)
	}
	b := m.Buttons()
	if len(b) != 2 || b[0].Text != "Runbook" || b[0].URL != a.RunbookURL() || b[1].Text != "Dashboard" || b[1].URL != a.GeneratorURL {
		t.Errorf("buttons = %+v", b)
	}
}

func TestResolvedMessage(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	a := receivertest.Resolved(receivertest.Alert("RedisDown", alert.SeverityCritical), receivertest.Start.Add(time.Minute))
	a.GeneratorURL = ""
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	m := f.rcv.Accepted()[0]
	if !strings.HasPrefix(m.Text, ":white_check_mark: [RESOLVED] RedisDown") {
		t.Errorf("text = %q", m.Text)
	}
	if h := m.Headers(); h[0] != ":white_check_mark: RESOLVED: RedisDown" {
		t.Errorf("header = %q", h[0])
	}
	fields := m.Blocks[1].Fields
	if last := fields[len(fields)-1].Text; !strings.HasPrefix(last, "*Resolved*\n<!date^") {
		t.Errorf("last field = %q, want Resolved", last)
	}
	if b := m.Buttons(); len(b) != 2 || b[1].URL != "https://studio.example.com/studio/redis" {
		t.Errorf("buttons = %+v, want the configured dashboard", b)
	}
}

// TestValuesInTheRuleUnit: values are shown in the alert's unit, and a
// resolve notice shows the value at resolve beside the last firing value.
func TestValuesInTheRuleUnit(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	valueFields := func(a *alert.Alert) []string {
		t.Helper()
		before := len(f.rcv.Accepted())
		if _, err := n.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, fl := range f.rcv.Accepted()[before].Blocks[1].Fields {
			if strings.Contains(fl.Text, "alue") {
				out = append(out, fl.Text)
			}
		}
		return out
	}
	errRate := receivertest.Alert("RedisErrorRateHigh", alert.SeverityWarning)
	errRate.Unit, errRate.Value, errRate.FiringValue = config.UnitRatio, 1, 1
	latency := receivertest.Alert("RedisLatencyHigh", alert.SeverityWarning)
	latency.Unit, latency.Value, latency.FiringValue = config.UnitMilliseconds, 73.25, 73.25
	resolved := receivertest.Resolved(errRate, receivertest.Start.Add(time.Minute))
	resolved.Value = 0.012
	gone := receivertest.Resolved(errRate, receivertest.Start.Add(time.Minute))
	gone.NoSample = true
	for _, tc := range []struct {
		a    *alert.Alert
		want []string
	}{
		{errRate, []string{"*Value*\n100%"}},
		{latency, []string{"*Value*\n73.25 ms"}},
		{resolved, []string{"*Value at resolve*\n1.2%", "*Last firing value*\n100%"}},
		{gone, []string{"*Value at resolve*\nno sample", "*Last firing value*\n100%"}},
	} {
		if got := valueFields(tc.a); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %s: fields %q, want %q", tc.a.Rule, tc.a.State, got, tc.want)
		}
	}
}

func TestGroupingAndSpacing(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	var alerts []*alert.Alert
	for i := range 25 {
		a := receivertest.Alert(fmt.Sprintf("Rule%02d", i), alert.SeverityWarning)
		if i%5 == 0 {
			a = receivertest.Resolved(a, receivertest.Start.Add(time.Minute))
		}
		alerts = append(alerts, a)
	}
	if _, err := n.Notify(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
	msgs := f.rcv.Accepted()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3 (10+10+5 alerts)", len(msgs))
	}
	for i, want := range []int{10, 10, 5} {
		if got := len(msgs[i].Headers()); got != want {
			t.Errorf("message %d: %d alerts, want %d", i, got, want)
		}
		if len(msgs[i].Blocks) > MaxBlocks {
			t.Errorf("message %d: %d blocks", i, len(msgs[i].Blocks))
		}
	}
	if want := "[FIRING:8] Rule01, Rule02, Rule03, Rule04, Rule06, Rule07, Rule08, Rule09 · [RESOLVED:2] Rule00, Rule05"; msgs[0].Text != want {
		t.Errorf("text = %q, want %q", msgs[0].Text, want)
	}
	for i, g := range f.rcv.Gaps() {
		if g < time.Second {
			t.Errorf("gap %d = %v, want at least 1s", i, g)
		}
	}
}

// TestTwoNotifiersOneWebhook: two Notifier values for the same URL, sharing
// a Limiter, called back to back: their messages arrive at least a second
// apart (by the fake clock both sides read).
func TestTwoNotifiersOneWebhook(t *testing.T) {
	f := newFixture(t)
	n1, n2 := f.notifier(t), f.notifier(t)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	if _, err := n1.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	gaps := f.rcv.Gaps()
	if len(gaps) != 1 || gaps[0] < time.Second {
		t.Errorf("gaps = %v, want one of at least 1s", gaps)
	}
	if s := f.clock.Slept(); len(s) != 1 || s[0] != time.Second {
		t.Errorf("slept %v, want [1s]", s)
	}
}

func TestDefaultLimiterIsShared(t *testing.T) {
	n1, err := New(Config{WebhookURL: "https://hooks.slack.com/services/T0/B0/X"})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := New(Config{WebhookURL: "https://hooks.slack.com/services/T0/B0/X"})
	if err != nil {
		t.Fatal(err)
	}
	if n1.limiter != defaultLimiter || n2.limiter != defaultLimiter || n1.key != n2.key {
		t.Error("Notifiers for one URL do not share the default limiter")
	}
}

// TestConcurrentNotify checks that concurrent calls all get through (with
// the fake clock, arrival stamps of concurrent senders mean nothing: every
// sleeper moves the clock; TestLimiterConcurrent checks their spacing).
func TestConcurrentNotify(t *testing.T) {
	f := newFixture(t)
	f.rcv.ExpectMinGap(0)
	n := f.notifier(t)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := n.Notify(context.Background(), a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(f.rcv.Accepted()); got != 6 {
		t.Errorf("%d messages, want 6", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	f.rcv.ReplyNext(1, receivertest.TooManyRequests("2"))

	retry, err := n.Notify(context.Background(), a)
	if after, ok := alert.RetryAfter(err); !retry || !ok || after != 2*time.Second {
		t.Fatalf("Notify = %v, %v; want retry after 2s", retry, err)
	}
	// Within the 2 s nothing is sent: Notify says how long is left.
	f.clock.Advance(500 * time.Millisecond)
	retry, err = n.Notify(context.Background(), a)
	if after, ok := alert.RetryAfter(err); !retry || !ok || after != 1500*time.Millisecond {
		t.Fatalf("Notify while blocked = %v, %v; want retry after 1.5s", retry, err)
	}
	if !strings.Contains(err.Error(), "slack: webhook is rate limited by Slack") {
		t.Errorf("err = %v", err)
	}
	if got := len(f.rcv.Deliveries()); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
	// Once it has passed, the message goes.
	f.clock.Advance(1500 * time.Millisecond)
	if retry, err := n.Notify(context.Background(), a); retry || err != nil {
		t.Fatalf("Notify after Retry-After = %v, %v", retry, err)
	}
	ds := f.rcv.Deliveries()
	if len(ds) != 2 || ds[1].At.Sub(ds[0].At) < 2*time.Second || !ds[1].Accepted() {
		t.Errorf("deliveries %v", ds)
	}
}

func TestRetryClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     receivertest.Reply
		wantRetry bool
		wantErr   string
	}{
		{"500", receivertest.Reply{Status: 500, Body: "internal_error"}, true, "slack: post message: HTTP 500 Internal Server Error: internal_error"},
		{"502", receivertest.Status(502), true, "HTTP 502 Bad Gateway"},
		{"429 without Retry-After", receivertest.TooManyRequests(""), true, "HTTP 429 Too Many Requests: rate_limited"},
		{"429 date", receivertest.TooManyRequests(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), true, "HTTP 429"},
		{"400", receivertest.Reply{Status: 400, Body: "invalid_payload"}, false, "slack: post message: HTTP 400 Bad Request: invalid_payload"},
		{"403", receivertest.Reply{Status: 403, Body: "invalid_token"}, false, "HTTP 403 Forbidden: invalid_token"},
		{"404", receivertest.Reply{Status: 404, Body: "no_service"}, false, "HTTP 404 Not Found: no_service"},
		{"410", receivertest.Reply{Status: 410, Body: "channel_is_archived"}, false, "HTTP 410 Gone: channel_is_archived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rcv.ReplyNext(1, tt.reply)
			n := f.notifier(t)
			retry, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
			if retry != tt.wantRetry || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify = %v, %v; want %v, error containing %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			assertNoSecret(t, err, f.rcv.URL())
		})
	}
}

func TestTimeoutUnreachableAndEcho(t *testing.T) {
	f := newFixture(t)
	f.rcv.ReplyNext(1, receivertest.Reply{Status: 200, Delay: 5 * time.Second})
	n, err := New(Config{WebhookURL: f.rcv.URL(), Limiter: f.lim, Client: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if !retry || err == nil {
		t.Fatalf("timeout: Notify = %v, %v", retry, err)
	}
	assertNoSecret(t, err, f.rcv.URL())

	f.clock.Advance(time.Second)
	f.rcv.ReplyNext(1, receivertest.Reply{Status: 400, Body: "invalid_payload for " + f.rcv.URL()})
	_, err = f.notifier(t).Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if err == nil || !strings.Contains(err.Error(), "invalid_payload for <redacted>") {
		t.Fatalf("echo: err = %v", err)
	}
	assertNoSecret(t, err, f.rcv.URL())

	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX"
	srv.Close()
	n, err = New(Config{WebhookURL: url, Limiter: f.lim})
	if err != nil {
		t.Fatal(err)
	}
	retry, err = n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityCritical))
	if !retry || err == nil {
		t.Fatalf("unreachable: Notify = %v, %v", retry, err)
	}
	assertNoSecret(t, err, url)
}

func assertNoSecret(t *testing.T, err error, url string) {
	t.Helper()
	token := url[strings.LastIndex(url, "/")+1:]
	for _, s := range []string{url, token} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestLimitsAreKept(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	a := receivertest.Alert(strings.Repeat("VeryLongRuleName", 20), alert.Severity("a-made-up-severity-"+strings.Repeat("x", 3000)))
	a.Annotations["summary"] = strings.Repeat("<&>", 2000)
	a.Annotations["description"] = strings.Repeat("日本語", 2000)
	for i := range 200 {
		a.Labels[fmt.Sprintf("label%03d", i)] = strings.Repeat("v", 50)
	}
	a.Annotations["runbook_url"] = "https://runbooks.example.com/" + strings.Repeat("r", 4000) // too long for a button: dropped
	a.State = "a-made-up-state"
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	m := f.rcv.Accepted()[0] // the receiver checked every limit
	if b := m.Buttons(); len(b) != 1 || b[0].Text != "Dashboard" {
		t.Errorf("buttons = %+v, want the dashboard only", b)
	}
}

func TestNoAlertsNoMessage(t *testing.T) {
	f := newFixture(t)
	if retry, err := f.notifier(t).Notify(context.Background(), nil); retry || err != nil {
		t.Errorf("Notify(nil) = %v, %v", retry, err)
	}
	if len(f.rcv.Deliveries()) != 0 {
		t.Error("a message was sent")
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	f := newFixture(t)
	n := f.notifier(t)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	if _, err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := n.Notify(ctx, a) // must wait 1 s for its turn: the fake Sleep sees ctx done
	if !retry || err == nil || !strings.Contains(err.Error(), "slack: wait for rate limit: context canceled") {
		t.Errorf("Notify = %v, %v", retry, err)
	}
}

func TestEscapeTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"a<b", 10, "a&lt;b"},
		{"<<<<", 10, "&lt;…"}, // never "&l…"
		{"&&", 8, "&amp;…"},
		{"ok", 2, "ok"},
	}
	for _, tt := range tests {
		if got := escapeTruncate(tt.in, tt.max); got != tt.want || len(got) > tt.max {
			t.Errorf("escapeTruncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// TestChannel: a configured channel is sent as the payload's "channel";
// without one the payload leaves it out (the webhook's own channel).
func TestChannel(t *testing.T) {
	f := newFixture(t)
	plain := f.notifier(t)
	routed, err := New(Config{WebhookURL: f.rcv.URL(), Limiter: f.lim, Channel: "#ops-redis"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Notifier{plain, routed} {
		if retry, err := n.Notify(context.Background(), receivertest.Alert("RedisDown", alert.SeverityWarning)); retry || err != nil {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	}
	msgs := f.rcv.Accepted()
	if len(msgs) != 2 || msgs[0].Channel != "" || msgs[1].Channel != "#ops-redis" {
		t.Fatalf("channels %q", []string{msgs[0].Channel, msgs[1].Channel})
	}
	if b, _ := json.Marshal(plain.message(nil)); strings.Contains(string(b), `"channel"`) {
		t.Fatalf("payload without a channel setting names one: %s", b)
	}
}
