package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster support of the Warmer. A Cluster has no single run_id: each
// master has its own, and any one of them can restart empty while the
// others keep their data. So the warmer tracks every master's run_id, keeps
// one marker key on each master (a key whose hash slot that master
// serves), and re-warms only the slots of a master that came back without
// its marker.

// numSlots is the number of hash slots of a Redis Cluster.
const numSlots = 16384

// keySlot returns the hash slot of key as Redis Cluster computes it:
// CRC16 (XMODEM) of the key, or of its hash tag (the text between the first
// "{" and the next "}", when not empty), modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % numSlots)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the
// checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotSet is a set of hash slots.
type slotSet [numSlots]bool

// has reports whether key's hash slot is in the set.
func (s *slotSet) has(key string) bool { return s[keySlot(key)] }

// clusterMaster is one master of a Redis Cluster as the warmer sees it.
type clusterMaster struct {
	id     string // the node ID (kept across restarts in nodes.conf)
	addr   string // as CLUSTER SLOTS gives it, for messages
	runID  string
	ranges [][2]int // served slot ranges, both ends included
}

// serves reports whether the master serves slot.
func (m *clusterMaster) serves(slot int) bool {
	for _, r := range m.ranges {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// clusterMasters reads the masters of the cluster: their slot ranges from
// CLUSTER SLOTS and each one's run_id from its INFO server, sorted by
// address. Masters are matched by node ID (CLUSTER MYID), not by address:
// go-redis rewrites the addresses CLUSTER SLOTS gives (a loopback host, a
// port of 0 on a TLS-only node). It fails if a master of CLUSTER SLOTS
// does not answer, so a topology in the middle of a change is read again
// later.
func clusterMasters(ctx context.Context, cc *redis.ClusterClient) ([]clusterMaster, error) {
	// CLUSTER SLOTS, not CLUSTER SHARDS: it answers on every Redis Cluster
	// version (SHARDS needs 7.0), and go-redis routes by its addresses.
	//lint:ignore SA1019 see above
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster slots: %w", err)
	}
	byID := map[string]*clusterMaster{}
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		n := s.Nodes[0]
		m := byID[n.ID]
		if m == nil {
			m = &clusterMaster{id: n.ID, addr: n.Addr}
			byID[n.ID] = m
		}
		m.ranges = append(m.ranges, [2]int{int(s.Start), int(s.End)})
	}
	var mu sync.Mutex
	runIDs := map[string]string{} // node ID → run_id
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		var info *redis.StringCmd
		var myID *redis.StringCmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			info = p.Info(ctx, "server")
			myID = p.ClusterMyID(ctx)
			return nil
		})
		if err != nil {
			return fmt.Errorf("INFO server and CLUSTER MYID on %s: %w", c.Options().Addr, err)
		}
		run := infoField(info.Val(), "run_id")
		if run == "" || myID.Val() == "" {
			return fmt.Errorf("%s gave no run_id or node ID", c.Options().Addr)
		}
		mu.Lock()
		runIDs[myID.Val()] = run
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]clusterMaster, 0, len(byID))
	for id, m := range byID {
		run, ok := runIDs[id]
		if !ok {
			return nil, fmt.Errorf("cluster master %s (node %s, from CLUSTER SLOTS) is not among the client's masters yet", m.addr, id)
		}
		m.runID = run
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b clusterMaster) int { return strings.Compare(a.addr, b.addr) })
	return out, nil
}

// infoField returns the value of one "name:value" line of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// maxMarkerTries bounds the search for a marker key in a master's slots.
// A master with a single slot needs 16384 tries on average; a key prefix
// that holds a hash tag of its own puts every key in one slot, and no
// search can move the marker elsewhere.
const maxMarkerTries = 1 << 20

// clusterMarkerKey returns the name of the marker key on master m: the
// Warmer's marker name with a hash tag that lands in one of m's slots, or
// "" when no key of the Service's layout can land on m (a key prefix with
// its own hash tag puts every key on a single master).
func (w *Warmer) clusterMarkerKey(m *clusterMaster) string {
	base := w.markerKey() + ":{"
	if s := keySlot(base + "0}"); s == keySlot(base+"1}") && s == keySlot(base+"2}") {
		// The prefix has a hash tag of its own: every key is in slot s.
		if m.serves(s) {
			return base + "0}"
		}
		return ""
	}
	for i := range maxMarkerTries {
		k := base + strconv.Itoa(i) + "}"
		if m.serves(keySlot(k)) {
			return k
		}
	}
	return ""
}

// writeClusterMarkers writes each master's marker (its run_id) and
// records the masters as known. It is the Cluster counterpart of the
// single marker a run writes.
func (w *Warmer) writeClusterMarkers(ctx context.Context, cc *redis.ClusterClient) error {
	ms, err := clusterMasters(ctx, cc)
	if err != nil {
		return fmt.Errorf("read cluster masters: %w", err)
	}
	for i := range ms {
		if k := w.clusterMarkerKey(&ms[i]); k != "" {
			if err := cc.Set(ctx, k, ms[i].runID, 0).Err(); err != nil {
				return fmt.Errorf("write marker on %s: %w", ms[i].addr, err)
			}
		}
	}
	w.mu.Lock()
	w.knownMasters = mastersByID(ms)
	w.mu.Unlock()
	return nil
}

// mastersByID maps each master's node ID to its run_id.
func mastersByID(ms []clusterMaster) map[string]string {
	m := make(map[string]string, len(ms))
	for _, c := range ms {
		m[c.id] = c.runID
	}
	return m
}

// checkCluster is check for a Cluster: it returns why some masters need
// warming again and the slots to warm (nil: all of them), or "" when
// nothing needs warming.
// A master is looked at when its run_id differs from the one recorded for
// its address, or its address is new (a promoted replica); it needs
// warming when its marker is missing. A master that kept its marker (a
// replica promoted with its data, a restart with persistence) is left
// alone.
func (w *Warmer) checkCluster(ctx context.Context, cc *redis.ClusterClient, failed bool) (string, *slotSet) {
	ms, err := clusterMasters(ctx, cc)
	if err != nil {
		w.log.Debug("warm watch: cluster topology not readable", "error", err)
		return "", nil
	}
	w.mu.Lock()
	// Recorded by a run's markers or an earlier check (knownSet alone may
	// come from a run whose markers could not be written).
	known := w.knownMasters
	set := known != nil
	if !set {
		w.knownMasters = mastersByID(ms)
	}
	w.mu.Unlock()
	if failed {
		w.mu.Lock()
		slots := w.failedSlots
		w.mu.Unlock()
		return "retrying the failed warm", slots
	}
	if !set {
		return "", nil
	}
	var lost []string
	var slots slotSet
	changed := false
	for i := range ms {
		m := &ms[i]
		if known[m.id] == m.runID {
			continue
		}
		changed = true
		k := w.clusterMarkerKey(m)
		if k == "" {
			continue // holds no key of ours
		}
		n, err := cc.Exists(ctx, k).Result()
		if err != nil {
			// Look again next time: known is left as it was.
			w.log.Debug("warm watch: marker check failed", "master", m.addr, "error", err)
			return "", nil
		}
		if n == 0 {
			lost = append(lost, m.addr)
			for _, r := range m.ranges {
				for s := r[0]; s <= r[1]; s++ {
					slots[s] = true
				}
			}
		}
	}
	w.mu.Lock()
	w.knownMasters = mastersByID(ms)
	w.mu.Unlock()
	if len(lost) == 0 {
		if changed {
			w.log.Info("redis cluster masters restarted or failed over and kept their sessions; not warming")
		}
		return "", nil
	}
	return fmt.Sprintf("redis cluster master %s restarted or failed over without its data (run_id changed, warm marker missing)",
		strings.Join(lost, ", ")), &slots
}
