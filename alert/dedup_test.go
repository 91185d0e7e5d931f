package alert

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

// twoRules: one critical alert (to pagerduty) and one warning (to slack).
const twoRules = `rules:
  - name: HitRate
    expr: cache_hit_rate < 0.8
    severity: critical
  - name: Memory
    expr: memory_used_ratio > 0.9
    severity: warning
route:
  group_wait: 0s
  group_interval: %s
  repeat_interval: %s
  routes:
    - matchers: [severity=critical]
      receiver: pagerduty
    - matchers: [severity=warning]
      receiver: slack
`

func TestMain(m *testing.M) {
	// go-redis logs dial failures to stderr; the tests stop servers on
	// purpose.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// fastClient fails fast when the server is gone.
func fastClient(o *redis.Options) {
	o.MaxRetries = -1
	o.DialTimeout = 200 * time.Millisecond
	o.ReadTimeout = 200 * time.Millisecond
	o.WriteTimeout = 200 * time.Millisecond
}

// cluster is several Engines evaluating the same rules on one clock, each
// with its own samples and recording receivers.
type cluster struct {
	t     *testing.T
	clock *fakeClock
	hs    []*harness
	ss    []*samples
}

func newCluster(t *testing.T, n int, src string, srv *redistest.Server) *cluster {
	c := &cluster{t: t, clock: newFakeClock()}
	for i := range n {
		c.add(src, srv, fmt.Sprintf("inst%d", i))
	}
	return c
}

func (c *cluster) add(src string, srv *redistest.Server, name string) int {
	s := newSamples()
	o := EngineOptions{Samples: s.get, Instance: name, RedisTimeout: 500 * time.Millisecond}
	if srv != nil {
		o.Redis = srv.Client(c.t, fastClient)
	}
	c.hs = append(c.hs, newHarness(c.t, src, c.clock, o, "pagerduty", "slack"))
	c.ss = append(c.ss, s)
	return len(c.hs) - 1
}

// tick evaluates every instance at once, waits for their deliveries, and
// advances the clock a second.
func (c *cluster) tick() {
	var wg sync.WaitGroup
	for _, h := range c.hs {
		wg.Go(h.e.tick)
	}
	wg.Wait()
	for _, h := range c.hs {
		h.settle()
	}
	c.clock.Advance(time.Second)
}

// sent gathers what every instance sent to receiver.
func (c *cluster) sent(receiver string, state State) []*Alert {
	var out []*Alert
	for _, h := range c.hs {
		out = append(out, h.recs[receiver].sent(state)...)
	}
	return out
}

func (c *cluster) bad(i int, bad bool) {
	hit, mem := 0.95, 0.5
	if bad {
		hit, mem = 0.5, 0.95
	}
	c.ss[i].put("cache_hit_rate", hit)
	c.ss[i].put("memory_used_ratio", mem)
}

func dedupKeys(as []*Alert) string {
	var ks []string
	for _, a := range as {
		ks = append(ks, a.DedupKey)
	}
	return strings.Join(ks, ",")
}

// TestDedupThreeInstances: three instances that start firing 2 s apart and
// resolve 2 s apart (plus a fourth that starts while the alert fires, as a
// restarted instance would) send exactly one trigger and one resolve per
// alert per receiver, all with one DedupKey.
func TestDedupThreeInstances(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, 3, fmt.Sprintf(twoRules, "1s", "1h"), srv)
	for i := range c.hs {
		c.bad(i, false)
	}
	for sec := 0; sec < 100; sec++ {
		for i := range 3 {
			switch sec {
			case 2 * i:
				c.bad(i, true)
			case 60 + 2*i:
				c.bad(i, false)
			}
		}
		switch sec {
		case 30:
			late := c.add(fmt.Sprintf(twoRules, "1s", "1h"), srv, "late")
			c.bad(late, true)
		case 66:
			c.bad(3, false)
		case 40: // every instance shows the same DedupKey
			var keys []string
			for _, h := range c.hs {
				for _, a := range h.e.Alerts() {
					keys = append(keys, a.Rule+"="+a.DedupKey)
				}
			}
			for _, k := range keys {
				if k != keys[0] && k != keys[1] || strings.HasSuffix(k, "=") {
					t.Errorf("instances disagree on the dedup keys: %v", keys)
					break
				}
			}
		}
		c.tick()
	}
	for _, tc := range []struct{ receiver, rule string }{{"pagerduty", "HitRate"}, {"slack", "Memory"}} {
		trig, res := c.sent(tc.receiver, StateFiring), c.sent(tc.receiver, StateResolved)
		if len(trig) != 1 || len(res) != 1 {
			t.Errorf("%s: %d triggers (%s), %d resolves (%s): want exactly one of each", tc.receiver, len(trig), dedupKeys(trig), len(res), dedupKeys(res))
			continue
		}
		if trig[0].Rule != tc.rule || trig[0].DedupKey != res[0].DedupKey || !strings.HasPrefix(trig[0].DedupKey, trig[0].Fingerprint+"-") {
			t.Errorf("%s: trigger %s %q, resolve %q", tc.receiver, trig[0].Rule, trig[0].DedupKey, res[0].DedupKey)
		}
	}
	// A new episode gets a new key: fire and resolve again.
	for i := range c.hs {
		c.bad(i, true)
	}
	c.tick()
	for i := range c.hs {
		c.bad(i, false)
	}
	c.tick()
	c.tick()
	trig := c.sent("pagerduty", StateFiring)
	res := c.sent("pagerduty", StateResolved)
	if len(trig) != 2 || len(res) != 2 || trig[1].DedupKey == trig[0].DedupKey || res[1].DedupKey != trig[1].DedupKey {
		t.Errorf("second episode: triggers %s, resolves %s", dedupKeys(trig), dedupKeys(res))
	}
}

// TestDedupRepeats: three instances send one repeat per repeat interval
// between them.
func TestDedupRepeats(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, 3, fmt.Sprintf(twoRules, "10s", "1m"), srv)
	for i := range c.hs {
		c.bad(i, true)
	}
	for range 186 { // t0 … t185: the trigger, then repeats at 60, 120 and 180
		c.tick()
	}
	for _, r := range []string{"pagerduty", "slack"} {
		if got := c.sent(r, StateFiring); len(got) != 4 {
			t.Errorf("%s: %d triggers and repeats across instances, want 4", r, len(got))
		}
	}
}

// TestDedupRedisDown: with Redis stopped, every instance still notifies:
// at least once, with the fingerprint as DedupKey.
func TestDedupRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, 3, fmt.Sprintf(twoRules, "1s", "1h"), srv)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range c.hs {
		c.bad(i, true)
	}
	for range 3 {
		c.tick()
	}
	for i := range c.hs {
		c.bad(i, false)
	}
	for range 3 {
		c.tick()
	}
	for _, r := range []string{"pagerduty", "slack"} {
		trig, res := c.sent(r, StateFiring), c.sent(r, StateResolved)
		if len(trig) < 1 || len(res) < 1 {
			t.Errorf("%s: %d triggers, %d resolves: want at least one of each", r, len(trig), len(res))
		}
		for _, a := range append(trig, res...) {
			if a.DedupKey != a.Fingerprint {
				t.Errorf("%s: dedup key %q, want the fingerprint %q", r, a.DedupKey, a.Fingerprint)
			}
		}
		t.Logf("%s with Redis down: %d triggers, %d resolves", r, len(trig), len(res))
	}
	if n := testutil.ToFloat64(c.hs[0].e.m.dedupFallbacks); n == 0 {
		t.Error("the fallbacks were not counted")
	}
}

// TestDedupRedisLostMidEpisode: Redis goes away after the trigger; the
// resolve still goes out (at least once), with the episode's key.
func TestDedupRedisLostMidEpisode(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, 3, fmt.Sprintf(twoRules, "1s", "1h"), srv)
	for i := range c.hs {
		c.bad(i, true)
	}
	for range 3 {
		c.tick()
	}
	trig := c.sent("pagerduty", StateFiring)
	if len(trig) != 1 {
		t.Fatalf("%d triggers with Redis up", len(trig))
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range c.hs {
		c.bad(i, false)
	}
	for range 3 {
		c.tick()
	}
	res := c.sent("pagerduty", StateResolved)
	if len(res) < 1 {
		t.Fatal("no resolve with Redis down")
	}
	for _, a := range res {
		if a.DedupKey != trig[0].DedupKey {
			t.Errorf("resolve key %q, trigger key %q", a.DedupKey, trig[0].DedupKey)
		}
	}
	t.Logf("resolves with Redis lost mid-episode: %d", len(res))
}

// TestDedupFailedSenderReleasesClaim: when the instance that claimed the
// trigger fails to deliver, another instance sends it.
func TestDedupFailedSenderReleasesClaim(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, 2, fmt.Sprintf(twoRules, "1s", "1h"), srv)
	for _, h := range c.hs {
		h.recs["pagerduty"].fail = func(int) (bool, error) { return false, errBoom }
	}
	c.bad(0, true)
	c.tick() // instance 0 claims, fails, releases
	if n := c.hs[0].recs["pagerduty"].callCount(); n != 1 {
		t.Fatalf("instance 0: %d calls", n)
	}
	c.hs[1].recs["pagerduty"].fail = nil
	c.bad(1, true)
	for range 2 { // only instance 1 evaluates meanwhile
		c.hs[1].tick()
		c.clock.Advance(time.Second)
	}
	if got := c.hs[1].recs["pagerduty"].sent(StateFiring); len(got) != 1 {
		t.Fatalf("instance 1 sent %d triggers after instance 0 failed", len(got))
	}
	c.hs[0].recs["pagerduty"].fail = nil
	before := c.hs[0].recs["pagerduty"].callCount()
	for range 3 {
		c.tick()
	}
	if n := c.hs[0].recs["pagerduty"].callCount() - before; n != 0 {
		t.Errorf("instance 0 sent %d more triggers: it must see instance 1 sent it", n)
	}
}

// TestSilencesSharedThroughRedis: a silence added on one instance mutes
// the alert on another; one added while Redis is down applies locally and
// reaches Redis when it is back.
func TestSilencesSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersist())
	c := newCluster(t, 2, fmt.Sprintf(twoRules, "1s", "1h"), srv)
	ctx := context.Background()
	m, _ := ParseMatcher("severity=critical")
	sil, err := c.hs[0].e.AddSilence(ctx, Silence{Matchers: Matchers{m}, EndsAt: c.clock.Now().Add(time.Hour), CreatedBy: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hs[1].e.sil.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range c.hs {
		c.bad(i, true)
	}
	c.tick()
	c.tick()
	if n := len(c.sent("pagerduty", StateFiring)); n != 0 {
		t.Fatalf("silenced alert sent %d times", n)
	}
	if n := len(c.sent("slack", StateFiring)); n != 1 {
		t.Fatalf("unsilenced alert sent %d times", n)
	}
	list, err := c.hs[1].e.Silences(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sil.ID {
		t.Fatalf("instance 1 lists %+v, %v", list, err)
	}
	// Expired on instance 1: instance 0 sends once it refreshes.
	if _, err := c.hs[1].e.ExpireSilence(ctx, sil.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.hs[0].e.sil.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c.tick()
	c.tick()
	if n := len(c.sent("pagerduty", StateFiring)); n != 1 {
		t.Fatalf("after expiry: %d triggers", n)
	}

	// Redis down: the silence applies here at once, and is written later.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	m2, _ := ParseMatcher(`alertname="Memory"`)
	down, err := c.hs[0].e.AddSilence(ctx, Silence{Matchers: Matchers{m2}, EndsAt: c.clock.Now().Add(time.Hour), CreatedBy: "ops", Comment: "during the outage"})
	if err != nil {
		t.Fatalf("AddSilence with Redis down: %v", err)
	}
	if ids := c.hs[0].e.sil.matching(map[string]string{"alertname": "Memory"}, c.clock.Now()); len(ids) != 1 {
		t.Fatalf("local silence not applied: %v", ids)
	}
	if _, err := c.hs[0].e.Silences(ctx); err == nil {
		t.Error("Silences hid the Redis failure")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.hs[0].e.sil.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.hs[1].e.sil.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := c.hs[1].e.sil.matching(map[string]string{"alertname": "Memory"}, c.clock.Now()); len(ids) != 1 || ids[0] != down.ID {
		t.Errorf("instance 1 does not see the silence added during the outage: %v", ids)
	}
}
