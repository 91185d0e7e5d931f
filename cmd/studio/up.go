package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/internal/logfile"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

// upLogMax caps up's log file: past it, studio.log becomes studio.log.1
// (replacing the last one), so the log never takes much over 100 MB
// however long up runs, across runs.
const upLogMax = 50 << 20

// upFlags are the settings only `studio up` has.
type upFlags struct {
	stateDir    string
	singleRedis bool
	demoLoad    bool
	demoRate    int
	demoUsers   int
}

const upUsage = `Usage: studio up [flags]

Runs everything on this machine for a first look: a local Redis (a master,
two replicas and three Sentinels; one server with --single-redis), SQLite
in --state-dir, demo sessions, and the service. It prints the dashboard
link, an admin token and commands to try; Ctrl-C stops it and every
process it started. A Redis process that dies is restarted.

It takes serve's settings, with defaults for one machine, and makes an
admin token when STUDIO_ADMIN_TOKEN is not set. The Redis settings are
checked but not used: up runs its own Redis.
`

func runUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, uf, err := upConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(uf.stateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	logPath := filepath.Join(uf.stateDir, "studio.log")
	logFile, err := logfile.Open(logPath, upLogMax)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer logFile.Close()

	local, err := startLocalRedis(ctx, uf, telemetry.NewLogger(logFile, cfg.LogLevel))
	if err != nil {
		return err
	}
	defer local.stop()
	cfg.Redis = local.config

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set STUDIO_ADDR or --addr to use another port): %w", cfg.Addr, err)
	}
	cfg.Addr = ln.Addr().String() // links in alerts name the address bound
	a, err := openApp(ctx, cfg, logFile)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.close()
	base := "http://" + ln.Addr().String()
	if cfg.TLSCertFile != "" {
		base = "https://" + ln.Addr().String()
	}
	demo, err := seedDemo(ctx, a.sessions, uf.demoUsers)
	if err != nil {
		ln.Close()
		return fmt.Errorf("create demo sessions: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if uf.demoLoad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			demoLoad(ctx, base, demo, uf.demoRate, a.log)
		}()
	}
	printBanner(stdout, cfg, uf, local, base, logPath, demo)
	err = a.serve(ctx, ln)
	cancel()
	wg.Wait()
	fmt.Fprintln(stdout, "Studio stopped.")
	return err
}

// upConfig reads up's settings: serve's, with up's defaults (loopback,
// SQLite in the state directory, no drain), and up's own flags. It makes
// an admin token when none is set.
func upConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, upFlags, error) {
	stateDefault := getenv("STUDIO_STATE_DIR")
	if stateDefault == "" {
		stateDefault = ".studio"
	}
	st := newSettings("up", getenv, stderr, map[string]string{
		"STUDIO_ADDR":  "127.0.0.1:8080",
		"DATABASE_URL": upDatabaseURL(stateDefault),
		// Nothing balances load in front of `up`: Ctrl-C stops at once.
		"STUDIO_SHUTDOWN_DRAIN": "0s",
	})
	st.header = upUsage
	var uf upFlags
	st.fs.StringVar(&uf.stateDir, "state-dir", stateDefault, "`directory` for the local Redis, the SQLite file and logs (env STUDIO_STATE_DIR)")
	st.fs.BoolVar(&uf.singleRedis, "single-redis", false, "start one redis-server instead of the HA topology (a master, two replicas, three Sentinels)")
	st.fs.BoolVar(&uf.demoLoad, "demo-load", false, "send demo validation traffic to the service")
	st.fs.IntVar(&uf.demoRate, "demo-rate", 200, "requests per second of demo traffic")
	st.fs.IntVar(&uf.demoUsers, "demo-users", 50, "number of demo users (each gets a few sessions)")
	if err := st.parse(args); err != nil {
		return Config{}, uf, err
	}
	// The SQLite file follows --state-dir unless DATABASE_URL says otherwise.
	if db := st.by["DATABASE_URL"]; !db.given() {
		db.value = upDatabaseURL(uf.stateDir)
	}
	cfg, err := st.Config()
	if err != nil {
		return cfg, uf, err
	}
	if uf.demoRate < 1 || uf.demoRate > 100_000 {
		return cfg, uf, usageErrorf("invalid --demo-rate %d: must be between 1 and 100000", uf.demoRate)
	}
	if uf.demoUsers < 1 || uf.demoUsers > 100_000 {
		return cfg, uf, usageErrorf("invalid --demo-users %d: must be between 1 and 100000", uf.demoUsers)
	}
	if len(cfg.AdminTokens) == 0 {
		cfg.AdminTokens = []string{newAdminToken()}
	}
	return cfg, uf, nil
}

// printBanner prints what up started and how to use it; every command
// line in it works when pasted (a test runs them).
func printBanner(stdout io.Writer, cfg Config, uf upFlags, local *localRedis, base, logPath string, demo []session.Token) {
	admin := cfg.AdminTokens[0]
	fmt.Fprintf(stdout, `Studio is up.

  API          %s
  Dashboard    %s
  Admin token  %s
  Redis        %s
  Store        %s  (%d demo sessions for %d users)
  Logs         %s
  Demo load    %s

Try it:
  curl -s -H 'Authorization: Bearer %s' %s/v1/session
  curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"user_id":"alice","ttl":"1h"}' %s/v1/sessions
  curl -s %s/readyz

%sPress Ctrl-C to stop; every process started here stops with it.
`, base, dashboardLoginURL(base, admin), admin, local.describe(), cfg.DatabaseURL, len(demo), uf.demoUsers, logPath,
		demoLine(uf), demo[0].Reveal(), base, admin, base, base, commandLines(commandPath(), local, uf.stateDir, cfg.DatabaseURL, base, admin))
}

// upDatabaseURL is up's store: a SQLite file in the state directory.
func upDatabaseURL(stateDir string) string { return "sqlite:" + filepath.Join(stateDir, "studio.db") }

// commandLines are the banner's studio commands, each under what it does,
// as a shell in the working directory runs them: prog is how the shell
// reaches this binary (see commandPath).
func commandLines(prog string, local *localRedis, stateDir, databaseURL, base, adminToken string) string {
	var b strings.Builder
	line := func(what string, args ...string) {
		for i, a := range args {
			args[i] = shellQuote(a)
		}
		fmt.Fprintf(&b, "%s:\n  %s %s\n\n", what, shellQuote(prog), strings.Join(args, " "))
	}
	redis := local.flags()
	line("Warm Redis from the store now", append([]string{"warm"}, append(redis, "--database-url", databaseURL)...)...)
	line("Load-test session validation over HTTP for 5 s", "bench", "--url", base, "--admin-token", adminToken, "--duration", "5s")
	if local.topo != nil {
		line("Measure a failover (kill -9 of the master; the old master rejoins as a replica)",
			append([]string{"drill", "failover"}, append(redis, "--database-url", "sqlite:"+filepath.Join(stateDir, "drill.db"))...)...)
	}
	return b.String()
}

// commandPath is how a shell in the working directory reaches the running
// binary: its name when PATH finds this very file, ./ and a path below the
// working directory, or else its absolute path.
func commandPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "studio"
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "studio"
	}
	name := filepath.Base(exe)
	if p, err := exec.LookPath(name); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && p == exe {
			return name
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return "./" + rel
		}
	}
	return exe
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that need no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func demoLine(uf upFlags) string {
	if !uf.demoLoad {
		return "off (--demo-load to turn on)"
	}
	return strconv.Itoa(uf.demoRate) + " requests/s"
}

// randomHex returns n bytes from the system's secure random source as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // never fails on Linux (Go 1.24+ crashes instead)
	return hex.EncodeToString(b)
}

// seedDemo creates three sessions for each of users demo users.
func seedDemo(ctx context.Context, svc *session.Service, users int) ([]session.Token, error) {
	var toks []session.Token
	for u := range users {
		for range 3 {
			tok, _, err := svc.Create(ctx, session.CreateParams{
				UserID:   fmt.Sprintf("demo-user-%03d", u),
				TTL:      12 * time.Hour,
				Metadata: map[string]string{"source": "studio up"},
			})
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
		}
	}
	return toks, nil
}

// demoLoad validates demo tokens over HTTP at rate requests per second,
// popular sessions more often (Zipf), until ctx ends.
func demoLoad(ctx context.Context, base string, toks []session.Token, rate int, log *slog.Logger) {
	client := &http.Client{Timeout: 2 * time.Second}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(len(toks)-1))
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(max(interval, time.Millisecond))
	defer tick.Stop()
	perTick := max(1, rate/1000)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range perTick {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/session", nil)
			req.Header.Set("Authorization", "Bearer "+toks[zipf.Uint64()].Reveal())
			resp, err := client.Do(req)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					log.Warn("demo load request failed", "error", err)
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// dashboardLoginURL is the link that exchanges the admin token for the
// dashboard's session cookie and lands on the page (the token leaves the
// address bar at once: the login redirects).
func dashboardLoginURL(base, adminToken string) string {
	return base + "/studio/redis/login?token=" + url.QueryEscape(adminToken)
}
