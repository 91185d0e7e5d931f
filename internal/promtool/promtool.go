// Package promtool runs Prometheus's promtool for the tests that check
// Studio's /metrics and the Prometheus rules in deploy/prometheus.
//
// It is for tests; it imports no testing package and holds no state. Its
// functions are safe for concurrent use.
package promtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoPromtool is returned when no promtool binary is on PATH.
var ErrNoPromtool = errors.New("promtool is not on PATH: .ci/run and make test install it (scripts/tools.sh); " +
	"by hand: GOBIN=/usr/local/bin go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0")

// Path returns the path of the promtool binary on PATH, or an error
// wrapping ErrNoPromtool.
func Path() (string, error) {
	p, err := exec.LookPath("promtool")
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoPromtool, err)
	}
	return p, nil
}

// Run runs promtool with args in dir ("" for the current directory),
// stdin as its standard input (nil: none), and returns what it printed on
// both outputs. A failed run's error holds that output.
func Run(ctx context.Context, dir string, stdin []byte, args ...string) (string, error) {
	p, err := Path()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("promtool %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// CheckMetrics runs `promtool check metrics` on an exposition, in the
// Prometheus text format or OpenMetrics: its consistency and the
// Prometheus naming conventions. The error lists every problem promtool
// found.
func CheckMetrics(ctx context.Context, exposition []byte) error {
	_, err := Run(ctx, "", exposition, "check", "metrics")
	return err
}
