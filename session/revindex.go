package session

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// revocationIndex is a Service's in-memory record of the sessions revoked
// recently: every revocation the store has whose revoked_at is within the
// window W (CacheTTL + ClockSkew), each kept until revoked_at + W. A Redis
// copy is at most CacheTTL old when it expires (it was read from the store
// before the revocation committed, and written with a deadline of CacheTTL
// from that read), so while the index is current no copy of a revoked
// session can reach a caller: its hash is in the index, and the validation
// asks the store instead (see "Revocation" in the package documentation).
//
// Entries are keyed by the first 16 bytes of the token hash; a collision
// only sends one more validation to the store. A counting filter (one
// counter per slot, slot chosen by other bytes of the hash) answers "not
// in the index" with one atomic load, so the check on every L1 hit costs
// a few nanoseconds while few revocations are recent; otherwise a
// read-locked map lookup in one of 64 shards.
//
// The index is current while it has been loaded from the store since the
// Service started, its last successful read of the store started less
// than staleAfter ago, and it has not overflowed within the last W (a
// revocation it had to drop could still have live copies in Redis). Safe
// for concurrent use; the zero value is not usable (newRevocationIndex).
type revocationIndex struct {
	window     int64 // W, nanoseconds
	staleAfter int64 // nanoseconds
	limit      int64 // most entries

	filter []atomic.Uint32 // entries per slot; len is a power of two
	mask   uint32
	shards [revShards]revShard

	entries atomic.Int64
	loaded  atomic.Bool
	// lastRead is when the last successful read of the store started
	// (unix ns by the Service's clock).
	lastRead atomic.Int64
	// fullUntil is when the index is complete again after an overflow
	// (unix ns): every revocation it dropped has left the window by then.
	fullUntil atomic.Int64
	dropped   atomic.Uint64 // revocations not kept because the index was full
	// lastFullPrune is when a full index last pruned every shard (unix
	// ns), so a flood of adds to a full index prunes once a second.
	lastFullPrune atomic.Int64
}

const revShards = 64

type revKey [16]byte

type revShard struct {
	mu sync.RWMutex
	m  map[revKey]int64 // until when the entry is kept (unix ns)
	_  [32]byte         // keep shards on separate cache lines
}

// newRevocationIndex returns an empty index for the window W that keeps
// at most limit entries and is stale staleAfter after its last read.
func newRevocationIndex(window, staleAfter time.Duration, limit int) *revocationIndex {
	// About four entries per slot when full; at least 4 Ki slots (16 KiB),
	// at most 1 Mi (4 MiB).
	slots := 1 << min(max(bits.Len(uint(limit/4)), 12), 20)
	x := &revocationIndex{
		window:     int64(window),
		staleAfter: int64(staleAfter),
		limit:      int64(limit),
		filter:     make([]atomic.Uint32, slots),
		mask:       uint32(slots - 1),
	}
	for i := range x.shards {
		x.shards[i].m = make(map[revKey]int64)
	}
	return x
}

func revKeyOf(h TokenHash) revKey { return revKey(h[:16]) }

// slot is the filter counter of a key: chosen by bytes 8–11 of the hash,
// which the key keeps (so a pruned entry finds its counter) and the shard
// choice (byte 0) does not use.
func (x *revocationIndex) slot(k revKey) *atomic.Uint32 {
	return &x.filter[binary.LittleEndian.Uint32(k[8:12])&x.mask]
}

func (x *revocationIndex) shard(h TokenHash) *revShard { return &x.shards[h[0]&(revShards-1)] }

// add records that h was revoked at revokedAt; the entry is kept until
// revokedAt + W (or longer if h was recorded before with a later time).
// It reports false when the index was full (after dropping the expired
// entries, at most once a second): the revocation is then not kept, and
// the index is not current again until it has left the window. It does
// no I/O; now is the Service's clock.
func (x *revocationIndex) add(h TokenHash, revokedAt, now time.Time) bool {
	until := revokedAt.UnixNano() + x.window
	n := now.UnixNano()
	if until <= n {
		return true // out of the window already: no copy can be left
	}
	if x.entries.Load() >= x.limit {
		x.pruneWhenFull(n)
	}
	sh, k := x.shard(h), revKeyOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur, ok := sh.m[k]; ok {
		sh.m[k] = max(cur, until)
		return true
	}
	if x.entries.Load() >= x.limit {
		x.dropped.Add(1)
		for {
			cur := x.fullUntil.Load()
			if cur >= until || x.fullUntil.CompareAndSwap(cur, until) {
				return false
			}
		}
	}
	// The filter counts the entry before the map holds it, so a reader
	// that sees a zero count can only be one that started before add.
	x.slot(k).Add(1)
	sh.m[k] = until
	x.entries.Add(1)
	return true
}

// has reports whether h was revoked within the window, as of now (unix
// ns). This is the check every L1 hit makes.
func (x *revocationIndex) has(h TokenHash, now int64) bool {
	k := revKeyOf(h)
	if x.slot(k).Load() == 0 {
		return false
	}
	sh := x.shard(h)
	sh.mu.RLock()
	until, ok := sh.m[k]
	sh.mu.RUnlock()
	return ok && until > now
}

// current reports whether the index holds every revocation the store had
// when its last read started, and that read is recent: see the type.
func (x *revocationIndex) current(now int64) bool {
	return x.loaded.Load() && now-x.lastRead.Load() < x.staleAfter && now >= x.fullUntil.Load()
}

// trusts reports whether a Redis copy of h may be used at now (unix ns):
// the index is current and h is not in it.
func (x *revocationIndex) trusts(h TokenHash, now int64) bool {
	return x.current(now) && !x.has(h, now)
}

// readDone records a successful read of the store that started at start;
// the first one marks the index loaded.
func (x *revocationIndex) readDone(start time.Time) {
	s := start.UnixNano()
	for {
		cur := x.lastRead.Load()
		if cur >= s || x.lastRead.CompareAndSwap(cur, s) {
			break
		}
	}
	x.loaded.Store(true)
}

// pruneWhenFull prunes every shard, at most once a second (by now, unix
// ns): the index is full, and expired entries may make room.
func (x *revocationIndex) pruneWhenFull(now int64) {
	last := x.lastFullPrune.Load()
	if now-last < int64(time.Second) || !x.lastFullPrune.CompareAndSwap(last, now) {
		return
	}
	x.prune(time.Unix(0, now), 0, revShards)
}

// prune drops the entries whose time has passed from shards [from, to).
func (x *revocationIndex) prune(now time.Time, from, to int) {
	n := now.UnixNano()
	for i := from; i < to && i < revShards; i++ {
		sh := &x.shards[i]
		sh.mu.Lock()
		x.pruneShardLocked(sh, n)
		sh.mu.Unlock()
	}
}

func (x *revocationIndex) pruneShardLocked(sh *revShard, now int64) {
	for k, until := range sh.m {
		if until <= now {
			delete(sh.m, k)
			x.slot(k).Add(^uint32(0))
			x.entries.Add(-1)
		}
	}
}

// RevocationIndexState says whether a Service trusts Redis copies (see
// Health).
type RevocationIndexState string

// States of the revocation index.
const (
	// RevocationsCurrent: loaded and recently read; Redis copies of
	// sessions not in it are trusted.
	RevocationsCurrent RevocationIndexState = "current"
	// RevocationsLoading: not yet loaded from the store since start-up.
	RevocationsLoading RevocationIndexState = "loading"
	// RevocationsStale: no read of the store has succeeded for five poll
	// intervals.
	RevocationsStale RevocationIndexState = "stale"
	// RevocationsFull: a revocation was dropped because the index was
	// full, less than a window ago.
	RevocationsFull RevocationIndexState = "full"
)

// state is the index's state at now (unix ns).
func (x *revocationIndex) state(now int64) RevocationIndexState {
	switch {
	case !x.loaded.Load():
		return RevocationsLoading
	case now < x.fullUntil.Load():
		return RevocationsFull
	case now-x.lastRead.Load() >= x.staleAfter:
		return RevocationsStale
	}
	return RevocationsCurrent
}

// The revocation index's reads of the store.
const (
	// revocationStalePolls poll intervals without a successful read make
	// the index stale.
	revocationStalePolls = 5
	// revocationPollOverlap, plus StoreTimeout, is how far before the
	// previous read each read reaches back: a revocation whose transaction
	// commits after a read that started later than its revoked_at (the
	// revoking call may take up to StoreTimeout; clocks differ a little)
	// is still found by the next one.
	revocationPollOverlap = 5 * time.Second
	// revocationLoadTimeout is the least time the first load (the whole
	// window) gets.
	revocationLoadTimeout = 30 * time.Second
	// revocationPruneShards shards are pruned after every read, so the
	// whole index is pruned every revShards/revocationPruneShards reads.
	revocationPruneShards = 4
)

// pollRevocations loads the revocation index from the store (the
// revocations of the whole window, CacheTTL + ClockSkew back) and then,
// every RevocationPoll, reads the revocations recorded since a little
// before its previous read, until ctx ends. A failed read is retried at
// the next tick; the index goes stale after five intervals without a
// successful read. It logs the first failure of a streak and its end, and
// when the index goes stale, becomes current again or overflows.
func (s *Service) pollRevocations(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	var p revPoll
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := s.now()
		n, err := s.readRevocations(ctx, p.since, start)
		if ctx.Err() != nil {
			return
		}
		s.logRead(&p, n, err)
		if err == nil {
			p.since = start
		}
		now := s.now()
		s.revs.prune(now, p.prune, p.prune+revocationPruneShards)
		p.prune = (p.prune + revocationPruneShards) % revShards
		s.logState(&p, now)
		t.Reset(s.opts.RevocationPoll)
	}
}

// revPoll is the state of pollRevocations between reads.
type revPoll struct {
	since   time.Time // when the last successful read started; zero: none yet
	failing bool      // the last read failed
	current bool      // the index was current after the last read
	// wasCurrent: the index has been current since start-up.
	wasCurrent bool
	dropped    uint64 // revocations dropped (index full) as last logged
	prune      int    // the next shard to prune
}

// readRevocations reads into the index the revocations recorded since a
// little before since (the start of the last successful read; zero: the
// first load, over the whole window) and, on success, marks the index
// read as of start. It returns how many it read.
func (s *Service) readRevocations(ctx context.Context, since, start time.Time) (int, error) {
	from := start.Add(-s.window)
	timeout := s.opts.StoreTimeout
	if since.IsZero() {
		timeout = max(timeout, revocationLoadTimeout)
	} else if f := since.Add(-revocationPollOverlap - s.opts.StoreTimeout); f.After(from) {
		from = f
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := 0
	err := s.store.RevokedSince(ctx, from, start, func(r Revocation) error {
		at := r.RevokedAt
		if at.IsZero() {
			at = start // a store that does not say: a whole window from now
		}
		s.revs.add(r.Hash, at, start)
		n++
		return nil
	})
	if err != nil {
		s.stats.revocationReadErrors.Add(1)
		return n, fmt.Errorf("read revocations since %s: %w", from.UTC().Format(time.RFC3339Nano), err)
	}
	first := !s.revs.loaded.Load()
	s.revs.readDone(start)
	if first {
		s.log.Info("revocation index loaded", "revocations", n, "window", s.window)
	}
	return n, nil
}

// logRead logs the first failed read of a streak and the first success
// after one.
func (s *Service) logRead(p *revPoll, n int, err error) {
	switch {
	case err != nil && !p.failing:
		s.log.Warn("revocation index: reading the store failed; retrying every poll", "error", err)
	case err == nil && p.failing:
		s.log.Info("revocation index: reading the store works again", "revocations", n)
	}
	p.failing = err != nil
}

// logState logs when the index stops or starts being current after it
// was loaded, and when revocations were dropped because it was full.
func (s *Service) logState(p *revPoll, now time.Time) {
	n := now.UnixNano()
	if d := s.revs.dropped.Load(); d != p.dropped {
		s.log.Error("revocation index full: revocations not kept; Redis copies are not trusted (validations read the store) until they leave the window",
			"dropped", d-p.dropped, "size", s.opts.RevocationIndexSize, "until", time.Unix(0, s.revs.fullUntil.Load()).UTC().Format(time.RFC3339))
		p.dropped = d
	}
	current := s.revs.current(n)
	switch {
	case p.current && !current:
		s.log.Warn("revocation index not current: Redis copies are not trusted; validations read the store until it answers again",
			"state", string(s.revs.state(n)))
	case !p.current && current && p.wasCurrent: // the first load is logged by readRevocations
		s.log.Info("revocation index current again: Redis copies are trusted again")
	}
	p.current = current
	p.wasCurrent = p.wasCurrent || current
}

// noteRevoked records in the index that h was revoked at at (this
// instance's own revocations, before they return; invalidation messages,
// when they arrive).
func (s *Service) noteRevoked(h TokenHash, at time.Time) { s.revs.add(h, at, s.now()) }
