package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"0": 0, "300ms": 300 * time.Millisecond, "1m30s": 90 * time.Second, "14d": 14 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, " 4h ": 4 * time.Hour}
	for in, want := range good {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5x", "d", "1.5d", "-1s", "-2d", "99999999999999999d", "1dd", "1h2d"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}
