package session

import (
	"context"
	"fmt"
	"time"
)

// legacyPoll is how often a Service reads the end of the legacy window
// (Store.TokenTags) again: sessions an older Studio creates on the same
// store move it later.
const legacyPoll = 10 * time.Second

// errForged is what a token without this store's tag gets, outside the
// legacy window: the answer an unknown session gets, with no I/O done.
var errForged = fmt.Errorf("%w (the token carries no tag of this store)", ErrNotFound)

// loadTags reads the token key and the legacy window from the store, once,
// before the Service serves: tokens are made and checked with that key for
// the Service's life.
func (s *Service) loadTags() error {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.opts.StoreTimeout, revocationLoadTimeout))
	defer cancel()
	tt, err := s.store.TokenTags(ctx)
	if err != nil {
		return fmt.Errorf("session: read the token key from the store: %w", err)
	}
	s.tags = newTagger(tt.Key)
	s.setLegacyUntil(tt.LegacyUntil)
	return nil
}

func (s *Service) setLegacyUntil(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	s.legacyUntil.Store(ns)
}

// pollLegacy reads the end of the legacy window again every legacyPoll
// until ctx ends. A failed read keeps the last value and is logged at
// debug level (the revocation index already reports a store that fails).
func (s *Service) pollLegacy(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(legacyPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.refreshLegacy(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("reading the legacy token window failed; keeping the last one", "error", err)
		}
	}
}

// refreshLegacy reads the end of the legacy window from the store, within
// StoreTimeout. The key it returns is not used: a Service keeps the one it
// started with.
func (s *Service) refreshLegacy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
	defer cancel()
	tt, err := s.store.TokenTags(ctx)
	if err != nil {
		return err
	}
	s.setLegacyUntil(tt.LegacyUntil)
	return nil
}

// tagAccepted reports whether a token with this body may name a session:
// its tag is this store's, or the legacy window is open (then it may be a
// real token from before the key). It does no I/O and does not allocate.
// A refusal is counted in Stats.ForgedTokens and nothing else is done: a
// forger must not be able to fill the log.
func (s *Service) tagAccepted(body *[tokenRandLen]byte, now time.Time) bool {
	if s.tags.tagged(body) {
		return true
	}
	if now.UnixNano() < s.legacyUntil.Load() {
		s.stats.untagged.Add(1)
		return true
	}
	s.stats.forged.Add(1)
	return false
}

// NewToken returns a fresh token carrying this Service's tag, naming no
// session: Create uses it for each new session. Every Service on the same
// store accepts its tag, and answers ErrNotFound for it until a session
// is stored under it. It fails only if the system's random source does.
func (s *Service) NewToken() (Token, error) { return s.tags.newToken() }
