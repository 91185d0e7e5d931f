// Package deploy holds the deployment artifacts (Railway, systemd, Redis
// and Sentinel configuration, the Helm chart); its tests check them.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoFile reads a file relative to the repository root.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// settingDefault is the built-in default of a setting of studio serve, read
// from the spec that declares it, so these files cannot drift from
// the code.
func settingDefault(t *testing.T, env string) string {
	t.Helper()
	re := regexp.MustCompile(`\{env: "` + env + `", flag: "[^"]+", def: "([^"]*)"`)
	m := re.FindSubmatch(repoFile(t, "cmd/studio/config.go"))
	if m == nil {
		t.Fatalf("no setting spec {env: %q, …, def: …} in cmd/studio/config.go", env)
	}
	return string(m[1])
}

// stopBudget is how long Studio may take from SIGTERM to exit at its
// default settings: the drain, then the shutdown timeout.
func stopBudget(t *testing.T) time.Duration {
	t.Helper()
	drain, err1 := time.ParseDuration(settingDefault(t, "STUDIO_SHUTDOWN_DRAIN"))
	timeout, err2 := time.ParseDuration(settingDefault(t, "STUDIO_SHUTDOWN_TIMEOUT"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	return drain + timeout
}

// unitValue returns the value of the last key= line of a unit file ("" if
// none).
func unitValue(unit, key string) string {
	v := ""
	for line := range strings.Lines(unit) {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			v = val
		}
	}
	return v
}

// checkUnit checks the settings of the systemd unit Studio relies on.
func checkUnit(unit string, stop time.Duration) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if unitValue(unit, "ExecStart") != "/usr/local/bin/studio serve" {
		bad("ExecStart: want /usr/local/bin/studio serve")
	}
	if !slices.Contains(strings.Fields(unitValue(unit, "RestartPreventExitStatus")), "2") {
		bad("RestartPreventExitStatus must include 2: a bad setting must not restart-loop")
	}
	for _, k := range []string{"EnvironmentFile", "StateDirectory", "WorkingDirectory"} {
		if unitValue(unit, k) == "" {
			bad("%s= is missing", k)
		}
	}
	if ts, err := strconv.Atoi(unitValue(unit, "TimeoutStopSec")); err != nil || time.Duration(ts)*time.Second <= stop {
		bad("TimeoutStopSec must exceed Studio's drain and shutdown timeout, %v", stop)
	}
	return errors.Join(errs...)
}

// exposure runs systemd-analyze security on the unit and returns its
// overall exposure (0 safest, 10 most exposed).
func exposure(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSystemdUnit: the unit verifies, rates "OK" (2.5 or better) in
// systemd-analyze security, and has the settings Studio relies on.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is not installed: apt-get install systemd (.ci/run installs it)")
	}
	unit := string(repoFile(t, "deploy/systemd/studio.service"))
	if err := checkUnit(unit, stopBudget(t)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "studio.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	e := exposure(t, path)
	t.Logf("systemd-analyze security: exposure %.1f", e)
	if e > 2.5 {
		t.Fatalf("exposure %.1f; want 2.5 (OK) or better", e)
	}
	// verify needs the ExecStart binary: point it at one that exists.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	vpath := filepath.Join(dir, "verify", "studio.service")
	if err := os.MkdirAll(filepath.Dir(vpath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vpath, []byte(strings.ReplaceAll(unit, "/usr/local/bin/studio", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", vpath).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSystemdUnitRefusals(t *testing.T) {
	good := string(repoFile(t, "deploy/systemd/studio.service"))
	stop := stopBudget(t)
	for _, tc := range []struct{ name, from, to, want string }{
		{"restart loop", "RestartPreventExitStatus=2", "", "RestartPreventExitStatus must include 2"},
		{"no state directory", "StateDirectory=studio\n", "", "StateDirectory= is missing"},
		{"short stop", "TimeoutStopSec=40", "TimeoutStopSec=10", "TimeoutStopSec must exceed"},
		{"bare binary", "ExecStart=/usr/local/bin/studio serve", "ExecStart=/usr/local/bin/studio", "ExecStart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("the unit has no %q", tc.from)
			}
			err := checkUnit(strings.Replace(good, tc.from, tc.to, 1), stop)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want %q", err, tc.want)
			}
		})
	}
	// A unit without the sandbox rates worse than OK.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		var kept []string
		for line := range strings.Lines(good) {
			if !strings.HasPrefix(line, "Protect") && !strings.HasPrefix(line, "Private") && !strings.HasPrefix(line, "Restrict") && !strings.HasPrefix(line, "SystemCall") {
				kept = append(kept, line)
			}
		}
		path := filepath.Join(t.TempDir(), "studio.service")
		if err := os.WriteFile(path, []byte(strings.Join(kept, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		if e := exposure(t, path); e <= 2.5 {
			t.Fatalf("without its sandbox the unit still rates %.1f: the check cannot fail", e)
		}
	}
}
