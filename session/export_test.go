package session

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
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

// FlushTouches runs one pass of s's last-seen flusher now.
func FlushTouches(ctx context.Context, s *Service) error { return s.flushTouches(ctx) }
