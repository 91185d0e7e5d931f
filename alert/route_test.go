package alert

import (
	"slices"
	"strings"
	"testing"
)

func receiversOf(r *router, labels map[string]string) []string {
	var out []string
	for _, rt := range r.routes(labels) {
		out = append(out, rt.Receiver)
	}
	return out
}

func TestDefaultRouting(t *testing.T) {
	c := mustLoad(t, okRule)
	all := newRouter(c.Route, func(string) bool { return true })
	for sev, want := range map[string][]string{"critical": {"pagerduty"}, "warning": {"slack"}, "info": nil} {
		if got := receiversOf(all, map[string]string{"alertname": "X", "severity": sev}); !slices.Equal(got, want) {
			t.Errorf("%s → %v, want %v", sev, got, want)
		}
	}
	// Receivers without a Notifier are skipped by the default route.
	onlySlack := newRouter(c.Route, func(n string) bool { return n == "slack" })
	if got := receiversOf(onlySlack, map[string]string{"severity": "critical"}); got != nil {
		t.Errorf("critical without pagerduty → %v", got)
	}
}

func TestRouteTree(t *testing.T) {
	src := `rules: []
route:
  receiver: ops
  routes:
    - matchers: ['severity="critical"']
      receiver: pagerduty
      continue: true
    - matchers: ['team=~"db|cache"']
      receiver: slack
      routes:
        - matchers: ['alertname="Noisy"']
          receiver: ""
    - matchers: ['severity!="info"']
      receiver: hook
receivers:
  - {name: ops, kind: webhook, url: 'https://ops'}
  - {name: hook, kind: webhook, url: 'https://hook'}
`
	c := mustLoad(t, src)
	r := newRouter(c.Route, func(string) bool { return true })
	for _, tc := range []struct {
		labels string
		want   []string
	}{
		{"severity=critical,team=db", []string{"pagerduty", "slack"}},   // continue, then the first match stops
		{"severity=critical", []string{"pagerduty", "hook"}},            // continue, then the next match
		{"severity=warning,team=cache", []string{"slack"}},              // first match stops
		{"severity=warning,team=web", []string{"hook"}},                 // third route
		{"severity=info", []string{"ops"}},                              // no child: the root's receiver
		{"severity=warning,team=db,alertname=Noisy", []string{"slack"}}, // an empty receiver inherits
	} {
		labels := map[string]string{}
		for _, kv := range strings.Split(tc.labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
		if got := receiversOf(r, labels); !slices.Equal(got, tc.want) {
			t.Errorf("%s → %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestGroupKey(t *testing.T) {
	c := mustLoad(t, "rules: []\nroute:\n  receiver: slack\n  group_by: [alertname, team]\n  routes:\n    - matchers: [severity=critical]\n      receiver: pagerduty\n      group_by: ['...']\n")
	r := newRouter(c.Route, func(string) bool { return true })
	a := &Alert{Fingerprint: "1", Labels: map[string]string{"alertname": "A", "team": "x", "key": "k1"}}
	b := &Alert{Fingerprint: "2", Labels: map[string]string{"alertname": "A", "team": "x", "key": "k2"}}
	d := &Alert{Fingerprint: "3", Labels: map[string]string{"alertname": "A", "team": "y"}}
	root := c.Route
	if r.groupKey(root, a) != r.groupKey(root, b) || r.groupKey(root, a) == r.groupKey(root, d) {
		t.Error("group_by [alertname, team]")
	}
	crit := c.Route.Routes[0]
	if r.groupKey(crit, a) == r.groupKey(crit, b) || r.groupKey(crit, a) == r.groupKey(root, a) {
		t.Error(`group_by ["..."] or route separation`)
	}
}

func TestEngineReceiverChecks(t *testing.T) {
	// The default route: a missing receiver is skipped.
	if _, err := NewEngine(EngineOptions{Config: mustLoad(t, okRule)}); err != nil {
		t.Errorf("default route without receivers: %v", err)
	}
	// A route the file wrote: a missing receiver is an error at start-up.
	c := mustLoad(t, okRule+"route:\n  routes:\n    - matchers: [severity=critical]\n      receiver: pagerduty\n")
	_, err := NewEngine(EngineOptions{Config: c, Receivers: map[string]Notifier{"slack": &recorder{}}})
	if err == nil || err.Error() != `test.yaml:7: route: receiver "pagerduty" is not configured (its settings are missing)` {
		t.Errorf("missing receiver: %v", err)
	}
	e, err := NewEngine(EngineOptions{Config: c, Receivers: map[string]Notifier{"pagerduty": &recorder{}}})
	if err != nil || !slices.Equal(e.Receivers(), []string{"pagerduty"}) {
		t.Errorf("configured: %v %v", err, e)
	}
}
