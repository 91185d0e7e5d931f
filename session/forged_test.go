package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

// forgedCount is how many forged tokens the regression tests send: the
// figure of the finding (5 000 forged requests, 5 000 store lookups and
// 5 000 new Redis keys before token tags).
const forgedCount = 5000

// TestForgedTokensCostNoIO: well-formed tokens that no Studio made (a
// valid CRC-32C around random bytes: all public) are refused as unknown
// without any store call or Redis write, validated or revoked, on the
// L1's side of the Service and with it disabled; real sessions still
// validate.
func TestForgedTokensCostNoIO(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		mod  func(*session.Options)
	}{
		{"with L1", func(*session.Options) {}},
		{"without L1", func(o *session.Options) { o.L1TTL = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := e.service(tc.mod)
			real, _ := e.create(svc, session.CreateParams{})
			lookups, revokes := e.store.lookups.Load(), e.store.revokes.Load()
			keys := e.rdb.DBSize(bg).Val()
			for i := range forgedCount {
				tok := forgedToken(t)
				if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("Validate(forged) = %v, want ErrNotFound", err)
				}
				if i%10 == 0 {
					if err := svc.Revoke(bg, tok); !errors.Is(err, session.ErrNotFound) {
						t.Fatalf("Revoke(forged) = %v, want ErrNotFound", err)
					}
				}
			}
			dl, dr := e.store.lookups.Load()-lookups, e.store.revokes.Load()-revokes
			dk := e.rdb.DBSize(bg).Val() - keys
			t.Logf("%d forged tokens: %d store lookups, %d store revokes, %d new Redis keys", forgedCount, dl, dr, dk)
			if dl != 0 || dr != 0 || dk != 0 {
				t.Fatalf("%d forged tokens cost %d store lookups, %d store revokes and %d new Redis keys; want none",
					forgedCount, dl, dr, dk)
			}
			if _, err := svc.Validate(bg, real); err != nil {
				t.Fatalf("a real session: %v", err)
			}
		})
	}
}

// TestForgedTokensCounted: each refusal is counted once, as a validation
// refused (not_found) by no tier, and in ForgedTokens with the refused
// revocations; nothing is counted as a lookup of an untagged token.
func TestForgedTokensCounted(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	const n = 100
	for range n {
		tok := forgedToken(t)
		if _, tier, err := svc.ValidateTier(bg, tok); !errors.Is(err, session.ErrNotFound) || tier != session.TierNone {
			t.Fatalf("ValidateTier(forged) = %v, %v; want ErrNotFound from no tier", tier, err)
		}
		if err := svc.Revoke(bg, tok); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Revoke(forged) = %v", err)
		}
	}
	st := svc.Stats()
	if st.ForgedTokens != 2*n || st.Validations[session.ResultNotFound][session.TierNone] != n || st.UntaggedLookups != 0 {
		t.Fatalf("ForgedTokens %d (want %d), not_found/none %d (want %d), UntaggedLookups %d (want 0)",
			st.ForgedTokens, 2*n, st.Validations[session.ResultNotFound][session.TierNone], n, st.UntaggedLookups)
	}
	if !st.LegacyUntil.IsZero() {
		t.Fatalf("LegacyUntil %v on a store that never held an untagged session", st.LegacyUntil)
	}
}

// TestTaggedUnknownTokenReachesStore: a token with the store's tag that
// names no session is looked up as before (the tag proves it came from a
// Studio on this store, so it may name a session another instance just
// created); Service.NewToken makes one.
func TestTaggedUnknownTokenReachesStore(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(), e.service()
	tok, err := a.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	before := e.store.lookups.Load()
	if _, err := b.Validate(bg, tok.Reveal()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Validate = %v, want ErrNotFound", err)
	}
	if n := e.store.lookups.Load() - before; n != 1 {
		t.Fatalf("%d store lookups for a tagged unknown token, want 1", n)
	}
	if st := b.Stats(); st.ForgedTokens != 0 {
		t.Fatalf("a token with the store's tag counted as forged (%d)", st.ForgedTokens)
	}
}

// TestLegacyTokensWindow: sessions stored before the key existed (their
// tokens are 32 random bytes, like a forgery) validate until the latest
// of them expires; until then a forged token costs a lookup, as before
// tags, and is counted; once the clock passes that, untagged tokens are
// refused with no I/O.
func TestLegacyTokensWindow(t *testing.T) {
	e := newEnv(t)
	legacy := forgedToken(t)
	until := e.clock.Now().Add(2 * time.Hour).UTC().Truncate(time.Millisecond)
	e.createAsOlderBinary(legacy, until)
	svc := e.service()
	if got := svc.Stats().LegacyUntil; !got.Equal(until) {
		t.Fatalf("LegacyUntil = %v, want the legacy session's expiry %v", got, until)
	}
	if sess, err := svc.Validate(bg, legacy); err != nil || sess.UserID != "u-legacy" {
		t.Fatalf("a legacy session inside the window: %v, %v", sess.UserID, err)
	}
	before := e.store.lookups.Load()
	if _, err := svc.Validate(bg, forgedToken(t)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Validate(forged) in the window = %v", err)
	}
	if n := e.store.lookups.Load() - before; n != 1 {
		t.Fatalf("a forged token in the window: %d lookups, want 1 (it may be a legacy token)", n)
	}
	if st := svc.Stats(); st.UntaggedLookups != 2 || st.ForgedTokens != 0 {
		t.Fatalf("UntaggedLookups %d (want 2), ForgedTokens %d (want 0)", st.UntaggedLookups, st.ForgedTokens)
	}

	e.advance(2*time.Hour + time.Second) // past the window
	real, _ := e.create(svc, session.CreateParams{})
	lookups, revokes, keys := e.store.lookups.Load(), e.store.revokes.Load(), e.rdb.DBSize(bg).Val()
	for _, tok := range []string{legacy, forgedToken(t), forgedToken(t)} {
		if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Validate(untagged) past the window = %v, want ErrNotFound", err)
		}
		if err := svc.Revoke(bg, tok); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Revoke(untagged) past the window = %v, want ErrNotFound", err)
		}
	}
	if dl, dr, dk := e.store.lookups.Load()-lookups, e.store.revokes.Load()-revokes, e.rdb.DBSize(bg).Val()-keys; dl != 0 || dr != 0 || dk != 0 {
		t.Fatalf("untagged tokens past the window: %d lookups, %d revokes, %d new Redis keys; want none", dl, dr, dk)
	}
	if st := svc.Stats(); st.ForgedTokens != 6 {
		t.Fatalf("ForgedTokens %d, want 6", st.ForgedTokens)
	}
	if _, err := svc.Validate(bg, real); err != nil {
		t.Fatalf("a tagged session past the window: %v", err)
	}
}

// TestOlderBinarySessionAccepted: during a rolling deploy or after a
// rollback, an older Studio on the same store keeps making untagged
// tokens after the key exists. Its sessions move the end of the legacy
// window, which every Service reads again every few seconds: once read,
// their tokens validate here too.
func TestOlderBinarySessionAccepted(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	if !svc.Stats().LegacyUntil.IsZero() {
		t.Fatal("a new store has a legacy window")
	}
	tok := forgedToken(t)
	e.createAsOlderBinary(tok, e.clock.Now().Add(time.Hour))
	if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("before the window is read again: %v, want ErrNotFound (refused with no I/O)", err)
	}
	if err := session.RefreshLegacy(svc); err != nil {
		t.Fatal(err)
	}
	if sess, err := svc.Validate(bg, tok); err != nil || sess.UserID != "u-legacy" {
		t.Fatalf("an older binary's session after the window was read: %v, %v", sess.UserID, err)
	}
	if err := svc.Revoke(bg, tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := svc.Validate(bg, tok); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("after Revoke: %v, want ErrRevoked", err)
	}
}

// failingTagsStore is a store whose TokenTags fails.
type failingTagsStore struct{ session.Store }

var errNoTags = errors.New("token tags: the test made it fail")

func (failingTagsStore) TokenTags(context.Context) (session.TokenTags, error) {
	return session.TokenTags{}, errNoTags
}

// TestNewServiceNeedsTheKey: a Service cannot check tags without the
// store's key, so NewService fails, naming why, rather than serve.
func TestNewServiceNeedsTheKey(t *testing.T) {
	e := newEnv(t)
	_, err := session.NewService(session.Options{Store: failingTagsStore{e.store}, Redis: e.rdb})
	if !errors.Is(err, errNoTags) || err == nil {
		t.Fatalf("NewService = %v, want an error wrapping the store's", err)
	}
	t.Log(err)
}
