package config

import (
	"strings"
	"testing"
)

// TestSlackChannelNames: the channel forms Slack accepts, and near misses.
func TestSlackChannelNames(t *testing.T) {
	for _, c := range []string{"#ops", "#ops-redis_2.x", "@oncall", "C0123456789", "G01ABCDEFG", "D12345678"} {
		if !validSlackChannel(c) {
			t.Errorf("%q refused", c)
		}
	}
	for _, c := range []string{"", "ops", "#", "#Ops", "#ops room", "@", "@a<b>", "C123", "c0123456789", "X0123456789", "C0123-45678", "#" + strings.Repeat("a", 81)} {
		if validSlackChannel(c) {
			t.Errorf("%q accepted", c)
		}
	}
}
