package config

import (
	"testing"
)

func TestMatchers(t *testing.T) {
	for _, tc := range []struct {
		in     string
		labels map[string]string
		want   bool
		str    string
	}{
		{`severity="critical"`, map[string]string{"severity": "critical"}, true, `severity="critical"`},
		{`severity = critical`, map[string]string{"severity": "critical"}, true, `severity="critical"`},
		{`severity!=critical`, map[string]string{"severity": "critical"}, false, `severity!="critical"`},
		{`team=""`, map[string]string{}, true, `team=""`},
		{`key=~"session:.*"`, map[string]string{"key": "session:ab"}, true, `key=~"session:.*"`},
		{`key=~"session"`, map[string]string{"key": "session:ab"}, false, `key=~"session"`}, // anchored
		{`key!~"a|b"`, map[string]string{"key": "c"}, true, `key!~"a|b"`},
		{`v="a\"b,}"`, map[string]string{"v": `a"b,}`}, true, `v="a\"b,}"`},
	} {
		m, err := ParseMatcher(tc.in)
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", tc.in, err)
			continue
		}
		if got := (Matchers{m}).Matches(tc.labels); got != tc.want {
			t.Errorf("%s matches %v = %v", tc.in, tc.labels, got)
		}
		if m.String() != tc.str {
			t.Errorf("String() = %s, want %s", m, tc.str)
		}
	}
	for _, in := range []string{"", "=a", "1a=b", `a="b`, "a==b", "a~b", `a="b" c`, `a=~"x)|(y"`, `a=b"c`} {
		if _, err := ParseMatcher(in); err == nil {
			t.Errorf("ParseMatcher(%q) accepted", in)
		}
	}
}

func TestParseExpr(t *testing.T) {
	x, err := ParseExpr(` hotkey_per_min{key=~"session:.*", instance!="a"} >= 1e3 `)
	if err != nil {
		t.Fatal(err)
	}
	if x.Sample != "hotkey_per_min" || x.Op != OpGreaterEqual || x.Threshold != 1000 || len(x.Matchers) != 2 {
		t.Fatalf("%+v", x)
	}
	if got := x.String(); got != `hotkey_per_min{key=~"session:.*", instance!="a"} >= 1000` {
		t.Errorf("String() = %s", got)
	}
	for op, cases := range map[CompareOp][3]bool{ // value below, equal, above the threshold 1
		OpGreater: {false, false, true}, OpGreaterEqual: {false, true, true}, OpLess: {true, false, false},
		OpLessEqual: {true, true, false}, OpEqual: {false, true, false}, OpNotEqual: {true, false, true},
	} {
		for i, v := range []float64{0, 1, 2} {
			if got := op.Compare(v, 1); got != cases[i] {
				t.Errorf("%v %s 1 = %v", v, op, got)
			}
		}
	}
	for _, in := range []string{"a >", "a > b", "a b", "> 1", "a{} < 1 2", "a <> 1", "a < Inf", "1a > 1", "a{b=1 > 1", "a{b=1,} > 1 x"} {
		if _, err := ParseExpr(in); err == nil {
			t.Errorf("ParseExpr(%q) accepted", in)
		}
	}
}
