package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

// uncomment returns conf with the commented directives whose text matches
// re made live and every <password> replaced by password.
func uncomment(conf string, re *regexp.Regexp, password string) string {
	var b strings.Builder
	for line := range strings.Lines(conf) {
		if body, ok := strings.CutPrefix(line, "# "); ok && re.MatchString(body) {
			line = body
		}
		b.WriteString(strings.ReplaceAll(line, "<password>", password))
	}
	return b.String()
}

// startWithConf starts redis-server from conf, as deploy/redis ships it,
// with only the port, bind address and directory changed for the test.
func startWithConf(t *testing.T, conf string) *redistest.Server {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "redis.conf")
	conf = regexp.MustCompile(`(?m)^(port|bind|maxmemory) .*$`).ReplaceAllString(conf, "")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := redistest.Launch(context.Background(), redistest.Config{Dir: filepath.Join(dir, "data"), ConfigFile: path})
	if err != nil {
		t.Fatalf("redis-server does not start from the shipped configuration: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// TestShippedRedisConfigs: the single-node configuration takes writes (the
// HA one's min-replicas-to-write would refuse them all), and Studio runs
// on it with the requirepass it documents and with the ACL user it
// documents for the data nodes.
func TestShippedRedisConfigs(t *testing.T) {
	const pw = "shipped-conf-password-0123"
	single := string(mustRead(t, "../../deploy/redis/redis-single.conf"))
	ha := string(mustRead(t, "../../deploy/redis/redis.conf"))

	lone := startWithConf(t, ha)
	if err := lone.Client(t).Set(context.Background(), "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOREPLICAS") {
		t.Fatalf("the HA configuration on a lone node: %v; want NOREPLICAS (what redis-single.conf is for)", err)
	}

	for _, tc := range []struct {
		name, conf string
		env        map[string]string
	}{
		{"requirepass", uncomment(single, regexp.MustCompile(`^requirepass `), pw), map[string]string{"REDIS_PASSWORD": pw}},
		{"acl user", uncomment(single+aclBlock(t, ha), regexp.MustCompile(`^(user|masteruser|masterauth) `), pw), map[string]string{"REDIS_USERNAME": "studio", "REDIS_PASSWORD": pw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWithConf(t, tc.conf)
			if err := s.Client(t).Ping(context.Background()).Err(); err == nil {
				t.Fatal("the server answers without a password")
			}
			const admin = "conf-admin-0ad856ca59a6987dffa6dc804600a5e6e9463e66f814d95b"
			env := map[string]string{
				"STUDIO_ADMIN_TOKEN": admin,
				"REDIS_URL":          "redis://" + s.Addr() + "/0",
				"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "studio.db"),
			}
			for k, v := range tc.env {
				env[k] = v
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := startServe(t, ctx, env)
			readyRedis(t, srv.base, "ok")
			tok := createToken(t, srv.base, admin, "conf-user")
			if code, body := send(t, "GET", srv.base+"/v1/session", tok, ""); code != 200 {
				t.Fatalf("validate: %d %s", code, body)
			}
			if code, body := send(t, "DELETE", srv.base+"/v1/session", tok, ""); code != 204 {
				t.Fatalf("revoke: %d %s", code, body)
			}
			if n, err := s.Client(t, func(o *redis.Options) { o.Username, o.Password = tc.env["REDIS_USERNAME"], pw }).Exists(ctx, "studio:s:x").Result(); err != nil || n != 0 {
				t.Fatalf("client with the documented credentials: %v", err)
			}
			if code, body := send(t, "GET", srv.base+"/health/redis", admin, ""); code != 200 || !strings.Contains(body, `"version":"`) {
				t.Fatalf("health snapshot (INFO) with these credentials: %d %s", code, body)
			}
		})
	}
}

// aclBlock is the commented ACL example of the HA configuration.
func aclBlock(t *testing.T, conf string) string {
	t.Helper()
	var b strings.Builder
	for line := range strings.Lines(conf) {
		if regexp.MustCompile(`^# (user|masteruser|masterauth) `).MatchString(line) {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		t.Fatal("deploy/redis/redis.conf has no ACL example")
	}
	return "\n" + b.String()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
