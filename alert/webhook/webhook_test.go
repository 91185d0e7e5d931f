package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/internal/receivertest"
)

const authorization = "Bearer wh-s3cr3t-t0ken-value"

var now = receivertest.Start.Add(time.Hour)

func newWebhook(t *testing.T, rcv *receivertest.Webhook, mod ...func(*Config)) *Notifier {
	t.Helper()
	cfg := Config{
		URL:           rcv.URL(),
		Authorization: authorization,
		Receiver:      "ops",
		ExternalURL:   "https://studio.example.com",
		Now:           func() time.Time { return now },
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
		new  func(Config) error
		cfg  Config
		want string
	}{
		{"empty", newErr, Config{}, "webhook: URL must not be empty"},
		{"scheme", newErr, Config{URL: "ftp://example.com/hook"}, "webhook: URL must use http or https"},
		{"relative", newErr, Config{URL: "example.com/hook"}, "webhook: URL is not a valid absolute URL"},
		{"no host", newErr, Config{URL: "http:///hook"}, "webhook: URL has no host"},
		{"space", newErr, Config{URL: " http://example.com/hook"}, "webhook: URL must not have leading or trailing white space"},
		{"max alerts", newErr, Config{URL: "https://example.com/hook", MaxAlerts: -1}, "webhook: MaxAlerts must not be negative"},
		{"external URL", newErr, Config{URL: "https://example.com/hook", ExternalURL: "studio"}, "webhook: ExternalURL must be an absolute http or https URL"},
		{"authorization", newErr, Config{URL: "https://example.com/hook", Authorization: "Bearer x\r\nX-Evil: 1"}, "webhook: Authorization must be one line"},
		{"am empty", newAMErr, Config{}, "alertmanager: URL must not be empty"},
		{"am scheme", newAMErr, Config{URL: "tcp://alertmanager:9093"}, "alertmanager: URL must use http or https"},
		{"am relative", newAMErr, Config{URL: "alertmanager:9093"}, "alertmanager: URL is not a valid absolute URL"},
		{"am bad", newAMErr, Config{URL: "http://alertmanager:port"}, "alertmanager: URL is not a valid absolute URL"},
		{"am external URL", newAMErr, Config{URL: "http://alertmanager:9093", ExternalURL: "/x"}, "alertmanager: ExternalURL must be an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.new(tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.cfg.URL != "" && strings.Contains(err.Error(), tt.cfg.URL) || tt.cfg.Authorization != "" && strings.Contains(err.Error(), "Bearer") {
				t.Errorf("error %q holds a secret", err)
			}
		})
	}
}

func newErr(c Config) error   { _, err := New(c); return err }
func newAMErr(c Config) error { _, err := NewAlertmanager(c); return err }

func TestWebhookPayload(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	n := newWebhook(t, rcv)
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	b := receivertest.Alert("RedisDown", alert.SeverityCritical)
	b.Labels["instance"] = "redis-2:6379"
	b.Fingerprint = "00000000000000bb"
	b = receivertest.Resolved(b, receivertest.Start.Add(10*time.Minute))

	if retry, err := n.Notify(context.Background(), a, b); retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	ds := rcv.Deliveries()
	if len(ds) != 1 || !ds[0].Accepted() {
		t.Fatalf("deliveries = %+v", ds)
	}
	if got := ds[0].Header.Get("Authorization"); got != authorization {
		t.Errorf("Authorization = %q", got)
	}
	m := ds[0].Payload
	want := receivertest.WebhookMessage{
		Version:           "4",
		GroupKey:          `{}:{alertname="RedisDown"}`,
		Status:            "firing",
		Receiver:          "ops",
		GroupLabels:       map[string]string{"alertname": "RedisDown"},
		CommonLabels:      map[string]string{"alertname": "RedisDown", "severity": "critical"},
		CommonAnnotations: a.Annotations,
		ExternalURL:       "https://studio.example.com",
		Alerts: []receivertest.WebhookAlert{
			{Status: "firing", Labels: a.Labels, Annotations: a.Annotations, StartsAt: receivertest.Start, EndsAt: time.Time{}, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint},
			{Status: "resolved", Labels: b.Labels, Annotations: b.Annotations, StartsAt: receivertest.Start, EndsAt: b.EndsAt, GeneratorURL: b.GeneratorURL, Fingerprint: b.Fingerprint},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("payload\n got %+v\nwant %+v", m, want)
	}
	if !strings.Contains(string(ds[0].Body), `"endsAt":"0001-01-01T00:00:00Z"`) {
		t.Errorf("a firing alert's endsAt should be Alertmanager's zero time: %s", ds[0].Body)
	}
}

func TestWebhookStatusAndGroup(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	n := newWebhook(t, rcv, func(c *Config) { c.GroupBy = []string{"alertname", "instance"}; c.Receiver = "" })
	a := receivertest.Resolved(receivertest.Alert("A", alert.SeverityWarning), time.Time{})        // no EndsAt: now
	b := receivertest.Resolved(receivertest.Alert("B", alert.SeverityWarning), now.Add(time.Hour)) // future: now
	if _, err := n.Notify(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	m := rcv.Accepted()[0]
	if m.Status != "resolved" || m.Receiver != DefaultReceiver {
		t.Errorf("status %q, receiver %q", m.Status, m.Receiver)
	}
	if m.GroupKey != `{}:{instance="redis-1:6379"}` || !reflect.DeepEqual(m.GroupLabels, map[string]string{"instance": "redis-1:6379"}) {
		t.Errorf("groupKey %q, groupLabels %v", m.GroupKey, m.GroupLabels)
	}
	for _, wa := range m.Alerts {
		if !wa.EndsAt.Equal(now) {
			t.Errorf("endsAt %v, want now %v", wa.EndsAt, now)
		}
	}
}

func TestWebhookMaxAlerts(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	n := newWebhook(t, rcv, func(c *Config) { c.MaxAlerts = 3 })
	var alerts []*alert.Alert
	for i, name := range []string{"R1", "R2", "F1", "F2", "F3"} {
		a := receivertest.Alert(name, alert.SeverityWarning)
		if i < 2 {
			a = receivertest.Resolved(a, receivertest.Start.Add(time.Minute))
		}
		alerts = append(alerts, a)
	}
	if _, err := n.Notify(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
	m := rcv.Accepted()[0]
	var names []string
	for _, a := range m.Alerts {
		names = append(names, a.Labels["alertname"])
	}
	if m.TruncatedAlerts != 2 || strings.Join(names, ",") != "F1,F2,F3" || m.Status != "firing" {
		t.Errorf("truncatedAlerts %d, alerts %v, status %q", m.TruncatedAlerts, names, m.Status)
	}
}

func TestWebhookNothingToSend(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	n := newWebhook(t, rcv)
	if retry, err := n.Notify(context.Background(), nil); retry || err != nil {
		t.Errorf("Notify(nil) = %v, %v", retry, err)
	}
	if len(rcv.Deliveries()) != 0 {
		t.Error("a request was sent")
	}
}

func TestWebhookRetryClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     receivertest.Reply
		wantRetry bool
		wantErr   string
		wantAfter time.Duration
	}{
		{"500", receivertest.Status(500), true, "webhook: post 1 alerts: HTTP 500 Internal Server Error", 0},
		{"502", receivertest.Status(502), true, "HTTP 502 Bad Gateway", 0},
		{"503 Retry-After", receivertest.Reply{Status: 503, Header: http.Header{"Retry-After": {"10"}}}, true, "HTTP 503", 10 * time.Second},
		{"429", receivertest.TooManyRequests(""), true, "HTTP 429", 0},
		{"429 Retry-After", receivertest.TooManyRequests("2"), true, "HTTP 429 Too Many Requests: rate_limited (retry after 2s)", 2 * time.Second},
		{"429 Retry-After date", receivertest.TooManyRequests(now.Add(time.Minute).UTC().Format(http.TimeFormat)), true, "HTTP 429", time.Minute},
		{"400", receivertest.Reply{Status: 400, Body: "bad payload"}, false, "HTTP 400 Bad Request: bad payload", 0},
		{"401", receivertest.Status(401), false, "HTTP 401 Unauthorized", 0},
		{"403", receivertest.Status(403), false, "HTTP 403 Forbidden", 0},
		{"404", receivertest.Status(404), false, "HTTP 404 Not Found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := receivertest.NewWebhook(t)
			rcv.ReplyNext(1, tt.reply)
			n := newWebhook(t, rcv)
			retry, err := n.Notify(context.Background(), receivertest.Alert("A", alert.SeverityWarning))
			if retry != tt.wantRetry || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify = %v, %v; want %v, error containing %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			after, ok := alert.RetryAfter(err)
			switch {
			case tt.wantAfter == 0 && ok, tt.wantAfter > 0 && after != tt.wantAfter:
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tt.wantAfter)
			}
			assertNoSecret(t, err, rcv.URL())
		})
	}
}

func TestWebhookTimeoutUnreachableEcho(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	rcv.ReplyNext(1, receivertest.Reply{Delay: 5 * time.Second})
	n := newWebhook(t, rcv, func(c *Config) { c.Client = &http.Client{Timeout: 100 * time.Millisecond} })
	retry, err := n.Notify(context.Background(), receivertest.Alert("A", alert.SeverityWarning))
	if !retry || err == nil {
		t.Fatalf("timeout: Notify = %v, %v", retry, err)
	}
	assertNoSecret(t, err, rcv.URL())

	rcv.ReplyNext(1, receivertest.Reply{Status: 401, Body: "bad credentials " + authorization + " for " + rcv.URL()})
	_, err = newWebhook(t, rcv).Notify(context.Background(), receivertest.Alert("A", alert.SeverityWarning))
	if err == nil || !strings.Contains(err.Error(), "bad credentials <redacted> for <redacted>") {
		t.Fatalf("echo: err = %v", err)
	}
	assertNoSecret(t, err, rcv.URL())

	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/0123456789abcdefXYZ"
	srv.Close()
	for _, mk := range []func() (alert.Notifier, error){
		func() (alert.Notifier, error) { return New(Config{URL: url, Authorization: authorization}) },
		func() (alert.Notifier, error) { return NewAlertmanager(Config{URL: url, Authorization: authorization}) },
	} {
		n, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		retry, err := n.Notify(context.Background(), receivertest.Alert("A", alert.SeverityWarning))
		if !retry || err == nil {
			t.Fatalf("unreachable: Notify = %v, %v", retry, err)
		}
		assertNoSecret(t, err, url)
	}
}

func assertNoSecret(t *testing.T, err error, url string) {
	t.Helper()
	token := url[strings.LastIndex(url, "/")+1:]
	for _, s := range []string{url, token, authorization, strings.TrimPrefix(authorization, "Bearer ")} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestAlertmanager(t *testing.T) {
	rcv := receivertest.NewAlertmanager(t)
	n, err := NewAlertmanager(Config{URL: rcv.URL(), ExternalURL: "https://studio.example.com", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	a.Labels["redis.addr"] = "10.0.0.1:6379" // not a Prometheus label name
	a.GeneratorURL = ""
	r := receivertest.Resolved(receivertest.Alert("HighLatency", alert.SeverityWarning), receivertest.Start.Add(time.Minute))
	if retry, err := n.Notify(context.Background(), a, nil, r); retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	ds := rcv.Deliveries()
	if len(ds) != 1 || ds[0].Path != "/api/v2/alerts" {
		t.Fatalf("deliveries = %+v", ds)
	}
	got := ds[0].Payload
	if len(got) != 2 {
		t.Fatalf("%d alerts, want 2", len(got))
	}
	fa, ra := got[0], got[1]
	if fa.Labels["redis_addr"] != "10.0.0.1:6379" || fa.Labels["alertname"] != "RedisDown" || fa.Annotations["summary"] != a.Summary() {
		t.Errorf("firing alert = %+v", fa)
	}
	// A firing alert ends four resends ahead, as Prometheus sends it: an
	// Alertmanager resolves it then unless Studio sends it again.
	if !fa.StartsAt.Equal(receivertest.Start) || !fa.EndsAt.Equal(now.Add(4*time.Minute)) || fa.GeneratorURL != "https://studio.example.com" {
		t.Errorf("firing alert times/URL = %v, %v, %q; want endsAt %v", fa.StartsAt, fa.EndsAt, fa.GeneratorURL, now.Add(4*time.Minute))
	}
	if n.ResendInterval() != DefaultResendInterval {
		t.Errorf("ResendInterval %v", n.ResendInterval())
	}
	if !ra.EndsAt.Equal(receivertest.Start.Add(time.Minute)) || ra.GeneratorURL != r.GeneratorURL {
		t.Errorf("resolved alert = %+v", ra)
	}

	if retry, err := n.Notify(context.Background()); retry || err != nil || len(rcv.Deliveries()) != 1 {
		t.Errorf("Notify() = %v, %v; want no request", retry, err)
	}

	rcv.ReplyNext(1, receivertest.Reply{Status: 400, Body: `{"code":400,"message":"bad"}`})
	if retry, err := n.Notify(context.Background(), a); retry || err == nil || !strings.Contains(err.Error(), `alertmanager: post 1 alerts: HTTP 400 Bad Request: {"code":400,"message":"bad"}`) {
		t.Errorf("400: Notify = %v, %v", retry, err)
	}
	rcv.ReplyNext(1, receivertest.Status(503))
	if retry, err := n.Notify(context.Background(), a); !retry || err == nil {
		t.Errorf("503: Notify = %v, %v", retry, err)
	}
}

// TestAlertmanagerEndsAtFollowsTheResendInterval: endsAt is 4 × the
// resend interval ahead of each send, and a negative interval is refused.
func TestAlertmanagerEndsAtFollowsTheResendInterval(t *testing.T) {
	rcv := receivertest.NewAlertmanager(t)
	clock := now
	n, err := NewAlertmanager(Config{URL: rcv.URL(), ResendInterval: 30 * time.Second, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	a := receivertest.Alert("RedisDown", alert.SeverityCritical)
	for i := range 2 {
		if _, err := n.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		got := rcv.Deliveries()[i].Payload[0].EndsAt
		if want := clock.Add(2 * time.Minute); !got.Equal(want) {
			t.Errorf("send %d: endsAt %v, want %v", i, got, want)
		}
		clock = clock.Add(30 * time.Second) // the resend moves it on
	}
	if _, err := NewAlertmanager(Config{URL: rcv.URL(), ResendInterval: -time.Second}); err == nil || !strings.Contains(err.Error(), "ResendInterval") {
		t.Errorf("negative ResendInterval: %v", err)
	}
}

func TestAlertmanagerPathPrefix(t *testing.T) {
	var (
		mu   sync.Mutex
		path string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		path = r.URL.Path
		mu.Unlock()
	}))
	defer srv.Close()
	n, err := NewAlertmanager(Config{URL: srv.URL + "/alertmanager/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), receivertest.Alert("A", alert.SeverityInfo)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "/alertmanager/api/v2/alerts" {
		t.Errorf("path = %q", path)
	}
}

func TestLegalName(t *testing.T) {
	for in, want := range map[string]string{
		"ok_name": "ok_name", "redis.addr": "redis_addr", "9lives": "_lives", "a9": "a9", "": "_", "naïve": "na__ve", "a-b c": "a_b_c",
	} {
		if got := legalName(in); got != want {
			t.Errorf("legalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConcurrentNotify(t *testing.T) {
	rcv := receivertest.NewWebhook(t)
	n := newWebhook(t, rcv)
	a := receivertest.Alert("Shared", alert.SeverityWarning)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := n.Notify(context.Background(), a, a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(rcv.Accepted()); got != 8 {
		t.Errorf("%d accepted, want 8", got)
	}
}
