package server

import (
	"strings"
	"testing"
	"time"
)

func TestProfileSeconds(t *testing.T) {
	for _, tc := range []struct {
		v    string
		wt   time.Duration
		want time.Duration
	}{{"", 0, 10 * time.Second}, {"1", 0, time.Second}, {"300", 0, 300 * time.Second}, {"29", 30 * time.Second, 29 * time.Second}} {
		if got, err := profileSeconds(tc.v, tc.wt); err != nil || got != tc.want {
			t.Errorf("profileSeconds(%q, %v) = %v, %v; want %v", tc.v, tc.wt, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		v    string
		wt   time.Duration
		want string
	}{
		{"0", 0, "from 1 to 300"}, {"-5", 0, "from 1 to 300"}, {"301", 0, "from 1 to 300"}, {"1e3", 0, "from 1 to 300"},
		{" 5", 0, "from 1 to 300"}, {"99999999999999999999", 0, "from 1 to 300"},
		{"30", 30 * time.Second, "under the server's write timeout of 30s"}, {"", 5 * time.Second, "write timeout of 5s"},
	} {
		if d, err := profileSeconds(tc.v, tc.wt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("profileSeconds(%q, %v) = %v, %v; want an error with %q", tc.v, tc.wt, d, err, tc.want)
		}
	}
}

// FuzzProfileSeconds: any ?seconds= value is refused or gives 1 to 300 s,
// under the write timeout.
func FuzzProfileSeconds(f *testing.F) {
	for _, s := range []string{"", "1", "30", "0", "-1", "1.5", "abc", "301"} {
		f.Add(s, int64(30))
	}
	f.Fuzz(func(t *testing.T, v string, wtSeconds int64) {
		wt := time.Duration(wtSeconds%1000) * time.Second
		d, err := profileSeconds(v, wt)
		if err != nil {
			return
		}
		if d < time.Second || d > maxProfileSeconds*time.Second || (wt > 0 && d >= wt) {
			t.Fatalf("profileSeconds(%q, %v) = %v", v, wt, d)
		}
	})
}
