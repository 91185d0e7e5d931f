// Package charttest renders the Helm chart in deploy/helm/studio with the
// helm binary, decodes what it renders strictly into the official
// Kubernetes API types (an unknown or duplicated field is an error), and
// builds the environment a container of the rendered Deployment would get
// (Pod.Env), so tests can run Studio exactly as the chart configures it.
//
// It is for tests; it imports no testing package and holds no state. Every
// function is safe for concurrent use.
package charttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNoHelm is returned by Helm when no helm binary is on PATH.
var ErrNoHelm = errors.New("helm is not on PATH: .ci/run installs it (scripts/tools.sh); " +
	"by hand: GOBIN=/usr/local/bin go install helm.sh/helm/v4/cmd/helm@v4.3.2")

// Helm returns the path of the helm binary on PATH, or an error wrapping
// ErrNoHelm.
func Helm() (string, error) {
	p, err := exec.LookPath("helm")
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoHelm, err)
	}
	return p, nil
}

// ChartDir returns the absolute path of the Studio chart in this source tree.
func ChartDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "helm", "studio")
}

// Options are the arguments of one rendering.
type Options struct {
	// Release and Namespace default to "studio" and "default".
	Release, Namespace string
	// ValuesFiles are passed with -f, in order; then each of Values (YAML
	// text) is written to a temporary file and passed the same way, so later
	// values win.
	ValuesFiles []string
	Values      []string
	// Set are --set arguments (key=value).
	Set []string
	// APIVersions are --api-versions arguments (group/version/Kind), the
	// APIs the rendering treats as served by the cluster.
	APIVersions []string
}

// Template runs `helm template` on the chart and returns its output. A
// rendering error (a failed schema check, a fail in a template) is
// returned with helm's message.
func Template(ctx context.Context, o Options) (string, error) {
	if o.Release == "" {
		o.Release = "studio"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	args := []string{"template", o.Release, ChartDir(), "--namespace", o.Namespace}
	files, cleanup, err := valuesArgs(o)
	defer cleanup()
	if err != nil {
		return "", err
	}
	args = append(args, files...)
	for _, s := range o.Set {
		args = append(args, "--set", s)
	}
	for _, a := range o.APIVersions {
		args = append(args, "--api-versions", a)
	}
	out, _, err := runHelm(ctx, args...)
	return out, err
}

// Lint runs `helm lint --strict` on the chart with the values files and
// returns what it printed on stdout and stderr; a finding fails it. Lint
// only logs a fail called by a template (on stderr, as "funcMap fail"),
// so callers should look for that.
func Lint(ctx context.Context, valuesFiles ...string) (string, error) {
	args := []string{"lint", "--strict", ChartDir()}
	for _, f := range valuesFiles {
		args = append(args, "-f", f)
	}
	out, errOut, err := runHelm(ctx, args...)
	return out + errOut, err
}

func valuesArgs(o Options) (args []string, cleanup func(), err error) {
	cleanup = func() {}
	for _, f := range o.ValuesFiles {
		args = append(args, "-f", f)
	}
	if len(o.Values) == 0 {
		return args, cleanup, nil
	}
	dir, err := os.MkdirTemp("", "charttest-values-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	for i, v := range o.Values {
		p := filepath.Join(dir, fmt.Sprintf("values-%d.yaml", i))
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			return nil, cleanup, err
		}
		args = append(args, "-f", p)
	}
	return args, cleanup, nil
}

func runHelm(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	helm, err := Helm()
	if err != nil {
		return "", "", err
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("helm %s: %v: %s%s", args[0], err, strings.TrimSpace(errOut.String()), lintFindings(args[0], out.String()))
	}
	return out.String(), errOut.String(), nil
}

// lintFindings returns lint's report (it prints its findings on stdout).
func lintFindings(cmd, out string) string {
	if cmd != "lint" {
		return ""
	}
	return "\n" + out
}
