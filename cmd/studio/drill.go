package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/studiohq/studio/ha/drill"
	"github.com/studiohq/studio/internal/sleep"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
)

const drillUsage = `Usage: studio drill failover [flags]

Runs a write and validate workload against the Sentinel deployment named by
REDIS_SENTINELS and REDIS_MASTER_NAME, injects a fault into the master, and
reports what the failover cost. Faults:
  kill               kill -9 the master's process (local nodes only)
  freeze             SIGSTOP the master and one Sentinel, SIGCONT after the
                     failover (local nodes only)
  sentinel-failover  SENTINEL FAILOVER (works against remote nodes)
The workload writes sessions of its own to the store and to Redis.
`

// runDrill runs `studio drill failover`: the drills, a table per drill
// (or JSON with --json), and a summary over several. It fails (exit 1)
// when a drill could not run or did not recover.
func runDrill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	st := newSettings("drill failover", getenv, stderr, nil)
	st.header = drillUsage
	fault := st.fs.String("fault", "kill", "kill, freeze or sentinel-failover")
	count := st.fs.Int("count", 1, "how many drills to run one after another (1-20)")
	asJSON := st.fs.Bool("json", false, "print the reports as JSON")
	warmup := st.fs.Duration("warmup", 2*time.Second, "workload time before the fault")
	settle := st.fs.Duration("settle", 2*time.Second, "workload time after recovery")
	pause := st.fs.Duration("pause", 5*time.Second, "wait between drills, for the topology to settle")
	if len(args) > 0 && isHelpFlag(args[0]) {
		st.usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "failover" {
		fmt.Fprint(stderr, drillUsage)
		return usageErrorf("want the drill kind: studio drill failover")
	}
	if err := st.parse(args[1:]); err != nil {
		return err
	}
	cfg, err := st.Config()
	if err != nil {
		return err
	}
	f, err := drill.ParseFault(*fault)
	if err != nil {
		return usageErrorf("invalid --fault: %v", err)
	}
	if *count < 1 || *count > 20 {
		return usageErrorf("invalid --count %d: must be between 1 and 20", *count)
	}
	if cfg.Redis.Mode() != "sentinel" {
		return usageErrorf("the failover drill needs a Sentinel deployment: set REDIS_SENTINELS and REDIS_MASTER_NAME")
	}

	log := commandLogger(stderr, cfg.LogLevel)
	store, rc, err := openStoreAndTLS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{})
	if rc.Follower, err = redisconn.NewMasterFollower(rc, log); err != nil {
		return err
	}
	fctx, stopFollower := context.WithCancel(ctx)
	followerDone := make(chan struct{})
	go func() { defer close(followerDone); rc.Follower.Run(fctx) }()
	defer func() { stopFollower(); <-followerDone }()
	rdb, err := redisconn.Open(rc)
	if err != nil {
		return fmt.Errorf("open redis client: %w", err)
	}
	defer rdb.Close()
	nodes, err := redisconn.NewNodeClients(rc)
	if err != nil {
		return err
	}
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb, L1TTL: sessionL1TTL(cfg.L1TTL), CacheTTL: cfg.CacheTTL,
		ClockSkew: cfg.ClockSkew, StoreTimeout: cfg.StoreTimeout, Logger: log})
	if err != nil {
		return err
	}
	defer svc.Close()

	var reports []*drill.Report
	for i := range *count {
		if i > 0 && !sleep.Ctx(ctx, *pause) {
			return ctx.Err()
		}
		r, err := drill.Run(ctx, drill.Options{
			Sentinels: rc.Sentinels, MasterName: rc.MasterName,
			Redis: rdb, Sessions: svc,
			NewSentinelClient: nodes.Sentinel, NewNodeClient: nodes.Node,
			Fault: f, Warmup: *warmup, Settle: *settle, Logger: log,
		})
		if r != nil {
			reports = append(reports, r)
			if !*asJSON {
				fmt.Fprintf(stdout, "drill %d of %d\n", i+1, *count)
				_ = r.WriteTable(stdout)
				fmt.Fprintln(stdout)
			}
		}
		if err != nil {
			printJSON(*asJSON, stdout, reports)
			return err
		}
	}
	if *asJSON {
		printJSON(true, stdout, reports)
		return nil
	}
	if len(reports) > 1 {
		s := drill.Summarize(reports)
		fmt.Fprintf(stdout, "%d drills: write unavailability median %.0f ms (max %.0f ms), detection median %.0f ms; failed validations %d, lost writes %d, lost session creates %d\n",
			s.Drills, s.MedianWriteUnavailableMS, s.MaxWriteUnavailableMS, s.MedianDetectedMS, s.ValidationsFailed, s.WritesLost, s.CreatesLost)
	}
	return nil
}

func printJSON(on bool, w io.Writer, reports []*drill.Report) {
	if !on {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"reports": reports, "summary": drill.Summarize(reports)})
}
