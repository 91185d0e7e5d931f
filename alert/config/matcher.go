package config

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MatchType is how a Matcher compares a label's value.
type MatchType int

// The match types, written =, !=, =~ and !~.
const (
	MatchEqual MatchType = iota
	MatchNotEqual
	MatchRegexp
	MatchNotRegexp
)

func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return fmt.Sprintf("MatchType(%d)", int(t))
}

// Matcher matches one label, as in Alertmanager: `severity="critical"`,
// `alertname!="RedisDown"`, `key=~"session:.*"`, `team!~"db|cache"`. A
// regular expression (RE2 syntax) is anchored at both ends. A label that is
// absent reads as the empty string, so `team=""` matches alerts without a
// team label.
//
// A Matcher is immutable once made; it is safe for concurrent use. Make it
// with NewMatcher or ParseMatcher (the zero value has no compiled regular
// expression and matches as if Type were MatchEqual).
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// NewMatcher returns a matcher, compiling value when t is a regexp type.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	if !validLabelName(name) {
		return nil, fmt.Errorf("invalid label name %q", name)
	}
	m := &Matcher{Name: name, Type: t, Value: value}
	switch t {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		if _, err := regexp.Compile(value); err != nil {
			return nil, fmt.Errorf("label %s: invalid regular expression %q: %v", name, value, regexpReason(err))
		}
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("label %s: invalid regular expression %q: %v", name, value, regexpReason(err))
		}
		m.re = re
	default:
		return nil, fmt.Errorf("invalid match type %d", int(t))
	}
	return m, nil
}

// regexpReason is the part of a regexp error after "error parsing regexp: ".
func regexpReason(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// ParseMatcher reads one matcher: a label name, an operator (=, !=, =~,
// !~) and a value, either double-quoted (Go escapes) or bare (the rest of
// the string, spaces trimmed). Spaces around the operator are allowed.
func ParseMatcher(s string) (*Matcher, error) {
	l := &lexer{s: s}
	m, err := l.matcher(false)
	if err != nil {
		return nil, err
	}
	l.space()
	if !l.done() {
		return nil, fmt.Errorf("matcher %q: unexpected %q after the value", s, l.rest())
	}
	return m, nil
}

// Compiled reports whether m can match as its Type says: a regular
// expression matcher must come from NewMatcher or ParseMatcher (or a
// decoded file), which compile its expression.
func (m *Matcher) Compiled() bool {
	return m.re != nil || (m.Type != MatchRegexp && m.Type != MatchNotRegexp)
}

// Matches reports whether v, the label's value ("" when absent), matches.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re != nil && m.re.MatchString(v)
	case MatchNotRegexp:
		return m.re == nil || !m.re.MatchString(v)
	}
	return v == m.Value
}

// String returns the matcher in the form ParseMatcher reads, the value
// quoted: severity="critical".
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// MarshalYAML encodes the matcher as its String form.
func (m *Matcher) MarshalYAML() (any, error) { return m.String(), nil }

// MarshalJSON encodes the matcher as its String form.
func (m *Matcher) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON decodes a matcher from a JSON string in ParseMatcher form.
func (m *Matcher) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("matcher: want a string such as \"severity=\\\"critical\\\"\"")
	}
	p, err := ParseMatcher(s)
	if err != nil {
		return err
	}
	*m = *p
	return nil
}

// UnmarshalYAML decodes a matcher from a string in ParseMatcher form.
func (m *Matcher) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return errAt(n, "want a string, got %s", kindName(n))
	}
	p, err := ParseMatcher(n.Value)
	if err != nil {
		return errAt(n, "%v", err)
	}
	*m = *p
	return nil
}

// Matchers match a label set when every one of them matches (an empty
// list matches everything).
type Matchers []*Matcher

// Matches reports whether every matcher matches labels.
func (ms Matchers) Matches(labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

// String returns the matchers in selector form: {a="b", c=~"d"}.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// UnmarshalYAML decodes a list of matcher strings: every item must be a
// string before any is parsed.
func (ms *Matchers) UnmarshalYAML(n *yaml.Node) error {
	var l textList
	if err := l.UnmarshalYAML(n); err != nil {
		return err
	}
	out := make(Matchers, len(n.Content))
	for i, item := range n.Content {
		out[i] = new(Matcher)
		if err := out[i].UnmarshalYAML(item); err != nil {
			return err
		}
	}
	*ms = out
	return nil
}

func validLabelName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// CompareOp is the comparison of a rule's condition.
type CompareOp string

// The comparison operators an expr may use.
const (
	OpGreater      CompareOp = ">"
	OpGreaterEqual CompareOp = ">="
	OpLess         CompareOp = "<"
	OpLessEqual    CompareOp = "<="
	OpEqual        CompareOp = "=="
	OpNotEqual     CompareOp = "!="
)

// Compare reports whether v op threshold holds. NaN never holds.
func (op CompareOp) Compare(v, threshold float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch op {
	case OpGreater:
		return v > threshold
	case OpGreaterEqual:
		return v >= threshold
	case OpLess:
		return v < threshold
	case OpLessEqual:
		return v <= threshold
	case OpEqual:
		return v == threshold
	case OpNotEqual:
		return v != threshold
	}
	return false
}

// Expr is a sample rule's condition: a sample name, optional label
// matchers and a comparison with a number, e.g.
//
//	cache_hit_rate < 0.8
//	hotkey_per_min{key=~"session:.*"} > 1000
//	cert_expiry_days{cert="client"} <= 14
//
// Every sample of that name whose labels match is compared on its own; each
// one that holds is one alert, carrying the sample's labels.
type Expr struct {
	Sample    string
	Matchers  Matchers
	Op        CompareOp
	Threshold float64
}

// ParseExpr reads an Expr. It checks the syntax only, not that the sample
// name is one Studio produces (Load does).
func ParseExpr(s string) (*Expr, error) {
	l := &lexer{s: s}
	l.space()
	name := l.ident(false)
	if name == "" {
		if l.done() {
			return nil, fmt.Errorf("empty expression: want a sample name, an operator and a number, e.g. cache_hit_rate < 0.8")
		}
		return nil, fmt.Errorf("want a sample name at %q", l.rest())
	}
	x := &Expr{Sample: name}
	l.space()
	if l.peek() == '{' {
		ms, err := l.selector()
		if err != nil {
			return nil, err
		}
		x.Matchers = ms
		l.space()
	}
	if l.done() {
		return nil, fmt.Errorf("missing comparison after %q: want one of > >= < <= == != and a number", name)
	}
	op := l.op()
	if op == "" {
		return nil, fmt.Errorf("unknown comparison operator at %q: want one of > >= < <= == !=", l.rest())
	}
	x.Op = op
	l.space()
	num := strings.TrimSpace(l.rest())
	if num == "" {
		return nil, fmt.Errorf("missing number after %q", string(op))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(num, " \t") {
		return nil, fmt.Errorf("invalid number %q after %q", num, string(op))
	}
	x.Threshold = v
	return x, nil
}

// UnmarshalYAML decodes an expression from a string in ParseExpr form
// (nothing reads as the empty expression).
func (x *Expr) UnmarshalYAML(n *yaml.Node) error {
	var s text
	if err := s.UnmarshalYAML(n); err != nil {
		return err
	}
	p, err := ParseExpr(string(s))
	if err != nil {
		return errAt(n, "%v", err)
	}
	*x = *p
	return nil
}

// MarshalYAML encodes the expression as its String form.
func (x *Expr) MarshalYAML() (any, error) { return x.String(), nil }

// MarshalJSON encodes the expression as its String form.
func (x *Expr) MarshalJSON() ([]byte, error) { return json.Marshal(x.String()) }

// MarshalYAML encodes the selector as its String form.
func (es *EventSelector) MarshalYAML() (any, error) { return es.String(), nil }

// MarshalJSON encodes the selector as its String form.
func (es *EventSelector) MarshalJSON() ([]byte, error) { return json.Marshal(es.String()) }

// String returns the expression in the form ParseExpr reads.
func (x *Expr) String() string {
	s := x.Sample
	if len(x.Matchers) > 0 {
		s += x.Matchers.String()
	}
	return s + " " + string(x.Op) + " " + strconv.FormatFloat(x.Threshold, 'g', -1, 64)
}

// EventSelector picks the events an event rule reacts to: a kind and
// optional label matchers, e.g. `switch-master` or `sdown{role="master"}`.
type EventSelector struct {
	Kind     string
	Matchers Matchers
}

// ParseEventSelector reads an EventSelector. A kind is made of letters,
// digits and _ - + . : (Sentinel's own names such as "+switch-master" are
// accepted as they are; Studio's are written without the sign).
func ParseEventSelector(s string) (*EventSelector, error) {
	l := &lexer{s: s}
	l.space()
	kind := l.ident(true)
	if kind == "" {
		if l.done() {
			return nil, fmt.Errorf("empty event: want an event kind such as switch-master")
		}
		return nil, fmt.Errorf("want an event kind at %q", l.rest())
	}
	sel := &EventSelector{Kind: kind}
	l.space()
	if l.peek() == '{' {
		ms, err := l.selector()
		if err != nil {
			return nil, err
		}
		sel.Matchers = ms
		l.space()
	}
	if !l.done() {
		return nil, fmt.Errorf("unexpected %q after the event kind", l.rest())
	}
	return sel, nil
}

// UnmarshalYAML decodes a selector from a string in ParseEventSelector
// form (nothing reads as the empty selector).
func (es *EventSelector) UnmarshalYAML(n *yaml.Node) error {
	var s text
	if err := s.UnmarshalYAML(n); err != nil {
		return err
	}
	p, err := ParseEventSelector(string(s))
	if err != nil {
		return errAt(n, "%v", err)
	}
	*es = *p
	return nil
}

// String returns the selector in the form ParseEventSelector reads.
func (es *EventSelector) String() string {
	if len(es.Matchers) == 0 {
		return es.Kind
	}
	return es.Kind + es.Matchers.String()
}

// Matches reports whether an event of kind with labels is of the
// selector's kind and its labels match.
func (es *EventSelector) Matches(kind string, labels map[string]string) bool {
	return kind == es.Kind && es.Matchers.Matches(labels)
}

// lexer scans the small languages above.
type lexer struct {
	s string
	i int
}

func (l *lexer) done() bool   { return l.i >= len(l.s) }
func (l *lexer) rest() string { return l.s[l.i:] }
func (l *lexer) peek() byte {
	if l.done() {
		return 0
	}
	return l.s[l.i]
}

func (l *lexer) space() {
	for !l.done() && (l.s[l.i] == ' ' || l.s[l.i] == '\t' || l.s[l.i] == '\n' || l.s[l.i] == '\r') {
		l.i++
	}
}

// ident scans a sample name ([a-zA-Z_:][a-zA-Z0-9_:]*), or with event set
// an event kind ([a-zA-Z0-9_:+.-]+).
func (l *lexer) ident(event bool) string {
	start := l.i
	for !l.done() {
		c := l.s[l.i]
		ok := c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && (event || l.i > start)
		if event && (c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9') {
			ok = true
		}
		if !ok {
			break
		}
		l.i++
	}
	return l.s[start:l.i]
}

func (l *lexer) op() CompareOp {
	for _, op := range []CompareOp{OpGreaterEqual, OpLessEqual, OpEqual, OpNotEqual, OpGreater, OpLess} {
		if strings.HasPrefix(l.rest(), string(op)) {
			// "=>" or "=<" or "<>" are not operators: make sure the next
			// character does not continue an operator.
			n := l.i + len(op)
			if n < len(l.s) && strings.IndexByte("=<>!~", l.s[n]) >= 0 {
				return ""
			}
			l.i = n
			return op
		}
	}
	return ""
}

// selector scans {matcher, matcher, ...}; l is at '{'.
func (l *lexer) selector() (Matchers, error) {
	l.i++ // {
	var ms Matchers
	for {
		l.space()
		if l.peek() == '}' {
			l.i++
			return ms, nil
		}
		if l.done() {
			return nil, fmt.Errorf("missing } to close the label matchers")
		}
		m, err := l.matcher(true)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(ms, func(o *Matcher) bool { return o.Name == m.Name && o.Type == m.Type && o.Value == m.Value }) {
			return nil, fmt.Errorf("duplicate matcher %s", m)
		}
		ms = append(ms, m)
		l.space()
		switch l.peek() {
		case ',':
			l.i++
		case '}':
		default:
			if l.done() {
				return nil, fmt.Errorf("missing } to close the label matchers")
			}
			return nil, fmt.Errorf("want , or } at %q", l.rest())
		}
	}
}

// matcher scans name op value. In a selector (inSelector) a bare value
// ends at ',' or '}'; otherwise it runs to the end.
func (l *lexer) matcher(inSelector bool) (*Matcher, error) {
	l.space()
	start := l.i
	for !l.done() {
		c := l.s[l.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			l.i++
			continue
		}
		break
	}
	name := l.s[start:l.i]
	if name == "" {
		if l.done() {
			return nil, fmt.Errorf("empty matcher: want a label name, an operator (= != =~ !~) and a value")
		}
		return nil, fmt.Errorf("want a label name at %q", l.rest())
	}
	if !validLabelName(name) {
		return nil, fmt.Errorf("invalid label name %q", name)
	}
	l.space()
	var t MatchType
	switch r := l.rest(); {
	case strings.HasPrefix(r, "=~"):
		t, l.i = MatchRegexp, l.i+2
	case strings.HasPrefix(r, "!~"):
		t, l.i = MatchNotRegexp, l.i+2
	case strings.HasPrefix(r, "!="):
		t, l.i = MatchNotEqual, l.i+2
	case strings.HasPrefix(r, "=="):
		return nil, fmt.Errorf("label %s: unknown match operator \"==\": want = != =~ !~", name)
	case strings.HasPrefix(r, "="):
		t, l.i = MatchEqual, l.i+1
	default:
		if r == "" {
			return nil, fmt.Errorf("label %s: missing match operator: want = != =~ !~", name)
		}
		return nil, fmt.Errorf("label %s: unknown match operator at %q: want = != =~ !~", name, r)
	}
	l.space()
	var value string
	if l.peek() == '"' {
		end := l.i + 1
		for end < len(l.s) && l.s[end] != '"' {
			if l.s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(l.s) {
			return nil, fmt.Errorf("label %s: unterminated quoted value", name)
		}
		v, err := strconv.Unquote(l.s[l.i : end+1])
		if err != nil {
			return nil, fmt.Errorf("label %s: invalid quoted value %s", name, l.s[l.i:end+1])
		}
		value, l.i = v, end+1
	} else {
		start := l.i
		for !l.done() && !(inSelector && (l.s[l.i] == ',' || l.s[l.i] == '}')) {
			l.i++
		}
		value = strings.TrimSpace(l.s[start:l.i])
		if strings.ContainsAny(value, "\"") {
			return nil, fmt.Errorf("label %s: a value with quotes must be fully quoted", name)
		}
	}
	return NewMatcher(t, name, value)
}
