package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Load and Validate.
const (
	// DefaultHold is how long an event keeps an event rule firing when the
	// rule sets no hold.
	DefaultHold = 10 * time.Minute
	// DefaultGroupWait, DefaultGroupInterval and DefaultRepeatInterval are
	// the root route's timings when the file sets none.
	DefaultGroupWait      = time.Second
	DefaultGroupInterval  = time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// Receiver kinds a rule file may declare.
const (
	KindPagerDuty    = "pagerduty"
	KindSlack        = "slack"
	KindWebhook      = "webhook"
	KindAlertmanager = "alertmanager"
)

// maxRuleFile bounds the size of a rule file Load accepts.
const maxRuleFile = 4 << 20

// Config is a loaded rule file: the rules, the route tree and the declared
// receivers. Load returns it validated, with defaults filled in and the
// templates parsed; a Config built in code must pass Validate (NewEngine
// calls it). A Config must not be changed once it is given to an Engine.
type Config struct {
	// File names the file in errors.
	File string `json:"file,omitempty"`
	// Rules in file order; names are unique.
	Rules []*Rule `json:"rules"`
	// Route is the root of the route tree. Nil means the default route
	// (DefaultRoute).
	Route *Route `json:"route"`
	// DefaultRoute is true when Route is the built-in default: critical to
	// the receiver named "pagerduty", warning to "slack", info nowhere. Its
	// routes to receivers that are not configured (no Notifier given to the
	// Engine) are skipped; a route the file wrote that names a receiver
	// without a Notifier makes NewEngine fail.
	DefaultRoute bool `json:"default_route"`
	// Receivers are the declared receivers: those of the file plus the
	// implicit "pagerduty" and "slack" (Line 0) unless the file declares
	// receivers of those names.
	Receivers []*ReceiverConfig `json:"receivers"`
}

// Rule is one alerting rule: a sample condition (Expr) or an event
// condition (Event), never both.
type Rule struct {
	Name string `json:"name"`
	// Expr is the condition of a sample rule.
	Expr *Expr `json:"expr,omitempty"`
	// Event selects the events of an event rule: the alert fires while an
	// event matched within the last Hold, one alert per event label set.
	Event *EventSelector `json:"event,omitempty"`
	// Hold is how long an event keeps an event rule's condition true
	// (default DefaultHold). Only for event rules.
	Hold time.Duration `json:"hold,omitempty"`
	// For is how long the condition must hold before the alert fires (0:
	// at the first evaluation).
	For time.Duration `json:"for,omitempty"`
	// KeepFiringFor keeps a firing alert firing this long after its
	// condition stops holding; if it holds again meanwhile, the episode
	// goes on with no resolve notice (protection against flapping).
	KeepFiringFor time.Duration `json:"keep_firing_for,omitempty"`
	// ResolveThreshold, when set, replaces the Expr's threshold while the
	// alert fires (hysteresis): `cache_hit_rate < 0.8` with 0.85 fires
	// below 80 % and resolves only at 85 % or more. It must lie on the
	// resolving side of the threshold; only for <, <=, > and >=.
	ResolveThreshold *float64 `json:"resolve_threshold,omitempty"`
	Severity         Severity `json:"severity"`
	// Summary and Description are templates (see TemplateData); an empty
	// summary renders as the rule's name.
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
	// Labels are added to every alert of the rule (over the sample's or
	// event's own); they may not set alertname or severity.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are extra annotation templates; they may not set
	// summary, description or runbook_url.
	Annotations map[string]string `json:"annotations,omitempty"`
	// RunbookURL links the runbook: absolute, or relative (such as
	// docs/runbooks/redis-down.md) to the Engine's RunbookBase.
	RunbookURL string `json:"runbook_url,omitempty"`
	// Line is where the rule starts in its file (0 for a rule built in code).
	Line int `json:"line,omitempty"`

	tmpl map[string]*template.Template // summary, description and Annotations' keys
}

// Route is a node of the route tree, as in Alertmanager. An alert enters at
// the root (which matches everything) and descends into the first child
// whose Matchers match, and recursively; with Continue on that child it
// also tries the following siblings. It is sent to the Receiver of every
// deepest route it reached (each receiver once per alert). Load fills in
// inherited values: a child without receiver, group_by or timings takes
// its parent's.
type Route struct {
	// Receiver is the receiver's name; "" at the root sends nowhere (the
	// alert is only shown).
	Receiver string   `json:"receiver"`
	Matchers Matchers `json:"matchers,omitempty"`
	// GroupBy lists the labels whose values group alerts into one
	// notification; "..." groups by every label. Nil inherits.
	GroupBy []string `json:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification; GroupInterval how long it waits before sending
	// what changed since; RepeatInterval how long before a still-firing
	// alert is sent again. In a Route built in code, zero durations
	// inherit (the root's from DefaultGroupWait, DefaultGroupInterval and
	// DefaultRepeatInterval); only a file can say group_wait: 0s.
	GroupWait      time.Duration `json:"group_wait"`
	GroupInterval  time.Duration `json:"group_interval"`
	RepeatInterval time.Duration `json:"repeat_interval"`
	Continue       bool          `json:"continue,omitempty"`
	Routes         []*Route      `json:"routes,omitempty"`
	// Line is where the route starts in its file (0: built in).
	Line int `json:"line,omitempty"`

	set routeSet // which fields the file (or code) set, for inheritance
}

type routeSet struct{ groupWait, groupInterval, repeatInterval bool }

// ReceiverConfig declares a receiver: a name routes refer to, a kind, and
// the kind's settings that are not secret. Secrets (PagerDuty's routing
// key, Slack's webhook URL) come from Studio's settings, never from the
// rule file: cmd/studio builds the Notifier of each declared receiver it
// has what it needs for, and gives them to the Engine by name.
type ReceiverConfig struct {
	Name string `json:"name"`
	// Kind is pagerduty, slack, webhook or alertmanager.
	Kind string `json:"kind"`
	// URL is the target of a webhook or alertmanager receiver (required
	// for those), or an alternative PagerDuty Events API endpoint (such as
	// https://events.eu.pagerduty.com/v2/enqueue). Not allowed for slack.
	URL string `json:"-"`
	// Channel overrides the Slack webhook's channel (slack only).
	Channel string `json:"channel,omitempty"`
	// SecretEnv names the environment variable that holds this
	// receiver's secret, instead of the shared one: the routing key of a
	// pagerduty receiver (instead of PAGERDUTY_ROUTING_KEY), the webhook
	// URL of a slack receiver (instead of SLACK_WEBHOOK_URL), or the
	// Authorization header value a webhook or alertmanager receiver sends
	// (none otherwise). The file holds the name only, never the secret.
	SecretEnv string `json:"secret_env,omitempty"`
	// SendResolved, when false, suppresses resolve notices (default true).
	SendResolved *bool `json:"send_resolved,omitempty"`
	// Timeout bounds one delivery attempt (0: the Engine's default).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Line is where the receiver starts in its file (0: implicit).
	Line int `json:"line,omitempty"`
}

// SendsResolved reports whether the receiver gets resolve notices.
func (rc *ReceiverConfig) SendsResolved() bool { return rc.SendResolved == nil || *rc.SendResolved }

// Error is an error in a rule file, with the line it is on (0 when
// unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "rules"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", file, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", file, e.Msg)
}

//go:embed default_rules.yaml
var defaultRulesYAML []byte

// DefaultRulesFile is the name the embedded default rule file has in errors.
const DefaultRulesFile = "default_rules.yaml"

// DefaultRulesYAML returns a copy of the embedded default rule file, a
// starting point for a custom one.
func DefaultRulesYAML() []byte { return bytes.Clone(defaultRulesYAML) }

// Default returns the embedded default rules with the default route and
// receivers, freshly loaded (the caller owns it).
func Default() *Config {
	c, err := Load(DefaultRulesFile, defaultRulesYAML)
	if err != nil {
		panic("config: the embedded default rules do not load: " + err.Error())
	}
	return c
}

// Load parses and validates a rule file. name is used in errors (the
// file's path, typically). The error, a *Error, names the line and
// the reason of the first problem found.
//
// A rule file (STUDIO_ALERT_RULES; DefaultRulesYAML when none is given) is
// YAML with three sections; only rules is required:
//
//	rules:
//	  - name: CacheHitRateLow            # unique; becomes the alertname label
//	    expr: cache_hit_rate < 0.8       # sample [matchers] op number (see Expr)
//	    for: 5m                          # hold this long before firing (default 0: at once)
//	    keep_firing_for: 2m              # stay firing this long after the condition clears
//	    resolve_threshold: 0.85          # hysteresis: once firing, compare with this instead
//	    severity: warning                # critical, warning or info
//	    summary: 'Cache hit rate {{ humanizePercentage .Value }}'
//	    description: '...'               # templates, see TemplateData
//	    labels: {team: platform}         # added to the alert's labels
//	    annotations: {dashboard: '...'}  # extra annotation templates
//	    runbook_url: docs/runbooks/cache-hit-rate-low.md
//	  - name: RedisFailover
//	    event: switch-master             # an event rule (see EventSelector)
//	    hold: 10m                        # an event keeps the alert firing this long (default 10m)
//	    severity: warning
//	    summary: 'Redis failed over'
//
//	route:                               # optional; the default is below
//	  receiver: ""                       # "" sends nowhere: the alert is only shown
//	  group_by: [alertname]              # "..." groups by every label (one alert per group)
//	  group_wait: 5s
//	  group_interval: 1m
//	  repeat_interval: 4h
//	  routes:
//	    - matchers: ['severity="critical"']
//	      receiver: pagerduty
//	      continue: false                # true: keep matching the next siblings
//	    - matchers: ['severity="warning"']
//	      receiver: slack
//
//	receivers:                           # optional: pagerduty and slack exist implicitly
//	  - name: ops-hook
//	    kind: webhook                    # pagerduty, slack, webhook or alertmanager
//	    url: https://hooks.example.com/studio
//
// Unknown fields are errors. Every error names the file and line, e.g.
//
//	rules.yaml:12: rule "X": for: invalid duration "5x"
//
// Durations are Go durations (300ms, 1m30s, 4h) or whole days and weeks
// (14d, 2w); they may not be negative. YAML aliases are not supported.
func Load(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	if len(data) > maxRuleFile {
		return nil, p.errf(nil, "file larger than %d bytes", maxRuleFile)
	}
	doc, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	c, err := p.config(doc)
	if err != nil {
		return nil, err
	}
	return c, nil
}

type parser struct{ file string }

func (p *parser) errf(n *yaml.Node, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode parses the YAML into a document node, refusing several documents
// and aliases.
func (p *parser) decode(data []byte) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil { // the YAML library must not take Studio down
			doc, err = nil, p.errf(nil, "invalid YAML")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errf(nil, "empty file: want a mapping with a rules list")
		}
		msg := err.Error()
		if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: p.file, Line: line, Msg: "invalid YAML: " + m[2]}
		}
		return nil, p.errf(nil, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, p.errf(nil, "invalid YAML after the first document")
		}
		return nil, &Error{File: p.file, Line: line, Msg: "more than one YAML document"}
	}
	if err := p.noAliases(&n); err != nil {
		return nil, err
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0], nil
	}
	return &n, nil
}

func (p *parser) noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return p.errf(n, "YAML aliases are not supported")
	}
	for _, c := range n.Content {
		if err := p.noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// fields checks that n is a mapping of the allowed keys, each once, and
// returns the values and the key nodes by name.
type fieldMap struct {
	node *yaml.Node
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

func (f *fieldMap) has(k string) bool { return f.vals[k] != nil }

// line is the line of field k's value, or of the mapping without it.
func (f *fieldMap) line(k string) *yaml.Node {
	if v := f.vals[k]; v != nil {
		return v
	}
	return f.node
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (p *parser) fields(n *yaml.Node, ctx string, allowed ...string) (*fieldMap, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%swant a mapping, got %s", ctx, kindName(n))
	}
	f := &fieldMap{node: n, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, "%swant a field name, got %s", ctx, kindName(k))
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, "%sunknown field %q (want one of %s)", ctx, k.Value, strings.Join(allowed, ", "))
		}
		if prev := f.keys[k.Value]; prev != nil {
			return nil, p.errf(k, "%sduplicate field %q (first at line %d)", ctx, k.Value, prev.Line)
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, nil
}

func (p *parser) str(f *fieldMap, k, ctx string) (string, error) {
	v := f.vals[k]
	if v == nil {
		return "", nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", p.errf(v, "%s%s: want a string, got %s", ctx, k, kindName(v))
	}
	if v.ShortTag() == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

func (p *parser) dur(f *fieldMap, k, ctx string) (time.Duration, bool, error) {
	v := f.vals[k]
	if v == nil {
		return 0, false, nil
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		return 0, false, p.errf(v, "%s%s: want a duration such as 30s, got %s", ctx, k, kindName(v))
	}
	d, err := parseDuration(v.Value)
	if err != nil {
		return 0, false, p.errf(v, "%s%s: %v", ctx, k, err)
	}
	return d, true, nil
}

func (p *parser) boolean(f *fieldMap, k, ctx string) (bool, error) {
	v := f.vals[k]
	if v == nil {
		return false, nil
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		return false, p.errf(v, "%s%s: want true or false, got %s", ctx, k, kindName(v))
	}
	b, _ := strconv.ParseBool(strings.ToLower(v.Value))
	return b, nil
}

func (p *parser) strList(f *fieldMap, k, ctx string) ([]string, error) {
	v := f.vals[k]
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.errf(v, "%s%s: want a list of strings, got %s", ctx, k, kindName(v))
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
			return nil, p.errf(e, "%s%s: want a string, got %s", ctx, k, kindName(e))
		}
		out = append(out, e.Value)
	}
	return out, nil
}

func (p *parser) strMap(f *fieldMap, k, ctx string) (map[string]string, map[string]*yaml.Node, error) {
	v := f.vals[k]
	if v == nil {
		return nil, nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, nil, p.errf(v, "%s%s: want a mapping of names to strings, got %s", ctx, k, kindName(v))
	}
	out, lines := map[string]string{}, map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, vn := v.Content[i], v.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return nil, nil, p.errf(kn, "%s%s: want a name, got %s", ctx, k, kindName(kn))
		}
		if prev := lines[kn.Value]; prev != nil {
			return nil, nil, p.errf(kn, "%s%s: duplicate name %q (first at line %d)", ctx, k, kn.Value, prev.Line)
		}
		if vn.Kind != yaml.ScalarNode {
			return nil, nil, p.errf(vn, "%s%s: %s: want a string, got %s", ctx, k, kn.Value, kindName(vn))
		}
		val := vn.Value
		if vn.ShortTag() == "!!null" {
			val = ""
		}
		out[kn.Value], lines[kn.Value] = val, vn
	}
	return out, lines, nil
}

// parseDuration reads a Go duration or whole days (14d) or weeks (2w),
// refusing negative ones.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); len(s) > 1 && (unit == "d" || unit == "w") && n != "" {
		v, perr := strconv.ParseInt(n, 10, 64)
		per := 24 * time.Hour
		if unit == "w" {
			per *= 7
		}
		if perr != nil || v > int64((1<<63-1)/per) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d = time.Duration(v) * per
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

func (p *parser) config(root *yaml.Node) (*Config, error) {
	top, err := p.fields(root, "", "rules", "route", "receivers")
	if err != nil {
		return nil, err
	}
	c := &Config{File: p.file}
	if !top.has("rules") {
		return nil, p.errf(root, "missing rules (a list of rules; rules: [] for none)")
	}
	rules := top.vals["rules"]
	if rules.Kind != yaml.SequenceNode {
		return nil, p.errf(rules, "rules: want a list, got %s", kindName(rules))
	}
	names := map[string]int{}
	for i, rn := range rules.Content {
		r, err := p.rule(rn, i)
		if err != nil {
			return nil, err
		}
		if first, dup := names[r.Name]; dup {
			return nil, p.errf(rn, "rule %q: duplicate name (first at line %d)", r.Name, first)
		}
		names[r.Name] = r.Line
		c.Rules = append(c.Rules, r)
	}

	if rn := top.vals["receivers"]; rn != nil {
		if rn.Kind != yaml.SequenceNode {
			return nil, p.errf(rn, "receivers: want a list, got %s", kindName(rn))
		}
		seen := map[string]int{}
		for i, n := range rn.Content {
			rc, err := p.receiver(n, i)
			if err != nil {
				return nil, err
			}
			if first, dup := seen[rc.Name]; dup {
				return nil, p.errf(n, "receiver %q: duplicate name (first at line %d)", rc.Name, first)
			}
			seen[rc.Name] = rc.Line
			c.Receivers = append(c.Receivers, rc)
		}
	}
	c.Receivers = withImplicitReceivers(c.Receivers)
	declared := map[string]bool{}
	for _, rc := range c.Receivers {
		declared[rc.Name] = true
	}

	if rn := top.vals["route"]; rn != nil {
		rt, err := p.route(rn, nil, declared, "route: ")
		if err != nil {
			return nil, err
		}
		c.Route = rt
	} else {
		c.Route, c.DefaultRoute = defaultRoute(), true
	}
	// Everything was checked on the way with lines; this catches any
	// invariant the parser missed.
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func withImplicitReceivers(rcs []*ReceiverConfig) []*ReceiverConfig {
	for _, kind := range []string{KindPagerDuty, KindSlack} {
		if !slices.ContainsFunc(rcs, func(rc *ReceiverConfig) bool { return rc.Name == kind }) {
			rcs = append(rcs, &ReceiverConfig{Name: kind, Kind: kind})
		}
	}
	return rcs
}

// defaultRoute: critical → pagerduty, warning → slack, info nowhere.
func defaultRoute() *Route {
	crit, _ := NewMatcher(MatchEqual, "severity", string(SeverityCritical))
	warn, _ := NewMatcher(MatchEqual, "severity", string(SeverityWarning))
	return &Route{
		GroupBy:   []string{"alertname"},
		GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval,
		set: routeSet{true, true, true},
		Routes: []*Route{
			{Receiver: KindPagerDuty, Matchers: Matchers{crit}},
			{Receiver: KindSlack, Matchers: Matchers{warn}},
		},
	}
}

var ruleFields = []string{"name", "expr", "event", "hold", "for", "keep_firing_for", "resolve_threshold",
	"severity", "summary", "description", "labels", "annotations", "runbook_url"}

func (p *parser) rule(n *yaml.Node, i int) (*Rule, error) {
	ctx := fmt.Sprintf("rule #%d: ", i+1)
	if n.Kind == yaml.MappingNode {
		// Find the name first, for the context of every other error.
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
				ctx = fmt.Sprintf("rule %q: ", v.Value)
			}
		}
	}
	f, err := p.fields(n, ctx, ruleFields...)
	if err != nil {
		return nil, err
	}
	r := &Rule{Line: n.Line}
	if r.Name, err = p.str(f, "name", ctx); err != nil {
		return nil, err
	}
	if src, err := p.str(f, "expr", ctx); err != nil {
		return nil, err
	} else if f.has("expr") {
		x, err := ParseExpr(src)
		if err != nil {
			return nil, p.errf(f.line("expr"), "%sexpr: %v", ctx, err)
		}
		r.Expr = x
	}
	if src, err := p.str(f, "event", ctx); err != nil {
		return nil, err
	} else if f.has("event") {
		sel, err := ParseEventSelector(src)
		if err != nil {
			return nil, p.errf(f.line("event"), "%sevent: %v", ctx, err)
		}
		r.Event = sel
	}
	var set bool
	if r.Hold, set, err = p.dur(f, "hold", ctx); err != nil {
		return nil, err
	} else if set && r.Hold == 0 {
		return nil, p.errf(f.line("hold"), "%shold: must be more than 0", ctx)
	}
	if r.For, _, err = p.dur(f, "for", ctx); err != nil {
		return nil, err
	}
	if r.KeepFiringFor, _, err = p.dur(f, "keep_firing_for", ctx); err != nil {
		return nil, err
	}
	if v := f.vals["resolve_threshold"]; v != nil {
		t, err := strconv.ParseFloat(v.Value, 64)
		if v.Kind != yaml.ScalarNode || err != nil || t != t || t-t != 0 {
			return nil, p.errf(v, "%sresolve_threshold: want a number, got %s", ctx, kindName(v))
		}
		r.ResolveThreshold = &t
	}
	sev, err := p.str(f, "severity", ctx)
	if err != nil {
		return nil, err
	}
	r.Severity = Severity(sev)
	if r.Summary, err = p.str(f, "summary", ctx); err != nil {
		return nil, err
	}
	if r.Description, err = p.str(f, "description", ctx); err != nil {
		return nil, err
	}
	var labelLines, annLines map[string]*yaml.Node
	if r.Labels, labelLines, err = p.strMap(f, "labels", ctx); err != nil {
		return nil, err
	}
	if r.Annotations, annLines, err = p.strMap(f, "annotations", ctx); err != nil {
		return nil, err
	}
	if r.RunbookURL, err = p.str(f, "runbook_url", ctx); err != nil {
		return nil, err
	}
	if ferr := r.check(); ferr != nil {
		line := f.line(ferr.field)
		if ferr.key != "" {
			switch ferr.field {
			case "labels":
				line = labelLines[ferr.key]
			case "annotations":
				line = annLines[ferr.key]
			}
			if line == nil {
				line = f.line(ferr.field)
			}
		}
		if ferr.field == "name" && r.Name == "" {
			ctx = fmt.Sprintf("rule #%d: ", i+1)
		}
		return nil, p.errf(line, "%s%s", ctx, ferr.msg())
	}
	return r, nil
}

// fieldError is a problem with one field of a rule, route or receiver.
type fieldError struct {
	field string // the YAML field
	key   string // the key within a labels or annotations mapping
	err   error
}

func (e *fieldError) msg() string {
	if e.field == "" {
		return e.err.Error()
	}
	if e.key != "" {
		return fmt.Sprintf("%s: %s: %v", e.field, e.key, e.err)
	}
	return fmt.Sprintf("%s: %v", e.field, e.err)
}

func ferr(field string, format string, args ...any) *fieldError {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)

// check validates a rule, fills in its default hold and parses its
// templates, in this order of fields (the first problem found is the one
// reported).
func (r *Rule) check() *fieldError {
	for _, step := range []func() *fieldError{r.checkCondition, r.checkTimings, r.checkResolveThreshold, r.checkSeverity, r.checkLabels, r.checkRunbookURL, r.parseTemplates} {
		if fe := step(); fe != nil {
			return fe
		}
	}
	return nil
}

// checkCondition checks the name and the rule's one condition: an expr
// or an event.
func (r *Rule) checkCondition() *fieldError {
	switch {
	case r.Name == "":
		return ferr("name", "missing")
	case !ruleNameRE.MatchString(r.Name):
		return ferr("name", "invalid %q: want letters, digits and _ . : - (at most 128)", r.Name)
	case r.Expr != nil && r.Event != nil:
		return ferr("event", "a rule has either expr or event, not both")
	case r.Expr == nil && r.Event == nil:
		return ferr("", "missing expr or event")
	case r.Expr != nil:
		return r.checkExpr()
	}
	return r.checkEvent()
}

func (r *Rule) checkExpr() *fieldError {
	x := r.Expr
	if !knownSample(x.Sample) {
		return ferr("expr", "unknown sample %q (known: %s)", x.Sample, strings.Join(SampleNames(), ", "))
	}
	switch x.Op {
	case OpGreater, OpGreaterEqual, OpLess, OpLessEqual, OpEqual, OpNotEqual:
	default:
		return ferr("expr", "unknown comparison operator %q", string(x.Op))
	}
	if x.Threshold != x.Threshold || x.Threshold-x.Threshold != 0 {
		return ferr("expr", "threshold must be a finite number")
	}
	if r.Hold != 0 {
		return ferr("hold", "only for event rules (a sample rule uses for)")
	}
	return nil
}

// checkEvent checks an event rule and gives it the default hold.
func (r *Rule) checkEvent() *fieldError {
	switch {
	case r.Event.Kind == "":
		return ferr("event", "missing kind")
	case r.ResolveThreshold != nil:
		return ferr("resolve_threshold", "only for expr rules")
	case r.Hold < 0:
		return ferr("hold", "negative duration")
	case r.Hold == 0:
		r.Hold = DefaultHold
	}
	return nil
}

func (r *Rule) checkTimings() *fieldError {
	if r.For < 0 {
		return ferr("for", "negative duration")
	}
	if r.KeepFiringFor < 0 {
		return ferr("keep_firing_for", "negative duration")
	}
	return nil
}

// checkResolveThreshold checks that an expr rule's resolve threshold
// lies on the resolving side of its threshold.
func (r *Rule) checkResolveThreshold() *fieldError {
	rt, x := r.ResolveThreshold, r.Expr
	if rt == nil || x == nil {
		return nil
	}
	switch {
	case *rt != *rt || *rt-*rt != 0:
		return ferr("resolve_threshold", "must be a finite number")
	case x.Op == OpEqual || x.Op == OpNotEqual:
		return ferr("resolve_threshold", "only with <, <=, > or >=")
	case (x.Op == OpLess || x.Op == OpLessEqual) && *rt < x.Threshold:
		return ferr("resolve_threshold", "%g is below the threshold %g: with %s it must be at or above it", *rt, x.Threshold, x.Op)
	case (x.Op == OpGreater || x.Op == OpGreaterEqual) && *rt > x.Threshold:
		return ferr("resolve_threshold", "%g is above the threshold %g: with %s it must be at or below it", *rt, x.Threshold, x.Op)
	}
	return nil
}

func (r *Rule) checkSeverity() *fieldError {
	switch {
	case r.Severity == "":
		return ferr("severity", "missing (want critical, warning or info)")
	case !r.Severity.Valid():
		return ferr("severity", "invalid %q (want critical, warning or info)", string(r.Severity))
	}
	return nil
}

func (r *Rule) checkLabels() *fieldError {
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		switch {
		case !validLabelName(k):
			return &fieldError{field: "labels", key: k, err: errors.New("invalid label name (want letters, digits and _)")}
		case k == "alertname" || k == "severity":
			return &fieldError{field: "labels", key: k, err: errors.New("reserved (set by the rule's name and severity)")}
		}
	}
	return nil
}

func (r *Rule) checkRunbookURL() *fieldError {
	if r.RunbookURL == "" {
		return nil
	}
	u, err := url.Parse(r.RunbookURL)
	if err != nil || strings.ContainsAny(r.RunbookURL, " \t\n") {
		return ferr("runbook_url", "invalid URL %q", r.RunbookURL)
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return ferr("runbook_url", "scheme %q: want http, https or a relative path", u.Scheme)
	}
	return nil
}

// parseTemplates parses the summary, description and annotation
// templates, and checks the annotations' names, once: a Config does not
// change once validated.
func (r *Rule) parseTemplates() *fieldError {
	if r.tmpl != nil {
		return nil
	}
	tmpl := map[string]*template.Template{}
	for _, a := range []struct{ name, src string }{{"summary", r.Summary}, {"description", r.Description}} {
		t, err := parseTemplate(a.name, a.src)
		if err != nil {
			return &fieldError{field: a.name, err: err}
		}
		tmpl[a.name] = t
	}
	for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
		switch {
		case !validLabelName(k):
			return &fieldError{field: "annotations", key: k, err: errors.New("invalid annotation name (want letters, digits and _)")}
		case k == "summary" || k == "description" || k == "runbook_url":
			return &fieldError{field: "annotations", key: k, err: fmt.Errorf("reserved: use the rule's %s field", k)}
		}
		t, err := parseTemplate(k, r.Annotations[k])
		if err != nil {
			return &fieldError{field: "annotations", key: k, err: err}
		}
		tmpl[k] = t
	}
	r.tmpl = tmpl
	return nil
}

var routeFields = []string{"receiver", "matchers", "group_by", "group_wait", "group_interval", "repeat_interval", "continue", "routes"}

func (p *parser) route(n *yaml.Node, parent *Route, declared map[string]bool, ctx string) (*Route, error) {
	f, err := p.fields(n, ctx, routeFields...)
	if err != nil {
		return nil, err
	}
	rt := &Route{Line: n.Line}
	if rt.Receiver, err = p.str(f, "receiver", ctx); err != nil {
		return nil, err
	}
	ms, err := p.strList(f, "matchers", ctx)
	if err != nil {
		return nil, err
	}
	if mn := f.vals["matchers"]; mn != nil {
		for i, s := range ms {
			m, err := ParseMatcher(s)
			if err != nil {
				return nil, p.errf(mn.Content[i], "%smatchers: %v", ctx, err)
			}
			rt.Matchers = append(rt.Matchers, m)
		}
	}
	if rt.GroupBy, err = p.strList(f, "group_by", ctx); err != nil {
		return nil, err
	}
	if rt.GroupWait, rt.set.groupWait, err = p.dur(f, "group_wait", ctx); err != nil {
		return nil, err
	}
	if rt.GroupInterval, rt.set.groupInterval, err = p.dur(f, "group_interval", ctx); err != nil {
		return nil, err
	}
	if rt.RepeatInterval, rt.set.repeatInterval, err = p.dur(f, "repeat_interval", ctx); err != nil {
		return nil, err
	}
	if rt.Continue, err = p.boolean(f, "continue", ctx); err != nil {
		return nil, err
	}
	if fe := rt.check(parent == nil, declared); fe != nil {
		return nil, p.errf(f.line(fe.field), "%s%s", ctx, fe.msg())
	}
	rt.inherit(parent)
	if cn := f.vals["routes"]; cn != nil {
		if cn.Kind != yaml.SequenceNode {
			return nil, p.errf(cn, "%sroutes: want a list, got %s", ctx, kindName(cn))
		}
		for i, c := range cn.Content {
			child, err := p.route(c, rt, declared, fmt.Sprintf("%sroutes[%d]: ", ctx, i))
			if err != nil {
				return nil, err
			}
			rt.Routes = append(rt.Routes, child)
		}
	}
	return rt, nil
}

// check validates one route node (not its children).
func (rt *Route) check(root bool, declared map[string]bool) *fieldError {
	if root && len(rt.Matchers) > 0 {
		return ferr("matchers", "not allowed on the root route (it matches every alert)")
	}
	if root && rt.Continue {
		return ferr("continue", "not allowed on the root route")
	}
	if rt.Receiver != "" && !declared[rt.Receiver] {
		names := slices.Sorted(maps.Keys(declared))
		return ferr("receiver", "unknown receiver %q (declared: %s)", rt.Receiver, strings.Join(names, ", "))
	}
	for _, m := range rt.Matchers {
		if m == nil {
			return ferr("matchers", "nil matcher")
		}
		if !m.Compiled() {
			return ferr("matchers", "%s was not made with NewMatcher", m)
		}
	}
	for _, l := range rt.GroupBy {
		if l != "..." && !validLabelName(l) {
			return ferr("group_by", "invalid label name %q", l)
		}
	}
	if slices.Contains(rt.GroupBy, "...") && len(rt.GroupBy) > 1 {
		return ferr("group_by", `"..." groups by every label: list it alone`)
	}
	if rt.GroupWait < 0 || rt.GroupInterval < 0 || rt.RepeatInterval < 0 {
		return ferr("group_wait", "negative duration")
	}
	if rt.set.groupInterval && rt.GroupInterval == 0 {
		return ferr("group_interval", "must be more than 0")
	}
	if rt.set.repeatInterval && rt.RepeatInterval == 0 {
		return ferr("repeat_interval", "must be more than 0")
	}
	return nil
}

// inherit fills what rt did not set from its parent (or, at the root,
// from the defaults).
func (rt *Route) inherit(parent *Route) {
	if parent == nil {
		parent = &Route{GroupBy: []string{"alertname"}, GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval}
	} else if rt.Receiver == "" && parent.Receiver != "" {
		rt.Receiver = parent.Receiver
	}
	if rt.GroupBy == nil {
		rt.GroupBy = slices.Clone(parent.GroupBy)
	}
	if !rt.set.groupWait {
		rt.GroupWait = parent.GroupWait
	}
	if !rt.set.groupInterval && rt.GroupInterval == 0 {
		rt.GroupInterval = parent.GroupInterval
	}
	if !rt.set.repeatInterval && rt.RepeatInterval == 0 {
		rt.RepeatInterval = parent.RepeatInterval
	}
	if rt.set != (routeSet{true, true, true}) {
		rt.set = routeSet{true, true, true}
	}
}

var receiverFields = []string{"name", "kind", "url", "channel", "secret_env", "send_resolved", "timeout"}

var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

var receiverNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (p *parser) receiver(n *yaml.Node, i int) (*ReceiverConfig, error) {
	ctx := fmt.Sprintf("receivers[%d]: ", i)
	f, err := p.fields(n, ctx, receiverFields...)
	if err != nil {
		return nil, err
	}
	rc := &ReceiverConfig{Line: n.Line}
	if rc.Name, err = p.str(f, "name", ctx); err != nil {
		return nil, err
	}
	if rc.Name != "" {
		ctx = fmt.Sprintf("receiver %q: ", rc.Name)
	}
	if rc.Kind, err = p.str(f, "kind", ctx); err != nil {
		return nil, err
	}
	if rc.URL, err = p.str(f, "url", ctx); err != nil {
		return nil, err
	}
	if rc.Channel, err = p.str(f, "channel", ctx); err != nil {
		return nil, err
	}
	if rc.SecretEnv, err = p.str(f, "secret_env", ctx); err != nil {
		return nil, err
	}
	if f.has("send_resolved") {
		b, err := p.boolean(f, "send_resolved", ctx)
		if err != nil {
			return nil, err
		}
		rc.SendResolved = &b
	}
	if rc.Timeout, _, err = p.dur(f, "timeout", ctx); err != nil {
		return nil, err
	}
	if fe := rc.check(); fe != nil {
		return nil, p.errf(f.line(fe.field), "%s%s", ctx, fe.msg())
	}
	return rc, nil
}

func (rc *ReceiverConfig) check() *fieldError {
	switch {
	case rc.Name == "":
		return ferr("name", "missing")
	case !receiverNameRE.MatchString(rc.Name):
		return ferr("name", "invalid %q: want letters, digits, _ and - (at most 64)", rc.Name)
	case rc.Kind == "":
		return ferr("kind", "missing (want pagerduty, slack, webhook or alertmanager)")
	}
	switch rc.Kind {
	case KindPagerDuty, KindSlack, KindWebhook, KindAlertmanager:
	default:
		return ferr("kind", "unknown %q (want pagerduty, slack, webhook or alertmanager)", rc.Kind)
	}
	if rc.URL != "" {
		if rc.Kind == KindSlack {
			return ferr("url", "not allowed for slack: the webhook URL is a secret and comes from SLACK_WEBHOOK_URL")
		}
		u, err := url.Parse(rc.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Never echo the URL: it may carry a token.
			return ferr("url", "invalid: want an absolute http or https URL")
		}
	} else if rc.Kind == KindWebhook || rc.Kind == KindAlertmanager {
		return ferr("url", "missing (required for kind %s)", rc.Kind)
	}
	if rc.Channel != "" && rc.Kind != KindSlack {
		return ferr("channel", "only for kind slack")
	}
	if rc.Channel != "" && !validSlackChannel(rc.Channel) {
		return ferr("channel", "want #name, @user or a channel ID (C…, G…, D…)")
	}
	if rc.SecretEnv != "" && !envNameRE.MatchString(rc.SecretEnv) {
		return ferr("secret_env", "invalid %q: want an environment variable name (A-Z, 0-9, _; not starting with a digit)", rc.SecretEnv)
	}
	if rc.Timeout < 0 {
		return ferr("timeout", "negative duration")
	}
	return nil
}

// Validate checks c and fills in defaults: the default route when Route is
// nil, inherited route values, the implicit receivers; it parses the
// templates. Its errors are *Error with the rule's, route's or
// receiver's line when known. Validating a Config that is already valid
// (from Load, or validated before) changes nothing, so Engines may share
// one; the first Validate of a Config built in code must not run
// concurrently with any other use of it.
func (c *Config) Validate() error {
	cerr := func(line int, format string, args ...any) error {
		return &Error{File: c.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	names := map[string]bool{}
	for i, r := range c.Rules {
		if r == nil {
			return cerr(0, "rule #%d: nil", i+1)
		}
		ctx := fmt.Sprintf("rule %q: ", r.Name)
		if r.Name == "" {
			ctx = fmt.Sprintf("rule #%d: ", i+1)
		}
		if fe := r.check(); fe != nil {
			return cerr(r.Line, "%s%s", ctx, fe.msg())
		}
		if names[r.Name] {
			return cerr(r.Line, "%sduplicate name", ctx)
		}
		names[r.Name] = true
	}
	if rcs := withImplicitReceivers(c.Receivers); len(rcs) != len(c.Receivers) {
		c.Receivers = rcs
	}
	declared := map[string]bool{}
	for i, rc := range c.Receivers {
		if rc == nil {
			return cerr(0, "receivers[%d]: nil", i)
		}
		if fe := rc.check(); fe != nil {
			return cerr(rc.Line, "receiver %q: %s", rc.Name, fe.msg())
		}
		if declared[rc.Name] {
			return cerr(rc.Line, "receiver %q: duplicate name", rc.Name)
		}
		declared[rc.Name] = true
	}
	if c.Route == nil {
		c.Route, c.DefaultRoute = defaultRoute(), true
	}
	var walk func(rt, parent *Route, ctx string) error
	walk = func(rt, parent *Route, ctx string) error {
		if rt == nil {
			return cerr(0, "%snil", ctx)
		}
		if fe := rt.check(parent == nil, declared); fe != nil {
			return cerr(rt.Line, "%s%s", ctx, fe.msg())
		}
		rt.inherit(parent)
		for i, child := range rt.Routes {
			if err := walk(child, rt, fmt.Sprintf("%sroutes[%d]: ", ctx, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(c.Route, nil, "route: ")
}

// Receiver returns the declared receiver named name, or nil.
func (c *Config) Receiver(name string) *ReceiverConfig {
	for _, rc := range c.Receivers {
		if rc.Name == name {
			return rc
		}
	}
	return nil
}

// YAML returns c as a rule file that Load reads back into an
// equivalent Config (inherited route values written out; the implicit
// receivers and the default route left out).
func (c *Config) YAML() ([]byte, error) {
	type yRule struct {
		Name             string            `yaml:"name"`
		Expr             string            `yaml:"expr,omitempty"`
		Event            string            `yaml:"event,omitempty"`
		Hold             string            `yaml:"hold,omitempty"`
		For              string            `yaml:"for,omitempty"`
		KeepFiringFor    string            `yaml:"keep_firing_for,omitempty"`
		ResolveThreshold *float64          `yaml:"resolve_threshold,omitempty"`
		Severity         string            `yaml:"severity"`
		Summary          string            `yaml:"summary,omitempty"`
		Description      string            `yaml:"description,omitempty"`
		Labels           map[string]string `yaml:"labels,omitempty"`
		Annotations      map[string]string `yaml:"annotations,omitempty"`
		RunbookURL       string            `yaml:"runbook_url,omitempty"`
	}
	type yRoute struct {
		Receiver       string    `yaml:"receiver,omitempty"`
		Matchers       []string  `yaml:"matchers,omitempty"`
		GroupBy        []string  `yaml:"group_by"`
		GroupWait      string    `yaml:"group_wait"`
		GroupInterval  string    `yaml:"group_interval"`
		RepeatInterval string    `yaml:"repeat_interval"`
		Continue       bool      `yaml:"continue,omitempty"`
		Routes         []*yRoute `yaml:"routes,omitempty"`
	}
	type yReceiver struct {
		Name         string `yaml:"name"`
		Kind         string `yaml:"kind"`
		URL          string `yaml:"url,omitempty"`
		Channel      string `yaml:"channel,omitempty"`
		SecretEnv    string `yaml:"secret_env,omitempty"`
		SendResolved *bool  `yaml:"send_resolved,omitempty"`
		Timeout      string `yaml:"timeout,omitempty"`
	}
	type yConfig struct {
		Rules     []yRule     `yaml:"rules"`
		Route     *yRoute     `yaml:"route,omitempty"`
		Receivers []yReceiver `yaml:"receivers,omitempty"`
	}
	dur := func(d time.Duration, omitZero bool) string {
		if d == 0 && omitZero {
			return ""
		}
		return d.String()
	}
	out := yConfig{Rules: []yRule{}}
	for _, r := range c.Rules {
		y := yRule{Name: r.Name, Hold: dur(r.Hold, true), For: dur(r.For, true), KeepFiringFor: dur(r.KeepFiringFor, true),
			ResolveThreshold: r.ResolveThreshold, Severity: string(r.Severity), Summary: r.Summary, Description: r.Description,
			Labels: r.Labels, Annotations: r.Annotations, RunbookURL: r.RunbookURL}
		if r.Expr != nil {
			y.Expr = r.Expr.String()
		}
		if r.Event != nil {
			y.Event = r.Event.String()
		}
		out.Rules = append(out.Rules, y)
	}
	var route func(rt *Route) *yRoute
	route = func(rt *Route) *yRoute {
		y := &yRoute{Receiver: rt.Receiver, GroupBy: rt.GroupBy, GroupWait: rt.GroupWait.String(),
			GroupInterval: rt.GroupInterval.String(), RepeatInterval: rt.RepeatInterval.String(), Continue: rt.Continue}
		if y.GroupBy == nil {
			y.GroupBy = []string{}
		}
		for _, m := range rt.Matchers {
			y.Matchers = append(y.Matchers, m.String())
		}
		for _, c := range rt.Routes {
			y.Routes = append(y.Routes, route(c))
		}
		return y
	}
	if c.Route != nil && !c.DefaultRoute {
		out.Route = route(c.Route)
	}
	for _, rc := range c.Receivers {
		if rc.Line == 0 && rc.Name == rc.Kind && rc.URL == "" && rc.Channel == "" && rc.SecretEnv == "" && rc.SendResolved == nil && rc.Timeout == 0 {
			continue // implicit
		}
		out.Receivers = append(out.Receivers, yReceiver{Name: rc.Name, Kind: rc.Kind, URL: rc.URL, Channel: rc.Channel, SecretEnv: rc.SecretEnv,
			SendResolved: rc.SendResolved, Timeout: dur(rc.Timeout, true)})
	}
	return yaml.Marshal(out)
}

// validSlackChannel accepts "#name" (lower-case letters, digits, -, _ and
// ., at most 80), "@user", or a Slack channel ID (C, G or D and 8 or more
// upper-case letters or digits).
func validSlackChannel(c string) bool {
	ok := func(s string, max int, allowed func(r rune) bool) bool {
		if s == "" || len(s) > max {
			return false
		}
		for _, r := range s {
			if !allowed(r) {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasPrefix(c, "#"):
		return ok(c[1:], 80, func(r rune) bool {
			return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		})
	case strings.HasPrefix(c, "@"):
		return ok(c[1:], 80, func(r rune) bool {
			return r > ' ' && r != 0x7f && r != '<' && r != '>' && r != '&'
		})
	case len(c) >= 9 && strings.ContainsRune("CGD", rune(c[0])):
		return ok(c[1:], 20, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' })
	}
	return false
}
