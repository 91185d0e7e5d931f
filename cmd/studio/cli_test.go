package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/studiohq/studio/session/sqlstore"
)

// helpOf runs args and returns the exit status, stdout and stderr.
func helpOf(env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"studio"}, args...), envOf(env), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestHelpShowsEachCommandItsOwnSettings: -h (and `studio help <command>`)
// lists exactly the settings of the groups the command takes, each with
// its built-in default.
func TestHelpShowsEachCommandItsOwnSettings(t *testing.T) {
	flagRE := regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`)
	for cmd, groups := range commandGroups {
		args := append(strings.Fields(cmd), "-h")
		code, stdout, stderr := helpOf(nil, args...)
		if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "Usage: studio "+cmd+" [flags]\n") {
			t.Fatalf("%s -h: exit %d, stdout %q, stderr %q", cmd, code, stdout, stderr)
		}
		shown := map[string]bool{}
		for _, m := range flagRE.FindAllStringSubmatch(stderr, -1) {
			shown[m[1]] = true
		}
		for _, g := range allGroups {
			takes := false
			for _, h := range groups {
				takes = takes || h == g
			}
			for _, sp := range g.specs {
				if shown[sp.flag] != takes {
					t.Errorf("%s -h: --%s (group %s) shown %v, want %v", cmd, sp.flag, g.name, shown[sp.flag], takes)
				}
				if takes && sp.def != "" && !strings.Contains(stderr, "(default "+sp.def) && !strings.Contains(stderr, `(default "`+sp.def+`")`) {
					if cmd != "up" {
						t.Errorf("%s -h: --%s without its default %q", cmd, sp.flag, sp.def)
					}
				}
			}
		}
		// `studio help <command>` prints the same on stdout.
		code, stdout, stderr2 := helpOf(nil, append([]string{"help"}, strings.Fields(cmd)...)...)
		if code != 0 || stdout != stderr || stderr2 != "" {
			t.Errorf("help %s: exit %d, stdout differs from -h: %v, stderr %q", cmd, code, stdout != stderr, stderr2)
		}
	}
}

func TestHelpCommands(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // a prefix
		stderr     string // contained
		notInHelp  []string
		alsoInHelp []string
	}{
		{args: []string{"help"}, stdout: "Usage: studio <command> [flags]"},
		{args: []string{"--help"}, stdout: "Usage: studio <command> [flags]"},
		{args: []string{"help", "serve"}, stdout: "Usage: studio serve [flags]"},
		{args: []string{"help", "drill"}, stdout: "Usage: studio drill failover [flags]"},
		{args: []string{"help", "version"}, stdout: "Usage: studio version"},
		{args: []string{"help", "launch"}, code: 2, stderr: `unknown command "launch"`},
		{args: []string{"drill", "--help"}, stderr: "Usage: studio drill failover [flags]"},
		{args: []string{"version", "-h"}, stderr: "Usage: studio version"},
		{args: []string{"serve", "--help"}, stderr: "Usage: studio serve [flags]",
			alsoInHelp: []string{`--redis-url URL`, `(default "redis://127.0.0.1:6379/0")`, `(default "sqlite:studio.db")`, "--alert-rules", "--shutdown-drain"}},
		{args: []string{"warm", "-h"}, stderr: "Usage: studio warm [flags]",
			alsoInHelp: []string{`(default "redis://127.0.0.1:6379/0")`, `(default "sqlite:studio.db")`, "--warm-limit int", "(default 100000)", "--log-level"},
			notInHelp:  []string{"--addr", "--admin-token", "--alert-rules", "--warm-on-start", "--l1-ttl", "--shutdown", "--hotkey", "--redis-read-replicas", "--monitor-interval"}},
		{args: []string{"bench", "-h"}, stderr: "Usage: studio bench [flags]",
			// A back-quoted word in a flag's usage names its argument:
			// the help must not say "-serve make bench".
			alsoInHelp: []string{"--serve string", "redis-get", "common-http", "--admin-token", "--redis-url"},
			notInHelp:  []string{"make bench`", "-serve make", "--alert-rules", "--addr", "--warm-limit"}},
		{args: []string{"up", "-h"}, stderr: "Usage: studio up [flags]",
			alsoInHelp: []string{`(default "127.0.0.1:8080")`, `(default "sqlite:.studio/studio.db")`, "--state-dir directory"}},
	} {
		code, stdout, stderr := helpOf(nil, tc.args...)
		if code != tc.code || !strings.HasPrefix(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d, stdout %.80q, stderr %.200q", tc.args, code, stdout, stderr)
			continue
		}
		for _, s := range tc.alsoInHelp {
			if !strings.Contains(stderr, s) {
				t.Errorf("%v: help lacks %q", tc.args, s)
			}
		}
		for _, s := range tc.notInHelp {
			if strings.Contains(stderr, s) {
				t.Errorf("%v: help shows %q", tc.args, s)
			}
		}
	}
}

// TestHelpNeverShowsASecretFromTheEnvironment: -h shows a secret's
// built-in default, never a value the environment gives it; a
// non-secret's value from the environment is shown.
func TestHelpNeverShowsASecretFromTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("hunter2secret-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"REDIS_URL": "redis://:hunter2secret@127.0.0.1:6379/0", "DATABASE_URL": "postgres://u:hunter2secret@db/x",
		"STUDIO_ADMIN_TOKEN_FILE": file, "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/hunter2secret",
		"STUDIO_WARM_LIMIT": "777",
	}
	for _, cmd := range [][]string{{"serve"}, {"up"}, {"warm"}, {"bench"}, {"drill", "failover"}} {
		code, _, stderr := helpOf(env, append(cmd, "-h")...)
		if code != 0 || strings.Contains(stderr, "hunter2") {
			t.Errorf("%v -h: exit %d; a secret shown:\n%s", cmd, code, stderr)
		}
		if !strings.Contains(stderr, `(default "redis://127.0.0.1:6379/0")`) || !strings.Contains(stderr, "env REDIS_URL (set; a secret, not shown)") {
			t.Errorf("%v -h: REDIS_URL's default or its source missing:\n%s", cmd, stderr)
		}
		if (cmd[0] == "serve" || cmd[0] == "warm") && !strings.Contains(stderr, `env STUDIO_WARM_LIMIT (set: "777")`) {
			t.Errorf("%v -h: STUDIO_WARM_LIMIT's value from the environment not shown", cmd)
		}
	}
}

// TestWarmRefusesAMissingStore: warm reads an existing store; it creates
// no SQLite file, and says so in one line naming DATABASE_URL, before it
// tries Redis.
func TestWarmRefusesAMissingStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "studio.db")
	for _, url := range []string{"sqlite:" + db, "sqlite::memory:"} {
		code, stdout, stderr := helpOf(map[string]string{"DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"}, "warm")
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "studio warm: invalid DATABASE_URL (--database-url): ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and one line naming DATABASE_URL", url, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("warm created %s (%v)", db, err)
	}
}

// TestEveryCommandLogsGoRedisThroughTheLogger: with Redis down, every
// command that opens Redis writes go-redis's own messages (pool dial
// failures, at debug) as JSON lines of its log, never in go-redis's raw
// log format; warm and bench fail with one line.
func TestEveryCommandLogsGoRedisThroughTheLogger(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "studio.db")
	store, err := sqlstore.Open(t.Context(), db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	down := map[string]string{"DATABASE_URL": db, "REDIS_URL": "redis://127.0.0.1:1/0"}
	code, _, stderr := helpOf(down, "warm")
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "studio warm: redis does not answer: ") {
		t.Fatalf("warm: exit %d, stderr %q", code, stderr)
	}
	debug := map[string]string{"DATABASE_URL": db, "REDIS_URL": "redis://127.0.0.1:1/0", "STUDIO_LOG_LEVEL": "debug"}
	sentinel := map[string]string{"DATABASE_URL": db, "REDIS_SENTINELS": "127.0.0.1:1", "REDIS_MASTER_NAME": "m", "STUDIO_LOG_LEVEL": "debug"}
	check := func(name, log string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(log), "\n")
		for _, line := range lines {
			if !json.Valid([]byte(line)) && !strings.HasPrefix(line, "studio "+name+": ") {
				t.Errorf("%s: not a JSON log line: %q", name, line)
			}
		}
		if !strings.Contains(log, `"msg":"go-redis: `) {
			t.Errorf("%s: no go-redis message in the debug log:\n%s", name, log)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"warm", debug, []string{"warm"}},
		{"bench", debug, []string{"bench", "--target", "inprocess", "--duration", "1s"}},
		{"drill", sentinel, []string{"drill", "failover"}},
	} {
		_, _, stderr := helpOf(tc.env, tc.args...)
		check(tc.name, stderr)
	}
	// serve logs to stdout, and runs until stopped.
	ctx, cancel := context.WithCancel(t.Context())
	srv := startServe(t, ctx, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "serve.db"),
		"REDIS_URL": "redis://127.0.0.1:1/0", "STUDIO_LOG_LEVEL": "debug"})
	waitMatch(t, srv.stdout, regexp.MustCompile(`"msg":"go-redis: `), srv.done)
	cancel()
	<-srv.done
	check("serve", srv.stdout.String())
}
