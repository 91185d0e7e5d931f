package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redisproc"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/session"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// badRules is a rule file with an error on line 3, written once per test
// binary.
var badRules = func() string {
	dir, err := os.MkdirTemp("", "studio-rules-")
	if err != nil {
		panic(err)
	}
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, []byte("rules:\n  - name: X\n    for: 5x\n    expr: redis_up == 0\n    severity: critical\n"), 0o644); err != nil {
		panic(err)
	}
	return p
}()

func TestBadSettingsStopStartupWithOneLine(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // the one line names the setting
	}{
		{"addr no port", map[string]string{"STUDIO_ADDR": "localhost"}, nil, "invalid STUDIO_ADDR (--addr) \"localhost\": want host:port"},
		{"addr bad port", nil, []string{"--addr", ":99999"}, "invalid STUDIO_ADDR (--addr) \":99999\": port must be"},
		{"short admin token", map[string]string{"STUDIO_ADMIN_TOKEN": "short"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 23 bits of entropy, at least 128 are needed: generate one with \"studio token\" or \"openssl rand -hex 32\""},
		{"admin token with space", map[string]string{"STUDIO_ADMIN_TOKEN": "0123456789 abcdefgh"}, nil, "must not contain spaces"},
		{"admin token one letter", map[string]string{"STUDIO_ADMIN_TOKEN": "aaaaaaaaaaaaaaaa"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 25 bits of entropy, at least 128"},
		{"admin token password", map[string]string{"STUDIO_ADMIN_TOKEN": "password1234567890"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 38 bits of entropy, at least 128"},
		{"admin token 80 bits of hex", map[string]string{"STUDIO_ADMIN_TOKEN": "8f3a9c1e5b7d2f4a6c0e"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 80 bits of entropy, at least 128"},
		{"admin token words", map[string]string{"STUDIO_ADMIN_TOKEN": "e2e-admin-token-0123456789"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 78 bits of entropy"},
		{"admin token passphrase", map[string]string{"STUDIO_ADMIN_TOKEN": "correct-horse-battery-staple"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 48 bits of entropy"},
		{"admin token UUID", map[string]string{"STUDIO_ADMIN_TOKEN": "550e8400-e29b-41d4-a716-446655440000"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 122 bits of entropy"},
		{"admin token list, second weak", map[string]string{"STUDIO_ADMIN_TOKEN": strongToken + ",password1234567890"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): token 2 of 2 has about 38 bits of entropy"},
		{"admin token list of separators", map[string]string{"STUDIO_ADMIN_TOKEN": " , ,"}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): holds no token"},
		{"admin token too long", map[string]string{"STUDIO_ADMIN_TOKEN": strings.Repeat(strongToken, 9)}, nil, "invalid STUDIO_ADMIN_TOKEN (--admin-token): must be at most 512 characters"},
		{"trusted proxies not a CIDR", map[string]string{"STUDIO_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, nil, "invalid STUDIO_TRUSTED_PROXIES (--trusted-proxies) \"10.0.0.0/8,proxy.internal\": entry \"proxy.internal\": want a CIDR prefix"},
		{"trusted proxies bits", map[string]string{"STUDIO_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, "invalid STUDIO_TRUSTED_PROXIES (--trusted-proxies) \"10.0.0.0/33\": entry \"10.0.0.0/33\": want a CIDR prefix"},
		{"trusted proxies IPv6 bits", map[string]string{"STUDIO_TRUSTED_PROXIES": "fd00::/129"}, nil, "invalid STUDIO_TRUSTED_PROXIES (--trusted-proxies) \"fd00::/129\": entry"},
		{"trusted proxies with a port", map[string]string{"STUDIO_TRUSTED_PROXIES": "10.0.0.1:443"}, nil, "invalid STUDIO_TRUSTED_PROXIES (--trusted-proxies) \"10.0.0.1:443\": entry"},
		{"tls cert without key", map[string]string{"STUDIO_TLS_CERT_FILE": "/etc/hostname"}, nil, "invalid STUDIO_TLS_KEY_FILE (--tls-key-file): is required with STUDIO_TLS_CERT_FILE"},
		{"tls key without cert", map[string]string{"STUDIO_TLS_KEY_FILE": "/etc/hostname"}, nil, "invalid STUDIO_TLS_CERT_FILE (--tls-cert-file): is required with STUDIO_TLS_KEY_FILE"},
		{"tls cert missing", map[string]string{"STUDIO_TLS_CERT_FILE": "/nonexistent/tls.crt", "STUDIO_TLS_KEY_FILE": "/nonexistent/tls.key"}, nil, "invalid STUDIO_TLS_CERT_FILE (--tls-cert-file) \"/nonexistent/tls.crt\": read TLS certificate: open /nonexistent/tls.crt: no such file"},
		{"tls cert not PEM", map[string]string{"STUDIO_TLS_CERT_FILE": "/etc/hostname", "STUDIO_TLS_KEY_FILE": "/etc/hostname"}, nil, "invalid STUDIO_TLS_CERT_FILE (--tls-cert-file) \"/etc/hostname\": TLS certificate /etc/hostname / key /etc/hostname: tls: failed to find any PEM data"},
		{"tls cert expired", map[string]string{"STUDIO_TLS_CERT_FILE": expiredCert.cert, "STUDIO_TLS_KEY_FILE": expiredCert.key}, nil, "expired at"},
		{"tls key of another cert", map[string]string{"STUDIO_TLS_CERT_FILE": expiredCert.cert, "STUDIO_TLS_KEY_FILE": expiredCert.otherKey}, nil, "private key does not match public key"},
		{"max conns zero", map[string]string{"STUDIO_MAX_CONNS": "0"}, nil, "invalid STUDIO_MAX_CONNS (--max-conns) \"0\": must be a whole number from 16 to 1000000"},
		{"max conns text", nil, []string{"--max-conns", "lots"}, "invalid STUDIO_MAX_CONNS (--max-conns) \"lots\": must be a whole number"},
		{"max conns huge", map[string]string{"STUDIO_MAX_CONNS": "99999999"}, nil, "invalid STUDIO_MAX_CONNS (--max-conns) \"99999999\": must be a whole number from 16"},
		{"idle timeout text", map[string]string{"STUDIO_IDLE_TIMEOUT": "short"}, nil, "invalid STUDIO_IDLE_TIMEOUT (--idle-timeout) \"short\": not a duration"},
		{"idle timeout zero", map[string]string{"STUDIO_IDLE_TIMEOUT": "0s"}, nil, "invalid STUDIO_IDLE_TIMEOUT (--idle-timeout) \"0s\": must be between 1s and 10m0s"},
		{"idle timeout long", nil, []string{"--idle-timeout", "1h"}, "invalid STUDIO_IDLE_TIMEOUT (--idle-timeout) \"1h\": must be between 1s and 10m0s"},
		{"redis scheme", map[string]string{"REDIS_URL": "http://x:1"}, nil, "invalid REDIS_URL (--redis-url): scheme must be"},
		{"redis no host", map[string]string{"REDIS_URL": "redis://"}, nil, "invalid REDIS_URL (--redis-url): the host is missing"},
		{"redis bad db", map[string]string{"REDIS_URL": "redis://h:1/abc"}, nil, "database number"},
		{"redis bad port", map[string]string{"REDIS_URL": "redis://h:0"}, nil, "port must be"},
		{"redis garbage", map[string]string{"REDIS_URL": "redis://a b:%zz"}, nil, "invalid REDIS_URL (--redis-url): not a URL"},
		{"sentinels no master", map[string]string{"REDIS_SENTINELS": "a:26379"}, nil, "invalid REDIS_MASTER_NAME (--redis-master-name): is required with REDIS_SENTINELS"},
		{"master no sentinels", map[string]string{"REDIS_MASTER_NAME": "m"}, nil, "is only used with REDIS_SENTINELS"},
		{"sentinel bad entry", map[string]string{"REDIS_SENTINELS": "a:1,b", "REDIS_MASTER_NAME": "m"}, nil, "invalid REDIS_SENTINELS (--redis-sentinels) \"a:1,b\": entry \"b\": want host:port"},
		{"cluster port zero", map[string]string{"REDIS_CLUSTER": "a:0"}, nil, "port must not be 0"},
		{"alert rules missing", map[string]string{"STUDIO_ALERT_RULES": "/nonexistent/rules.yaml"}, nil, "invalid STUDIO_ALERT_RULES (--alert-rules) \"/nonexistent/rules.yaml\": cannot read the file"},
		{"alert rules bad line", map[string]string{"STUDIO_ALERT_RULES": badRules}, nil, "rules.yaml:3: "},
		{"pagerduty key space", map[string]string{"PAGERDUTY_ROUTING_KEY": "abc def"}, nil, "invalid PAGERDUTY_ROUTING_KEY (--pagerduty-routing-key): must not contain spaces"},
		{"pagerduty url", map[string]string{"PAGERDUTY_EVENTS_URL": "events.pagerduty.com"}, nil, "invalid PAGERDUTY_EVENTS_URL (--pagerduty-events-url) \"events.pagerduty.com\": want an absolute http:// or https:// URL"},
		{"slack plain http", map[string]string{"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T/B/secret"}, nil, "invalid SLACK_WEBHOOK_URL (--slack-webhook-url): must use https://"},
		{"slack not a url", map[string]string{"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, nil, "invalid SLACK_WEBHOOK_URL (--slack-webhook-url): want an absolute"},
		{"external url", map[string]string{"STUDIO_EXTERNAL_URL": "ftp://studio"}, nil, "invalid STUDIO_EXTERNAL_URL (--external-url) \"ftp://studio\": want an absolute http"},
		{"read replicas not bool", map[string]string{"REDIS_READ_REPLICAS": "sometimes"}, nil, "invalid REDIS_READ_REPLICAS (--redis-read-replicas) \"sometimes\": must be true or false"},
		{"read replicas standalone", map[string]string{"REDIS_READ_REPLICAS": "true"}, nil, "needs REDIS_SENTINELS or REDIS_CLUSTER"},
		{"cluster and sentinels", map[string]string{"REDIS_CLUSTER": "a:1", "REDIS_SENTINELS": "b:2", "REDIS_MASTER_NAME": "m"}, nil, "cannot be combined"},
		{"missing CA file", map[string]string{"REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, nil, "invalid REDIS_TLS_CA_FILE (--redis-tls-ca-file) \"/nonexistent/ca.pem\": cannot read the file"},
		{"database scheme", map[string]string{"DATABASE_URL": "mysql://x"}, nil, "invalid DATABASE_URL (--database-url): must be postgres://"},
		{"sqlite no path", map[string]string{"DATABASE_URL": "sqlite:"}, nil, "needs a file path"},
		{"l1 ttl text", map[string]string{"STUDIO_L1_TTL": "soon"}, nil, "invalid STUDIO_L1_TTL (--l1-ttl) \"soon\": not a duration"},
		{"l1 ttl too long", nil, []string{"--l1-ttl", "1h"}, "must be between 100ms and 1m0s"},
		{"l1 ttl below the minimum", map[string]string{"STUDIO_L1_TTL": "50ms"}, nil, "invalid STUDIO_L1_TTL (--l1-ttl) \"50ms\": must be between 100ms and 1m0s (or 0 for no in-process cache)"},
		{"l1 ttl one nanosecond", map[string]string{"STUDIO_L1_TTL": "1ns"}, nil, "invalid STUDIO_L1_TTL (--l1-ttl) \"1ns\": must be between 100ms"},
		{"l1 ttl negative", map[string]string{"STUDIO_L1_TTL": "-1s"}, nil, "invalid STUDIO_L1_TTL (--l1-ttl) \"-1s\": must be between 100ms"},
		{"l1 ttl word", nil, []string{"--l1-ttl", "off"}, "invalid STUDIO_L1_TTL (--l1-ttl) \"off\": not a duration"},
		{"l1 ttl empty", map[string]string{"STUDIO_L1_TTL": " "}, nil, "invalid STUDIO_L1_TTL (--l1-ttl)"},
		{"cache ttl zero", map[string]string{"STUDIO_CACHE_TTL": "0s"}, nil, "invalid STUDIO_CACHE_TTL (--cache-ttl) \"0s\": must be between"},
		{"clock skew text", map[string]string{"STUDIO_CLOCK_SKEW": "a bit"}, nil, "invalid STUDIO_CLOCK_SKEW (--clock-skew) \"a bit\": not a duration"},
		{"clock skew too long", nil, []string{"--clock-skew", "2h"}, "invalid STUDIO_CLOCK_SKEW (--clock-skew) \"2h\": must be between 1s and 1h0m0s"},
		{"store timeout text", map[string]string{"STUDIO_STORE_TIMEOUT": "forever"}, nil, "invalid STUDIO_STORE_TIMEOUT (--store-timeout) \"forever\": not a duration"},
		{"store timeout too short", map[string]string{"STUDIO_STORE_TIMEOUT": "10ms"}, nil, "invalid STUDIO_STORE_TIMEOUT (--store-timeout) \"10ms\": must be between 100ms and 1m0s"},
		{"store timeout too long", nil, []string{"--store-timeout", "2m"}, "must be between 100ms and 1m0s"},
		{"log level", map[string]string{"STUDIO_LOG_LEVEL": "loud"}, nil, "invalid STUDIO_LOG_LEVEL (--log-level) \"loud\": must be debug"},
		{"access log mode", map[string]string{"STUDIO_ACCESS_LOG": "some"}, nil, "invalid STUDIO_ACCESS_LOG (--access-log) \"some\": must be all, sampled, errors or off"},
		{"access log slow text", map[string]string{"STUDIO_ACCESS_LOG_SLOW": "slowish"}, nil, "invalid STUDIO_ACCESS_LOG_SLOW (--access-log-slow) \"slowish\": not a duration"},
		{"access log slow zero", nil, []string{"--access-log-slow", "0s"}, "invalid STUDIO_ACCESS_LOG_SLOW (--access-log-slow) \"0s\": must be between 1ms and 1m0s"},
		{"slow threshold", map[string]string{"STUDIO_SLOW_COMMAND_THRESHOLD": "fast"}, nil, "invalid STUDIO_SLOW_COMMAND_THRESHOLD (--slow-command-threshold) \"fast\": not a duration"},
		{"monitor interval", nil, []string{"--monitor-interval", "1ms"}, "invalid STUDIO_MONITOR_INTERVAL (--monitor-interval) \"1ms\": must be between 100ms and 1m0s"},
		{"metrics admin only", map[string]string{"STUDIO_METRICS_ADMIN_ONLY": "maybe"}, nil, "invalid STUDIO_METRICS_ADMIN_ONLY (--metrics-admin-only) \"maybe\": must be true or false"},
		{"trace background", map[string]string{"STUDIO_TRACE_BACKGROUND": "sometimes"}, nil, "invalid STUDIO_TRACE_BACKGROUND (--trace-background) \"sometimes\": must be true or false"},
		{"otel exporter", map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, nil, `invalid OTEL_TRACES_EXPORTER "jaeger": must be otlp, none or console`},
		{"otel protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, nil, "invalid OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"otel sampler arg", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, nil, "invalid OTEL_TRACES_SAMPLER_ARG"},
		{"plaintext remote", map[string]string{"REDIS_URL": "redis://10.1.2.3:6379/0"}, nil, "invalid REDIS_URL (--redis-url): plaintext to a non-loopback Redis"},
		{"plaintext remote sentinels", map[string]string{"REDIS_SENTINELS": "sentinel.example:26379", "REDIS_MASTER_NAME": "m"}, nil, "plaintext to a non-loopback Redis"},
		{"allow plaintext value", map[string]string{"REDIS_ALLOW_PLAINTEXT": "sure"}, nil, "invalid REDIS_ALLOW_PLAINTEXT (--redis-allow-plaintext) \"sure\": must be true or false"},
		{"insecure value", map[string]string{"REDIS_TLS_INSECURE_SKIP_VERIFY": "yes please"}, nil, "invalid REDIS_TLS_INSECURE_SKIP_VERIFY"},
		{"sentinel cert without key", map[string]string{"REDIS_TLS_SENTINEL_CERT_FILE": "/etc/hostname"}, nil, "invalid REDIS_TLS_SENTINEL_KEY_FILE (--redis-tls-sentinel-key-file): Sentinel client certificate and key must be given together"},
		{"drain text", map[string]string{"STUDIO_SHUTDOWN_DRAIN": "a while"}, nil, "invalid STUDIO_SHUTDOWN_DRAIN (--shutdown-drain) \"a while\": not a duration"},
		{"drain too long", nil, []string{"--shutdown-drain", "1h"}, "must be between 0s and 5m0s"},
		{"shutdown timeout zero", map[string]string{"STUDIO_SHUTDOWN_TIMEOUT": "0s"}, nil, "invalid STUDIO_SHUTDOWN_TIMEOUT (--shutdown-timeout) \"0s\": must be between 1s and 10m0s"},
		{"PORT not a number", map[string]string{"PORT": "eighty"}, nil, "invalid PORT \"eighty\": must be a port number from 1 to 65535"},
		{"redis user without password", map[string]string{"REDIS_USERNAME": "studio"}, nil, "invalid REDIS_USERNAME (--redis-username) \"studio\": needs REDIS_PASSWORD"},
		{"sentinel user without password", map[string]string{"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_MASTER_NAME": "m", "REDIS_SENTINEL_USERNAME": "s"}, nil, "needs REDIS_SENTINEL_PASSWORD"},
		{"sentinel password alone", map[string]string{"REDIS_SENTINEL_PASSWORD": "pw"}, nil, "invalid REDIS_SENTINEL_PASSWORD (--redis-sentinel-password): is only used with REDIS_SENTINELS"},
		{"password twice", map[string]string{"REDIS_URL": "redis://:pw@127.0.0.1:6379/0", "REDIS_PASSWORD": "pw"}, nil, "invalid REDIS_PASSWORD (--redis-password): REDIS_URL carries credentials too"},
		{"password with a space", map[string]string{"REDIS_PASSWORD": "a b"}, nil, "invalid REDIS_PASSWORD (--redis-password): must not contain spaces"},
		{"unknown flag", nil, []string{"--nope"}, "flag provided but not defined: -nope"},
		{"stray argument", nil, []string{"extra"}, "unexpected argument \"extra\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"studio", "serve"}, tc.args...), envOf(tc.env), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(lastLine(stderr.String())), "\n")
			if !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("wrote to stdout: %q", stdout.String())
			}
		})
	}
}

// strongToken is an admin token of more than 128 bits.
const strongToken = "cfg-admin-9c2e7b41d05f3a86e1b4c7d92a0f5e38b6d14c7a29e0f3b5"

// expiredCert is a certificate that expired, its key, and the key of
// another certificate, written once per test binary.
var expiredCert = func() (c struct{ cert, key, otherKey string }) {
	dir, err := os.MkdirTemp("", "studio-tls-")
	if err != nil {
		panic(err)
	}
	ca, err := redisproc.NewCA("studio test CA")
	if err != nil {
		panic(err)
	}
	now := time.Now()
	if c.cert, c.key, err = ca.IssueFiles(dir, "expired", redisproc.CertSpec{CommonName: "expired", Hosts: []string{"127.0.0.1"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}); err != nil {
		panic(err)
	}
	if _, c.otherKey, err = ca.IssueFiles(dir, "other", redisproc.CertSpec{CommonName: "other", Hosts: []string{"127.0.0.1"}}); err != nil {
		panic(err)
	}
	return c
}()

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func TestSecretsNeverEchoed(t *testing.T) {
	for _, env := range []map[string]string{
		{"REDIS_URL": "ftp://user:hunter2secret@h:1"},
		{"DATABASE_URL": "mysql://user:hunter2secret@h/db"},
		{"STUDIO_ADMIN_TOKEN": "hunter2secret"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"studio", "serve"}, envOf(env), io.Discard, &stderr); code != 2 {
			t.Fatalf("exit %d", code)
		}
		if strings.Contains(stderr.String(), "hunter2secret") {
			t.Fatalf("secret echoed: %q", stderr.String())
		}
	}
}

func TestCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"studio", "version"}, envOf(nil), &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "studio ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"studio"}, envOf(nil), &out, &errb); code != 2 || !strings.Contains(errb.String(), "Usage") {
		t.Fatalf("no command: %d", code)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"studio", "launch"}, envOf(nil), &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "launch"`) {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"studio", "serve", "-h"}, envOf(nil), &out, &errb); code != 0 || !strings.Contains(errb.String(), "STUDIO_ADDR") {
		t.Fatalf("serve -h: %d %q", code, errb.String())
	}
}

// FuzzSettings: any value of any setting either validates or is refused
// with one line that starts by naming a setting, and never echoes a secret.
func FuzzSettings(f *testing.F) {
	names := newSettings("serve", envOf(nil), io.Discard, nil).list
	f.Add(uint8(2), "redis://user:pw@h:6379/0")
	f.Add(uint8(9), "postgres://u:p@h/db")
	f.Add(uint8(0), "[::1]:80")
	f.Add(uint8(10), "1.5s")
	f.Fuzz(func(t *testing.T, idx uint8, value string) {
		s := names[int(idx)%len(names)]
		st := newSettings("serve", envOf(map[string]string{s.env: value}), io.Discard, nil)
		_, err := st.Config()
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\n\r") && !strings.ContainsAny(value, "\n\r") {
			t.Fatalf("multi-line error: %q", msg)
		}
		if !strings.HasPrefix(msg, "invalid ") {
			t.Fatalf("error does not name a setting: %q", msg)
		}
		if s.secret && len(strings.TrimSpace(value)) >= 12 && strings.Contains(msg, strings.TrimSpace(value)) {
			t.Fatalf("secret %s echoed: %q", s.env, msg)
		}
	})
}

// The plaintext guard is configuration-level: loopback passes, remote
// passes only when explicitly allowed; no traffic is sent anywhere.
func TestPlaintextGuard(t *testing.T) {
	for _, tc := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}, true},
		{map[string]string{"REDIS_URL": "redis://localhost:6379/0"}, true},
		{map[string]string{"REDIS_URL": "redis://[::1]:6379/0"}, true},
		{map[string]string{"REDIS_URL": "redis://redis.internal:6379/0"}, false},
		{map[string]string{"REDIS_URL": "redis://redis.internal:6379/0", "REDIS_ALLOW_PLAINTEXT": "true"}, true},
		{map[string]string{"REDIS_URL": "rediss://redis.internal:6379/0"}, true},
	} {
		st := newSettings("serve", envOf(tc.env), io.Discard, nil)
		_, err := st.Config()
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v, want ok=%v", tc.env, err, tc.ok)
		}
	}
}

// TestDefaultGC: without GOGC the long-running commands collect at 400 %;
// any GOGC in the environment, "off" included, is left to the runtime.
func TestDefaultGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	for _, v := range []string{"100", "off", "50"} {
		if defaultGC(func(k string) string { return map[string]string{"GOGC": v}[k] }) {
			t.Errorf("GOGC=%s: changed the GC target", v)
		}
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("GOGC=%s: GC percent %d", v, got)
		}
	}
	if !defaultGC(func(string) string { return "" }) {
		t.Fatal("GOGC unset: GC target unchanged")
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GC percent %d, want %d", got, defaultGCPercent)
	}
}

// TestAlertSettingsOnlyWhereUsed: serve and up refuse a broken rule file;
// warm, drill and bench, which run no alert engine, do not read it.
func TestAlertSettingsOnlyWhereUsed(t *testing.T) {
	env := envOf(map[string]string{"STUDIO_ALERT_RULES": "/nonexistent/rules.yaml", "SLACK_WEBHOOK_URL": "http://x"})
	for _, cmd := range []string{"serve", "up"} {
		if _, err := newSettings(cmd, env, io.Discard, nil).Config(); err == nil || !strings.Contains(err.Error(), "STUDIO_ALERT_RULES") {
			t.Errorf("%s: %v, want the rule file refused", cmd, err)
		}
	}
	for _, cmd := range []string{"warm", "drill failover", "bench"} {
		if _, err := newSettings(cmd, env, io.Discard, nil).Config(); err != nil {
			t.Errorf("%s: %v", cmd, err)
		}
	}
}

// configOf validates the settings of cmd from env and args.
func configOf(t *testing.T, cmd string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	st := newSettings(cmd, envOf(env), io.Discard, nil)
	if err := st.parse(args); err != nil {
		return Config{}, err
	}
	return st.Config()
}

func TestPortSetsTheListenAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, ":8080"},
		{"PORT", map[string]string{"PORT": "9123"}, nil, ":9123"},
		{"STUDIO_ADDR wins", map[string]string{"PORT": "9123", "STUDIO_ADDR": "127.0.0.1:7000"}, nil, "127.0.0.1:7000"},
		{"flag wins", map[string]string{"PORT": "9123"}, []string{"--addr", "127.0.0.1:7001"}, "127.0.0.1:7001"},
		{"flag wins over a bad PORT", map[string]string{"PORT": "http"}, []string{"--addr", ":7002"}, ":7002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configOf(t, "serve", tc.env, tc.args...)
			if err != nil || c.Addr != tc.want {
				t.Fatalf("Addr %q, err %v; want %q", c.Addr, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"http", "0", "65536", "-1", "80:80"} {
		_, err := configOf(t, "serve", map[string]string{"PORT": bad})
		if err == nil || !strings.HasPrefix(err.Error(), "invalid PORT "+strconv.Quote(bad)+": must be a port number") {
			t.Errorf("PORT=%q: %v", bad, err)
		}
	}
	// Only serve listens where the platform says: up keeps its loopback
	// default.
	if c, err := configOf(t, "warm", map[string]string{"PORT": "9123"}); err != nil || c.Addr != ":8080" {
		t.Fatalf("warm: Addr %q, %v", c.Addr, err)
	}
}

// TestSecretsFromFiles: every secret setting reads NAME_FILE or
// --flag-file, without the file's trailing newline.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		env, flag, value string
		got              func(Config) string
	}{
		{"STUDIO_ADMIN_TOKEN", "admin-token", "file-admin-3f95882d80d4b63a964d0e72bb9d6f1cce999c7fac95f6be", func(c Config) string { return strings.Join(c.AdminTokens, ",") }},
		{"REDIS_URL", "redis-url", "redis://:pw@127.0.0.1:6390/2", func(c Config) string { return c.Redis.URL }},
		{"DATABASE_URL", "database-url", "postgres://u:pw@db.internal:5432/studio", func(c Config) string { return c.DatabaseURL }},
		{"PAGERDUTY_ROUTING_KEY", "pagerduty-routing-key", "R0123456789abcdef", func(c Config) string { return c.PagerDutyKey }},
		{"SLACK_WEBHOOK_URL", "slack-webhook-url", "https://hooks.slack.com/services/T/B/x", func(c Config) string { return c.SlackWebhookURL }},
	} {
		p := write(tc.env, tc.value+"\n")
		if c, err := configOf(t, "serve", map[string]string{tc.env + "_FILE": p}); err != nil || tc.got(c) != tc.value {
			t.Errorf("%s_FILE: got %q, %v", tc.env, tc.got(c), err)
		}
		if c, err := configOf(t, "serve", nil, "--"+tc.flag+"-file", p); err != nil || tc.got(c) != tc.value {
			t.Errorf("--%s-file: got %q, %v", tc.flag, tc.got(c), err)
		}
		// A flag overrides the environment, in either form.
		if c, err := configOf(t, "serve", map[string]string{tc.env: "ignored"}, "--"+tc.flag+"-file", p); err != nil || tc.got(c) != tc.value {
			t.Errorf("--%s-file over %s: got %q, %v", tc.flag, tc.env, tc.got(c), err)
		}
	}
}

func TestBadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("hunter2secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"both in env", map[string]string{"STUDIO_ADMIN_TOKEN": "hunter2secret-0123456789", "STUDIO_ADMIN_TOKEN_FILE": secret}, nil,
			"invalid STUDIO_ADMIN_TOKEN (--admin-token): both STUDIO_ADMIN_TOKEN and STUDIO_ADMIN_TOKEN_FILE are set; set one"},
		{"both flags", nil, []string{"--redis-url", "redis://127.0.0.1:1", "--redis-url-file", secret},
			"invalid REDIS_URL (--redis-url): give --redis-url or --redis-url-file, not both"},
		{"missing file", map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "nope")}, nil,
			`invalid DATABASE_URL_FILE (--database-url-file) "` + filepath.Join(dir, "nope") + `": cannot read the file: no such file or directory`},
		{"a directory", map[string]string{"SLACK_WEBHOOK_URL_FILE": dir}, nil, "invalid SLACK_WEBHOOK_URL_FILE (--slack-webhook-url-file)"},
		{"empty file", map[string]string{"PAGERDUTY_ROUTING_KEY_FILE": empty}, nil,
			`invalid PAGERDUTY_ROUTING_KEY_FILE (--pagerduty-routing-key-file) "` + empty + `": the file is empty`},
		{"the value is checked", map[string]string{"STUDIO_ADMIN_TOKEN_FILE": short}, nil,
			"invalid STUDIO_ADMIN_TOKEN (--admin-token): has about 36 bits of entropy, at least 128 are needed"},
		{"a URL from a file is checked", map[string]string{"REDIS_URL_FILE": secret}, nil,
			"invalid REDIS_URL (--redis-url): scheme must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"studio", "serve"}, tc.args...), envOf(tc.env), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Fatalf("a secret's content reached the error: %q", stderr.String())
			}
		})
	}
}

// TestReceiverSecretFromFile: a receiver's secret_env also reads
// secret_env_FILE, and refuses both.
func TestReceiverSecretFromFile(t *testing.T) {
	rules := writeReceivers(t, "  - name: db\n    kind: pagerduty\n    secret_env: DB_KEY\n")
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("R0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := configOf(t, "serve", map[string]string{"STUDIO_ALERT_RULES": rules, "DB_KEY_FILE": key})
	if err != nil || c.ReceiverSecrets["db"] != "R0123456789abcdef" {
		t.Fatalf("secret %q, %v", c.ReceiverSecrets["db"], err)
	}
	_, err = configOf(t, "serve", map[string]string{"STUDIO_ALERT_RULES": rules, "DB_KEY_FILE": key, "DB_KEY": "Rxyz"})
	if err == nil || err.Error() != `alert receiver "db": both DB_KEY and DB_KEY_FILE are set; set one` {
		t.Fatalf("both set: %v", err)
	}
}

// TestRedisCredentials: where the data nodes' and the Sentinels'
// credentials come from in each mode.
func TestRedisCredentials(t *testing.T) {
	sentinels := map[string]string{"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_MASTER_NAME": "m"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name               string
		env                map[string]string
		user, pass, sentPw string
	}{
		{"standalone: the URL's own", map[string]string{"REDIS_URL": "redis://u:p@127.0.0.1:6379/0"}, "", "", ""},
		{"standalone: REDIS_PASSWORD", map[string]string{"REDIS_PASSWORD": "p"}, "", "p", ""},
		{"sentinel: REDIS_USERNAME and REDIS_PASSWORD", with(sentinels, "REDIS_USERNAME", "u", "REDIS_PASSWORD", "p", "REDIS_SENTINEL_PASSWORD", "s"), "u", "p", "s"},
		{"sentinel: from REDIS_URL", with(sentinels, "REDIS_URL", "redis://:p@127.0.0.1:6379/0"), "", "p", ""},
		{"cluster: from REDIS_URL", map[string]string{"REDIS_CLUSTER": "127.0.0.1:7000", "REDIS_URL": "redis://u:p@127.0.0.1:6379/0"}, "u", "p", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configOf(t, "serve", tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Redis.Username != tc.user || c.Redis.Password != tc.pass || c.Redis.SentinelPassword != tc.sentPw {
				t.Fatalf("got user %q pass %q sentinel %q", c.Redis.Username, c.Redis.Password, c.Redis.SentinelPassword)
			}
		})
	}
}

// TestListenAndAdminSettings: the defaults of the listener's settings,
// IPv4 and IPv6 forms of STUDIO_TRUSTED_PROXIES, a certificate pair, and
// a list of admin tokens.
func TestListenAndAdminSettings(t *testing.T) {
	c, err := configOf(t, "serve", nil)
	if err != nil || c.MaxConns != 4096 || c.IdleTimeout != 30*time.Second || len(c.TrustedProxies) != 0 || c.TLSCertFile != "" || len(c.AdminTokens) != 0 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	p := redistest.NewPKI(t)
	const second = "cfg-admin-2d8f4b6a0c1e3f5b7d9a2c4e6f8b0d1a3c5e7f9b2d4a6c8e"
	c, err = configOf(t, "serve", map[string]string{
		"STUDIO_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1, ::ffff:172.16.0.0/108",
		"STUDIO_TLS_CERT_FILE":   p.ServerCert, "STUDIO_TLS_KEY_FILE": p.ServerKey,
		"STUDIO_MAX_CONNS": "16", "STUDIO_IDLE_TIMEOUT": "5s",
		"STUDIO_ADMIN_TOKEN": strongToken + " , " + second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pr := range c.TrustedProxies {
		got = append(got, pr.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.168.1.7/32 fd00::/8 ::1/128 172.16.0.0/12" {
		t.Errorf("trusted proxies %q", got)
	}
	if c.TLSCertFile != p.ServerCert || c.MaxConns != 16 || c.IdleTimeout != 5*time.Second || strings.Join(c.AdminTokens, ",") != strongToken+","+second {
		t.Errorf("config %+v", c)
	}
	if !strings.HasPrefix(externalURL(c), "https://") {
		t.Errorf("external URL %q with Studio's own TLS, want https", externalURL(c))
	}
}

// TestL1TTLZeroTurnsTheL1Off: STUDIO_L1_TTL=0 (in any spelling of zero)
// is no in-process cache, which the session package spells L1Off; every
// other value keeps its meaning.
func TestL1TTLZeroTurnsTheL1Off(t *testing.T) {
	for _, v := range []string{"0", "0s", "0ms", "-0s"} {
		c, err := configOf(t, "serve", map[string]string{"STUDIO_L1_TTL": v})
		if err != nil {
			t.Fatalf("STUDIO_L1_TTL=%q: %v", v, err)
		}
		if c.L1TTL != 0 || sessionL1TTL(c.L1TTL) != session.L1Off {
			t.Fatalf("STUDIO_L1_TTL=%q: L1TTL %v, session option %v; want 0 and L1Off", v, c.L1TTL, sessionL1TTL(c.L1TTL))
		}
	}
	for v, want := range map[string]time.Duration{"": 5 * time.Second, "100ms": 100 * time.Millisecond, "1m": time.Minute} {
		env := map[string]string{}
		if v != "" {
			env["STUDIO_L1_TTL"] = v
		}
		c, err := configOf(t, "serve", env)
		if err != nil || c.L1TTL != want || sessionL1TTL(c.L1TTL) != want {
			t.Fatalf("STUDIO_L1_TTL=%q: %v, %v; want %v", v, c.L1TTL, err, want)
		}
	}
}

// TestServeWithL1Off: with STUDIO_L1_TTL=0 the service answers every
// validation from Redis, never from an in-process cache.
func TestServeWithL1Off(t *testing.T) {
	rs := redistest.Start(t)
	a := openTestApp(t, rs, map[string]string{"STUDIO_L1_TTL": "0", "STUDIO_WARM_ON_START": "false"}, io.Discard, nil)
	tok, _, err := a.sessions.Create(t.Context(), session.CreateParams{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, tier, err := a.sessions.ValidateTier(t.Context(), tok.Reveal()); err != nil || tier != session.TierRedis {
			t.Fatalf("validate: tier %v, %v; want redis", tier, err)
		}
	}
	if st := a.sessions.Stats(); st.Hits[session.TierL1] != 0 || st.Hits[session.TierRedis] != 3 {
		t.Fatalf("hits by tier %v, want 3 from redis and none from the L1", st.Hits)
	}
}
