package slack

import (
	"context"
	"sync"
	"time"

	"github.com/studiohq/studio/internal/sleep"
)

// DefaultInterval is the spacing Slack asks for between messages to one
// incoming webhook: one per second.
const DefaultInterval = time.Second

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Interval is the least time between two messages to one webhook URL;
	// 0 means DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done (returning ctx.Err()); nil means a
	// timer. A test passes a fake clock's Sleep that advances its Now.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Limiter spaces messages per webhook URL: at most one per Interval to each
// URL, and none to a URL before the Retry-After a 429 from it asked for.
// Every Notifier given the same Limiter shares its state; a Notifier whose
// Config has no Limiter uses the process-wide default Limiter, so two
// Notifiers for the same webhook URL never send faster than Slack allows.
// A Limiter is safe for concurrent use; its zero value is not usable (use
// NewLimiter).
type Limiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu   sync.Mutex
	urls map[string]*slot
}

// slot is one webhook URL's state.
type slot struct {
	next         time.Time // earliest time of the next message
	blockedUntil time.Time // Slack's Retry-After
}

// defaultLimiter is shared by every Notifier whose Config has no Limiter:
// Slack's limit is per webhook URL whichever Notifier sends to it.
var defaultLimiter = NewLimiter(LimiterConfig{})

// NewLimiter returns a Limiter for cfg.
func NewLimiter(cfg LimiterConfig) *Limiter {
	l := &Limiter{interval: cfg.Interval, now: cfg.Now, sleep: cfg.Sleep, urls: map[string]*slot{}}
	if l.interval <= 0 {
		l.interval = DefaultInterval
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.sleep == nil {
		l.sleep = sleep.Err
	}
	return l
}

// blockedError reports that Slack asked not to send before After elapses.
type blockedError struct{ after time.Duration }

func (e *blockedError) Error() string { return "webhook is rate limited by Slack" }

// wait blocks until a message may go to key, claims that turn and returns
// its time. It returns a *blockedError at once (without waiting) while a
// Retry-After from Slack is in force, and ctx.Err() if ctx ends first.
func (l *Limiter) wait(ctx context.Context, key string) (time.Time, error) {
	for {
		l.mu.Lock()
		s := l.slot(key)
		now := l.now()
		if now.Before(s.blockedUntil) {
			d := s.blockedUntil.Sub(now)
			l.mu.Unlock()
			return time.Time{}, &blockedError{after: d}
		}
		if !now.Before(s.next) {
			s.next = now.Add(l.interval)
			l.mu.Unlock()
			return now, nil
		}
		d := s.next.Sub(now)
		l.mu.Unlock()
		if err := l.sleep(ctx, d); err != nil {
			return time.Time{}, err
		}
	}
}

// block keeps messages off key for d (Slack's Retry-After).
func (l *Limiter) block(key string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slot(key)
	until := l.now().Add(d)
	if until.After(s.blockedUntil) {
		s.blockedUntil = until
	}
	if until.After(s.next) {
		s.next = until
	}
}

func (l *Limiter) slot(key string) *slot {
	s := l.urls[key]
	if s == nil {
		s = &slot{}
		l.urls[key] = s
	}
	return s
}
