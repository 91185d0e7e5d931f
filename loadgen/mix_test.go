package loadgen

import (
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
	}{
		{"validate=90,create=5,revoke=5", Mix{90, 5, 5}},
		{"validate=1", Mix{Validate: 1}},
		{" Revoke = 2.5 , validate=0 ", Mix{Revoke: 2.5}},
		{"create=1e2", Mix{Create: 100}},
	} {
		got, err := ParseMix(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseMixBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"  ", "empty"},
		{"validate", `"validate": want op=weight`},
		{"validate=90,", `"": want op=weight`},
		{"login=5", `unknown op "login"`},
		{"validate=1,validate=2", "validate given twice"},
		{"validate=-1", `validate weight "-1"`},
		{"validate=abc", `validate weight "abc"`},
		{"validate=NaN", `validate weight "NaN"`},
		{"create=Inf", `create weight "Inf"`},
		{"revoke=0x10", `revoke weight "0x10"`},
		{"validate=1e400", `validate weight "1e400"`},
		{"validate=0,create=0", "must add up to more than 0"},
		{"validate=1e308,create=1e308", "more than the largest number"},
		{"=5", `unknown op ""`},
	} {
		_, err := ParseMix(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseMix(%q) error %v; want it to contain %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParseMix: ParseMix never panics; what it accepts is a valid mix
// that round-trips through String.
func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"validate=90,create=5,revoke=5", "validate=1", "create=0.5,revoke=1e-3", "x=1", "validate=,", "validate=1,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			if m != (Mix{}) {
				t.Fatalf("error %v with a non-zero mix %+v", err, m)
			}
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("accepted %q as an invalid mix %+v: %v", s, m, err)
		}
		back, err := ParseMix(m.String())
		if err != nil || back != m {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, m, m.String(), back, err)
		}
	})
}
