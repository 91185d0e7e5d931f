package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/internal/receivertest"
	"github.com/studiohq/studio/internal/redistest"
)

// TestAlertsThreeInstancesOneNotification: three `studio serve` instances
// share one Redis and evaluate the same rules. A condition that all of
// them see (connected clients above a bound, raised by this test) produces
// exactly one PagerDuty trigger (critical) and one Slack message
// (warning), and once it clears exactly one resolve each. The time from
// the condition becoming true to the first arrival is printed (goal: 5 s
// for a rule with for: 0).
func TestAlertsThreeInstancesOneNotification(t *testing.T) {
	rs := redistest.Start(t)
	pd, sl := receivertest.NewPagerDuty(t), receivertest.NewSlack(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	const bound = 150
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(`rules:
  - name: TooManyClients
    expr: connected_clients > %d
    severity: critical
    summary: '{{ humanize $value }} clients connected'
    runbook_url: docs/runbooks/redis-connections-near-limit.md
  - name: ManyClients
    expr: connected_clients > %d
    severity: warning
    summary: '{{ humanize $value }} clients connected'
    runbook_url: docs/runbooks/redis-connections-near-limit.md
route:
  group_wait: 1s
  group_interval: 2s # resolve notices go out at the group's next flush
  routes:
    - matchers: ['severity="critical"']
      receiver: pagerduty
    - matchers: ['severity="warning"']
      receiver: slack
`, bound, bound)), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var insts []*serving
	for i := range 3 {
		insts = append(insts, startServe(t, ctx, map[string]string{
			"STUDIO_ADMIN_TOKEN":      "alert-admin-4e27eab63bb22717364ac71e11f06361cecfcccef9d4b3e8",
			"REDIS_URL":               rs.URL(),
			"DATABASE_URL":            db,
			"STUDIO_MONITOR_INTERVAL": "200ms",
			"STUDIO_INSTANCE_ID":      fmt.Sprintf("studio-%d", i),
			"STUDIO_ALERT_RULES":      rules,
			"PAGERDUTY_ROUTING_KEY":   "0123456789abcdef0123456789abcdef",
			"PAGERDUTY_EVENTS_URL":    pd.URL(),
			"SLACK_WEBHOOK_URL":       sl.URL(),
		}))
	}
	time.Sleep(2 * time.Second) // every instance has evaluated the rules with the condition false

	// Raise connected_clients above the bound.
	var conns []net.Conn
	for range bound + 20 {
		c, err := net.Dial("tcp", rs.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	raised := time.Now()
	trig, ok := pd.Wait(1, 15*time.Second)
	if !ok {
		t.Fatal("no PagerDuty trigger within 15 s")
	}
	first := trig[0].At.Sub(raised)
	if _, ok := sl.Wait(1, 15*time.Second); !ok {
		t.Fatal("no Slack message within 15 s")
	}
	time.Sleep(3 * time.Second) // time for any duplicate to arrive
	events := pd.Accepted()
	if len(events) != 1 || events[0].EventAction != "trigger" {
		t.Fatalf("PagerDuty got %d events, want one trigger: %+v", len(events), events)
	}
	if len(events[0].Links) == 0 || !strings.Contains(events[0].Links[0].Href, "/docs/runbooks/redis-connections-near-limit.md") {
		t.Errorf("trigger carries no runbook link: %+v", events[0].Links)
	}
	if n := len(sl.Accepted()); n != 1 {
		t.Fatalf("Slack got %d messages, want 1", n)
	}
	_, body := send(t, "GET", insts[2].base+"/health/redis", "alert-admin-4e27eab63bb22717364ac71e11f06361cecfcccef9d4b3e8", "")
	if !strings.Contains(body, `"name":"TooManyClients"`) {
		t.Errorf("the Snapshot does not list the firing alert: %s", body)
	}
	code, body := send(t, "GET", insts[1].base+"/v1/alerts?state=firing", "alert-admin-4e27eab63bb22717364ac71e11f06361cecfcccef9d4b3e8", "")
	if code != 200 || !strings.Contains(body, `"rule":"TooManyClients"`) || !strings.Contains(body, `"dedup_key":"`+events[0].DedupKey+`"`) {
		t.Errorf("GET /v1/alerts: %d %s; want the firing alert with the dedup_key PagerDuty got", code, body)
	}
	// The runbook link works: Studio serves it.
	if code, rb := send(t, "GET", events[0].Links[0].Href, "", ""); code != 200 || !strings.Contains(rb, "#") {
		t.Errorf("runbook %s: %d", events[0].Links[0].Href, code)
	}

	for _, c := range conns {
		c.Close()
	}
	if _, ok := pd.Wait(2, 20*time.Second); !ok {
		t.Fatalf("no PagerDuty resolve within 20 s; log:\n%s", grepLines(insts[0].stdout.String(), "alert"))
	}
	if _, ok := sl.Wait(2, 20*time.Second); !ok {
		t.Fatal("no Slack resolve within 20 s")
	}
	time.Sleep(3 * time.Second)
	events = pd.Accepted()
	if len(events) != 2 || events[1].EventAction != "resolve" || events[1].DedupKey != events[0].DedupKey {
		t.Fatalf("PagerDuty events %+v, want one trigger and one resolve with the same dedup_key", events)
	}
	if n := len(sl.Accepted()); n != 2 {
		t.Fatalf("Slack got %d messages, want 2 (trigger, resolve)", n)
	}
	for _, s := range insts {
		if out := s.stdout.String() + s.stderr.String(); strings.Contains(out, "0123456789abcdef0123456789abcdef") || strings.Contains(out, sl.URL()) {
			t.Fatal("a receiver secret reached the log")
		}
	}
	t.Logf("MEASURED condition true → PagerDuty arrival: %s (three instances, 200 ms polls, 1 s evaluation)", first.Round(time.Millisecond))
	cancel()
	for _, s := range insts {
		<-s.done
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAlertReplicaDownFromSentinelView: in Sentinel mode a replica that
// died entirely (so its master no longer lists it) still counts in
// replicas_link_down, which comes from the HA watcher's topology.
func TestAlertReplicaDownFromSentinelView(t *testing.T) {
	topo := redistest.StartSentinel(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - name: ReplicaDown
    expr: replicas_link_down > 0
    severity: info
    summary: '{{ $value }} replica links down'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const admin = "replica-admin-8e1fe398f12a119c42a9c03b859af6cb76b4cf31f068555b"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, map[string]string{
		"STUDIO_ADMIN_TOKEN":      admin,
		"REDIS_SENTINELS":         strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME":       topo.MasterName(),
		"STUDIO_MONITOR_INTERVAL": "200ms",
		"STUDIO_ALERT_RULES":      rules,
		"DATABASE_URL":            "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
	})
	time.Sleep(2 * time.Second)
	if _, body := send(t, "GET", srv.base+"/v1/alerts?state=firing", admin, ""); strings.Contains(body, "ReplicaDown") {
		t.Fatalf("ReplicaDown fires with every replica up: %s", body)
	}
	if err := topo.DataNodes()[2].Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := send(t, "GET", srv.base+"/v1/alerts?state=firing", admin, "")
		if strings.Contains(body, `"rule":"ReplicaDown"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaDown did not fire after a replica died: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	<-srv.done
}

// writeReceivers writes a rule file with no rules and the given receivers
// section, and returns its path.
func writeReceivers(t *testing.T, receivers string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte("rules: []\nreceivers:\n"+receivers), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReceiverSecrets: receivers that name a secret_env use their own
// secret — a second PagerDuty service its own routing key, a webhook its
// Authorization header — while the shared secret serves the rest.
func TestReceiverSecrets(t *testing.T) {
	pd := receivertest.NewPagerDuty(t)
	hook := receivertest.NewWebhook(t)
	shared, own := strings.Repeat("a", 32), strings.Repeat("b", 32)
	rules := writeReceivers(t, fmt.Sprintf(`  - name: pagerduty
    kind: pagerduty
    url: %[1]s
  - name: db-oncall
    kind: pagerduty
    url: %[1]s
    secret_env: PAGERDUTY_DB_KEY
  - name: audit
    kind: webhook
    url: %[2]s
    secret_env: AUDIT_AUTH
`, pd.URL(), hook.URL()))
	cfg, err := newSettings("serve", envOf(map[string]string{
		"STUDIO_ALERT_RULES": rules, "PAGERDUTY_ROUTING_KEY": shared, "PAGERDUTY_DB_KEY": own, "AUDIT_AUTH": "Bearer audit-s3cret",
	}), io.Discard, nil).Config()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := newNotifiers(cfg, "studio-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pagerduty", "db-oncall", "audit"} {
		if retry, err := ns[name].Notify(t.Context(), receivertest.Alert("RedisDown", alert.SeverityCritical)); retry || err != nil {
			t.Fatalf("%s: %v, %v", name, retry, err)
		}
	}
	var keys []string
	for _, e := range pd.Accepted() {
		keys = append(keys, e.RoutingKey)
	}
	if len(keys) != 2 || keys[0] != shared || keys[1] != own {
		t.Fatalf("routing keys %q, want the shared one then the receiver's own", keys)
	}
	d := hook.Deliveries()
	if len(d) != 1 || d[0].Header.Get("Authorization") != "Bearer audit-s3cret" {
		t.Fatalf("webhook deliveries %d, Authorization %q", len(d), d[0].Header.Get("Authorization"))
	}
}

// TestReceiverSecretErrors: a secret_env that is unset or holds a value
// its kind refuses stops start-up with one line naming the receiver and
// the variable, never the value.
func TestReceiverSecretErrors(t *testing.T) {
	for _, tc := range []struct {
		name, receivers string
		env             map[string]string
		want            string
	}{
		{"unset", "  - name: db\n    kind: pagerduty\n    secret_env: DB_KEY\n", nil, `alert receiver "db": DB_KEY (its secret_env) is not set`},
		{"pagerduty key with a space", "  - name: db\n    kind: pagerduty\n    secret_env: DB_KEY\n", map[string]string{"DB_KEY": "leaky secret"}, `alert receiver "db": DB_KEY must not contain spaces`},
		{"slack over http", "  - name: chat\n    kind: slack\n    secret_env: CHAT_HOOK\n", map[string]string{"CHAT_HOOK": "http://hooks.slack.com/services/T/B/leakysecret"}, `alert receiver "chat": CHAT_HOOK must use https://`},
		{"header with a newline", "  - name: audit\n    kind: webhook\n    url: https://audit.example.com/hook\n    secret_env: AUDIT\n", map[string]string{"AUDIT": "Bearer leaky\nX: y"}, `alert receiver "audit": AUDIT must not contain control characters`},
		{"bad variable name", "  - name: db\n    kind: pagerduty\n    secret_env: db-key\n", nil, `secret_env: invalid "db-key"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"STUDIO_ALERT_RULES": writeReceivers(t, tc.receivers)}
			maps.Copy(env, tc.env)
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"studio", "serve"}, envOf(env), &stdout, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) || strings.Contains(lines[0], "leaky") {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q and no secret", code, stderr.String(), tc.want)
			}
		})
	}
}
