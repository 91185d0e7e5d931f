package session

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestValidUserID: letters, marks, symbols and spaces of any script are
// accepted; controls, format characters and line or paragraph separators
// are not.
func TestValidUserID(t *testing.T) {
	for _, id := range []string{"alice", "user@example.com", "Jürgen Müller", "山田太郎", "مريم", "e\u0301", "a b", "🙂"} {
		if !validUserID(id) {
			t.Errorf("refused %q", id)
		}
	}
	for _, id := range []string{"a\x00", "a\tb", "a\x7f", "a\u0085", "a\u2028", "a\u2029", "a\u202e", "a\u200b", "\ufeffa", "a\u200d", "a\u2066", "a\xff"} {
		if validUserID(id) {
			t.Errorf("accepted %q", id)
		}
	}
}

// FuzzUserID: an accepted user id is valid UTF-8 with no rune of the
// categories Cc, Cf, Zl or Zp.
func FuzzUserID(f *testing.F) {
	for _, s := range []string{"alice", "a\u202eb", "\u2028", "a\xffb", "\u0085", "Jürgen"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validUserID(id) {
			return
		}
		if !utf8.ValidString(id) {
			t.Fatalf("accepted invalid UTF-8 %q", id)
		}
		for _, r := range id {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("accepted %q holding %U", id, r)
			}
		}
	})
}
