package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

func TestCreateRefusesBadParamsAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	big := map[string]string{}
	for i := range 65 {
		big[string(rune('a'+i%26))+strings.Repeat("k", i)] = "v"
	}
	cases := []struct {
		name string
		p    session.CreateParams
		want string
	}{
		{"empty user", session.CreateParams{}, "user_id is required"},
		{"long user", session.CreateParams{UserID: strings.Repeat("u", 257)}, "longer than 256"},
		{"control char user", session.CreateParams{UserID: "a\nb"}, "without control or format characters (Unicode Cc, Cf, Zl, Zp)"},
		{"next line (U+0085, Cc)", session.CreateParams{UserID: "a\u0085b"}, "Unicode Cc, Cf, Zl, Zp"},
		{"line separator (U+2028, Zl)", session.CreateParams{UserID: "a\u2028b"}, "Unicode Cc, Cf, Zl, Zp"},
		{"paragraph separator (U+2029, Zp)", session.CreateParams{UserID: "a\u2029b"}, "Unicode Cc, Cf, Zl, Zp"},
		{"right-to-left override (U+202E, Cf)", session.CreateParams{UserID: "admin\u202Egpj.exe"}, "Unicode Cc, Cf, Zl, Zp"},
		{"zero-width space (U+200B, Cf)", session.CreateParams{UserID: "ali\u200Bce"}, "Unicode Cc, Cf, Zl, Zp"},
		{"byte order mark (U+FEFF, Cf)", session.CreateParams{UserID: "\uFEFFalice"}, "Unicode Cc, Cf, Zl, Zp"},
		{"replacement character", session.CreateParams{UserID: "a\uFFFDb"}, "Unicode Cc, Cf, Zl, Zp"},
		{"invalid utf8 user", session.CreateParams{UserID: "a\xffb"}, "valid UTF-8"},
		{"negative ttl", session.CreateParams{UserID: "u", TTL: -time.Second}, "at least 1s"},
		{"tiny ttl", session.CreateParams{UserID: "u", TTL: time.Millisecond}, "at least 1s"},
		{"absurd ttl", session.CreateParams{UserID: "u", TTL: 100 * 365 * 24 * time.Hour}, "at most"},
		{"negative idle", session.CreateParams{UserID: "u", IdleTimeout: -time.Minute}, "must not be negative"},
		{"idle below precision", session.CreateParams{UserID: "u", IdleTimeout: 30 * time.Second}, "at least 2m"},
		{"idle over ttl", session.CreateParams{UserID: "u", TTL: time.Hour, IdleTimeout: 2 * time.Hour}, "must not exceed ttl"},
		{"too much metadata", session.CreateParams{UserID: "u", Metadata: big}, "more than 64"},
		{"empty metadata key", session.CreateParams{UserID: "u", Metadata: map[string]string{"": "v"}}, "keys must be"},
		{"long metadata value", session.CreateParams{UserID: "u", Metadata: map[string]string{"k": strings.Repeat("v", 1025)}}, "values must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, _, err := svc.Create(bg, tc.p)
			if !errors.Is(err, session.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create = %v, want ErrInvalidInput saying %q", err, tc.want)
			}
			if tok != "" {
				t.Fatal("a refused create returned a token")
			}
		})
	}
	if n := e.store.creates.Load(); n != 0 {
		t.Fatalf("refused creates reached the store %d times", n)
	}
	if n := e.rdb.DBSize(bg).Val(); n != 0 {
		t.Fatalf("refused creates wrote %d redis keys", n)
	}
}

// TestCreateBatch: CreateBatch makes n sessions in one store write, each
// with a token of its own that validates (from the store: no Redis copy
// is written), as a session Create made would.
func TestCreateBatch(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	p := session.CreateParams{UserID: "seeded", TTL: time.Hour, Metadata: map[string]string{"k": "v"}}
	const n = 1203
	toks, err := svc.CreateBatch(bg, p, n)
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	if len(toks) != n {
		t.Fatalf("%d tokens, want %d", len(toks), n)
	}
	if got := e.store.batches.Load(); got != 1 {
		t.Fatalf("%d store batches, want 1", got)
	}
	if keys := e.rdb.DBSize(bg).Val(); keys != 0 {
		t.Fatalf("CreateBatch wrote %d redis keys, want none", keys)
	}
	seen := map[session.Token]bool{}
	for _, tok := range toks {
		if seen[tok] {
			t.Fatal("a token was returned twice")
		}
		seen[tok] = true
	}
	for i := 0; i < n; i += 97 {
		sess, err := svc.Validate(bg, toks[i].Reveal())
		if err != nil {
			t.Fatalf("token %d does not validate: %v", i, err)
		}
		if sess.UserID != "seeded" || sess.Metadata["k"] != "v" || sess.ExpiresAt.Sub(sess.CreatedAt) != time.Hour {
			t.Fatalf("token %d: session %+v", i, sess)
		}
	}
	if _, err := svc.Validate(bg, toks[n-1].Reveal()); err != nil {
		t.Fatalf("the last token does not validate: %v", err)
	}
}

func TestCreateBatchRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	for _, tc := range []struct {
		name string
		p    session.CreateParams
		n    int
		want string
	}{
		{"no sessions", session.CreateParams{UserID: "u"}, 0, "1 to 100000 sessions, not 0"},
		{"negative count", session.CreateParams{UserID: "u"}, -5, "not -5"},
		{"too many", session.CreateParams{UserID: "u"}, session.MaxBatch + 1, "not 100001"},
		{"no user", session.CreateParams{}, 10, "user_id is required"},
		{"bad ttl", session.CreateParams{UserID: "u", TTL: time.Millisecond}, 10, "at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := svc.CreateBatch(bg, tc.p, tc.n)
			if !errors.Is(err, session.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) || toks != nil {
				t.Fatalf("CreateBatch = %d tokens, %v; want ErrInvalidInput saying %q", len(toks), err, tc.want)
			}
		})
	}
	if n := e.store.batches.Load(); n != 0 {
		t.Fatalf("refused batches reached the store %d times", n)
	}
}

// TestCreateBatchStoreUnavailable: a store that does not answer fails the
// batch with ErrStoreUnavailable within StoreTimeout, and no token is
// returned.
func TestCreateBatchStoreUnavailable(t *testing.T) {
	e := newEnv(t)
	svc := e.service(func(o *session.Options) { o.StoreTimeout = 100 * time.Millisecond })
	e.store.hang.Store(true)
	toks, err := svc.CreateBatch(bg, session.CreateParams{UserID: "u"}, 3)
	if !errors.Is(err, session.ErrStoreUnavailable) || toks != nil {
		t.Fatalf("CreateBatch = %d tokens, %v; want ErrStoreUnavailable", len(toks), err)
	}
}
