package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// CreateParams describes a session to create. Create copies Metadata; the
// caller keeps the map.
type CreateParams struct {
	UserID string
	// TTL is the session's lifetime; zero means Options.DefaultTTL.
	TTL time.Duration
	// IdleTimeout, when positive, ends the session after that long unused.
	// It must be at least twice Options.TouchInterval (the precision of
	// last_seen_at) and no longer than TTL.
	IdleTimeout time.Duration
	Metadata    map[string]string
}

// Limits on CreateParams.
const (
	MaxUserIDLen        = 256
	MaxMetadataEntries  = 64
	MaxMetadataKeyLen   = 128
	MaxMetadataValueLen = 1024
)

// MaxTTL is the longest session lifetime Create accepts (Options.MaxTTL).
func (s *Service) MaxTTL() time.Duration { return s.opts.MaxTTL }

// CheckParams returns an error wrapping ErrInvalidInput that says what is
// wrong with p, or nil.
func (s *Service) CheckParams(p CreateParams) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
	}
	if p.UserID == "" {
		return bad("user_id is required")
	}
	if len(p.UserID) > MaxUserIDLen {
		return bad("user_id is longer than %d bytes", MaxUserIDLen)
	}
	if !validUserID(p.UserID) {
		return bad("user_id must be valid UTF-8 without control or format characters (Unicode Cc, Cf, Zl, Zp)")
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = s.opts.DefaultTTL
	}
	if ttl < time.Second {
		return bad("ttl must be at least 1s")
	}
	if ttl > s.opts.MaxTTL {
		return bad("ttl must be at most %s", s.opts.MaxTTL)
	}
	if p.IdleTimeout < 0 {
		return bad("idle_timeout must not be negative")
	}
	if p.IdleTimeout > 0 && p.IdleTimeout < 2*s.opts.TouchInterval {
		return bad("idle_timeout must be 0 (none) or at least %s", 2*s.opts.TouchInterval)
	}
	if p.IdleTimeout > ttl {
		return bad("idle_timeout must not exceed ttl")
	}
	if len(p.Metadata) > MaxMetadataEntries {
		return bad("metadata has more than %d entries", MaxMetadataEntries)
	}
	for k, v := range p.Metadata {
		if k == "" || len(k) > MaxMetadataKeyLen || !printable(k) {
			return bad("metadata keys must be 1-%d printable bytes", MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValueLen || !printable(v) {
			return bad("metadata values must be at most %d printable bytes", MaxMetadataValueLen)
		}
	}
	return nil
}

// validUserID reports whether id is valid UTF-8 without control or format
// characters: none of Unicode's categories Cc (controls, U+0085 among
// them), Cf (format: zero-width spaces and joiners, U+FEFF, the
// bidirectional overrides such as U+202E), Zl and Zp (U+2028, U+2029).
// Such characters make a user id print unlike what it is: in a log, a
// terminal or an admin's screen.
func validUserID(id string) bool {
	if !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Create stores a new session and returns its token. The store is written
// first, within StoreTimeout, then Redis (a copy that expires CacheTTL
// after the creation time at the latest), so the first validation
// anywhere is a Redis hit; a Redis failure is logged and never fails a
// create the store accepted. Invalid params return an error wrapping
// ErrInvalidInput and write nothing. When the store fails or does not
// answer in time the error wraps ErrStoreUnavailable: no session anyone
// can use was created (a row the deadline cut short may still commit, but
// its token was never returned). Any other error comes from the system's
// random source.
func (s *Service) Create(ctx context.Context, p CreateParams) (tok Token, sess Session, err error) {
	ctx, span := s.startSpan(ctx, "session.create")
	defer func() { endSpan(span, err, ErrInvalidInput) }()
	return s.create(ctx, p)
}

func (s *Service) create(ctx context.Context, p CreateParams) (Token, Session, error) {
	if err := s.CheckParams(p); err != nil {
		return "", Session{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	tok, rec, err := s.newRecord(p, now)
	if err != nil {
		return "", Session{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
	err = s.store.Create(sctx, rec)
	cancel()
	if err != nil {
		return "", Session{}, storeFailed(ctx, "create session", err)
	}
	s.writeCreated(ctx, rec.Hash, &rec.Session, now)
	return tok, rec.Session, nil
}

// newRecord mints a token and a session ID for a session of p (already
// checked) created at now: every session the Service makes gets its token
// here. Its error comes from the system's random source.
func (s *Service) newRecord(p CreateParams, now time.Time) (Token, Record, error) {
	if p.TTL == 0 {
		p.TTL = s.opts.DefaultTTL
	}
	tok, err := s.tags.newToken()
	if err != nil {
		return "", Record{}, err
	}
	id, err := newSessionID()
	if err != nil {
		return "", Record{}, err
	}
	var md map[string]string
	if len(p.Metadata) > 0 {
		md = make(map[string]string, len(p.Metadata))
		for k, v := range p.Metadata {
			md[k] = v
		}
	}
	h, _ := ParseToken(string(tok))
	return tok, Record{Hash: h, Session: Session{
		ID:          id,
		UserID:      p.UserID,
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(p.TTL),
		IdleTimeout: p.IdleTimeout,
		Metadata:    md,
	}}, nil
}

// MaxBatch is the most sessions one CreateBatch call takes.
const MaxBatch = 100_000

// CreateBatch creates n sessions of p (1 to MaxBatch) in one store write
// (Store.CreateBatch: all of them or none) and returns their tokens, each
// minted as Create mints one. It is for seeding a store in bulk — a
// benchmark's million sessions, an import — not for logins: it writes no
// Redis copies (the first validation of each session reads the store, or
// a warm run copies them to Redis), and the store write gets
// StoreTimeout per thousand sessions. Invalid params return an error
// wrapping ErrInvalidInput and write nothing; a store that fails returns
// an error wrapping ErrStoreUnavailable (or, when ctx ended, ctx's
// error), and then none of the tokens was returned. The tokens are
// secrets, as Create's are.
func (s *Service) CreateBatch(ctx context.Context, p CreateParams, n int) ([]Token, error) {
	if n < 1 || n > MaxBatch {
		return nil, fmt.Errorf("%w: a batch is 1 to %d sessions, not %d", ErrInvalidInput, MaxBatch, n)
	}
	if err := s.CheckParams(p); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	toks := make([]Token, n)
	recs := make([]Record, n)
	for i := range n {
		var err error
		if toks[i], recs[i], err = s.newRecord(p, now); err != nil {
			return nil, err
		}
	}
	timeout := s.opts.StoreTimeout * time.Duration(1+(n-1)/1000)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	err := s.store.CreateBatch(sctx, recs)
	cancel()
	if err != nil {
		return nil, storeFailed(ctx, "create sessions", err)
	}
	return toks, nil
}

func (s *Service) writeCreated(ctx context.Context, h TokenHash, sess *Session, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RedisTimeout)
	defer cancel()
	val, err := encodeSession(sess)
	if err == nil {
		// A plain SET: it replaces an "absent" marker left by a guess.
		err = s.rdb.Do(ctx, "set", s.Key(h), val, "pxat", s.redisDeadline(sess, now).UnixMilli()).Err()
	}
	if err != nil {
		s.stats.redisErrors.Add(1)
		s.log.Warn("redis write after create failed; the session will be read from the store", "session_id", sess.ID, "error", err)
	}
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
