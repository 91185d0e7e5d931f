package session

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// KeySlot exposes keySlot to the external tests, which compare it with a
// real cluster's CLUSTER KEYSLOT.
var KeySlot = keySlot

// SkipL1IndexCheck makes s's L1 hits skip the revocation index check, or
// check again: the baseline of the benchmarks that measure the check.
// Call it while s validates nothing.
func SkipL1IndexCheck(s *Service, skip bool) { s.noL1IndexCheck = skip }

// FillRevocationIndex adds revocations of tokens nobody has to s's index,
// revoked now, until it holds n.
func FillRevocationIndex(s *Service, n int) {
	now := s.now()
	var b [8]byte
	for i := uint64(0); s.revs.entries.Load() < int64(n); i++ {
		binary.LittleEndian.PutUint64(b[:], i)
		s.revs.add(sha256.Sum256(b[:]), now, now)
	}
}

// TouchBatch is how many uses one Store.Touch call of the flusher names.
const TouchBatch = touchBatch

// FlushTouches runs one pass of s's last-seen flusher now.
func FlushTouches(ctx context.Context, s *Service) error { return s.flushTouches(ctx) }

// SkipTouches makes s record no use of a session (no last_seen_at writes,
// no sliding Redis lifetime), or record them again: the baseline of the
// benchmark that measures what recording costs. Call it while s
// validates nothing.
func SkipTouches(s *Service, skip bool) { s.noTouch = skip }

// FillL1 puts n live entries into s's L1, each a session shaped like a
// typical login (a 32-character id, a user id, two metadata entries)
// decoded from its Redis value as a Redis hit decodes it.
func FillL1(s *Service, n int) {
	now := s.now()
	var b [8]byte
	for i := range n {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h := TokenHash(sha256.Sum256(b[:]))
		v, err := encodeSession(&Session{
			ID: h.Hex()[:32], UserID: "user_" + h.Hex()[:8], CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(24 * time.Hour), Metadata: map[string]string{"ip": "192.0.2.1", "ua": "bench"},
		})
		if err != nil {
			panic(err)
		}
		sess, err := decodeCached(string(v))
		if err != nil {
			panic(err)
		}
		s.l1Put(h, s.gens[h[0]].Load(), sess, nil, now)
	}
}

// L1Len is the number of entries in s's L1.
func L1Len(s *Service) int { return s.l1.EstimatedSize() }

// FillTouches records a use of n distinct sessions in s's toucher.
func FillTouches(s *Service, n int) {
	now := s.now()
	var b [8]byte
	for i := range n {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		s.touch(sha256.Sum256(b[:]), nil, now)
	}
}

// DrainTouches takes s's pending uses as the flusher does, and drops them.
func DrainTouches(s *Service) {
	s.touches.drain(s.now().UnixMilli(), s.opts.TouchInterval.Milliseconds())
}

// RefreshLegacy makes s read the end of the legacy window from the store
// now, as it does every legacyPoll.
func RefreshLegacy(s *Service) error { return s.refreshLegacy(context.Background()) }
