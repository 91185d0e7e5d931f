package alert

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Silence mutes the alerts its Matchers match between StartsAt and EndsAt:
// they are still evaluated and shown (with the silence's id) but not sent.
// A resolve notice still goes to a receiver that got the alert's trigger
// before the silence began.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  Matchers  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	UpdatedAt time.Time `json:"updated_at"`
	// Status is "pending" (not started), "active" or "expired", as of the
	// call that returned the Silence; it is not stored.
	Status string `json:"status,omitempty"`
}

// Silence statuses.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// Errors of the silence methods; callers branch on them with errors.Is
// (an HTTP handler maps ErrInvalidSilence to 400, ErrSilenceNotFound to 404).
var (
	ErrInvalidSilence  = errors.New("invalid silence")
	ErrSilenceNotFound = errors.New("silence not found")
)

// silenceRetention is how long an expired silence stays listed.
const silenceRetention = 24 * time.Hour

func (s *Silence) status(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

func (s *Silence) active(now time.Time) bool { return s.status(now) == SilenceActive }

// silences keeps the silences: in Redis (one hash, field id, value JSON)
// when a client is given, so that every instance shares them, with a local
// copy refreshed every few seconds that alerts are matched against. A
// silence added or expired while Redis is unreachable applies locally at
// once and is written to Redis when it is reachable again.
type silences struct {
	rdb     redis.UniversalClient
	key     string
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	refreshMu sync.Mutex // one refresh at a time, so that results apply in order

	mu       sync.Mutex
	cache    map[string]*Silence
	unsynced map[string]bool   // ids changed locally, not yet written to Redis
	gen      uint64            // counts local changes
	changed  map[string]uint64 // id → gen of its last local change
}

func newSilences(rdb redis.UniversalClient, prefix string, timeout time.Duration, now func() time.Time, log *slog.Logger) *silences {
	return &silences{rdb: rdb, key: prefix + "silences", timeout: timeout, now: now, log: log,
		cache: map[string]*Silence{}, unsynced: map[string]bool{}, changed: map[string]uint64{}}
}

func newSilenceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// add validates s and stores it with a new id.
func (ss *silences) add(ctx context.Context, s Silence) (Silence, error) {
	now := ss.now()
	if len(s.Matchers) == 0 {
		return Silence{}, fmt.Errorf("%w: at least one matcher is required", ErrInvalidSilence)
	}
	for _, m := range s.Matchers {
		if m == nil {
			return Silence{}, fmt.Errorf("%w: nil matcher", ErrInvalidSilence)
		}
		if !m.Compiled() {
			return Silence{}, fmt.Errorf("%w: matcher %s was not parsed", ErrInvalidSilence, m)
		}
	}
	if s.StartsAt.IsZero() || s.StartsAt.Before(now) {
		s.StartsAt = now
	}
	switch {
	case s.EndsAt.IsZero():
		return Silence{}, fmt.Errorf("%w: ends_at is required", ErrInvalidSilence)
	case !s.EndsAt.After(s.StartsAt):
		return Silence{}, fmt.Errorf("%w: ends_at must be after starts_at and in the future", ErrInvalidSilence)
	case s.CreatedBy == "":
		return Silence{}, fmt.Errorf("%w: created_by is required", ErrInvalidSilence)
	case len(s.CreatedBy) > 256 || len(s.Comment) > 4096:
		return Silence{}, fmt.Errorf("%w: created_by or comment too long", ErrInvalidSilence)
	}
	s.ID, s.UpdatedAt, s.Status = newSilenceID(), now, ""
	return ss.put(ctx, &s), nil
}

// put stores s locally and tries Redis.
func (ss *silences) put(ctx context.Context, s *Silence) Silence {
	ss.mu.Lock()
	ss.cache[s.ID] = s
	if ss.rdb != nil {
		ss.unsynced[s.ID] = true
		ss.gen++
		ss.changed[s.ID] = ss.gen
	}
	ss.mu.Unlock()
	ss.push(ctx)
	out := *s
	out.Status = s.status(ss.now())
	return out
}

// push writes the locally changed silences to Redis.
func (ss *silences) push(ctx context.Context) {
	if ss.rdb == nil {
		return
	}
	ss.mu.Lock()
	vals := map[string]any{}
	for id := range ss.unsynced {
		if s := ss.cache[id]; s != nil {
			b, _ := json.Marshal(s)
			vals[id] = string(b)
		}
	}
	ss.mu.Unlock()
	if len(vals) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ss.timeout)
	defer cancel()
	if err := ss.rdb.HSet(ctx, ss.key, vals).Err(); err != nil {
		ss.log.Warn("alert silences: cannot write to Redis; the change applies to this instance until Redis is back", "error", err, "silences", len(vals))
		return
	}
	ss.mu.Lock()
	for id := range vals {
		delete(ss.unsynced, id)
	}
	ss.mu.Unlock()
}

// refresh writes pending local changes, then reloads the copy from Redis
// and deletes silences expired for longer than the retention.
func (ss *silences) refresh(ctx context.Context) error {
	if ss.rdb == nil {
		ss.gc()
		return nil
	}
	ss.refreshMu.Lock()
	defer ss.refreshMu.Unlock()
	ss.push(ctx)
	ss.mu.Lock()
	startGen := ss.gen
	ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, ss.timeout)
	defer cancel()
	all, err := ss.rdb.HGetAll(ctx, ss.key).Result()
	if err != nil {
		return fmt.Errorf("read silences: %w", err)
	}
	now := ss.now()
	fresh := map[string]*Silence{}
	var stale []string
	for id, v := range all {
		var s Silence
		if err := json.Unmarshal([]byte(v), &s); err != nil || s.ID != id {
			ss.log.Warn("alert silences: skipping an unreadable silence in Redis", "id", id)
			continue
		}
		if now.Sub(s.EndsAt) > silenceRetention {
			stale = append(stale, id)
			continue
		}
		s.Status = ""
		fresh[id] = &s
	}
	if len(stale) > 0 {
		_ = ss.rdb.HDel(ctx, ss.key, stale...).Err()
	}
	ss.mu.Lock()
	for id, g := range ss.changed {
		// Not yet in Redis, or changed here while we read: ours wins.
		if s := ss.cache[id]; s != nil && (ss.unsynced[id] || g > startGen) {
			fresh[id] = s
		}
		if g <= startGen && !ss.unsynced[id] {
			delete(ss.changed, id)
		}
	}
	ss.cache = fresh
	ss.mu.Unlock()
	return nil
}

// gc drops silences expired for longer than the retention (local only).
func (ss *silences) gc() {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.cache {
		if now.Sub(s.EndsAt) > silenceRetention && !ss.unsynced[id] {
			delete(ss.cache, id)
			delete(ss.changed, id)
		}
	}
}

// list returns every silence known, active first, then pending, then
// expired, newest first within each.
func (ss *silences) list(ctx context.Context) ([]Silence, error) {
	err := ss.refresh(ctx)
	now := ss.now()
	ss.mu.Lock()
	out := make([]Silence, 0, len(ss.cache))
	for _, s := range ss.cache {
		c := *s
		c.Status = s.status(now)
		out = append(out, c)
	}
	ss.mu.Unlock()
	order := map[string]int{SilenceActive: 0, SilencePending: 1, SilenceExpired: 2}
	slices.SortFunc(out, func(a, b Silence) int {
		return cmp.Or(cmp.Compare(order[a.Status], order[b.Status]), b.StartsAt.Compare(a.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// expire ends the silence now (an expired one stays as it is).
func (ss *silences) expire(ctx context.Context, id string) (Silence, error) {
	_ = ss.refresh(ctx) // another instance may have added it
	now := ss.now()
	ss.mu.Lock()
	s := ss.cache[id]
	if s == nil {
		ss.mu.Unlock()
		return Silence{}, fmt.Errorf("%w: %q", ErrSilenceNotFound, id)
	}
	c := *s
	ss.mu.Unlock()
	if c.status(now) == SilenceExpired {
		c.Status = SilenceExpired
		return c, nil
	}
	if c.StartsAt.After(now) {
		c.StartsAt = now
	}
	c.EndsAt, c.UpdatedAt = now, now
	return ss.put(ctx, &c), nil
}

// matching returns the ids of the active silences that match labels,
// from the local copy (no I/O).
func (ss *silences) matching(labels map[string]string, now time.Time) []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(ss.cache)) {
		if s := ss.cache[id]; s.active(now) && s.Matchers.Matches(labels) {
			ids = append(ids, id)
		}
	}
	return ids
}
