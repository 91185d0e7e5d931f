package alert

import (
	"fmt"
	"slices"
	"strings"
)

// router resolves alerts to (route, receiver) pairs and group keys.
type router struct {
	root *Route
	ids  map[*Route]string // "0", "0.1", …: stable names of the routes for group keys
	// usable reports whether a receiver has a Notifier.
	usable func(name string) bool
}

func newRouter(root *Route, usable func(string) bool) *router {
	r := &router{root: root, ids: map[*Route]string{}, usable: usable}
	var walk func(rt *Route, id string)
	walk = func(rt *Route, id string) {
		r.ids[rt] = id
		for i, c := range rt.Routes {
			walk(c, fmt.Sprintf("%s.%d", id, i))
		}
	}
	walk(root, "0")
	return r
}

// routes returns the routes labels reach that name a usable receiver, the
// first one per receiver (a receiver gets an alert once).
func (r *router) routes(labels map[string]string) []*Route {
	var out []*Route
	var seen []string
	for _, rt := range r.root.Match(labels) {
		if rt.Receiver == "" || slices.Contains(seen, rt.Receiver) || !r.usable(rt.Receiver) {
			continue
		}
		seen = append(seen, rt.Receiver)
		out = append(out, rt)
	}
	return out
}

// groupKey names the aggregation group of an alert on route rt: the route
// and the values of its group_by labels (every label for "...").
func (r *router) groupKey(rt *Route, a *Alert) string {
	var b strings.Builder
	b.WriteString(r.ids[rt])
	b.WriteByte('|')
	if slices.Contains(rt.GroupBy, "...") {
		b.WriteString(a.Fingerprint)
		return b.String()
	}
	for _, l := range rt.GroupBy {
		b.WriteString(l)
		b.WriteByte(0xfe)
		b.WriteString(a.Labels[l])
		b.WriteByte(0xff)
	}
	return b.String()
}
