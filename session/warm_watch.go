package session

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watch re-warms Redis, without operator action, when it comes back
// without the sessions it held. Every interval (default 5s) it reads the
// server's run_id and role. A different run_id means the process behind
// the address was replaced: a restart, or a failover to another node.
// Watch then warms again when the new server lost the data: when the
// marker key written by the last run is missing (a restart without
// persistence, or a promoted replica that never had it) or the session
// keyspace is empty. Checking the marker, not only emptiness, matters
// under load: by the time Watch looks, validations may already have
// filled a few hot sessions. A server that kept its data (persistence,
// an up-to-date replica) is left alone, as is a replica (role other than
// master). A run that failed is retried at the next interval, then with
// a doubling delay (at most 5 minutes) while it keeps failing.
//
// In a Redis Cluster, Watch does this per master: each has its own
// run_id and its own marker (a key hashed to one of its slots), and a
// master that lost its data is warmed again alone: only the sessions whose
// keys hash to its slots are written.
//
// Watch returns when ctx ends. It takes the run_id recorded by the last
// Run as its reference, so call it after (or while) the start-up Run
// goes; a run it starts is in Progress like any other. Run it in one
// goroutine per Warmer.
func (w *Warmer) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if reason, slots := w.check(ctx, interval); reason != "" {
			w.log.Warn("redis lost its sessions; warming again", "reason", reason)
			_, _ = w.run(ctx, reason, slots) // logged, and in Progress
		}
	}
}

// check returns why Redis needs warming again, or "", and the slots to
// warm (nil: all; Cluster only).
func (w *Warmer) check(ctx context.Context, interval time.Duration) (string, *slotSet) {
	ctx, cancel := context.WithTimeout(ctx, max(interval, w.redisTimeout))
	defer cancel()
	w.mu.Lock()
	// A failed run is retried after interval, then twice as long after
	// each further failure, up to 5 minutes.
	failed := w.prog.State == WarmFailed &&
		w.now().Sub(w.prog.Finished) >= min(interval<<min(max(w.failures-1, 0), 16), 5*time.Minute)
	w.mu.Unlock()
	if cc, ok := w.rdb.(*redis.ClusterClient); ok {
		return w.checkCluster(ctx, cc, failed)
	}
	id, role, err := w.identity(ctx)
	if err != nil {
		w.log.Debug("warm watch: redis did not answer", "error", err)
		return "", nil
	}
	w.mu.Lock()
	known, set := w.knownID, w.knownSet
	if !set {
		w.knownID, w.knownSet = id, true
	}
	w.mu.Unlock()
	if role != "master" {
		return "", nil
	}
	if failed {
		return "retrying the failed warm", nil
	}
	if !set || id == known {
		return "", nil
	}
	// The server changed. Remember it, so a server that kept its data is
	// looked at once, not at every interval.
	w.mu.Lock()
	w.knownID = id
	w.mu.Unlock()
	n, err := w.rdb.Exists(ctx, w.markerKey()).Result()
	if err != nil {
		w.log.Debug("warm watch: marker check failed", "error", err)
		w.mu.Lock()
		w.knownID = known // look again next time
		w.mu.Unlock()
		return "", nil
	}
	if n == 0 {
		return "redis restarted or failed over without its data (run_id changed, warm marker missing)", nil
	}
	empty, err := w.keyspaceEmpty(ctx)
	if err == nil && empty {
		return "redis restarted or failed over with an empty session keyspace (run_id changed)", nil
	}
	w.log.Info("redis restarted or failed over and kept its sessions; not warming", "role", role)
	return "", nil
}

// identity returns the server's run_id and role. Both are empty for a
// Cluster client, whose INFO answers from an arbitrary node: the per-batch
// run_id check is off there, and Watch reads every master instead (see
// checkCluster).
func (w *Warmer) identity(ctx context.Context) (runID, role string, err error) {
	if _, ok := w.rdb.(*redis.ClusterClient); ok {
		return "", "", nil
	}
	info, err := w.rdb.Info(ctx, "server", "replication").Result()
	if err != nil {
		return "", "", err
	}
	runID, role = infoField(info, "run_id"), infoField(info, "role")
	if runID == "" {
		return "", "", errors.New("INFO server has no run_id")
	}
	return runID, role, nil
}

// markerKey names the key a run writes when it starts. Its absence on a
// server means that server does not hold what was warmed.
func (w *Warmer) markerKey() string { return w.prefix + "warm" }

// keyspaceEmpty reports whether no session key exists, scanning at most a
// few thousand keys' worth of the keyspace.
func (w *Warmer) keyspaceEmpty(ctx context.Context) (bool, error) {
	match := w.prefix + "s:*"
	var cursor uint64
	for range 10 {
		keys, next, err := w.rdb.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return false, err
		}
		if len(keys) > 0 {
			return false, nil
		}
		if next == 0 {
			return true, nil
		}
		cursor = next
	}
	return false, nil // too big to tell cheaply: not empty
}
