package config

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
