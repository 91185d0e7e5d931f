package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Strict decoding. Every type of the rule file decodes itself from its
// yaml.Node (UnmarshalYAML) and takes the lines of its errors from the
// nodes. A mapping decodes through a table of its fields (decodeFields),
// which refuses unknown and repeated keys as yaml.Decoder.KnownFields
// would, but in the words Studio has always used (they list the fields
// allowed). yaml's own struct decoding is not used: it words these errors
// its own way, and KnownFields does not reach what a custom UnmarshalYAML
// decodes with yaml.Node.Decode.

// errAt returns an Error at n's line (0 for a nil n); UnmarshalYAML and
// Load add the file.
func errAt(n *yaml.Node, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// within prefixes the message of err, an error from decoding a part of
// the file, with where that part is (ctx, such as `rule "X": `).
func within(err error, ctx string) error {
	var e *Error
	if errors.As(err, &e) {
		e.Msg = ctx + e.Msg
		return e
	}
	return fmt.Errorf("%s%w", ctx, err)
}

// parseDocument parses data into the root node of its one YAML document.
func parseDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil { // the YAML library must not take Studio down
			root, err = nil, errAt(nil, "invalid YAML")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errAt(nil, "empty file: want a mapping with a rules list")
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, errAt(nil, "invalid YAML after the first document")
		}
		return nil, errAt(&extra, "more than one YAML document")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

// syntaxError turns the YAML library's error for text that is not YAML
// into an Error. This is the one line number not taken from a node: there
// is no node yet, and the library gives the line only in its message,
// "yaml: line N: reason".
func syntaxError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, reason, _ := strings.Cut(rest, ": ")
		line, nerr := strconv.Atoi(num)
		if nerr == nil && num != "" && strings.Trim(num, "0123456789") == "" && reason != "" && !strings.Contains(reason, "\n") {
			return &Error{Line: line, Msg: "invalid YAML: " + reason}
		}
	}
	return errAt(nil, "invalid YAML: %s", msg)
}

// noAliases refuses YAML aliases anywhere under n.
func noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return errAt(n, "YAML aliases are not supported")
	}
	for _, c := range n.Content {
		if err := noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// kindName describes n for an error: "a mapping", "a list", "nothing" or
// the quoted scalar.
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

// field is one key a mapping may hold and what its value decodes into. A
// nil value is a key the caller decodes itself.
type field struct {
	name  string
	value yaml.Unmarshaler
}

// fields are a mapping's values by key, as decodeFields found them.
type fields struct {
	node *yaml.Node
	vals map[string]*yaml.Node
}

// has reports whether the mapping holds key.
func (f *fields) has(key string) bool { return f.vals[key] != nil }

// line is the line of key's value, or the mapping's when key is absent.
func (f *fields) line(key string) int {
	if v := f.vals[key]; v != nil {
		return v.Line
	}
	return f.node.Line
}

// keyLine is the line of the value of key within the mapping of field,
// or the field's line.
func (f *fields) keyLine(field, key string) int {
	if m := f.vals[field]; m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1].Line
			}
		}
	}
	return f.line(field)
}

// refuse returns fe, a check's verdict on the mapping's type, as an
// Error at the line of the field (or of the key within it) refused, or
// nil for a nil fe.
func (f *fields) refuse(fe *fieldError) error {
	if fe == nil {
		return nil
	}
	line := f.line(fe.field)
	if fe.key != "" {
		line = f.keyLine(fe.field, fe.key)
	}
	return &Error{Line: line, Msg: fe.msg(), field: fe.field}
}

// decodeFields decodes the mapping n strictly: it must be a mapping whose
// keys are the fields' names, each at most once. The values present are
// then decoded in the order of the fields, not of the file, so that which
// error is reported first does not depend on how the keys are ordered. A
// value's error is prefixed with its field's name.
func decodeFields(n *yaml.Node, table ...field) (*fields, error) {
	names := make([]string, len(table))
	for i, fd := range table {
		names[i] = fd.name
	}
	f, err := mapping(n, names)
	if err != nil {
		return nil, err
	}
	for _, fd := range table {
		if v := f.vals[fd.name]; v != nil && fd.value != nil {
			if err := fd.value.UnmarshalYAML(v); err != nil {
				return nil, within(err, fd.name+": ")
			}
		}
	}
	return f, nil
}

// mapping checks that n is a mapping of the allowed keys, each at most
// once, and returns its values by key.
func mapping(n *yaml.Node, allowed []string) (*fields, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "want a mapping, got %s", kindName(n))
	}
	f := &fields{node: n, vals: map[string]*yaml.Node{}}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, "want a field name, got %s", kindName(k))
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, errAt(k, "unknown field %q (want one of %s)", k.Value, strings.Join(allowed, ", "))
		}
		if prev := keys[k.Value]; prev != nil {
			return nil, errAt(k, "duplicate field %q (first at line %d)", k.Value, prev.Line)
		}
		keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, nil
}

// decodeFunc is a decoder written as a function.
type decodeFunc func(n *yaml.Node) error

func (d decodeFunc) UnmarshalYAML(n *yaml.Node) error { return d(n) }

// optional decodes a value into a new T and hands it to set: for the
// fields a pointer leaves unset when the file does not have them.
func optional[T any, PT interface {
	*T
	yaml.Unmarshaler
}](set func(PT)) yaml.Unmarshaler {
	return decodeFunc(func(n *yaml.Node) error {
		v := PT(new(T))
		if err := v.UnmarshalYAML(n); err != nil {
			return err
		}
		set(v)
		return nil
	})
}

// text is a string field: any scalar, nothing read as "".
type text string

func (t *text) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errAt(n, "want a string, got %s", kindName(n))
	}
	*t = ""
	if n.ShortTag() != "!!null" {
		*t = text(n.Value)
	}
	return nil
}

// flag is a boolean field: true or false.
type flag bool

func (b *flag) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return errAt(n, "want true or false, got %s", kindName(n))
	}
	v, _ := strconv.ParseBool(strings.ToLower(n.Value))
	*b = flag(v)
	return nil
}

// number is a finite number.
type number float64

func (x *number) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil || v != v || v-v != 0 {
		return errAt(n, "want a number, got %s", kindName(n))
	}
	*x = number(v)
	return nil
}

// textList is a list of strings (nothing is not a string here).
type textList []string

func (l *textList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errAt(n, "want a list of strings, got %s", kindName(n))
	}
	out := make(textList, 0, len(n.Content))
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
			return errAt(e, "want a string, got %s", kindName(e))
		}
		out = append(out, e.Value)
	}
	*l = out
	return nil
}

// textMap is a mapping of names to strings, each name once.
type textMap map[string]string

func (m *textMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errAt(n, "want a mapping of names to strings, got %s", kindName(n))
	}
	out, lines := textMap{}, map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return errAt(kn, "want a name, got %s", kindName(kn))
		}
		if prev, dup := lines[kn.Value]; dup {
			return errAt(kn, "duplicate name %q (first at line %d)", kn.Value, prev)
		}
		var v text
		if err := v.UnmarshalYAML(vn); err != nil {
			return within(err, kn.Value+": ")
		}
		out[kn.Value], lines[kn.Value] = string(v), vn.Line
	}
	*m = out
	return nil
}

// duration is a duration field: a Go duration (300ms, 1m30s, 4h) or whole
// days or weeks (14d, 2w), never negative.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return errAt(n, "want a duration such as 30s, got %s", kindName(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return errAt(n, "%v", err)
	}
	*d = duration(v)
	return nil
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
