package helm

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/charttest"
)

// TestBadValues: values the chart must refuse, each with the message
// rendering gives (the schema's for what it can see, the chart's own for
// the rest). Each case starts from a values file that renders.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		base   string // a ci/ values file
		values string
		want   string
	}{
		// The schema.
		{"unknown top-level key", "sentinel", "replicas: 3\n", "additional properties 'replicas' not allowed"},
		{"typo in a nested key", "sentinel", "redis:\n  sentinel: [a:1]\n", "at '/redis': additional properties 'sentinel' not allowed"},
		{"unknown Redis mode", "sentinel", "redis:\n  mode: replicated\n", "at '/redis/mode': value must be one of 'standalone', 'sentinel', 'cluster'"},
		{"a secret as a value", "sentinel", "adminToken:\n  value: hunter2hunter2hunter2\n", "at '/adminToken': additional properties 'value' not allowed"},
		{"a setting of the wrong type", "sentinel", "settings:\n  l1TTL: 5\n", "at '/settings/l1TTL'"},
		{"a malformed duration", "sentinel", "settings:\n  cacheTTL: ten minutes\n", "at '/settings/cacheTTL'"},
		{"a drain Studio refuses", "sentinel", "shutdown:\n  drainSeconds: 600\n", "at '/shutdown/drainSeconds'"},
		{"a Sentinel address without a port", "sentinel", "redis:\n  sentinels: [sentinel-0.data.svc]\n", "at '/redis/sentinels/0'"},
		// The chart's own checks.
		{"SQLite with 3 replicas", "sentinel", "database:\n  driver: sqlite\nreplicaCount: 3\n",
			"database.driver=sqlite keeps sessions in each pod's own emptyDir: with replicaCount: 3 every replica would have sessions of its own"},
		{"SQLite with autoscaling", "sqlite-dev", "autoscaling:\n  enabled: true\n", "database.driver=sqlite keeps sessions in each pod's own emptyDir: with autoscaling"},
		{"drain longer than the grace period", "sentinel", "shutdown:\n  drainSeconds: 40\nterminationGracePeriodSeconds: 30\n",
			"terminationGracePeriodSeconds (30) must be greater than shutdown.drainSeconds + shutdown.timeoutSeconds (40 + 20 = 60)"},
		{"grace period equal to drain + timeout", "sentinel", "terminationGracePeriodSeconds: 25\n",
			"terminationGracePeriodSeconds (25) must be greater than shutdown.drainSeconds + shutdown.timeoutSeconds (5 + 20 = 25)"},
		{"no image", "sentinel", "image:\n  repository: \"\"\n", "image.repository is required"},
		{"no admin token Secret", "sentinel", "adminToken:\n  existingSecret:\n    name: \"\"\n", "adminToken.existingSecret.name is required"},
		{"PostgreSQL without its Secret", "sentinel", "database:\n  existingSecret:\n    name: \"\"\n", "database.driver=postgres needs database.existingSecret.name"},
		{"a Redis URL with a password", "sqlite-dev", "redis:\n  url: redis://:hunter2@redis.dev.svc:6379/0\n", "a URL with a password belongs in a Secret (redis.existingSecret)"},
		{"standalone without a URL", "sqlite-dev", "redis:\n  url: \"\"\n", "redis.mode=standalone needs redis.url (no password) or redis.existingSecret.name"},
		{"sentinel without a master name", "sentinel", "redis:\n  masterName: \"\"\n", "redis.mode=sentinel needs redis.sentinels (host:port list) and redis.masterName"},
		{"a URL in sentinel mode", "sentinel", "redis:\n  url: redis://127.0.0.1:6379/0\n", "redis.url and redis.existingSecret are for standalone mode"},
		{"sentinels in cluster mode", "cluster", "redis:\n  sentinels: [s:26379]\n", "redis.mode=cluster: redis.sentinels and redis.masterName must be empty"},
		{"plaintext to a remote Redis", "sentinel", "redis:\n  allowPlaintext: false\n", "is not loopback and redis.tls is off: Studio refuses plaintext Redis there"},
		{"an ACL user without a password", "sqlite-dev", "redis:\n  auth:\n    username: studio\n", "redis.auth.username needs redis.auth.existingSecret"},
		{"a Sentinel password outside sentinel mode", "cluster", "redis:\n  auth:\n    sentinelExistingSecret: {name: s, key: k}\n", "redis.auth.sentinelExistingSecret is the Sentinels' password: only for redis.mode=sentinel"},
		{"the Redis password in two places", "standalone", "redis:\n  auth:\n    existingSecret: {name: s, key: k}\n", "give the password in one place"},
		{"replica reads on one Redis", "sqlite-dev", "redis:\n  readReplicas: true\n", "redis.readReplicas needs redis.mode=sentinel or cluster"},
		{"TLS without its Secret", "cluster", "redis:\n  tls:\n    existingSecret: \"\"\n", "redis.tls.enabled needs redis.tls.existingSecret"},
		{"TLS with a redis:// URL", "sqlite-dev", "redis:\n  tls:\n    enabled: true\n    existingSecret: ca\n", "redis.tls.enabled with a redis:// URL"},
		{"rules inline and from a ConfigMap", "sentinel", "alerting:\n  rules: \"rules: []\"\n  existingConfigMap:\n    name: x\n", "alerting.rules and alerting.existingConfigMap.name are both set"},
		{"both PDB bounds", "sentinel", "podDisruptionBudget:\n  minAvailable: 1\n", "podDisruptionBudget: set exactly one of maxUnavailable and minAvailable"},
		{"extraEnv repeats a chart setting", "sentinel", "extraEnv:\n  - name: STUDIO_LOG_LEVEL\n    value: debug\n", "extraEnv sets STUDIO_LOG_LEVEL, which the chart already sets"},
		{"extraEnv with a plain secret", "cluster", "extraEnv:\n  - name: SLACK_WEBHOOK_URL\n    value: https://hooks.example.com/x\n", "extraEnv gives SLACK_WEBHOOK_URL as a plain value"},
		{"autoscaling bounds reversed", "sentinel", "autoscaling:\n  enabled: true\n  minReplicas: 5\n  maxReplicas: 2\n", "autoscaling.minReplicas is greater than autoscaling.maxReplicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := renderErr(t, charttest.Options{ValuesFiles: []string{ciFile(tc.base + "-values.yaml")}, Values: []string{tc.values}})
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats the secret: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestLint runs `helm lint --strict` with every example values file. Lint
// only logs a template's fail (as "funcMap fail"), so its output is
// checked for that too.
func TestLint(t *testing.T) {
	needHelm(t)
	files, err := filepath.Glob(ciFile("*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for _, want := range []string{"standalone-values.yaml", "sentinel-values.yaml", "cluster-values.yaml", "all-values.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("ci/%s is missing", want)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := charttest.Lint(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, "funcMap fail") || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint --strict:\n%s", out)
			}
		})
	}
}
