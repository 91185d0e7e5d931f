package drill_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/ha/drill"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// setup starts the local HA topology (a master, two replicas, three
// Sentinels) and a session service on it the way `studio serve` builds
// one: the Sentinel client with short timeouts and the circuit breaker,
// and a SQLite store.
func setup(t *testing.T) (*redistest.Topology, drill.Options) {
	t.Helper()
	topo := redistest.StartSentinel(t)
	rc := redisconn.Config{Sentinels: topo.SentinelAddrs(), MasterName: topo.MasterName(),
		Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{})}
	f, err := redisconn.NewMasterFollower(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	rc.Follower = f
	rdb, err := redisconn.Open(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	store, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	nodes, err := redisconn.NewNodeClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	return topo, drill.Options{
		Sentinels: topo.SentinelAddrs(), MasterName: topo.MasterName(),
		Redis: rdb, Sessions: svc,
		NewSentinelClient: nodes.Sentinel, NewNodeClient: nodes.Node,
		Warmup: time.Second, Settle: time.Second, RejoinTimeout: 40 * time.Second,
	}
}

// check asserts the drill's goals: recovery within 10 s, no validation
// failed, no acknowledged session create lost, and the old master back as
// a replica.
func check(t *testing.T, r *drill.Report, err error) {
	t.Helper()
	var b strings.Builder
	if r != nil {
		_ = r.WriteTable(&b)
	}
	t.Logf("drill report:\n%s", b.String())
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if !r.Recovered || r.FirstWriteMS < 0 || r.FirstWriteMS > 10_000 {
		t.Errorf("writes resumed at %.0f ms (recovered %v); want within 10 s", r.FirstWriteMS, r.Recovered)
	}
	if r.MasterAfter == r.MasterBefore || r.MasterAfter == "" {
		t.Errorf("master %q → %q: no failover", r.MasterBefore, r.MasterAfter)
	}
	if r.ValidationsFailed != 0 || r.Validations == 0 {
		t.Errorf("%d of %d validations failed (%v); want none", r.ValidationsFailed, r.Validations, r.ValidationErrors)
	}
	if r.CreatesLost != 0 || r.CreatesAcked == 0 {
		t.Errorf("%d of %d acknowledged session creates lost", r.CreatesLost, r.CreatesAcked)
	}
	if r.WritesAcked == 0 || r.DetectedMS < 0 {
		t.Errorf("writes acked %d, detection %.0f ms: the drill saw nothing", r.WritesAcked, r.DetectedMS)
	}
	if !r.Rejoined {
		t.Errorf("the old master %s did not rejoin as a replica", r.MasterBefore)
	}
	t.Logf("MEASURED fault=%s write_unavailable_ms=%.0f detected_ms=%.0f switched_ms=%.0f agreed_ms=%.0f writes_lost=%d validation_p99_ms=%.2f",
		r.Fault, r.WriteUnavailableMS, r.DetectedMS, r.SwitchedMS, r.AgreedMS, r.WritesLost, r.ValidateP99MS)
}

func TestDrillKillMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("the failover drills take about 20 s each; -short skips them")
	}
	topo, o := setup(t)
	o.Fault = drill.FaultKill
	o.Restart = func(ctx context.Context, addr string) error {
		n := topo.Node(addr)
		if n == nil {
			t.Fatalf("no node at %s", addr)
		}
		return n.Restart(ctx)
	}
	r, err := drill.Run(t.Context(), o)
	check(t, r, err)
}

func TestDrillFreezeMasterAndSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("the failover drills take about 20 s each; -short skips them")
	}
	_, o := setup(t)
	o.Fault = drill.FaultFreeze
	r, err := drill.Run(t.Context(), o)
	check(t, r, err)
	if r != nil && r.FrozenSentinel == "" {
		t.Error("no Sentinel was frozen")
	}
}

func TestDrillRefusesRemoteNodesForLocalFaults(t *testing.T) {
	_, o := setup(t)
	o.Sentinels = []string{"203.0.113.7:26379"} // TEST-NET-3: never dialled successfully
	o.Fault = drill.FaultKill
	o.RecoveryTimeout = time.Second
	_, err := drill.Run(t.Context(), o)
	if err == nil {
		t.Fatal("a drill with unreachable Sentinels ran")
	}
}

func TestParseFault(t *testing.T) {
	for _, s := range []string{"kill", "freeze", "sentinel-failover"} {
		if f, err := drill.ParseFault(s); err != nil || string(f) != s {
			t.Errorf("ParseFault(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "KILL", "kill -9", "stop"} {
		if _, err := drill.ParseFault(s); err == nil {
			t.Errorf("ParseFault(%q) accepted", s)
		}
	}
}

// TestDrillReportsNoRecovery: when the failover takes longer than
// RecoveryTimeout the drill returns an error with its partial report,
// promptly (it once hung here waiting for its own event followers).
func TestDrillReportsNoRecovery(t *testing.T) {
	_, o := setup(t)
	o.Fault = drill.FaultKill
	o.Warmup = 200 * time.Millisecond
	o.RecoveryTimeout = 300 * time.Millisecond // a failover takes about 2 s
	start := time.Now()
	r, err := drill.Run(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "no recovery") {
		t.Fatalf("err = %v, want no recovery", err)
	}
	if r == nil || r.Recovered || r.WritesAcked == 0 {
		t.Fatalf("partial report %+v", r)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("the failed drill took %s to return", el)
	}
}
