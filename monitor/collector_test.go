package monitor

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

// scrape registers a Collector of m on a fresh registry and returns its
// series as "name{l1="v1",…}" → value, labels in name order; it fails the
// test if the registry refuses or lint finds a problem.
func scrape(t *testing.T, m *Monitor) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(m))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, l := range mt.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			out[key] = value(mt)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}

// TestCollectorBeforeAPoll: a Monitor that has not polled yet exports
// every command outcome at 0 and no server figure, and no redis_up until
// a poll tells.
func TestCollectorBeforeAPoll(t *testing.T) {
	srv := redistest.Start(t)
	got := scrape(t, New(Options{Redis: srv.Client(t)}))
	want := map[string]float64{"studio_redis_poll_failures": 0, "studio_hotkey_top_accesses_per_minute": 0}
	for _, o := range outcomeNames {
		want[`studio_redis_commands_total{outcome="`+o+`"}`] = 0
	}
	if !equalSeries(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

func equalSeries(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCollectorServerMetrics: after polls, the server's health is exported
// with redis_exporter's names, per node (addr), from the master's and the
// replica's INFO; the client-side commands by outcome; a scrape sends no
// command to Redis; once the polls fail, redis_up drops to 0 while the
// server figures keep their last values.
func TestCollectorServerMetrics(t *testing.T) {
	master := redistest.Start(t, redistest.WithArgs("--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru", "--repl-diskless-sync-delay", "0"))
	host, port, _ := net.SplitHostPort(master.Addr())
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", host, port))
	ctx := context.Background()
	c := master.Client(t, fastFail)
	m := New(Options{Redis: c})
	waitFor(t, 10*time.Second, "master lists the replica online", func() bool {
		m.pollOnce(ctx)
		r := m.Snapshot().Redis.Replicas
		return len(r) == 1 && r[0].State == "online"
	})
	// Evictions, hits and misses.
	val := strings.Repeat("x", 1024)
	for i := range 12000 {
		if err := c.Set(ctx, "fill:"+strconv.Itoa(i), val, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Get(ctx, "fill:11999")
	c.Get(ctx, "missing")
	m.RecordCommand(time.Millisecond, "ok")
	m.RecordCommand(time.Millisecond, "timeout")
	m.pollOnce(ctx)

	calls := func() int64 {
		v, _ := ParseFields(ParseInfo(c.Info(ctx, "commandstats").Val())["commandstats"]["cmdstat_info"])["calls"]
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	before := calls()
	got := scrape(t, m)
	if after := calls(); after != before+1 { // the +1 is calls' own INFO
		t.Errorf("a scrape sent %d INFO commands to Redis, want none", after-before-1)
	}

	a := `addr="` + master.Addr() + `"`
	rhost, rport, _ := net.SplitHostPort(replica.Addr())
	version := serverString(t, c, "server", "redis_version")
	for k, want := range map[string]float64{
		"redis_up":                          1,
		"studio_redis_poll_failures":        0,
		"studio_redis_master_known":         1,
		"redis_memory_max_bytes{" + a + "}": 8 << 20,
		"redis_max_clients{" + a + "}":      float64(serverInt(t, c, "clients", "maxclients")),
		"redis_connected_slaves{" + a + "}": 1,
		"redis_instance_info{" + a + `,redis_mode="standalone",redis_version="` + version + `",role="master"}`: 1,
		`studio_redis_commands_total{outcome="timeout"}`:                                                       1,
		`studio_redis_commands_total{outcome="ok"}`:                                                            1,
		`studio_redis_commands_total{outcome="network"}`:                                                       0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	for _, k := range []string{
		"redis_memory_used_bytes{" + a + "}", "redis_connected_clients{" + a + "}", "redis_evicted_keys_total{" + a + "}",
		"redis_keyspace_hits_total{" + a + "}", "redis_keyspace_misses_total{" + a + "}", "redis_commands_processed_total{" + a + "}",
		"redis_db_keys{" + a + `,db="db0"}`,
	} {
		if got[k] <= 0 {
			t.Errorf("%s = %v, want more than 0", k, got[k])
		}
	}
	// Present, perhaps at 0: the uptime in the first second, a replica's
	// offset until its first acknowledgement.
	replicaLabels := "{" + a + `,slave_ip="` + rhost + `",slave_port="` + rport + `",slave_state="online"}`
	for _, k := range []string{"redis_uptime_in_seconds{" + a + "}", "redis_connected_slave_lag_seconds" + replicaLabels, "redis_connected_slave_offset_bytes" + replicaLabels} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s: %v", k, got)
		}
	}
	if _, ok := got["studio_redis_replicas_link_down"]; !ok || got["studio_redis_replicas_link_down"] != 0 {
		t.Errorf("studio_redis_replicas_link_down = %v", got["studio_redis_replicas_link_down"])
	}

	onReplica := New(Options{Redis: replica.Client(t, fastFail)})
	onReplica.pollOnce(ctx)
	ra := `addr="` + replica.Addr() + `"`
	if v, ok := scrape(t, onReplica)["redis_master_link_up{"+ra+`,master_host="`+host+`",master_port="`+port+`"}`]; !ok || v != 1 {
		t.Errorf("redis_master_link_up on the replica = %v (present %v), want 1", v, ok)
	}

	used := got["redis_memory_used_bytes{"+a+"}"]
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.pollOnce(ctx)
	}
	got = scrape(t, m)
	if got["redis_up"] != 0 || got["studio_redis_poll_failures"] != 3 || got["redis_memory_used_bytes{"+a+"}"] != used {
		t.Errorf("after 3 failed polls: redis_up %v, failures %v, used memory %v (was %v)",
			got["redis_up"], got["studio_redis_poll_failures"], got["redis_memory_used_bytes{"+a+"}"], used)
	}
}

func serverString(t *testing.T, c *redis.Client, section, key string) string {
	t.Helper()
	text, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ParseInfo(text).Get(section, key)
	return v
}
