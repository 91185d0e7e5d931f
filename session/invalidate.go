package session

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel returns the Redis pub/sub channel that carries invalidations.
func (s *Service) Channel() string { return s.channel }

// Subscribed reports whether the invalidation subscription is live.
func (s *Service) Subscribed() bool { return s.subUp.Load() }

// subscribeLoop keeps the invalidation subscription alive until ctx ends.
// Every drop and every (re)subscribe flushes the whole L1: a message missed
// while the subscription was down can never keep a revoked session alive
// for longer than one L1 lifetime.
func (s *Service) subscribeLoop(ctx context.Context) {
	defer s.wg.Done()
	const (
		receiveTimeout = time.Second
		// With no message or pong for this long, the connection is taken
		// for dead even if the socket never errors (a frozen server).
		silenceLimit = 3 * receiveTimeout
	)
	backoff := newBackoff(50*time.Millisecond, time.Second)
	for ctx.Err() == nil {
		ps := s.rdb.Subscribe(ctx, s.channel)
		s.psMu.Lock()
		s.ps = ps // so Close can interrupt a blocked receive
		s.psMu.Unlock()
		if ctx.Err() != nil { // Close ran before s.ps was set
			_ = ps.Close()
			break
		}
		lastHeard := time.Now()
		pinged := false
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, receiveTimeout)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(lastHeard) < silenceLimit {
					if !pinged {
						pinged = ps.Ping(ctx) == nil
					}
					continue
				}
				s.subscriptionLost(err)
				break
			}
			lastHeard, pinged = time.Now(), false
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					s.flushL1()
					s.retry.kick() // Redis is back: queued revocations first
					if !s.subUp.Swap(true) {
						s.log.Info("invalidation subscription up; L1 flushed", "channel", s.channel)
					}
					backoff.reset()
				}
			case *redis.Message:
				s.handleInvalidation(m.Payload)
			}
		}
		_ = ps.Close()
		if ctx.Err() == nil {
			backoff.sleep(ctx)
		}
	}
	s.subUp.Store(false)
}

func (s *Service) subscriptionLost(err error) {
	s.flushL1()
	if s.subUp.Swap(false) {
		s.log.Warn("invalidation subscription lost; L1 flushed", "channel", s.channel, "error", err)
	}
}

// handleInvalidation applies one invalidation message: each session named
// is recorded in the revocation index as revoked now (at the latest: the
// message follows the store write) and dropped from the L1.
func (s *Service) handleInvalidation(payload string) {
	now := s.now()
	for part := range strings.SplitSeq(payload, ",") {
		h, err := ParseTokenHash(part)
		if err != nil {
			s.log.Warn("ignoring malformed invalidation message", "error", err)
			continue
		}
		s.revs.add(h, now, now)
		s.invalidateLocal(h)
	}
}
