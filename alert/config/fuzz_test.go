package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad: Load never panics; it refuses with an *Error that names the
// file and a line of it (only a problem with the file as a whole, such as
// its size or its YAML encoding, has none); anything it accepts validates
// again and survives a round trip through YAML.
func FuzzLoad(f *testing.F) {
	f.Add(string(DefaultRulesYAML()))
	f.Add(okRule)
	f.Add("rules:\n  - name: X\n    event: sdown{role=\"master\"}\n    hold: 1m\n    severity: info\n    summary: '{{ range $labels }}{{ . }}{{ end }}'\n")
	f.Add("rules: []\nroute:\n  receiver: slack\n  routes:\n    - matchers: ['a=~\"b.*\"']\n      receiver: pagerduty\n      continue: true\nreceivers:\n  - name: h\n    kind: webhook\n    url: http://h\n")
	f.Add("rules:\n  - name: A\n    expr: cache_hit_rate < 0.8\n    resolve_threshold: 0.9\n    labels: {a: b}\n    severity: warning\n")
	f.Add("rules: [")
	f.Add("base: &b {name: X}\nrules:\n  - *b\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Load("fuzz.yaml", []byte(src))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Msg == "" || ce.File != "fuzz.yaml" {
				t.Fatalf("error %T %q is not an Error with the file and a message", err, err)
			}
			// The line after the last is where the parser puts what the
			// file ends without (an empty document after "---").
			if lines := lineCount(src); ce.Line < 0 || ce.Line > lines+1 {
				t.Fatalf("error on line %d of a file of %d: %v", ce.Line, lines, err)
			}
			if ce.Line == 0 && !wholeFile(ce.Msg) {
				t.Fatalf("error names no line: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate again: %v", err)
		}
		out, err := c.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		c2, err := Load("again.yaml", out)
		if err != nil {
			t.Fatalf("round trip refused: %v\n%s", err, out)
		}
		if len(c2.Rules) != len(c.Rules) {
			t.Fatalf("round trip: %d rules, want %d", len(c2.Rules), len(c.Rules))
		}
		for i := range c.Rules {
			if c.Rules[i].Name != c2.Rules[i].Name {
				t.Fatalf("round trip: rule %d is %q, want %q", i, c2.Rules[i].Name, c.Rules[i].Name)
			}
		}
		if out2, _ := c2.YAML(); string(out2) != string(out) {
			t.Fatalf("round trip not stable:\n%s\n---\n%s", out, out2)
		}
	})
}

// wholeFile reports whether msg is about the file as a whole: its size,
// no YAML in it, or YAML the parser gave no line for.
func wholeFile(msg string) bool {
	for _, p := range []string{"empty file", "file larger than", "invalid YAML"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lineCount counts the lines of src as YAML does: \n, \r\n, \r and the
// Unicode line breaks end a line.
func lineCount(src string) int {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	return 1 + strings.Count(src, "\n") + strings.Count(src, "\r") + strings.Count(src, "\u0085") + strings.Count(src, "\u2028") + strings.Count(src, "\u2029")
}
