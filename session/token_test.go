package session

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// testKey tags the tokens of this file's tests.
var testKey = TokenKey{0: 1, 7: 2, 15: 3}

// newTestToken returns a fresh token tagged with testKey.
func newTestToken(tb testing.TB) Token {
	tb.Helper()
	tok, err := testKey.NewToken()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestTokenRoundTrip(t *testing.T) {
	seen := map[Token]bool{}
	for range 100 {
		tok, err := testKey.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLen || !strings.HasPrefix(string(tok), TokenPrefix) {
			t.Fatalf("token has length %d and prefix %q", len(tok), string(tok)[:4])
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		h, err := ParseToken(tok.Reveal())
		if err != nil {
			t.Fatalf("ParseToken(NewToken()) = %v", err)
		}
		if h != sha256.Sum256([]byte(tok)) {
			t.Fatal("hash is not sha256 of the token")
		}
		h2, err := ParseTokenHash(h.Hex())
		if err != nil || h2 != h {
			t.Fatalf("ParseTokenHash(Hex()) = %v, %v", h2, err)
		}
	}
}

func TestTokenNeverPrints(t *testing.T) {
	tok := newTestToken(t)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %#v %+v", tok, tok, tok, tok), tok.String()} {
		if strings.Contains(s, tok.Reveal()[len(TokenPrefix):]) {
			t.Fatalf("token text leaked through formatting: %q", s)
		}
	}
}

func TestParseTokenRejects(t *testing.T) {
	good := newTestToken(t)
	g := good.Reveal()
	flip := func(i int) string {
		b := []byte(g)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	var zero [tokenRandLen]byte
	canonical := tokenFromBytes(zero).Reveal()
	// The last body character of 32 bytes carries 2 spare bits; setting
	// them gives a non-canonical encoding of the same bytes.
	nonCanonical := canonical[:len(TokenPrefix)+tokenBodyLen-1] + "B" + canonical[len(TokenPrefix)+tokenBodyLen:]

	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "length 0"},
		{"prefix only", TokenPrefix, "length 4"},
		{"one short", g[:TokenLen-1], "length 52"},
		{"one long", g + "A", "length 54"},
		{"huge", strings.Repeat("a", 1<<20), "length 1048576"},
		{"wrong prefix", "sk_x" + g[4:], "wrong prefix"},
		{"upper prefix", strings.ToUpper(TokenPrefix) + g[4:], "wrong prefix"},
		{"space inside", g[:10] + " " + g[11:], "invalid character at offset 10"},
		{"padding char", g[:TokenLen-1] + "=", "invalid character"},
		{"std base64 char", g[:20] + "+" + g[21:], "invalid character"},
		{"non-ASCII", g[:20] + "\xc3" + g[21:], "invalid character"},
		{"NUL", g[:30] + "\x00" + g[31:], "invalid character"},
		{"body typo", flip(10), "checksum mismatch"},
		{"checksum typo", flip(TokenLen - 2), ""},
		{"non-canonical body", nonCanonical, "bad body encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseToken(tc.in)
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("ParseToken = %v, want ErrMalformedToken", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if h != (TokenHash{}) {
				t.Fatal("a refused token returned a hash")
			}
			if len(tc.in) > len(TokenPrefix)+8 && strings.Contains(err.Error(), tc.in[len(TokenPrefix):]) {
				t.Fatal("error echoes the token")
			}
		})
	}
}

func TestParseTokenDoesNotAllocate(t *testing.T) {
	tok := newTestToken(t)
	s := tok.Reveal()
	if n := testing.AllocsPerRun(1000, func() { _, _ = ParseToken(s) }); n != 0 {
		t.Fatalf("ParseToken allocates %v times per call", n)
	}
}

func TestParseTokenHashRejects(t *testing.T) {
	for _, in := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("a", 63), strings.Repeat("a", 65)} {
		if _, err := ParseTokenHash(in); err == nil {
			t.Errorf("ParseTokenHash(%q) accepted", in)
		}
	}
}

// FuzzParseToken: no input panics; whatever is accepted is exactly a token
// NewToken could have produced (canonical encoding, right checksum).
func FuzzParseToken(f *testing.F) {
	tok := newTestToken(f)
	f.Add(tok.Reveal())
	f.Add("")
	f.Add(TokenPrefix)
	f.Add(strings.Repeat("A", TokenLen))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var raw [tokenRandLen]byte
		n, derr := strictB64.Decode(raw[:], []byte(s[len(TokenPrefix):len(TokenPrefix)+tokenBodyLen]))
		if derr != nil || n != tokenRandLen {
			t.Fatalf("accepted token whose body does not decode: %v", derr)
		}
		if string(tokenFromBytes(raw)) != s {
			t.Fatal("accepted a token NewToken could not have produced")
		}
		if h != sha256.Sum256([]byte(s)) {
			t.Fatal("wrong hash")
		}
	})
}

func TestChecksumIsCRC32C(t *testing.T) {
	for _, in := range []string{"", "a", TokenPrefix, strings.Repeat("xyz", 40)} {
		if got, want := checksum([]byte(in)), crc32.Checksum([]byte(in), crc32.MakeTable(crc32.Castagnoli)); got != want {
			t.Errorf("checksum(%q) = %x, want %x", in, got, want)
		}
	}
}

// TestChecksumMatchesCRC32C: the hand-unrolled checksum is CRC-32C for
// every length around the 8-byte stride and for random contents.
func TestChecksumMatchesCRC32C(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 100 {
		for range 20 {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			if got, want := checksum(p), crc32.Checksum(p, tab); got != want {
				t.Fatalf("len %d: checksum %08x, crc32.Checksum %08x", n, got, want)
			}
		}
	}
}

// BenchmarkParseToken: the whole offline check of a token and its hash,
// the first step of every validation.
func BenchmarkParseToken(b *testing.B) {
	tok := string(newTestToken(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}
