package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Usage: studio <command> [flags]

Commands:
  serve           run the session service
  up              run everything on this machine for a first look: a local
                  Redis, SQLite, demo sessions, and the service
  warm            write the most recently active sessions from the store to
                  Redis now (serve also does this at start-up and whenever
                  Redis comes back empty)
  drill failover  measure what a Redis failover costs (Sentinel)
  bench           load-test session validation over HTTP or in process:
                  throughput, latency quantiles, errors
  token           print a new random admin token (256 bits)
  version         print the version

Run "studio help <command>" (or "studio <command> --help") for the flags of
a command. Every flag defaults from the environment variable named in its
help.
`

const versionUsage = `Usage: studio version

Prints the version, the Go version, the platform and the commit.
`

// commands are the commands run knows, for help.
var commands = []string{"serve", "up", "warm", "drill", "bench", "token", "version"}

// run is the whole program: main only calls it. It returns the exit status:
// 0 on success, 1 on a runtime failure, 2 on bad usage or configuration.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[1], args[2:]
	var err error
	switch cmd {
	case "serve", "up", "bench":
		defaultGC(getenv)
	}
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, getenv, stdout, stderr)
	case "up":
		err = runUp(ctx, rest, getenv, stdout, stderr)
	case "warm":
		err = runWarm(ctx, rest, getenv, stdout, stderr)
	case "drill":
		err = runDrill(ctx, rest, getenv, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, getenv, stdout, stderr)
	case "token":
		err = runToken(rest, stdout, stderr)
	case "version":
		if len(rest) > 0 && isHelpFlag(rest[0]) {
			fmt.Fprint(stderr, versionUsage)
			return 0
		}
		rev := ""
		if r := vcsRevision(); len(r) >= 12 {
			rev = ", " + r[:12]
		}
		fmt.Fprintf(stdout, "studio %s (%s %s/%s%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, rev)
		return 0
	case "help", "-h", "-help", "--help":
		if cmd == "help" && len(rest) > 0 {
			return help(ctx, args[0], rest, getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "studio: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "studio %s: %v\n", cmd, err)
		return 2
	default:
		fmt.Fprintf(stderr, "studio %s: %v\n", cmd, err)
		return 1
	}
}

// help runs `studio help <command>`: that command's -h, on stdout.
func help(ctx context.Context, prog string, topic []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if !slices.Contains(commands, topic[0]) {
		fmt.Fprintf(stderr, "studio help: unknown command %q\n\n%s", topic[0], usage)
		return 2
	}
	args := []string{prog, topic[0]}
	if topic[0] == "drill" && len(topic) > 1 && topic[1] == "failover" {
		args = append(args, "failover")
	}
	return run(ctx, append(args, "-h"), getenv, stdout, stdout)
}

// isHelpFlag reports whether arg asks for help, as the flag package
// understands it.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}

// usageError is a bad flag or setting: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// vcsRevision is the VCS revision the binary was built from (Go records it
// when building in a checkout), or "" when the build did not record one
// (-buildvcs=false, a build outside a repository).
func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// defaultGCPercent is the garbage collector's target for the long-running
// commands when the environment does not set GOGC: heap growth of 400 %
// over the live heap between collections instead of Go's 100 %. On a
// small live heap the default collects every few hundred milliseconds under
// load, and on 2 cores each cycle's mark phase takes a large share of the
// CPU from the requests in flight: that set most of the HTTP p99
// (docs/PERFORMANCE.md has the figures, and the memory this costs).
const defaultGCPercent = 400

// defaultGC applies defaultGCPercent unless GOGC is set (any value,
// "off" included, is the operator's choice and left alone). It returns
// whether it changed anything.
func defaultGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(defaultGCPercent)
	return true
}
