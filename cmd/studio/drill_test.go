package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/studiohq/studio/internal/redistest"
)

func TestDrillCommandBadUsage(t *testing.T) {
	sentinel := map[string]string{"REDIS_SENTINELS": "127.0.0.1:1", "REDIS_MASTER_NAME": "m"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no kind", []string{"studio", "drill"}, nil, "want the drill kind"},
		{"unknown kind", []string{"studio", "drill", "restart"}, nil, "want the drill kind"},
		{"not sentinel", []string{"studio", "drill", "failover"}, nil, "needs a Sentinel deployment"},
		{"bad fault", []string{"studio", "drill", "failover", "--fault", "reboot"}, sentinel, `invalid --fault: unknown fault "reboot"`},
		{"bad count", []string{"studio", "drill", "failover", "--count", "0"}, sentinel, "invalid --count 0"},
		{"bad flag", []string{"studio", "drill", "failover", "--nope"}, sentinel, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, envOf(tc.env), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestDrillCommandJSON runs `studio drill failover --json` as a user would
// against the local topology and checks the report it prints.
func TestDrillCommandJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("failover drill; -short skips it")
	}
	topo := redistest.StartSentinel(t)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"studio", "drill", "failover", "--json", "--warmup", "500ms", "--settle", "500ms",
		"--fault", "sentinel-failover"}, envOf(map[string]string{
		"REDIS_SENTINELS":   strings.Join(topo.SentinelAddrs(), ","),
		"REDIS_MASTER_NAME": topo.MasterName(),
		"DATABASE_URL":      "sqlite:" + filepath.Join(t.TempDir(), "drill.db"),
	}), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Reports []struct {
			Recovered         bool    `json:"recovered"`
			MasterBefore      string  `json:"master_before"`
			MasterAfter       string  `json:"master_after"`
			ValidationsFailed int64   `json:"validations_failed"`
			CreatesLost       int64   `json:"creates_lost"`
			WindowMS          float64 `json:"write_unavailable_ms"`
		} `json:"reports"`
		Summary struct {
			Drills int `json:"drills"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, stdout.String())
	}
	if out.Summary.Drills != 1 || len(out.Reports) != 1 {
		t.Fatalf("want one report: %s", stdout.String())
	}
	r := out.Reports[0]
	if !r.Recovered || r.MasterAfter == r.MasterBefore || r.ValidationsFailed != 0 || r.CreatesLost != 0 {
		t.Fatalf("report %+v", r)
	}
	t.Logf("SENTINEL FAILOVER drill: write unavailability %.0f ms", r.WindowMS)
}
