package receivertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"
)

// check collects schema violations found while walking a decoded JSON
// document (objects are map[string]any, numbers json.Number).
type check struct{ errs []string }

func (c *check) add(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

// decode parses body as exactly one JSON value.
func (c *check) decode(body []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		c.add("body", "not JSON: %v", err)
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		c.add("body", "data after the JSON value")
		return nil, false
	}
	return v, true
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func (c *check) object(v any, path string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.add(path, "is %s, want object", typeName(v))
	}
	return m, ok
}

func (c *check) array(v any, path string) ([]any, bool) {
	a, ok := v.([]any)
	if !ok {
		c.add(path, "is %s, want array", typeName(v))
	}
	return a, ok
}

// known reports keys of m not in keys.
func (c *check) known(m map[string]any, path string, keys ...string) {
	for k := range m {
		if !slices.Contains(keys, k) {
			c.add(path, "unknown field %q", k)
		}
	}
}

// field returns m[key], reporting it missing if required.
func (c *check) field(m map[string]any, path, key string, required bool) (any, bool) {
	v, ok := m[key]
	if !ok && required {
		c.add(path+"."+key, "missing")
	}
	return v, ok
}

// str returns m[key] as a string: a violation if present and not a string,
// or missing (or empty) and required.
func (c *check) str(m map[string]any, path, key string, required bool) string {
	v, ok := c.field(m, path, key, required)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		c.add(path+"."+key, "is %s, want string", typeName(v))
		return ""
	}
	if required && s == "" {
		c.add(path+"."+key, "empty")
	}
	return s
}

// enum returns m[key] as a string that must be one of values.
func (c *check) enum(m map[string]any, path, key string, required bool, values ...string) string {
	s := c.str(m, path, key, required)
	if s != "" && !slices.Contains(values, s) {
		c.add(path+"."+key, "%q is not one of %q", s, values)
	}
	return s
}

// maxLen reports s longer than max characters, counted as UTF-16 code
// units as JavaScript counts them (the strictest count).
func (c *check) maxLen(path, s string, max int) {
	if n := utf16Len(s); n > max {
		c.add(path, "%d characters, limit %d", n, max)
	}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// link reports s unless it is an absolute http(s) URL with a host.
func (c *check) link(path, s string, httpsOnly bool) {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		c.add(path, "%q is not an absolute URL", s)
	case httpsOnly && u.Scheme != "https":
		c.add(path, "scheme %q, want https", u.Scheme)
	case u.Scheme != "http" && u.Scheme != "https":
		c.add(path, "scheme %q, want http or https", u.Scheme)
	}
}

// timestamp parses m[key] as an RFC 3339 time.
func (c *check) timestamp(m map[string]any, path, key string, required bool) (time.Time, bool) {
	s := c.str(m, path, key, required)
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.add(path+"."+key, "%q is not an RFC 3339 time", s)
		return time.Time{}, false
	}
	return t, true
}

// stringMap checks that m[key] is an object of strings (names valid per
// validName if non-nil) and returns it.
func (c *check) stringMap(m map[string]any, path, key string, required bool, validName func(string) bool) map[string]string {
	v, ok := c.field(m, path, key, required)
	if !ok {
		return nil
	}
	obj, ok := c.object(v, path+"."+key)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(obj))
	for k, x := range obj {
		s, isStr := x.(string)
		if !isStr {
			c.add(path+"."+key+"."+k, "is %s, want string", typeName(x))
			continue
		}
		if validName != nil && !validName(k) {
			c.add(path+"."+key, "invalid name %q", k)
		}
		out[k] = s
	}
	return out
}

// integer checks that m[key] is a whole number and returns it.
func (c *check) integer(m map[string]any, path, key string, required bool) int64 {
	v, ok := c.field(m, path, key, required)
	if !ok {
		return 0
	}
	n, isNum := v.(json.Number)
	if !isNum {
		c.add(path+"."+key, "is %s, want number", typeName(v))
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		c.add(path+"."+key, "%s is not an integer", n)
	}
	return i
}

// boolean checks that m[key], if present, is a boolean.
func (c *check) boolean(m map[string]any, path, key string) {
	if v, ok := m[key]; ok {
		if _, isBool := v.(bool); !isBool {
			c.add(path+"."+key, "is %s, want boolean", typeName(v))
		}
	}
}
