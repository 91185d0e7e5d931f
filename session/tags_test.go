package session

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// bodyOf decodes a token that ParseToken accepts and returns its body.
func bodyOf(tb testing.TB, tok string) [tokenRandLen]byte {
	tb.Helper()
	var body [tokenRandLen]byte
	if _, err := parseToken(tok, &body); err != nil {
		tb.Fatalf("parseToken: %v", err)
	}
	return body
}

func TestTokenTagged(t *testing.T) {
	g := newTagger(testKey)
	for range 100 {
		tok := newTestToken(t)
		body := bodyOf(t, tok.Reveal())
		if !g.tagged(&body) {
			t.Fatal("a token made with the key is not tagged with it")
		}
		want := sipHash24(g.k0, g.k1, body[:tokenNonceLen])
		if got := binary.LittleEndian.Uint64(body[tokenNonceLen:]); got != want {
			t.Fatalf("tag %016x, want SipHash-2-4 of the first 24 bytes %016x", got, want)
		}
	}
}

// TestTokenTagRefuses: every token below passes ParseToken (length,
// alphabet, checksum), so each is refused by the tag alone.
func TestTokenTagRefuses(t *testing.T) {
	g := newTagger(testKey)
	good := bodyOf(t, newTestToken(t).Reveal())
	flip := func(i int) [tokenRandLen]byte {
		b := good
		b[i] ^= 0x01
		return b
	}
	var random, zero [tokenRandLen]byte
	if _, err := rand.Read(random[:]); err != nil {
		t.Fatal(err)
	}
	other, err := (TokenKey{0: 2}).NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		body [tokenRandLen]byte
	}{
		{"32 random bytes (a token from before the key)", random},
		{"all zero", zero},
		{"another key's tag", bodyOf(t, other.Reveal())},
		{"first random byte changed", flip(0)},
		{"last random byte changed", flip(tokenNonceLen - 1)},
		{"first tag byte changed", flip(tokenNonceLen)},
		{"last tag byte changed", flip(tokenRandLen - 1)},
		{"tag zeroed", func() [tokenRandLen]byte {
			b := good
			clear(b[tokenNonceLen:])
			return b
		}()},
		{"tag big-endian", func() [tokenRandLen]byte {
			b := good
			binary.BigEndian.PutUint64(b[tokenNonceLen:], binary.LittleEndian.Uint64(good[tokenNonceLen:]))
			return b
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tokenFromBytes(tc.body).Reveal()
			if _, err := ParseToken(tok); err != nil {
				t.Fatalf("ParseToken refused it (%v): the case tests the checksum, not the tag", err)
			}
			body := bodyOf(t, tok)
			if g.tagged(&body) {
				t.Fatal("tag accepted")
			}
		})
	}
}

func TestTagCheckDoesNotAllocate(t *testing.T) {
	g := newTagger(testKey)
	s := newTestToken(t).Reveal()
	n := testing.AllocsPerRun(1000, func() {
		var body [tokenRandLen]byte
		if _, err := parseToken(s, &body); err != nil || !g.tagged(&body) {
			t.Fatal("refused")
		}
	})
	if n != 0 {
		t.Fatalf("parsing and checking the tag allocates %v times per call", n)
	}
}

func TestTokenKeyNeverPrints(t *testing.T) {
	k := TokenKey{0: 0xab, 1: 0xcd, 2: 0xef}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v %+v %x", k, k, k, k, k)} {
		if strings.Contains(strings.ToLower(s), "abcdef") || strings.Contains(s, "171") {
			t.Fatalf("key leaked through formatting: %q", s)
		}
	}
}

// FuzzTokenTag: whatever the input, a token is accepted only if its tag
// is exactly the one the key makes for its first 24 bytes: the token the
// key would have made from them.
func FuzzTokenTag(f *testing.F) {
	f.Add(newTestToken(f).Reveal())
	var raw [tokenRandLen]byte
	f.Add(tokenFromBytes(raw).Reveal())
	f.Add("")
	f.Add(strings.Repeat("A", TokenLen))
	g := newTagger(testKey)
	f.Fuzz(func(t *testing.T, s string) {
		var body [tokenRandLen]byte
		if _, err := parseToken(s, &body); err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var nonce [tokenNonceLen]byte
		copy(nonce[:], body[:])
		if want := string(g.token(nonce)) == s; g.tagged(&body) != want {
			t.Fatalf("tagged = %v, but the key makes this token from its first 24 bytes: %v", !want, want)
		}
	})
}

// BenchmarkTagCheck: the tag check an L1 miss adds (SipHash-2-4 of 24
// bytes and a constant-time compare), on a token's decoded body.
func BenchmarkTagCheck(b *testing.B) {
	g := newTagger(testKey)
	body := bodyOf(b, newTestToken(b).Reveal())
	b.ReportAllocs()
	for b.Loop() {
		if !g.tagged(&body) {
			b.Fatal("refused")
		}
	}
}
