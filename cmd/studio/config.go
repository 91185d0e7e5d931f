package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/pagerduty"
	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/internal/listen"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

// Config is every setting, validated, group by group (see allGroups). A
// command's Config holds the built-in defaults of the groups it does not
// take.
type Config struct {
	// listen: the address, Studio's own TLS (both files or neither), the
	// connection cap and idle timeout, and the proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed.
	Addr                    string
	TLSCertFile, TLSKeyFile string
	MaxConns                int
	IdleTimeout             time.Duration
	TrustedProxies          []netip.Prefix

	// admin: the accepted admin tokens (empty: admin routes disabled);
	// AdminTokenFile names the file they came from, re-read when it
	// changes.
	AdminTokens    []string
	AdminTokenFile string

	// redis, redis-tls and replica-reads fill Redis.
	Redis redisconn.Config

	DatabaseURL  string        // store
	StoreTimeout time.Duration // store

	L1TTL     time.Duration // l1; 0: no in-process cache (see sessionL1TTL)
	CacheTTL  time.Duration // cache
	ClockSkew time.Duration // cache

	LogLevel slog.Level // log

	// accesslog: which requests get an access-log line at info, and from
	// what duration a request is slow (always logged).
	AccessLog   server.AccessLogMode
	SlowRequest time.Duration

	// observability
	SlowCommand      time.Duration
	MonitorInterval  time.Duration
	MetricsAdminOnly bool
	Trace            telemetry.TraceConfig
	// TraceBackground: background work (polls, warming, flushes) makes
	// root traces too.
	TraceBackground bool

	// hotkeys
	InstanceID      string
	HotKeyThreshold uint64

	WarmLimit   int  // warm
	WarmRate    int  // warm
	WarmOnStart bool // autowarm

	// alerts: the rule file's configuration (the embedded default set when
	// STUDIO_ALERT_RULES is empty); the secrets come from settings.
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

	// Not settings: intervals a test shortens (0 means the default).
	// BreakerSummaryInterval is how often an open circuit breaker logs a
	// summary (30 s); HotKeyProbeInterval how often the native HOTKEYS
	// probe runs (30 s).
	BreakerSummaryInterval time.Duration
	HotKeyProbeInterval    time.Duration

	// shutdown: how long, after SIGTERM, /readyz answers 503 while
	// requests are still served; ShutdownTimeout bounds what follows.
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration
}

// commandGroups lists the groups of settings each command takes, in the
// order its -h shows them. To add a setting, add its spec to a group and
// its check to the group's check; every command that takes the group
// gets it.
var commandGroups = map[string][]*group{
	"serve": serveGroups,
	// up starts its own Redis; it takes serve's settings all the same.
	"up":             serveGroups,
	"warm":           {storeGroup, redisGroup, redisTLSGroup, cacheGroup, warmGroup, logGroup},
	"drill failover": {redisGroup, redisTLSGroup, storeGroup, l1Group, cacheGroup, logGroup},
	// bench: the admin token for --target http; the rest for the targets
	// it runs in process and the baselines on Redis.
	"bench": {adminGroup, redisGroup, redisTLSGroup, storeGroup, l1Group, cacheGroup, logGroup},
}

var serveGroups = []*group{listenGroup, adminGroup, redisGroup, redisTLSGroup, replicaReadsGroup, storeGroup,
	l1Group, cacheGroup, logGroup, accessLogGroup, observabilityGroup, hotKeysGroup, warmGroup, autoWarmGroup, alertsGroup, shutdownGroup}

// allGroups is every group, in the order Config checks them.
var allGroups = []*group{listenGroup, adminGroup, redisGroup, redisTLSGroup, replicaReadsGroup, storeGroup,
	l1Group, cacheGroup, logGroup, accessLogGroup, observabilityGroup, hotKeysGroup, warmGroup, autoWarmGroup, alertsGroup, shutdownGroup}

var listenGroup = &group{name: "listen", title: "HTTP", check: checkListen, specs: []spec{
	{env: "STUDIO_ADDR", flag: "addr", def: ":8080", help: "HTTP listen `address`"},
	{env: "STUDIO_TLS_CERT_FILE", flag: "tls-cert-file", help: "PEM certificate (and chain) `file`: serve HTTPS (TLS 1.2+) instead of HTTP; re-read when it changes and on SIGHUP (needs STUDIO_TLS_KEY_FILE)"},
	{env: "STUDIO_TLS_KEY_FILE", flag: "tls-key-file", help: "PEM private key `file` of STUDIO_TLS_CERT_FILE"},
	{env: "STUDIO_MAX_CONNS", flag: "max-conns", def: "4096", help: "most HTTP connections open at once; at the cap a new one closes the longest-idle keep-alive connection (16-1000000)"},
	{env: "STUDIO_IDLE_TIMEOUT", flag: "idle-timeout", def: "30s", help: "how long an idle keep-alive connection is kept open (1s-10m)"},
	{env: "STUDIO_TRUSTED_PROXIES", flag: "trusted-proxies", help: "comma-separated `CIDRs` of the proxies whose X-Forwarded-For and X-Forwarded-Proto decide the client address and scheme (default: none)"},
}}

func checkListen(st *settings, c *Config) error {
	if err := checkListenAddr(st, c); err != nil {
		return err
	}
	if err := checkListenTLS(st, c); err != nil {
		return err
	}
	var err error
	if c.MaxConns, err = strconv.Atoi(st.get("STUDIO_MAX_CONNS")); err != nil || c.MaxConns < 16 || c.MaxConns > 1_000_000 {
		return st.bad("STUDIO_MAX_CONNS", "must be a whole number from 16 to 1000000")
	}
	if c.IdleTimeout, err = durationIn(st.get("STUDIO_IDLE_TIMEOUT"), time.Second, 10*time.Minute); err != nil {
		return st.bad("STUDIO_IDLE_TIMEOUT", "%v", err)
	}
	if c.TrustedProxies, err = clientaddr.ParsePrefixes(st.get("STUDIO_TRUSTED_PROXIES")); err != nil {
		return st.bad("STUDIO_TRUSTED_PROXIES", "%v", err)
	}
	return nil
}

// checkListenTLS checks Studio's own TLS files: both or neither, a
// certificate and key that match and have not expired.
func checkListenTLS(st *settings, c *Config) error {
	c.TLSCertFile, c.TLSKeyFile = st.get("STUDIO_TLS_CERT_FILE"), st.get("STUDIO_TLS_KEY_FILE")
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "":
		return nil
	case c.TLSKeyFile == "":
		return st.bad("STUDIO_TLS_KEY_FILE", "is required with STUDIO_TLS_CERT_FILE")
	case c.TLSCertFile == "":
		return st.bad("STUDIO_TLS_CERT_FILE", "is required with STUDIO_TLS_KEY_FILE")
	}
	if _, err := listen.LoadCertificate(c.TLSCertFile, c.TLSKeyFile, nil); err != nil {
		return st.bad("STUDIO_TLS_CERT_FILE", "%v", err)
	}
	return nil
}

func checkListenAddr(st *settings, c *Config) error {
	c.Addr = st.get("STUDIO_ADDR")
	if st.by["STUDIO_ADDR"].fromPort {
		port := strings.TrimPrefix(c.Addr, ":")
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return usageErrorf("invalid PORT %q: must be a port number from 1 to 65535 (it sets the listen port while STUDIO_ADDR is unset)", port)
		}
	}
	if err := checkHostPort(c.Addr, true); err != nil {
		return st.bad("STUDIO_ADDR", "%v", err)
	}
	return nil
}

var adminGroup = &group{name: "admin", title: "Admin", check: checkAdmin, specs: []spec{
	{env: "STUDIO_ADMIN_TOKEN", flag: "admin-token", secret: true, help: "bearer `tokens` for admin routes, comma-separated (several during a rotation), each of at least 128 bits of entropy (make one with: studio token); from a file, one a line, re-read when it changes; empty disables admin routes"},
}}

func checkAdmin(st *settings, c *Config) error {
	s := st.by["STUDIO_ADMIN_TOKEN"]
	c.AdminTokens = adminauth.ParseList(s.value)
	if s.fromFile {
		c.AdminTokenFile = s.file
	}
	if len(c.AdminTokens) == 0 && strings.TrimSpace(s.value) != "" {
		return st.bad("STUDIO_ADMIN_TOKEN", "holds no token (only separators or # comments)")
	}
	if err := checkAdminTokens(c.AdminTokens); err != nil {
		return st.bad("STUDIO_ADMIN_TOKEN", "%v", err)
	}
	return nil
}

// maxAdminTokenLen is the longest admin token: the dashboard's login
// takes no longer one.
const maxAdminTokenLen = 512

// checkAdminTokens checks each admin token: printable without spaces, at
// most maxAdminTokenLen characters, at least adminauth.MinBits of
// estimated entropy. The error names the token by its place in the list,
// never by its value.
func checkAdminTokens(toks []string) error {
	for i, tok := range toks {
		which := ""
		if len(toks) > 1 {
			which = fmt.Sprintf("token %d of %d ", i+1, len(toks))
		}
		var err error
		switch {
		case strings.ContainsFunc(tok, spaceOrControl):
			err = errors.New("must not contain spaces or control characters")
		case len(tok) > maxAdminTokenLen:
			err = fmt.Errorf("must be at most %d characters", maxAdminTokenLen)
		default:
			err = adminauth.CheckStrength(tok)
		}
		if err != nil {
			return fmt.Errorf("%s%v", which, err)
		}
	}
	return nil
}

var redisGroup = &group{name: "redis", title: "Redis", check: checkRedis, specs: []spec{
	{env: "REDIS_URL", flag: "redis-url", def: "redis://127.0.0.1:6379/0", secret: true, help: "Redis `URL`, redis:// or rediss://; in Sentinel and Cluster modes only its credentials are used"},
	{env: "REDIS_SENTINELS", flag: "redis-sentinels", help: "comma-separated Sentinel `host:port` list (needs REDIS_MASTER_NAME)"},
	{env: "REDIS_MASTER_NAME", flag: "redis-master-name", help: "master `name` known to the Sentinels"},
	{env: "REDIS_USERNAME", flag: "redis-username", help: "ACL `user` for the Redis data nodes, every mode (needs REDIS_PASSWORD)"},
	{env: "REDIS_PASSWORD", flag: "redis-password", secret: true, help: "`password` of the Redis data nodes (requirepass or the ACL user's), every mode; instead of one in REDIS_URL"},
	{env: "REDIS_SENTINEL_USERNAME", flag: "redis-sentinel-username", help: "ACL `user` for the Sentinels (needs REDIS_SENTINEL_PASSWORD)"},
	{env: "REDIS_SENTINEL_PASSWORD", flag: "redis-sentinel-password", secret: true, help: "`password` of the Sentinels (their requirepass)"},
	{env: "REDIS_CLUSTER", flag: "redis-cluster", help: "comma-separated Redis Cluster seed `host:port` list"},
}}

func checkRedis(st *settings, c *Config) error {
	r := &c.Redis
	var err error
	if r.Sentinels, err = hostPortList(st.get("REDIS_SENTINELS")); err != nil {
		return st.bad("REDIS_SENTINELS", "%v", err)
	}
	r.MasterName = st.get("REDIS_MASTER_NAME")
	if r.Cluster, err = hostPortList(st.get("REDIS_CLUSTER")); err != nil {
		return st.bad("REDIS_CLUSTER", "%v", err)
	}
	switch {
	case len(r.Sentinels) > 0 && len(r.Cluster) > 0:
		return st.bad("REDIS_CLUSTER", "cannot be combined with REDIS_SENTINELS")
	case len(r.Sentinels) > 0 && r.MasterName == "":
		return st.bad("REDIS_MASTER_NAME", "is required with REDIS_SENTINELS")
	case len(r.Sentinels) == 0 && r.MasterName != "":
		return st.bad("REDIS_MASTER_NAME", "is only used with REDIS_SENTINELS, which is empty")
	}
	r.URL = st.get("REDIS_URL")
	if err := checkRedisURL(r.URL); err != nil {
		return st.bad("REDIS_URL", "%v", err)
	}
	return st.redisAuth(r)
}

var redisTLSGroup = &group{name: "redis-tls", title: "Redis TLS", check: checkRedisTLS, specs: []spec{
	{env: "REDIS_TLS_CA_FILE", flag: "redis-tls-ca-file", help: "PEM CA bundle `file` that verifies Redis"},
	{env: "REDIS_TLS_CERT_FILE", flag: "redis-tls-cert-file", help: "PEM client certificate `file` for mutual TLS"},
	{env: "REDIS_TLS_KEY_FILE", flag: "redis-tls-key-file", help: "PEM client key `file` for mutual TLS"},
	{env: "REDIS_TLS_SERVER_NAME", flag: "redis-tls-server-name", help: "host `name` expected in the Redis server certificate (default: the address's host)"},
	{env: "REDIS_TLS_SENTINEL_CA_FILE", flag: "redis-tls-sentinel-ca-file", help: "PEM CA bundle `file` for Sentinel connections (default: REDIS_TLS_CA_FILE)"},
	{env: "REDIS_TLS_SENTINEL_CERT_FILE", flag: "redis-tls-sentinel-cert-file", help: "PEM client certificate `file` for Sentinel connections"},
	{env: "REDIS_TLS_SENTINEL_KEY_FILE", flag: "redis-tls-sentinel-key-file", help: "PEM client key `file` for Sentinel connections"},
	{env: "REDIS_TLS_INSECURE_SKIP_VERIFY", flag: "redis-tls-insecure-skip-verify", def: "false", help: "DEVELOPMENT ONLY: do not verify the Redis certificate (logged loudly, shown in /health/redis)"},
	{env: "REDIS_ALLOW_PLAINTEXT", flag: "redis-allow-plaintext", def: "false", help: "allow plaintext redis:// to a non-loopback address"},
}}

func checkRedisTLS(st *settings, c *Config) error {
	r := &c.Redis
	for _, env := range []string{"REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE",
		"REDIS_TLS_SENTINEL_CA_FILE", "REDIS_TLS_SENTINEL_CERT_FILE", "REDIS_TLS_SENTINEL_KEY_FILE"} {
		if p := st.get(env); p != "" {
			if _, err := os.Stat(p); err != nil {
				return st.bad(env, "cannot read the file: %v", err)
			}
		}
	}
	r.CAFile, r.CertFile, r.KeyFile = st.get("REDIS_TLS_CA_FILE"), st.get("REDIS_TLS_CERT_FILE"), st.get("REDIS_TLS_KEY_FILE")
	if (r.CertFile == "") != (r.KeyFile == "") {
		return st.bad("REDIS_TLS_KEY_FILE", "client certificate and key must be given together")
	}
	r.TLSServerName = st.get("REDIS_TLS_SERVER_NAME")
	r.SentinelCAFile = st.get("REDIS_TLS_SENTINEL_CA_FILE")
	r.SentinelCertFile, r.SentinelKeyFile = st.get("REDIS_TLS_SENTINEL_CERT_FILE"), st.get("REDIS_TLS_SENTINEL_KEY_FILE")
	if (r.SentinelCertFile == "") != (r.SentinelKeyFile == "") {
		return st.bad("REDIS_TLS_SENTINEL_KEY_FILE", "Sentinel client certificate and key must be given together")
	}
	var err error
	if r.TLSInsecureSkipVerify, err = strconv.ParseBool(st.get("REDIS_TLS_INSECURE_SKIP_VERIFY")); err != nil {
		return st.bad("REDIS_TLS_INSECURE_SKIP_VERIFY", "must be true or false")
	}
	allowPlain, err := strconv.ParseBool(st.get("REDIS_ALLOW_PLAINTEXT"))
	if err != nil {
		return st.bad("REDIS_ALLOW_PLAINTEXT", "must be true or false")
	}
	if redisconn.PlaintextRemote(*r) && !allowPlain {
		return st.bad("REDIS_URL", "plaintext to a non-loopback Redis; use rediss:// (with REDIS_TLS_CA_FILE) or set REDIS_ALLOW_PLAINTEXT=true")
	}
	return nil
}

var replicaReadsGroup = &group{name: "replica-reads", title: "Redis replica reads", check: checkReplicaReads, specs: []spec{
	{env: "REDIS_READ_REPLICAS", flag: "redis-read-replicas", def: "false", help: "serve session reads from replicas (Sentinel or Cluster mode)"},
}}

func checkReplicaReads(st *settings, c *Config) error {
	var err error
	if c.Redis.ReadReplicas, err = strconv.ParseBool(st.get("REDIS_READ_REPLICAS")); err != nil {
		return st.bad("REDIS_READ_REPLICAS", "must be true or false")
	}
	if c.Redis.ReadReplicas && c.Redis.Mode() == "standalone" {
		return st.bad("REDIS_READ_REPLICAS", "needs REDIS_SENTINELS or REDIS_CLUSTER: a single Redis has no replicas to read from")
	}
	return nil
}

var storeGroup = &group{name: "store", title: "Session store", check: checkStore, specs: []spec{
	{env: "DATABASE_URL", flag: "database-url", def: "sqlite:studio.db", secret: true, help: "session store `URL`: postgres://… or sqlite:PATH"},
	{env: "STUDIO_STORE_TIMEOUT", flag: "store-timeout", def: "3s", help: "longest wait for the store on each operation; past it a request answers 503 store_unavailable (100ms-1m)"},
}}

func checkStore(st *settings, c *Config) (err error) {
	c.DatabaseURL = st.get("DATABASE_URL")
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return st.bad("DATABASE_URL", "%v", err)
	}
	if c.StoreTimeout, err = durationIn(st.get("STUDIO_STORE_TIMEOUT"), 100*time.Millisecond, time.Minute); err != nil {
		return st.bad("STUDIO_STORE_TIMEOUT", "%v", err)
	}
	return nil
}

var l1Group = &group{name: "l1", title: "In-process cache", check: checkL1, specs: []spec{
	{env: "STUDIO_L1_TTL", flag: "l1-ttl", def: "5s", help: "longest life of an in-process cache entry (100ms-60s; 0 turns the cache off)"},
}}

// checkL1 reads STUDIO_L1_TTL: a duration from 100ms to 60s, or zero
// ("0", "0s", …) for no in-process cache.
func checkL1(st *settings, c *Config) (err error) {
	v := st.get("STUDIO_L1_TTL")
	if d, perr := time.ParseDuration(v); perr == nil && d == 0 {
		c.L1TTL = 0
		return nil
	}
	if c.L1TTL, err = durationIn(v, 100*time.Millisecond, time.Minute); err != nil {
		return st.bad("STUDIO_L1_TTL", "%v (or 0 for no in-process cache)", err)
	}
	return nil
}

// sessionL1TTL turns Config.L1TTL into session.Options.L1TTL, where zero
// means the default and a negative value turns the L1 off.
func sessionL1TTL(d time.Duration) time.Duration {
	if d == 0 {
		return session.L1Off
	}
	return d
}

var cacheGroup = &group{name: "cache", title: "Redis cache", check: checkCache, specs: []spec{
	{env: "STUDIO_CACHE_TTL", flag: "cache-ttl", def: "10m", help: "longest life of a session copy in Redis (1s-24h)"},
	{env: "STUDIO_CLOCK_SKEW", flag: "clock-skew", def: "1m", help: "skew allowance: how far apart the clocks of Studio's hosts and Redis may be, plus how late a revocation may commit; revocations are remembered for the cache TTL plus this (1s-1h)"},
}}

func checkCache(st *settings, c *Config) (err error) {
	if c.CacheTTL, err = durationIn(st.get("STUDIO_CACHE_TTL"), time.Second, 24*time.Hour); err != nil {
		return st.bad("STUDIO_CACHE_TTL", "%v", err)
	}
	if c.ClockSkew, err = durationIn(st.get("STUDIO_CLOCK_SKEW"), time.Second, time.Hour); err != nil {
		return st.bad("STUDIO_CLOCK_SKEW", "%v", err)
	}
	return nil
}

var logGroup = &group{name: "log", title: "Logs", check: checkLog, specs: []spec{
	{env: "STUDIO_LOG_LEVEL", flag: "log-level", def: "info", help: "log `level`: debug, info, warn or error"},
}}

func checkLog(st *settings, c *Config) error {
	if err := c.LogLevel.UnmarshalText([]byte(st.get("STUDIO_LOG_LEVEL"))); err != nil {
		return st.bad("STUDIO_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return nil
}

var accessLogGroup = &group{name: "accesslog", title: "Access log", check: checkAccessLog, specs: []spec{
	{env: "STUDIO_ACCESS_LOG", flag: "access-log", def: "sampled", help: "access-log `mode`: which requests get a line at info: all, sampled (errors, slow requests and each route's first request in each second), errors (errors and slow requests only) or off; at the debug level every request is logged"},
	{env: "STUDIO_ACCESS_LOG_SLOW", flag: "access-log-slow", def: "250ms", help: "requests at least this slow are always logged (1ms-1m)"},
}}

func checkAccessLog(st *settings, c *Config) (err error) {
	if c.AccessLog, err = server.ParseAccessLogMode(st.get("STUDIO_ACCESS_LOG")); err != nil {
		return st.bad("STUDIO_ACCESS_LOG", "%v", err)
	}
	if c.SlowRequest, err = durationIn(st.get("STUDIO_ACCESS_LOG_SLOW"), time.Millisecond, time.Minute); err != nil {
		return st.bad("STUDIO_ACCESS_LOG_SLOW", "%v", err)
	}
	return nil
}

var observabilityGroup = &group{name: "observability", title: "Observability (and the standard OTEL_* variables)", check: checkObservability, specs: []spec{
	{env: "STUDIO_SLOW_COMMAND_THRESHOLD", flag: "slow-command-threshold", def: "50ms", help: "Redis commands at least this slow are logged at warn"},
	{env: "STUDIO_MONITOR_INTERVAL", flag: "monitor-interval", def: "1s", help: "how often Redis INFO is polled for /health/redis (100ms-1m)"},
	{env: "STUDIO_METRICS_ADMIN_ONLY", flag: "metrics-admin-only", def: "false", help: "serve /metrics only with the admin token"},
	{env: "STUDIO_TRACE_BACKGROUND", flag: "trace-background", def: "false", help: "also trace background work (Redis polls, publishers, warming, last-seen writes): a root trace per command, sampled like requests"},
}}

func checkObservability(st *settings, c *Config) (err error) {
	if c.SlowCommand, err = durationIn(st.get("STUDIO_SLOW_COMMAND_THRESHOLD"), time.Millisecond, time.Minute); err != nil {
		return st.bad("STUDIO_SLOW_COMMAND_THRESHOLD", "%v", err)
	}
	if c.MonitorInterval, err = durationIn(st.get("STUDIO_MONITOR_INTERVAL"), 100*time.Millisecond, time.Minute); err != nil {
		return st.bad("STUDIO_MONITOR_INTERVAL", "%v", err)
	}
	if c.MetricsAdminOnly, err = strconv.ParseBool(st.get("STUDIO_METRICS_ADMIN_ONLY")); err != nil {
		return st.bad("STUDIO_METRICS_ADMIN_ONLY", "must be true or false")
	}
	if c.TraceBackground, err = strconv.ParseBool(st.get("STUDIO_TRACE_BACKGROUND")); err != nil {
		return st.bad("STUDIO_TRACE_BACKGROUND", "must be true or false")
	}
	if c.Trace, err = telemetry.TraceConfigFromEnv(st.getenv); err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}

var hotKeysGroup = &group{name: "hotkeys", title: "Hot keys", check: checkHotKeys, specs: []spec{
	{env: "STUDIO_INSTANCE_ID", flag: "instance-id", help: "this instance's `name` in the cross-instance hot-key view (default: host name and a random suffix)"},
	{env: "STUDIO_HOTKEY_THRESHOLD", flag: "hotkey-threshold", def: "1000", help: "accesses per minute that make a key hot"},
}}

func checkHotKeys(st *settings, c *Config) (err error) {
	c.InstanceID = st.get("STUDIO_INSTANCE_ID")
	if len(c.InstanceID) > 64 || strings.ContainsFunc(c.InstanceID, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) {
		return st.bad("STUDIO_INSTANCE_ID", "must be at most 64 printable characters without spaces or quotes")
	}
	if c.HotKeyThreshold, err = strconv.ParseUint(st.get("STUDIO_HOTKEY_THRESHOLD"), 10, 64); err != nil || c.HotKeyThreshold < 1 || c.HotKeyThreshold > 100_000_000 {
		return st.bad("STUDIO_HOTKEY_THRESHOLD", "must be a whole number from 1 to 100000000")
	}
	return nil
}

var warmGroup = &group{name: "warm", title: "Cache warming", check: checkWarm, specs: []spec{
	{env: "STUDIO_WARM_LIMIT", flag: "warm-limit", def: "100000", help: "most recently active sessions to warm"},
	{env: "STUDIO_WARM_RATE", flag: "warm-rate", def: "5000", help: "warming rate limit in sessions per second (0: unlimited)"},
}}

func checkWarm(st *settings, c *Config) (err error) {
	if c.WarmLimit, err = strconv.Atoi(st.get("STUDIO_WARM_LIMIT")); err != nil || c.WarmLimit < 0 || c.WarmLimit > 100_000_000 {
		return st.bad("STUDIO_WARM_LIMIT", "must be a whole number from 0 to 100000000")
	}
	if c.WarmRate, err = strconv.Atoi(st.get("STUDIO_WARM_RATE")); err != nil || c.WarmRate < 0 || c.WarmRate > 10_000_000 {
		return st.bad("STUDIO_WARM_RATE", "must be a whole number of sessions per second from 0 (unlimited) to 10000000")
	}
	return nil
}

var autoWarmGroup = &group{name: "autowarm", title: "Automatic warming", check: checkAutoWarm, specs: []spec{
	{env: "STUDIO_WARM_ON_START", flag: "warm-on-start", def: "true", help: "warm Redis from the store at start-up and whenever Redis comes back empty"},
}}

func checkAutoWarm(st *settings, c *Config) (err error) {
	if c.WarmOnStart, err = strconv.ParseBool(st.get("STUDIO_WARM_ON_START")); err != nil {
		return st.bad("STUDIO_WARM_ON_START", "must be true or false")
	}
	return nil
}

var alertsGroup = &group{name: "alerts", title: "Alerts", check: checkAlerts, specs: []spec{
	{env: "STUDIO_ALERT_RULES", flag: "alert-rules", help: "YAML `file` of alert rules, routes and receivers (default: the embedded rule set; see docs/ALERTING.md)"},
	{env: "PAGERDUTY_ROUTING_KEY", flag: "pagerduty-routing-key", secret: true, help: "PagerDuty Events API v2 integration (routing) `key`; critical alerts go there"},
	{env: "PAGERDUTY_EVENTS_URL", flag: "pagerduty-events-url", def: pagerduty.DefaultURL, help: "PagerDuty Events API v2 endpoint"},
	{env: "SLACK_WEBHOOK_URL", flag: "slack-webhook-url", secret: true, help: "Slack incoming webhook `URL`; warning alerts go there"},
	{env: "STUDIO_EXTERNAL_URL", flag: "external-url", help: "base `URL` operators reach Studio at, for links in alerts (default: http:// and STUDIO_ADDR)"},
}}

// checkAlerts reads the alert settings: the rule file (refused with its
// line and reason), the receivers' secrets and endpoints.
func checkAlerts(st *settings, c *Config) error {
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

var shutdownGroup = &group{name: "shutdown", title: "Shutdown", check: checkShutdown, specs: []spec{
	{env: "STUDIO_SHUTDOWN_DRAIN", flag: "shutdown-drain", def: "5s", help: "on SIGTERM, how long /readyz answers 503 while requests are still served, so load balancers stop sending (0s-5m)"},
	{env: "STUDIO_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "20s", help: "after the drain, how long in-flight requests and background work get to finish (1s-10m)"},
}}

func checkShutdown(st *settings, c *Config) (err error) {
	if c.ShutdownDrain, err = durationIn(st.get("STUDIO_SHUTDOWN_DRAIN"), 0, 5*time.Minute); err != nil {
		return st.bad("STUDIO_SHUTDOWN_DRAIN", "%v", err)
	}
	if c.ShutdownTimeout, err = durationIn(st.get("STUDIO_SHUTDOWN_TIMEOUT"), time.Second, 10*time.Minute); err != nil {
		return st.bad("STUDIO_SHUTDOWN_TIMEOUT", "%v", err)
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
		if st.by["REDIS_URL"].given() {
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
