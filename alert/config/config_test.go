package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const okRule = "rules:\n  - name: X\n    expr: redis_up == 0\n    severity: critical\n"

// TestLoadBadFiles: every bad rule file is refused with the file, the line
// and the reason.
func TestLoadBadFiles(t *testing.T) {
	rule := func(extra string) string { return okRule + extra }
	for _, tc := range []struct{ name, src, want string }{
		{"empty file", "", `rules.yaml: empty file: want a mapping with a rules list`},
		{"bad YAML", "rules: [", `rules.yaml:1: invalid YAML: did not find expected node content`},
		{"bad YAML indentation", "rules:\n  - name: A\n    expr: redis_up == 0\n    severity: critical\n  bad\n", `rules.yaml:5: invalid YAML: could not find expected ':'`},
		{"two documents", "rules: []\n---\nrules: []\n", `rules.yaml:2: more than one YAML document`},
		{"alias", "base: &b {name: X}\nrules:\n  - *b\n", `rules.yaml:3: YAML aliases are not supported`},
		{"not a mapping", "- a\n", `rules.yaml:1: want a mapping, got a list`},
		{"unknown top-level field", "rulez: []\n", `rules.yaml:1: unknown field "rulez" (want one of rules, route, receivers)`},
		{"missing rules", "route: {}\n", `rules.yaml:1: missing rules (a list of rules; rules: [] for none)`},
		{"rules not a list", "rules: {}\n", `rules.yaml:1: rules: want a list, got a mapping`},
		{"rule not a mapping", "rules:\n  - 5\n", `rules.yaml:2: rule #1: want a mapping, got "5"`},
		{"unknown rule field", rule("    colour: red\n"), `rules.yaml:5: rule "X": unknown field "colour" (want one of name, expr, event, hold, for, keep_firing_for, resolve_threshold, severity, unit, summary, description, labels, annotations, runbook_url)`},
		{"duplicate field", "rules:\n  - name: X\n    expr: redis_up == 0\n    expr: redis_up == 1\n    severity: critical\n", `rules.yaml:4: rule "X": duplicate field "expr" (first at line 3)`},
		{"missing name", "rules:\n  - expr: redis_up == 0\n    severity: critical\n", `rules.yaml:2: rule #1: name: missing`},
		{"bad name", "rules:\n  - name: 'a b'\n    expr: redis_up == 0\n    severity: critical\n", `rules.yaml:2: rule "a b": name: invalid "a b": want letters, digits and _ . : - (at most 128)`},
		{"duplicate name", okRule + "  - name: X\n    expr: redis_up == 1\n    severity: info\n", `rules.yaml:5: rule "X": duplicate name (first at line 2)`},
		{"missing severity", "rules:\n  - name: X\n    expr: redis_up == 0\n", `rules.yaml:2: rule "X": severity: missing (want critical, warning or info)`},
		{"bad severity", "rules:\n  - name: X\n    expr: redis_up == 0\n    severity: urgent\n", `rules.yaml:4: rule "X": severity: invalid "urgent" (want critical, warning or info)`},
		{"bad unit", rule("    unit: percent\n"), `rules.yaml:5: rule "X": unit: invalid "percent" (want one of count, ratio, seconds, ms, bytes, days)`},
		{"unit not a scalar", rule("    unit: [ms]\n"), `rules.yaml:5: rule "X": unit: want a string, got a list`},
		{"empty unit", rule("    unit: ''\n"), `rules.yaml:5: rule "X": unit: empty (want one of count, ratio, seconds, ms, bytes, days, or leave it out for the sample's unit)`},
		{"bad duration", rule("    for: 5x\n"), `rules.yaml:5: rule "X": for: invalid duration "5x"`},
		{"negative duration", rule("    keep_firing_for: -5s\n"), `rules.yaml:5: rule "X": keep_firing_for: negative duration "-5s"`},
		{"duration not a scalar", rule("    for: [1s]\n"), `rules.yaml:5: rule "X": for: want a duration such as 30s, got a list`},
		{"missing expr or event", "rules:\n  - name: X\n    severity: critical\n", `rules.yaml:2: rule "X": missing expr or event`},
		{"expr and event", rule("    event: switch-master\n"), `rules.yaml:5: rule "X": event: a rule has either expr or event, not both`},
		{"empty expr", "rules:\n  - name: X\n    expr: ''\n    severity: critical\n", `rules.yaml:3: rule "X": expr: empty expression: want a sample name, an operator and a number, e.g. cache_hit_rate < 0.8`},
		{"expr missing number", "rules:\n  - name: X\n    expr: redis_up ==\n    severity: critical\n", `rules.yaml:3: rule "X": expr: missing number after "=="`},
		{"expr bad number", "rules:\n  - name: X\n    expr: redis_up == zero\n    severity: critical\n", `rules.yaml:3: rule "X": expr: invalid number "zero" after "=="`},
		{"expr NaN", "rules:\n  - name: X\n    expr: redis_up == NaN\n    severity: critical\n", `rules.yaml:3: rule "X": expr: invalid number "NaN" after "=="`},
		{"expr missing comparison", "rules:\n  - name: X\n    expr: redis_up\n    severity: critical\n", `rules.yaml:3: rule "X": expr: missing comparison after "redis_up": want one of > >= < <= == != and a number`},
		{"unknown comparison op =>", "rules:\n  - name: X\n    expr: redis_up => 0\n    severity: critical\n", `rules.yaml:3: rule "X": expr: unknown comparison operator at "=> 0": want one of > >= < <= == !=`},
		{"unknown comparison op =", "rules:\n  - name: X\n    expr: redis_up = 0\n    severity: critical\n", `rules.yaml:3: rule "X": expr: unknown comparison operator at "= 0": want one of > >= < <= == !=`},
		{"unknown sample", "rules:\n  - name: X\n    expr: redis_upp == 0\n    severity: critical\n", `rules.yaml:3: rule "X": expr: unknown sample "redis_upp" (known: ` + strings.Join(SampleNames(), ", ") + `)`},
		{"bad matcher regex in expr", "rules:\n  - name: X\n    expr: hotkey_per_min{key=~\"(\"} > 1\n    severity: critical\n", "rules.yaml:3: rule \"X\": expr: label key: invalid regular expression \"(\": missing closing ): `(`"},
		{"unclosed selector", "rules:\n  - name: X\n    expr: hotkey_per_min{key=\"a\" > 1\n    severity: critical\n", `rules.yaml:3: rule "X": expr: want , or } at "> 1"`},
		{"bad match operator", "rules:\n  - name: X\n    expr: hotkey_per_min{key==\"a\"} > 1\n    severity: critical\n", `rules.yaml:3: rule "X": expr: label key: unknown match operator "==": want = != =~ !~`},
		{"empty event", "rules:\n  - name: X\n    event: ''\n    severity: critical\n", `rules.yaml:3: rule "X": event: empty event: want an event kind such as switch-master`},
		{"bad event", "rules:\n  - name: X\n    event: 'switch master'\n    severity: critical\n", `rules.yaml:3: rule "X": event: unexpected "master" after the event kind`},
		{"hold on expr rule", rule("    hold: 5m\n"), `rules.yaml:5: rule "X": hold: only for event rules (a sample rule uses for)`},
		{"zero hold", "rules:\n  - name: X\n    event: switch-master\n    hold: 0s\n    severity: critical\n", `rules.yaml:4: rule "X": hold: must be more than 0`},
		{"resolve threshold wrong side", "rules:\n  - name: X\n    expr: cache_hit_rate < 0.8\n    resolve_threshold: 0.7\n    severity: critical\n", `rules.yaml:4: rule "X": resolve_threshold: 0.7 is below the threshold 0.8: with < it must be at or above it`},
		{"resolve threshold with ==", "rules:\n  - name: X\n    expr: cache_hit_rate == 0.8\n    resolve_threshold: 0.7\n    severity: critical\n", `rules.yaml:4: rule "X": resolve_threshold: only with <, <=, > or >=`},
		{"resolve threshold not a number", rule("    resolve_threshold: high\n"), `rules.yaml:5: rule "X": resolve_threshold: want a number, got "high"`},
		{"resolve threshold on event rule", "rules:\n  - name: X\n    event: tilt\n    resolve_threshold: 1\n    severity: critical\n", `rules.yaml:4: rule "X": resolve_threshold: only for expr rules`},
		{"unknown template field", rule("    summary: '{{ .Valu }}'\n"), `rules.yaml:5: rule "X": summary: executing "summary" at <.Valu>: can't evaluate field Valu in type *alert.TemplateData`},
		{"unknown template function", rule("    summary: '{{ humanise .Value }}'\n"), `rules.yaml:5: rule "X": summary: function "humanise" not defined`},
		{"bad template syntax", rule("    description: '{{ if }}'\n"), `rules.yaml:5: rule "X": description: missing value for if`},
		{"bad template on a later line", rule("    description: |\n      line one\n      {{ .Nope }\n"), `rules.yaml:5: rule "X": description: template line 2: unexpected "}" in operand`},
		{"template range over a number", rule("    summary: '{{ range 1000000000 }}{{ end }}'\n"), `rules.yaml:5: rule "X": summary: range over anything but a field (such as .Labels) or $labels is not supported`},
		{"template define", rule("    summary: '{{ define \"x\" }}y{{ end }}'\n"), `rules.yaml:5: rule "X": summary: named templates ({{define}}, {{block}}) are not supported`},
		{"bad annotation template", rule("    annotations:\n      dashboard: '{{ .Nope }}'\n"), `rules.yaml:6: rule "X": annotations: dashboard: executing "dashboard" at <.Nope>: can't evaluate field Nope in type *alert.TemplateData`},
		{"reserved label", rule("    labels:\n      severity: low\n"), `rules.yaml:6: rule "X": labels: severity: reserved (set by the rule's name and severity)`},
		{"bad label name", rule("    labels:\n      bad-name: x\n"), `rules.yaml:6: rule "X": labels: bad-name: invalid label name (want letters, digits and _)`},
		{"labels not a mapping", rule("    labels: [a]\n"), `rules.yaml:5: rule "X": labels: want a mapping of names to strings, got a list`},
		{"reserved annotation", rule("    annotations:\n      summary: x\n"), `rules.yaml:6: rule "X": annotations: summary: reserved: use the rule's summary field`},
		{"bad runbook scheme", rule("    runbook_url: 'javascript:alert(1)'\n"), `rules.yaml:5: rule "X": runbook_url: scheme "javascript": want http, https or a relative path`},
		{"route to unknown receiver", "rules: []\nroute:\n  receiver: opsgenie\n", `rules.yaml:3: route: receiver: unknown receiver "opsgenie" (declared: pagerduty, slack)`},
		{"child route to unknown receiver", "rules: []\nroute:\n  routes:\n    - receiver: opsgenie\n", `rules.yaml:4: route: routes[0]: receiver: unknown receiver "opsgenie" (declared: pagerduty, slack)`},
		{"bad matcher regex in route", "rules: []\nroute:\n  routes:\n    - matchers: ['severity=~\"(\"']\n      receiver: slack\n", "rules.yaml:4: route: routes[0]: matchers: label severity: invalid regular expression \"(\": missing closing ): `(`"},
		{"matcher without operator", "rules: []\nroute:\n  routes:\n    - matchers: ['severity']\n      receiver: slack\n", `rules.yaml:4: route: routes[0]: matchers: label severity: missing match operator: want = != =~ !~`},
		{"matchers on the root", "rules: []\nroute:\n  matchers: ['severity=critical']\n", `rules.yaml:3: route: matchers: not allowed on the root route (it matches every alert)`},
		{"zero group interval", "rules: []\nroute:\n  group_interval: 0s\n", `rules.yaml:3: route: group_interval: must be more than 0`},
		{"group by everything and more", "rules: []\nroute:\n  group_by: ['...', 'x']\n", `rules.yaml:3: route: group_by: "..." groups by every label: list it alone`},
		{"bad boolean", "rules: []\nroute:\n  routes:\n    - continue: maybe\n", `rules.yaml:4: route: routes[0]: continue: want true or false, got "maybe"`},
		{"unknown route field", "rules: []\nroute:\n  reciever: slack\n", `rules.yaml:3: route: unknown field "reciever" (want one of receiver, matchers, group_by, group_wait, group_interval, repeat_interval, continue, routes)`},
		{"webhook without url", "rules: []\nreceivers:\n  - name: hook\n    kind: webhook\n", `rules.yaml:3: receiver "hook": url: missing (required for kind webhook)`},
		{"unknown receiver kind", "rules: []\nreceivers:\n  - name: hook\n    kind: sms\n", `rules.yaml:4: receiver "hook": kind: unknown "sms" (want pagerduty, slack, webhook or alertmanager)`},
		{"slack url in the file", "rules: []\nreceivers:\n  - name: s\n    kind: slack\n    url: https://hooks.slack.com/services/T/B/secret\n", `rules.yaml:5: receiver "s": url: not allowed for slack: the webhook URL is a secret and comes from SLACK_WEBHOOK_URL`},
		{"bad receiver url", "rules: []\nreceivers:\n  - name: hook\n    kind: webhook\n    url: 'ftp://user:secret@x'\n", `rules.yaml:5: receiver "hook": url: invalid: want an absolute http or https URL`},
		{"duplicate receiver", "rules: []\nreceivers:\n  - name: hook\n    kind: webhook\n    url: https://x\n  - name: hook\n    kind: webhook\n    url: https://y\n", `rules.yaml:6: receiver "hook": duplicate name (first at line 3)`},
		{"slack channel without #", "rules: []\nreceivers:\n  - name: chat\n    kind: slack\n    channel: ops\n", `rules.yaml:5: receiver "chat": channel: want #name, @user or a channel ID (C…, G…, D…)`},
		{"slack channel upper case", "rules: []\nreceivers:\n  - name: chat\n    kind: slack\n    channel: '#Ops'\n", `rules.yaml:5: receiver "chat": channel: want #name, @user or a channel ID (C…, G…, D…)`},
		{"slack channel empty name", "rules: []\nreceivers:\n  - name: chat\n    kind: slack\n    channel: '#'\n", `rules.yaml:5: receiver "chat": channel: want #name, @user or a channel ID (C…, G…, D…)`},
		{"slack channel id too short", "rules: []\nreceivers:\n  - name: chat\n    kind: slack\n    channel: C123\n", `rules.yaml:5: receiver "chat": channel: want #name, @user or a channel ID (C…, G…, D…)`},
		{"channel on a webhook", "rules: []\nreceivers:\n  - name: hook\n    kind: webhook\n    url: https://x\n    channel: '#ops'\n", `rules.yaml:6: receiver "hook": channel: only for kind slack`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("rules.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tc.src)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not an *Error", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
			for _, secret := range []string{"hooks.slack.com", "user:secret", "B/secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %s", err)
				}
			}
		})
	}
}

func TestLoadGoodFile(t *testing.T) {
	src := `rules:
  - name: HitRate
    expr: cache_hit_rate < 0.8
    for: 5m
    keep_firing_for: 1m
    resolve_threshold: 0.85
    severity: warning
    summary: 'hit rate {{ humanizePercentage $value }}'
    description: |
      {{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}
    labels: {team: platform}
    annotations: {dashboard: 'https://grafana/{{ .Rule }}'}
    runbook_url: docs/runbooks/x.md
  - name: Failover
    event: switch-master{master="mymaster"}
    severity: critical
route:
  receiver: ops
  group_by: [alertname, team]
  group_wait: 1s
  group_interval: 10s
  repeat_interval: 2d
  routes:
    - matchers: ['severity="critical"', 'team=~"plat.*"']
      receiver: pagerduty
      continue: true
      repeat_interval: 1h
    - matchers: [severity=warning]
      group_by: ['...']
receivers:
  - name: ops
    kind: webhook
    url: https://hooks.example.com/x
    timeout: 5s
    send_resolved: false
  - name: am
    kind: alertmanager
    url: http://alertmanager:9093
`
	c, err := Load("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || c.DefaultRoute {
		t.Fatalf("rules %d, default route %v", len(c.Rules), c.DefaultRoute)
	}
	r := c.Rules[0]
	if r.For != 5*time.Minute || r.KeepFiringFor != time.Minute || *r.ResolveThreshold != 0.85 || r.Line != 2 {
		t.Errorf("rule 0: %+v", r)
	}
	if got := r.Expr.String(); got != "cache_hit_rate < 0.8" {
		t.Errorf("expr %q", got)
	}
	ev := c.Rules[1]
	if ev.Hold != DefaultHold || ev.Event.Kind != "switch-master" || len(ev.Event.Matchers) != 1 {
		t.Errorf("event rule: %+v %+v", ev, ev.Event)
	}
	rt := c.Route
	if rt.Receiver != "ops" || rt.RepeatInterval != 48*time.Hour || len(rt.Routes) != 2 {
		t.Fatalf("root %+v", rt)
	}
	crit, warn := rt.Routes[0], rt.Routes[1]
	if crit.Receiver != "pagerduty" || !crit.Continue || crit.RepeatInterval != time.Hour || crit.GroupInterval != 10*time.Second || !slices.Equal(crit.GroupBy, []string{"alertname", "team"}) {
		t.Errorf("critical route: %+v", crit)
	}
	if warn.Receiver != "ops" || warn.RepeatInterval != 48*time.Hour || warn.GroupWait != time.Second || !slices.Equal(warn.GroupBy, []string{"..."}) {
		t.Errorf("warning route inherits: %+v", warn)
	}
	ops := c.Receiver("ops")
	if ops == nil || ops.SendsResolved() || ops.Timeout != 5*time.Second {
		t.Errorf("receiver ops: %+v", ops)
	}
	if c.Receiver("pagerduty") == nil || c.Receiver("slack") == nil {
		t.Error("implicit receivers missing")
	}
	// Round trip.
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Load("again.yaml", out)
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	out2, _ := c2.YAML()
	if string(out) != string(out2) {
		t.Errorf("not stable:\n%s\n---\n%s", out, out2)
	}
}

func TestDefaultRules(t *testing.T) {
	c := Default()
	if !c.DefaultRoute {
		t.Error("the default rules have their own route")
	}
	names := map[string]bool{}
	for _, r := range c.Rules {
		names[r.Name] = true
		if !strings.HasPrefix(r.RunbookURL, "docs/runbooks/") || !strings.HasSuffix(r.RunbookURL, ".md") {
			t.Errorf("rule %s: runbook_url %q", r.Name, r.RunbookURL)
		}
		if r.Summary == "" || r.Description == "" {
			t.Errorf("rule %s: no summary or description", r.Name)
		}
	}
	// Each item the product asks for.
	conds := map[string]string{
		"RedisDown":                 "redis_up == 0",
		"RedisFailover":             "event switch-master",
		"RedisNoMaster":             "master_known == 0",
		"RedisReplicaLinkDown":      "replicas_link_down > 0",
		"CacheHitRateLow":           "cache_hit_rate < 0.8",
		"RedisLatencyHigh":          "latency_p99_ms > 50",
		"RedisMemoryHigh":           "memory_used_ratio > 0.9",
		"RedisEvictingKeys":         "evicted_keys_per_min > 0",
		"RedisConnectionsNearLimit": "connected_clients_ratio > 0.9",
		"RedisCircuitBreakerOpen":   "circuit_breaker_open == 1",
		"RedisHotKey":               "hotkey_per_min > 1000",
		"RedisCertExpiringSoon":     "cert_expiry_days < 14",
	}
	for name, cond := range conds {
		var r *Rule
		for _, x := range c.Rules {
			if x.Name == name {
				r = x
			}
		}
		if r == nil {
			t.Errorf("default rule %s missing", name)
			continue
		}
		got := ""
		if r.Expr != nil {
			got = r.Expr.String()
		} else {
			got = "event " + r.Event.String()
		}
		if got != cond {
			t.Errorf("rule %s: condition %q, want %q", name, got, cond)
		}
	}
	// The embedded file is what DefaultRulesYAML returns.
	if c2, err := Load("x", DefaultRulesYAML()); err != nil || len(c2.Rules) != len(c.Rules) {
		t.Errorf("DefaultRulesYAML: %v", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	x, _ := ParseExpr("redis_up == 0")
	c := &Config{Rules: []*Rule{{Name: "Down", Expr: x, Severity: SeverityCritical, Summary: "{{ .Rule }} down"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.DefaultRoute || c.Route == nil || c.Receiver("slack") == nil || c.Rules[0].tmpl["summary"] == nil {
		t.Errorf("defaults not filled: %+v", c)
	}
	c.Rules = append(c.Rules, &Rule{Name: "Down", Expr: x, Severity: SeverityInfo})
	if err := c.Validate(); err == nil || err.Error() != `rules: rule "Down": duplicate name` {
		t.Errorf("duplicate: %v", err)
	}
	c.Rules = []*Rule{{Name: "E", Severity: SeverityInfo}}
	if err := c.Validate(); err == nil || err.Error() != `rules: rule "E": missing expr or event` {
		t.Errorf("no condition: %v", err)
	}
}
