package redisconn

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBreakerSummaryInterval is how often a Breaker that stays open
// logs a summary when BreakerOptions.SummaryInterval is 0.
const DefaultBreakerSummaryInterval = 30 * time.Second

// breakerLog writes the few lines an outage is worth: one warning when
// the breaker opens (with the failure that opened it), at most one summary
// per interval while it stays open (commands refused so far, the latest
// failure), and one line when it closes (how long it was open, how many
// commands it refused). The open → half-open → open cycle of the probes a
// failing server gets every OpenTimeout is silent. Safe for concurrent
// use.
type breakerLog struct {
	log      *slog.Logger
	name     string
	interval time.Duration
	now      func() time.Time

	// refused counts every command refused since the Breaker was made.
	refused atomic.Uint64
	// nextSummary is when the next summary is due (unix ns), 0 while the
	// breaker is closed: the refusal path's cheap check.
	nextSummary atomic.Int64

	mu          sync.Mutex
	open        bool
	openedAt    time.Time
	refusedBase uint64 // refused when it opened
}

func newBreakerLog(o BreakerOptions) *breakerLog {
	l := &breakerLog{log: o.Logger, name: o.Name, interval: o.SummaryInterval, now: o.Now}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.name == "" {
		l.name = "redis"
	}
	if l.interval <= 0 {
		l.interval = DefaultBreakerSummaryInterval
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// changed is told every state change; cause is the latest failure.
func (l *breakerLog) changed(to string, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	switch {
	case to != "closed" && !l.open:
		l.open, l.openedAt, l.refusedBase = true, now, l.refused.Load()
		l.nextSummary.Store(now.Add(l.interval).UnixNano())
		l.log.Warn("redis circuit breaker opened: commands are refused until a probe succeeds",
			slog.String("breaker", l.name), slog.Any("error", cause))
	case to == "closed" && l.open:
		l.open = false
		l.nextSummary.Store(0)
		l.log.Info("redis circuit breaker closed",
			slog.String("breaker", l.name), slog.Duration("open_for", now.Sub(l.openedAt)),
			slog.Uint64("refused", l.refused.Load()-l.refusedBase))
	default:
		l.summaryLocked(now, cause)
	}
}

// refusal counts a refused command and logs the summary when one is due.
func (l *breakerLog) refusal(cause error) {
	l.refused.Add(1)
	if next := l.nextSummary.Load(); next != 0 && l.now().UnixNano() >= next {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.summaryLocked(l.now(), cause)
	}
}

// summaryLocked logs the summary of an open breaker if one is due.
func (l *breakerLog) summaryLocked(now time.Time, cause error) {
	if !l.open || now.UnixNano() < l.nextSummary.Load() {
		return
	}
	l.nextSummary.Store(now.Add(l.interval).UnixNano())
	l.log.Warn("redis circuit breaker still open",
		slog.String("breaker", l.name), slog.Duration("open_for", now.Sub(l.openedAt)),
		slog.Uint64("refused", l.refused.Load()-l.refusedBase), slog.Any("error", cause))
}
