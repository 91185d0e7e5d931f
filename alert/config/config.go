package config

import (
	"errors"
	"fmt"
	"slices"
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

// Error is an error in a rule file, with the line it is on (0 when
// unknown).
type Error struct {
	File string
	Line int
	Msg  string

	field string // the field a check refused (see ruleContext)
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

// Load parses and validates a rule file (see the package documentation).
// path names the file in errors. The error, an *Error, names the line and
// the reason of the first problem found.
func Load(path string, data []byte) (*Config, error) {
	c := &Config{File: path}
	if len(data) > maxRuleFile {
		return nil, c.inFile(errAt(nil, "file larger than %d bytes", maxRuleFile))
	}
	root, err := parseDocument(data)
	if err != nil {
		return nil, c.inFile(err)
	}
	if err := c.UnmarshalYAML(root); err != nil {
		return nil, err
	}
	return c, nil
}

// inFile names c's file in err, an *Error from decoding c.
func (c *Config) inFile(err error) error {
	var e *Error
	if errors.As(err, &e) && e.File == "" {
		e.File = c.File
	}
	return err
}

// UnmarshalYAML decodes a rule file strictly (see decodeFields) and
// validates it as Load does, in the same order, so that the first problem
// found is the one reported: each rule and receiver is checked as it is
// decoded, each route before its children are, then Validate fills in
// the defaults. File is kept, for errors; every other field is replaced.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = Config{File: c.File}
	return c.inFile(c.decode(n))
}

func (c *Config) decode(n *yaml.Node) error {
	if err := noAliases(n); err != nil {
		return err
	}
	top, err := mapping(n, []string{"rules", "route", "receivers"})
	if err != nil {
		return err
	}
	if !top.has("rules") {
		return errAt(n, "missing rules (a list of rules; rules: [] for none)")
	}
	if c.Rules, err = decodeRules(top.vals["rules"]); err != nil {
		return err
	}
	if c.Receivers, err = decodeReceivers(top.vals["receivers"]); err != nil {
		return err
	}
	declared, err := c.validateReceivers()
	if err != nil {
		return err
	}
	if rn := top.vals["route"]; rn != nil {
		c.Route = new(Route)
		err := c.Route.decode(rn, nil, func(rt, parent *Route) *fieldError { return rt.check(parent == nil, declared) })
		if err != nil {
			return within(err, "route: ")
		}
	}
	return c.Validate()
}

// decodeRules decodes and checks the rules list, in file order.
func decodeRules(n *yaml.Node) ([]*Rule, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "rules: want a list, got %s", kindName(n))
	}
	var rules []*Rule
	first := map[string]int{}
	for i, rn := range n.Content {
		r := new(Rule)
		f, err := r.decode(rn)
		if err == nil {
			err = f.refuse(r.check())
		}
		if err != nil {
			return nil, within(err, ruleContext(rn, r, i, err))
		}
		if line, dup := first[r.Name]; dup {
			return nil, errAt(rn, "rule %q: duplicate name (first at line %d)", r.Name, line)
		}
		first[r.Name] = r.Line
		rules = append(rules, r)
	}
	return rules, nil
}

// ruleContext names the i-th rule, at n, in err: by the name the file
// gives it, even one that did not decode, or by its place when it has
// none (a null name is none, but only once the check says it is missing).
func ruleContext(n *yaml.Node, r *Rule, i int, err error) string {
	var e *Error
	missing := errors.As(err, &e) && e.field == "name" && r.Name == ""
	name := ""
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
				name = v.Value
			}
		}
	}
	if name == "" || missing {
		return fmt.Sprintf("rule #%d: ", i+1)
	}
	return fmt.Sprintf("rule %q: ", name)
}

// decodeReceivers decodes and checks the receivers list, in file order.
func decodeReceivers(n *yaml.Node) ([]*ReceiverConfig, error) {
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "receivers: want a list, got %s", kindName(n))
	}
	var rcs []*ReceiverConfig
	first := map[string]int{}
	for i, rn := range n.Content {
		rc := new(ReceiverConfig)
		f, err := rc.decode(rn)
		if err == nil {
			err = f.refuse(rc.check())
		}
		if err != nil {
			ctx := fmt.Sprintf("receivers[%d]: ", i)
			if rc.Name != "" {
				ctx = fmt.Sprintf("receiver %q: ", rc.Name)
			}
			return nil, within(err, ctx)
		}
		if line, dup := first[rc.Name]; dup {
			return nil, errAt(rn, "receiver %q: duplicate name (first at line %d)", rc.Name, line)
		}
		first[rc.Name] = rc.Line
		rcs = append(rcs, rc)
	}
	return rcs, nil
}

// Validate checks c and fills in defaults: the default route when Route is
// nil, inherited route values, the implicit receivers; it parses the
// templates. Its errors are *Error with the rule's, route's or receiver's
// line when known.
// Validating a Config that is already valid (from Load, or validated
// before) changes nothing, so Engines may share one; the first Validate
// of a Config built in code must not run concurrently with any other use
// of it.
func (c *Config) Validate() error {
	if err := c.validateRules(); err != nil {
		return err
	}
	declared, err := c.validateReceivers()
	if err != nil {
		return err
	}
	if c.Route == nil {
		c.Route, c.DefaultRoute = defaultRoute(), true
	}
	return c.validateRoute(c.Route, nil, declared, "route: ")
}

func (c *Config) errorf(line int, format string, args ...any) error {
	return &Error{File: c.File, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validateRules() error {
	names := map[string]bool{}
	for i, r := range c.Rules {
		if r == nil {
			return c.errorf(0, "rule #%d: nil", i+1)
		}
		ctx := fmt.Sprintf("rule %q: ", r.Name)
		if r.Name == "" {
			ctx = fmt.Sprintf("rule #%d: ", i+1)
		}
		if fe := r.check(); fe != nil {
			return c.errorf(r.Line, "%s%s", ctx, fe.msg())
		}
		if names[r.Name] {
			return c.errorf(r.Line, "%sduplicate name", ctx)
		}
		names[r.Name] = true
	}
	return nil
}

// validateReceivers adds the implicit receivers, checks them all and
// returns their names.
func (c *Config) validateReceivers() (declared map[string]bool, err error) {
	if rcs := withImplicitReceivers(c.Receivers); len(rcs) != len(c.Receivers) {
		c.Receivers = rcs
	}
	declared = map[string]bool{}
	for i, rc := range c.Receivers {
		if rc == nil {
			return nil, c.errorf(0, "receivers[%d]: nil", i)
		}
		if fe := rc.check(); fe != nil {
			return nil, c.errorf(rc.Line, "receiver %q: %s", rc.Name, fe.msg())
		}
		if declared[rc.Name] {
			return nil, c.errorf(rc.Line, "receiver %q: duplicate name", rc.Name)
		}
		declared[rc.Name] = true
	}
	return declared, nil
}

// validateRoute checks rt and its children, parent first, and fills in
// what each inherits.
func (c *Config) validateRoute(rt, parent *Route, declared map[string]bool, ctx string) error {
	if rt == nil {
		return c.errorf(0, "%snil", ctx)
	}
	if fe := rt.check(parent == nil, declared); fe != nil {
		return c.errorf(rt.Line, "%s%s", ctx, fe.msg())
	}
	rt.inherit(parent)
	for i, child := range rt.Routes {
		if err := c.validateRoute(child, rt, declared, fmt.Sprintf("%sroutes[%d]: ", ctx, i)); err != nil {
			return err
		}
	}
	return nil
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

// MarshalYAML writes c as a rule file that Load reads back into an
// equivalent Config: the typed values in their file form, inherited route
// values written out, the implicit receivers and the default route left
// out.
func (c *Config) MarshalYAML() (any, error) {
	file := struct {
		Rules     []*Rule           `yaml:"rules"`
		Route     *Route            `yaml:"route,omitempty"`
		Receivers []*ReceiverConfig `yaml:"receivers,omitempty"`
	}{Rules: c.Rules}
	if file.Rules == nil {
		file.Rules = []*Rule{}
	}
	if !c.DefaultRoute {
		file.Route = c.Route
	}
	for _, rc := range c.Receivers {
		if !rc.implicit() {
			file.Receivers = append(file.Receivers, rc)
		}
	}
	return file, nil
}

// YAML returns c as a rule file (see MarshalYAML).
func (c *Config) YAML() ([]byte, error) { return yaml.Marshal(c) }
