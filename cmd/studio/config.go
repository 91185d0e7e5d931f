package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/pagerduty"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/telemetry"
)

// Config is every setting of serve and up, after parsing and validation.
type Config struct {
	Addr        string
	AdminToken  string
	Redis       redisconn.Config
	DatabaseURL string
	L1TTL       time.Duration
	CacheTTL    time.Duration
	LogLevel    slog.Level

	SlowCommand      time.Duration
	MonitorInterval  time.Duration
	MetricsAdminOnly bool
	Trace            telemetry.TraceConfig

	InstanceID      string
	HotKeyThreshold uint64
	WarmOnStart     bool
	WarmLimit       int
	WarmRate        int

	// Alerts is the rule file's configuration (the embedded default set
	// when STUDIO_ALERT_RULES is empty); the secrets come from settings.
	Alerts          *alert.Config
	PagerDutyKey    string
	PagerDutyURL    string
	SlackWebhookURL string
	// ReceiverSecrets holds, by receiver name, the secret of each receiver
	// whose rule-file entry names a secret_env (checked like the shared
	// secret of its kind).
	ReceiverSecrets map[string]string
	// ExternalURL is how operators reach this Studio (links in alerts and
	// runbooks); empty: derived from Addr.
	ExternalURL string

	// ShutdownDrain is how long, after SIGTERM, /readyz answers 503 while
	// requests are still served; ShutdownTimeout bounds what follows.
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration
}

// setting is one flag with its environment variable. Raw values are kept
// as text and checked by Validate, so every bad value gets one line naming
// the setting.
type setting struct {
	env, flag, def, help string
	secret               bool // never echo the value in an error
	value                string

	// A secret setting also reads its value from a file: NAME_FILE or
	// --flag-file (the Docker and Kubernetes secrets convention). Where
	// each form came from is kept until resolve reads the file.
	envSet, envFileSet   bool   // NAME, NAME_FILE were set (non-empty)
	flagSet, flagFileSet bool   // --flag, --flag-file were given
	file                 string // the file named by the winning form
	// fromPort: the value is ":"+PORT (serve, STUDIO_ADDR unset).
	fromPort bool
}

func (s *setting) name() string { return s.env + " (--" + s.flag + ")" }

// settings is the raw, unvalidated configuration of one command.
type settings struct {
	cmd    string              // the command: serve, up, warm, …
	getenv func(string) string // for the standard OTEL_* variables and receivers' secret_env
	fs     *flag.FlagSet
	list   []*setting
	by     map[string]*setting
}

// newSettings declares the shared settings on a new flag set named cmd;
// defaults come from getenv, then from defs (keyed by env name), then
// from the built-in default.
func newSettings(cmd string, getenv func(string) string, stderr io.Writer, defs map[string]string) *settings {
	st := &settings{cmd: cmd, fs: flag.NewFlagSet("studio "+cmd, flag.ContinueOnError), by: map[string]*setting{}}
	st.fs.SetOutput(stderr)
	add := func(env, fl, def, help string, secret bool) {
		if d, ok := defs[env]; ok {
			def = d
		}
		s := &setting{env: env, flag: fl, def: def, help: help, secret: secret}
		s.value = def
		if v, ok := lookupEnv(getenv, env); ok {
			s.value, s.envSet = v, true
		}
		shown := ""
		if !secret {
			shown = def
		}
		st.fs.Func(fl, fmt.Sprintf("%s (env %s, default %q)", help, env, shown), func(v string) error {
			s.value, s.flagSet, s.fromPort = v, true, false
			return nil
		})
		if secret {
			if p, ok := lookupEnv(getenv, env+"_FILE"); ok {
				s.file, s.envFileSet = p, true
			}
			st.fs.Func(fl+"-file", fmt.Sprintf("file holding the value of --%s (env %s_FILE)", fl, env), func(v string) error {
				s.file, s.flagFileSet = v, true
				return nil
			})
		}
		st.list = append(st.list, s)
		st.by[env] = s
	}
	add("STUDIO_ADDR", "addr", ":8080", "HTTP listen address", false)
	add("STUDIO_ADMIN_TOKEN", "admin-token", "", "bearer token for admin routes (at least 16 characters; empty disables them)", true)
	add("REDIS_URL", "redis-url", "redis://127.0.0.1:6379/0", "Redis URL, redis:// or rediss://", true)
	add("REDIS_SENTINELS", "redis-sentinels", "", "comma-separated Sentinel host:port list (needs REDIS_MASTER_NAME)", false)
	add("REDIS_MASTER_NAME", "redis-master-name", "", "master name known to the Sentinels", false)
	add("REDIS_USERNAME", "redis-username", "", "ACL user for the Redis data nodes, every mode (needs REDIS_PASSWORD)", false)
	add("REDIS_PASSWORD", "redis-password", "", "password of the Redis data nodes (requirepass or the ACL user's), every mode; instead of one in REDIS_URL", true)
	add("REDIS_SENTINEL_USERNAME", "redis-sentinel-username", "", "ACL user for the Sentinels (needs REDIS_SENTINEL_PASSWORD)", false)
	add("REDIS_SENTINEL_PASSWORD", "redis-sentinel-password", "", "password of the Sentinels (their requirepass)", true)
	add("REDIS_CLUSTER", "redis-cluster", "", "comma-separated Redis Cluster seed host:port list", false)
	add("REDIS_READ_REPLICAS", "redis-read-replicas", "false", "serve session reads from replicas (Sentinel or Cluster mode; true or false)", false)
	add("REDIS_TLS_CA_FILE", "redis-tls-ca-file", "", "PEM CA bundle that verifies Redis", false)
	add("REDIS_TLS_CERT_FILE", "redis-tls-cert-file", "", "PEM client certificate for mutual TLS", false)
	add("REDIS_TLS_KEY_FILE", "redis-tls-key-file", "", "PEM client key for mutual TLS", false)
	add("REDIS_TLS_SERVER_NAME", "redis-tls-server-name", "", "host name expected in the Redis server certificate (default: the address's host)", false)
	add("REDIS_TLS_SENTINEL_CA_FILE", "redis-tls-sentinel-ca-file", "", "PEM CA bundle for Sentinel connections (default: REDIS_TLS_CA_FILE)", false)
	add("REDIS_TLS_SENTINEL_CERT_FILE", "redis-tls-sentinel-cert-file", "", "PEM client certificate for Sentinel connections", false)
	add("REDIS_TLS_SENTINEL_KEY_FILE", "redis-tls-sentinel-key-file", "", "PEM client key for Sentinel connections", false)
	add("REDIS_TLS_INSECURE_SKIP_VERIFY", "redis-tls-insecure-skip-verify", "false", "DEVELOPMENT ONLY: do not verify the Redis certificate (logged loudly, shown in /health/redis)", false)
	add("REDIS_ALLOW_PLAINTEXT", "redis-allow-plaintext", "false", "allow plaintext redis:// to a non-loopback address", false)
	add("DATABASE_URL", "database-url", "sqlite:studio.db", "session store: postgres://… or sqlite:PATH", true)
	add("STUDIO_L1_TTL", "l1-ttl", "5s", "longest life of an in-process cache entry (100ms-60s)", false)
	add("STUDIO_CACHE_TTL", "cache-ttl", "10m", "longest life of a session copy in Redis (1s-24h)", false)
	add("STUDIO_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn or error", false)
	add("STUDIO_SLOW_COMMAND_THRESHOLD", "slow-command-threshold", "50ms", "Redis commands at least this slow are logged at warn", false)
	add("STUDIO_MONITOR_INTERVAL", "monitor-interval", "1s", "how often Redis INFO is polled for /health/redis (100ms-1m)", false)
	add("STUDIO_METRICS_ADMIN_ONLY", "metrics-admin-only", "false", "serve /metrics only with the admin token (true or false)", false)
	add("STUDIO_INSTANCE_ID", "instance-id", "", "this instance's name in the cross-instance hot-key view (default: host name and a random suffix)", false)
	add("STUDIO_HOTKEY_THRESHOLD", "hotkey-threshold", "1000", "accesses per minute that make a key hot", false)
	add("STUDIO_WARM_ON_START", "warm-on-start", "true", "warm Redis from the store at start-up and whenever Redis comes back empty (true or false)", false)
	add("STUDIO_WARM_LIMIT", "warm-limit", "100000", "most recently active sessions to warm", false)
	add("STUDIO_WARM_RATE", "warm-rate", "5000", "warming rate limit in sessions per second (0: unlimited)", false)
	add("STUDIO_ALERT_RULES", "alert-rules", "", "YAML file of alert rules, routes and receivers (default: the embedded rule set; see docs/ALERTING.md)", false)
	add("PAGERDUTY_ROUTING_KEY", "pagerduty-routing-key", "", "PagerDuty Events API v2 integration (routing) key; critical alerts go there", true)
	add("PAGERDUTY_EVENTS_URL", "pagerduty-events-url", pagerduty.DefaultURL, "PagerDuty Events API v2 endpoint", false)
	add("SLACK_WEBHOOK_URL", "slack-webhook-url", "", "Slack incoming webhook URL; warning alerts go there", true)
	add("STUDIO_EXTERNAL_URL", "external-url", "", "base URL operators reach Studio at, for links in alerts (default: http:// and STUDIO_ADDR)", false)
	add("STUDIO_SHUTDOWN_DRAIN", "shutdown-drain", "5s", "on SIGTERM, how long /readyz answers 503 while requests are still served, so load balancers stop sending (0s-5m)", false)
	add("STUDIO_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "after the drain, how long in-flight requests and background work get to finish (1s-10m)", false)
	st.getenv = getenv
	// Platforms that assign the port (Railway, Heroku, Cloud Run) set
	// PORT; it is the listen port when STUDIO_ADDR is not set.
	if addr := st.by["STUDIO_ADDR"]; cmd == "serve" && !addr.envSet {
		if p, ok := lookupEnv(getenv, "PORT"); ok {
			addr.value, addr.fromPort = ":"+strings.TrimSpace(p), true
		}
	}
	return st
}

// resolve reads the secret settings given as files. Both forms of one
// secret from the same source (NAME and NAME_FILE, or --flag and
// --flag-file) are refused; a flag overrides the environment. The value
// of a file is its content without trailing white space; an empty file is
// refused.
func (st *settings) resolve() error {
	for _, s := range st.list {
		if !s.secret {
			continue
		}
		fileFlag := "--" + s.flag + "-file"
		useFile := false
		switch {
		case s.flagSet && s.flagFileSet:
			return usageErrorf("invalid %s: give --%s or %s, not both", s.name(), s.flag, fileFlag)
		case s.flagSet:
		case s.flagFileSet:
			useFile = true
		case s.envSet && s.envFileSet:
			return usageErrorf("invalid %s: both %s and %s_FILE are set; set one", s.name(), s.env, s.env)
		case s.envFileSet:
			useFile = true
		}
		if !useFile {
			continue
		}
		v, err := readSecretFile(s.file)
		if err != nil {
			return usageErrorf("invalid %s_FILE (%s) %q: %v", s.env, fileFlag, s.file, err)
		}
		s.value = v
	}
	return nil
}

// readSecretFile reads a secret from a file, without trailing white space
// (a file written by echo ends in a newline). Its errors never hold the
// content.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read the file: %v", err)
	}
	v := strings.TrimRight(string(b), " \t\r\n")
	if v == "" {
		return "", fmt.Errorf("the file is empty")
	}
	return v, nil
}

// secretEnv reads a secret from the environment variable name or from the
// file named by name_FILE; both set is an error.
func secretEnv(getenv func(string) string, name string) (string, error) {
	v, hasV := lookupEnv(getenv, name)
	p, hasP := lookupEnv(getenv, name+"_FILE")
	switch {
	case hasV && hasP:
		return "", fmt.Errorf("both %s and %s_FILE are set; set one", name, name)
	case hasP:
		v, err := readSecretFile(p)
		if err != nil {
			return "", fmt.Errorf("%s_FILE %q: %v", name, p, err)
		}
		return v, nil
	}
	return v, nil
}

// lookupEnv treats an empty variable as unset.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// parse reads the flags. A flag error is returned as a usageError; -h as
// flag.ErrHelp.
func (st *settings) parse(args []string) error {
	if err := st.fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageErrorf("%v", err)
	}
	if st.fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", st.fs.Arg(0))
	}
	return nil
}

func (st *settings) get(env string) string { return strings.TrimSpace(st.by[env].value) }

// bad formats the one-line error for a setting.
func (st *settings) bad(env, format string, args ...any) error {
	s := st.by[env]
	shown := ""
	if !s.secret && s.value != "" {
		shown = fmt.Sprintf(" %q", s.value)
	}
	return usageErrorf("invalid %s%s: %s", s.name(), shown, fmt.Sprintf(format, args...))
}

// Config validates the settings and returns the Config; the error names
// the first bad setting.
func (st *settings) Config() (Config, error) {
	var c Config
	var err error
	if err := st.resolve(); err != nil {
		return c, err
	}

	c.Addr = st.get("STUDIO_ADDR")
	if st.by["STUDIO_ADDR"].fromPort {
		port := strings.TrimPrefix(c.Addr, ":")
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return c, usageErrorf("invalid PORT %q: must be a port number from 1 to 65535 (it sets the listen port while STUDIO_ADDR is unset)", port)
		}
	}
	if err := checkHostPort(c.Addr, true); err != nil {
		return c, st.bad("STUDIO_ADDR", "%v", err)
	}

	c.AdminToken = st.get("STUDIO_ADMIN_TOKEN")
	if c.AdminToken != "" {
		if len(c.AdminToken) < 16 {
			return c, st.bad("STUDIO_ADMIN_TOKEN", "must be at least 16 characters")
		}
		if strings.ContainsFunc(c.AdminToken, spaceOrControl) {
			return c, st.bad("STUDIO_ADMIN_TOKEN", "must not contain spaces or control characters")
		}
	}

	c.Redis.Sentinels, err = hostPortList(st.get("REDIS_SENTINELS"))
	if err != nil {
		return c, st.bad("REDIS_SENTINELS", "%v", err)
	}
	c.Redis.MasterName = st.get("REDIS_MASTER_NAME")
	c.Redis.Cluster, err = hostPortList(st.get("REDIS_CLUSTER"))
	if err != nil {
		return c, st.bad("REDIS_CLUSTER", "%v", err)
	}
	switch {
	case len(c.Redis.Sentinels) > 0 && len(c.Redis.Cluster) > 0:
		return c, st.bad("REDIS_CLUSTER", "cannot be combined with REDIS_SENTINELS")
	case len(c.Redis.Sentinels) > 0 && c.Redis.MasterName == "":
		return c, st.bad("REDIS_MASTER_NAME", "is required with REDIS_SENTINELS")
	case len(c.Redis.Sentinels) == 0 && c.Redis.MasterName != "":
		return c, st.bad("REDIS_MASTER_NAME", "is only used with REDIS_SENTINELS, which is empty")
	}
	if c.Redis.ReadReplicas, err = strconv.ParseBool(st.get("REDIS_READ_REPLICAS")); err != nil {
		return c, st.bad("REDIS_READ_REPLICAS", "must be true or false")
	}
	if c.Redis.ReadReplicas && c.Redis.Mode() == "standalone" {
		return c, st.bad("REDIS_READ_REPLICAS", "needs REDIS_SENTINELS or REDIS_CLUSTER: a single Redis has no replicas to read from")
	}
	c.Redis.URL = st.get("REDIS_URL")
	if err := checkRedisURL(c.Redis.URL); err != nil {
		return c, st.bad("REDIS_URL", "%v", err)
	}
	if err := st.redisAuth(&c.Redis); err != nil {
		return c, err
	}
	for _, env := range []string{"REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE",
		"REDIS_TLS_SENTINEL_CA_FILE", "REDIS_TLS_SENTINEL_CERT_FILE", "REDIS_TLS_SENTINEL_KEY_FILE"} {
		if p := st.get(env); p != "" {
			if _, err := os.Stat(p); err != nil {
				return c, st.bad(env, "cannot read the file: %v", err)
			}
		}
	}
	c.Redis.CAFile = st.get("REDIS_TLS_CA_FILE")
	c.Redis.CertFile = st.get("REDIS_TLS_CERT_FILE")
	c.Redis.KeyFile = st.get("REDIS_TLS_KEY_FILE")
	if (c.Redis.CertFile == "") != (c.Redis.KeyFile == "") {
		return c, st.bad("REDIS_TLS_KEY_FILE", "client certificate and key must be given together")
	}
	c.Redis.TLSServerName = st.get("REDIS_TLS_SERVER_NAME")
	c.Redis.SentinelCAFile = st.get("REDIS_TLS_SENTINEL_CA_FILE")
	c.Redis.SentinelCertFile = st.get("REDIS_TLS_SENTINEL_CERT_FILE")
	c.Redis.SentinelKeyFile = st.get("REDIS_TLS_SENTINEL_KEY_FILE")
	if (c.Redis.SentinelCertFile == "") != (c.Redis.SentinelKeyFile == "") {
		return c, st.bad("REDIS_TLS_SENTINEL_KEY_FILE", "Sentinel client certificate and key must be given together")
	}
	if c.Redis.TLSInsecureSkipVerify, err = strconv.ParseBool(st.get("REDIS_TLS_INSECURE_SKIP_VERIFY")); err != nil {
		return c, st.bad("REDIS_TLS_INSECURE_SKIP_VERIFY", "must be true or false")
	}
	allowPlain, err := strconv.ParseBool(st.get("REDIS_ALLOW_PLAINTEXT"))
	if err != nil {
		return c, st.bad("REDIS_ALLOW_PLAINTEXT", "must be true or false")
	}
	if redisconn.PlaintextRemote(c.Redis) && !allowPlain {
		return c, st.bad("REDIS_URL", "plaintext to a non-loopback Redis; use rediss:// (with REDIS_TLS_CA_FILE) or set REDIS_ALLOW_PLAINTEXT=true")
	}

	c.DatabaseURL = st.get("DATABASE_URL")
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return c, st.bad("DATABASE_URL", "%v", err)
	}

	if c.L1TTL, err = durationIn(st.get("STUDIO_L1_TTL"), 100*time.Millisecond, time.Minute); err != nil {
		return c, st.bad("STUDIO_L1_TTL", "%v", err)
	}
	if c.CacheTTL, err = durationIn(st.get("STUDIO_CACHE_TTL"), time.Second, 24*time.Hour); err != nil {
		return c, st.bad("STUDIO_CACHE_TTL", "%v", err)
	}
	if err := c.LogLevel.UnmarshalText([]byte(st.get("STUDIO_LOG_LEVEL"))); err != nil {
		return c, st.bad("STUDIO_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.SlowCommand, err = durationIn(st.get("STUDIO_SLOW_COMMAND_THRESHOLD"), time.Millisecond, time.Minute); err != nil {
		return c, st.bad("STUDIO_SLOW_COMMAND_THRESHOLD", "%v", err)
	}
	if c.MonitorInterval, err = durationIn(st.get("STUDIO_MONITOR_INTERVAL"), 100*time.Millisecond, time.Minute); err != nil {
		return c, st.bad("STUDIO_MONITOR_INTERVAL", "%v", err)
	}
	if c.MetricsAdminOnly, err = strconv.ParseBool(st.get("STUDIO_METRICS_ADMIN_ONLY")); err != nil {
		return c, st.bad("STUDIO_METRICS_ADMIN_ONLY", "must be true or false")
	}
	c.InstanceID = st.get("STUDIO_INSTANCE_ID")
	if len(c.InstanceID) > 64 || strings.ContainsFunc(c.InstanceID, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) {
		return c, st.bad("STUDIO_INSTANCE_ID", "must be at most 64 printable characters without spaces or quotes")
	}
	if c.HotKeyThreshold, err = strconv.ParseUint(st.get("STUDIO_HOTKEY_THRESHOLD"), 10, 64); err != nil || c.HotKeyThreshold < 1 || c.HotKeyThreshold > 100_000_000 {
		return c, st.bad("STUDIO_HOTKEY_THRESHOLD", "must be a whole number from 1 to 100000000")
	}
	if c.WarmOnStart, err = strconv.ParseBool(st.get("STUDIO_WARM_ON_START")); err != nil {
		return c, st.bad("STUDIO_WARM_ON_START", "must be true or false")
	}
	if c.WarmLimit, err = strconv.Atoi(st.get("STUDIO_WARM_LIMIT")); err != nil || c.WarmLimit < 0 || c.WarmLimit > 100_000_000 {
		return c, st.bad("STUDIO_WARM_LIMIT", "must be a whole number from 0 to 100000000")
	}
	if c.WarmRate, err = strconv.Atoi(st.get("STUDIO_WARM_RATE")); err != nil || c.WarmRate < 0 || c.WarmRate > 10_000_000 {
		return c, st.bad("STUDIO_WARM_RATE", "must be a whole number of sessions per second from 0 (unlimited) to 10000000")
	}
	if c.ShutdownDrain, err = durationIn(st.get("STUDIO_SHUTDOWN_DRAIN"), 0, 5*time.Minute); err != nil {
		return c, st.bad("STUDIO_SHUTDOWN_DRAIN", "%v", err)
	}
	if c.ShutdownTimeout, err = durationIn(st.get("STUDIO_SHUTDOWN_TIMEOUT"), time.Second, 10*time.Minute); err != nil {
		return c, st.bad("STUDIO_SHUTDOWN_TIMEOUT", "%v", err)
	}
	if c.Trace, err = telemetry.TraceConfigFromEnv(st.getenv); err != nil {
		return c, usageErrorf("%v", err)
	}
	// Only the commands that run the alert engine read its settings: a
	// broken rule file must not stop `studio warm` or `studio drill`.
	if st.cmd == "serve" || st.cmd == "up" {
		if err := st.alertConfig(&c); err != nil {
			return c, err
		}
	} else {
		c.Alerts = alert.DefaultConfig()
	}
	return c, nil
}

// alertConfig reads the alert settings: the rule file (refused with its
// line and reason), the receivers' secrets and endpoints.
func (st *settings) alertConfig(c *Config) error {
	if path := st.get("STUDIO_ALERT_RULES"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return st.bad("STUDIO_ALERT_RULES", "cannot read the file: %v", err)
		}
		if c.Alerts, err = alert.Load(path, data); err != nil {
			return st.bad("STUDIO_ALERT_RULES", "%v", err)
		}
	} else {
		c.Alerts = alert.DefaultConfig()
	}
	c.PagerDutyKey = st.get("PAGERDUTY_ROUTING_KEY")
	if strings.ContainsFunc(c.PagerDutyKey, spaceOrControl) {
		return st.bad("PAGERDUTY_ROUTING_KEY", "must not contain spaces or control characters")
	}
	c.PagerDutyURL = st.get("PAGERDUTY_EVENTS_URL")
	if err := checkHTTPURL(c.PagerDutyURL, false); err != nil {
		return st.bad("PAGERDUTY_EVENTS_URL", "%v", err)
	}
	c.SlackWebhookURL = st.get("SLACK_WEBHOOK_URL")
	if c.SlackWebhookURL != "" {
		if err := checkHTTPURL(c.SlackWebhookURL, true); err != nil {
			return st.bad("SLACK_WEBHOOK_URL", "%v", err)
		}
	}
	if err := st.receiverSecrets(c); err != nil {
		return err
	}
	c.ExternalURL = strings.TrimRight(st.get("STUDIO_EXTERNAL_URL"), "/")
	if c.ExternalURL != "" {
		if err := checkHTTPURL(c.ExternalURL, false); err != nil {
			return st.bad("STUDIO_EXTERNAL_URL", "%v", err)
		}
	}
	return nil
}

// redisAuth reads the Redis credentials: the data nodes' (every mode) and
// the Sentinels'. A password both in REDIS_URL and in REDIS_PASSWORD is
// refused, as is a user name without a password. In Sentinel and Cluster
// modes, credentials in REDIS_URL apply when REDIS_PASSWORD is not set.
func (st *settings) redisAuth(r *redisconn.Config) error {
	r.Username, r.Password = st.get("REDIS_USERNAME"), st.get("REDIS_PASSWORD")
	r.SentinelUsername, r.SentinelPassword = st.get("REDIS_SENTINEL_USERNAME"), st.get("REDIS_SENTINEL_PASSWORD")
	for _, env := range []string{"REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD"} {
		if strings.ContainsFunc(st.get(env), spaceOrControl) {
			return st.bad(env, "must not contain spaces or control characters")
		}
	}
	if r.Username != "" && r.Password == "" {
		return st.bad("REDIS_USERNAME", "needs REDIS_PASSWORD")
	}
	if r.SentinelUsername != "" && r.SentinelPassword == "" {
		return st.bad("REDIS_SENTINEL_USERNAME", "needs REDIS_SENTINEL_PASSWORD")
	}
	if r.SentinelPassword != "" && r.Mode() != "sentinel" {
		return st.bad("REDIS_SENTINEL_PASSWORD", "is only used with REDIS_SENTINELS, which is empty")
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.User == nil {
		return nil
	}
	switch {
	case r.Password != "":
		if st.by["REDIS_URL"].envSet || st.by["REDIS_URL"].flagSet || st.by["REDIS_URL"].envFileSet || st.by["REDIS_URL"].flagFileSet {
			return st.bad("REDIS_PASSWORD", "REDIS_URL carries credentials too; give them in one place")
		}
	case r.Mode() != "standalone":
		// Sentinel and Cluster modes take only the credentials from the
		// URL: the nodes come from the Sentinels or the seeds.
		// As go-redis reads a URL: redis://user:password@ or
		// redis://:password@ (requirepass).
		pw, _ := u.User.Password()
		r.Username, r.Password = u.User.Username(), pw
	}
	return nil
}

// checkHTTPURL accepts an absolute http(s) URL with a host; http only for
// loopback hosts when httpsOnly is set (webhook URLs carry their secret).
func checkHTTPURL(s string, httpsOnly bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("want an absolute http:// or https:// URL")
	}
	if httpsOnly && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("must use https:// (plain http only to a loopback address)")
		}
	}
	return nil
}

func durationIn(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration (examples: 500ms, 5s, 10m)")
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("must be between %s and %s", lo, hi)
	}
	return d, nil
}

// checkHostPort accepts host:port with a numeric port; the host may be
// empty when emptyHost is set (listen on every interface).
func checkHostPort(s string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if host == "" && !emptyHost {
		return fmt.Errorf("the host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535")
	}
	return nil
}

func hostPortList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if err := checkHostPort(part, false); err != nil {
			return nil, fmt.Errorf("entry %q: %v", part, err)
		}
		if p, _ := strconv.Atoi(part[strings.LastIndexByte(part, ':')+1:]); p == 0 {
			return nil, fmt.Errorf("entry %q: port must not be 0", part)
		}
		out = append(out, part)
	}
	return out, nil
}

// checkRedisURL never includes the URL in its errors: it can hold a
// password.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("scheme must be redis:// or rediss://")
	}
	if u.Host == "" {
		return fmt.Errorf("the host is missing")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number from 1 to 65535")
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("the path must be a database number like /0")
		}
	}
	return nil
}

// checkDatabaseURL never includes the URL in its errors.
func checkDatabaseURL(s string) error {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		if strings.TrimPrefix(s, "sqlite:") == "" {
			return fmt.Errorf("sqlite: needs a file path, as in sqlite:studio.db")
		}
		return nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("malformed postgres URL; expected postgres://user@host:port/db")
		}
		return nil
	}
	return fmt.Errorf("must be postgres://… (or postgresql://…) or sqlite:PATH")
}

// receiverSecrets reads the secret_env variable of every receiver that
// names one. A variable that is unset or empty, or a value its kind
// refuses, stops start-up; the error names the receiver and the variable,
// never the value.
func (st *settings) receiverSecrets(c *Config) error {
	for _, rc := range c.Alerts.Receivers {
		if rc.SecretEnv == "" {
			continue
		}
		bad := func(format string, a ...any) error {
			return usageErrorf("alert receiver %q: %s %s", rc.Name, rc.SecretEnv, fmt.Sprintf(format, a...))
		}
		v, err := secretEnv(st.getenv, rc.SecretEnv)
		if err != nil {
			return usageErrorf("alert receiver %q: %v", rc.Name, err)
		}
		if v == "" {
			return bad("(its secret_env) is not set")
		}
		switch rc.Kind {
		case alert.KindPagerDuty:
			if strings.ContainsFunc(v, spaceOrControl) {
				return bad("must not contain spaces or control characters")
			}
		case alert.KindSlack:
			if err := checkHTTPURL(v, true); err != nil {
				return bad("%v", err)
			}
		default: // an Authorization header value
			if strings.ContainsFunc(v, control) {
				return bad("must not contain control characters")
			}
		}
		if c.ReceiverSecrets == nil {
			c.ReceiverSecrets = map[string]string{}
		}
		c.ReceiverSecrets[rc.Name] = v
	}
	return nil
}

// control reports an ASCII control character; spaceOrControl also a
// space. Secrets and tokens may contain neither.
func control(r rune) bool        { return r < ' ' || r == 0x7f }
func spaceOrControl(r rune) bool { return r == ' ' || control(r) }
