package config

import (
	"testing"
)

func TestTemplateFuncs(t *testing.T) {
	for _, tc := range []struct {
		f    func(any) (string, error)
		in   any
		want string
	}{
		{humanize, 1234567.0, "1.235M"},
		{humanize, 0.0012, "1.2m"},
		{humanize, 12, "12"},
		{humanize, "2000", "2k"},
		{humanizePercentage, 0.8123, "81.23%"},
		{humanizeDuration, 90, "1m 30s"},
		{humanizeDuration, 90061.0, "1d 1h 1m 1s"},
		{humanizeDuration, 0.25, "250ms"},
		{humanizeBytes, 1536, "1.5 KiB"},
		{humanizeBytes, 3 << 30, "3 GiB"},
		{humanizeBytes, 100, "100 B"},
	} {
		if got, err := tc.f(tc.in); err != nil || got != tc.want {
			t.Errorf("%v → %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := humanize("x"); err == nil {
		t.Error("humanize of a word")
	}
}
