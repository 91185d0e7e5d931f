package adminauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCheckStrength: the weak tokens people make are refused with the
// estimate and how to generate a good one (never the token); random
// tokens of 256 bits in the usual encodings pass.
func TestCheckStrength(t *testing.T) {
	for _, tc := range []struct {
		name, tok string
	}{
		{"one letter repeated", "aaaaaaaaaaaaaaaa"},
		{"a password and digits", "password1234567890"},
		{"20 hex characters (80 bits)", "8f3a9c1e5b7d2f4a6c0e"},
		{"32 hex characters with a run", "8f3a9c1e5b7d2f4a0000e1b3d5f7c9e2"},
		{"words and a sequence", "e2e-admin-token-0123456789"},
		{"a passphrase", "correct-horse-battery-staple-extra-words"},
		{"letters only, 25", "correcthorsebatterystaple"},
		{"a pattern repeated", "abcdabcdabcdabcdabcdabcdabcdabcd"},
		{"two characters alternating", "abababababababababababababababab"},
		{"a UUID (122 bits)", "550e8400-e29b-41d4-a716-446655440000"},
		{"short and mixed", "Tr0ub4dor&3"},
		{"digits only, 30", "839201746583920174658392017465"},
		{"common words in capitals", "MY-SUPER-SECRET-ADMIN-TOKEN-FOR-PRODUCTION"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStrength(tc.tok)
			if err == nil {
				t.Fatalf("accepted %q (estimate %.1f bits)", tc.tok, EstimateBits(tc.tok))
			}
			msg := err.Error()
			if !strings.Contains(msg, "bits of entropy, at least 128") || !strings.Contains(msg, "studio token") || !strings.Contains(msg, "openssl rand -hex 32") {
				t.Fatalf("error %q does not give the estimate and how to generate a token", msg)
			}
			if len(tc.tok) >= 8 && strings.Contains(msg, tc.tok) {
				t.Fatalf("error %q holds the token", msg)
			}
		})
	}
	for _, tc := range []struct {
		name, tok string
	}{
		{"32 random hex characters (128 bits, no pattern)", "8f3a9c1e5b7d2f4a6c0e1b3d5f7c9e2a"},
		{"mixed classes, 24", "q7#Vx9!mK2$pL4&nR8*tW3zJ"},
		{"a long passphrase (11 words)", "gravel-ostrich-lantern-copper-meadow-sprint-violet-harbor-pickle-summit-quartz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckStrength(tc.tok); err != nil {
				t.Fatalf("refused %q: %v", tc.tok, err)
			}
		})
	}
	// `studio token`, openssl rand -hex 32 and -base64 32: 256 bits
	// always pass, whatever the draw.
	for range 2000 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		for _, tok := range []string{hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
			if err := CheckStrength(tok); err != nil {
				t.Fatalf("a random 256-bit token %q refused: %v", tok, err)
			}
		}
	}
}

// FuzzEntropy: the estimate is defined for any string, finite, never
// negative, never above 8 bits a rune, and the same for the same input.
func FuzzEntropy(f *testing.F) {
	for _, s := range []string{"", "a", "aaaaaaaaaaaaaaaa", "password1234567890", "550e8400-e29b-41d4-a716-446655440000",
		"correct-horse-battery", "\xff\xfe", "ÄÖÜäöü-token", "ſ", "İstanbul-admin", "0123456789abcdef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := EstimateBits(s)
		if math.IsNaN(b) || math.IsInf(b, 0) || b < 0 {
			t.Fatalf("EstimateBits(%q) = %v", s, b)
		}
		if n := utf8.RuneCountInString(s); b > 8*float64(n) {
			t.Fatalf("EstimateBits(%q) = %v, more than 8 bits for each of %d runes", s, b, n)
		}
		if EstimateBits(s) != b {
			t.Fatalf("EstimateBits(%q) is not deterministic", s)
		}
	})
}
