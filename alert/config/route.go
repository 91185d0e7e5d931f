package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

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
	Receiver string   `json:"receiver" yaml:"receiver,omitempty"`
	Matchers Matchers `json:"matchers,omitempty" yaml:"matchers,omitempty"`
	// GroupBy lists the labels whose values group alerts into one
	// notification; "..." groups by every label. Nil inherits.
	GroupBy []string `json:"group_by" yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification; GroupInterval how long it waits before sending
	// what changed since; RepeatInterval how long before a still-firing
	// alert is sent again. In a Route built in code, zero durations
	// inherit (the root's from DefaultGroupWait, DefaultGroupInterval and
	// DefaultRepeatInterval); only a file can say group_wait: 0s.
	GroupWait      time.Duration `json:"group_wait" yaml:"group_wait"`
	GroupInterval  time.Duration `json:"group_interval" yaml:"group_interval"`
	RepeatInterval time.Duration `json:"repeat_interval" yaml:"repeat_interval"`
	Continue       bool          `json:"continue,omitempty" yaml:"continue,omitempty"`
	Routes         []*Route      `json:"routes,omitempty" yaml:"routes,omitempty"`
	// Line is where the route starts in its file (0: built in).
	Line int `json:"line,omitempty" yaml:"-"`

	set routeSet // which fields the file (or code) set, for inheritance
}

type routeSet struct{ groupWait, groupInterval, repeatInterval bool }

// UnmarshalYAML decodes a route and its children strictly (see
// decodeFields). Config checks the tree and fills in what each route
// inherits once the receivers are known.
func (rt *Route) UnmarshalYAML(n *yaml.Node) error { return rt.decode(n, nil, nil) }

// decode decodes the route at n, then checks it with check (unless nil)
// before it decodes its children, so that of two problems in a tree the
// one reported is the one in the route written first.
func (rt *Route) decode(n *yaml.Node, parent *Route, check func(rt, parent *Route) *fieldError) error {
	*rt = Route{Line: n.Line}
	f, err := decodeFields(n,
		field{"receiver", (*text)(&rt.Receiver)},
		field{"matchers", &rt.Matchers},
		field{"group_by", (*textList)(&rt.GroupBy)},
		field{"group_wait", (*duration)(&rt.GroupWait)},
		field{"group_interval", (*duration)(&rt.GroupInterval)},
		field{"repeat_interval", (*duration)(&rt.RepeatInterval)},
		field{"continue", (*flag)(&rt.Continue)},
		field{"routes", nil}, // below: a child's errors name its index
	)
	if err != nil {
		return err
	}
	rt.set = routeSet{f.has("group_wait"), f.has("group_interval"), f.has("repeat_interval")}
	if check != nil {
		if err := f.refuse(check(rt, parent)); err != nil {
			return err
		}
	}
	cn := f.vals["routes"]
	if cn == nil {
		return nil
	}
	if cn.Kind != yaml.SequenceNode {
		return errAt(cn, "routes: want a list, got %s", kindName(cn))
	}
	for i, c := range cn.Content {
		child := new(Route)
		if err := child.decode(c, rt, check); err != nil {
			return within(err, fmt.Sprintf("routes[%d]: ", i))
		}
		rt.Routes = append(rt.Routes, child)
	}
	return nil
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

// Match returns the routes an alert with labels reaches: the deepest
// matching route of each branch it descends (see Route). The root always
// matches.
func (rt *Route) Match(labels map[string]string) []*Route {
	if !rt.Matchers.Matches(labels) {
		return nil
	}
	var all []*Route
	for _, child := range rt.Routes {
		m := child.Match(labels)
		all = append(all, m...)
		if m != nil && !child.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, rt)
	}
	return all
}
