package adminauth

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// MinBits is the least estimated entropy, in bits, of an admin token:
// guessing one is then out of reach at any rate of attempts.
const MinBits = 128

// GenerateHint says how to make a token strong enough.
const GenerateHint = `generate one with "studio token" or "openssl rand -hex 32"`

// CheckStrength returns an error when tok's estimated entropy is below
// MinBits. The error gives the estimate and how to generate a good token,
// never the token.
func CheckStrength(tok string) error {
	if b := EstimateBits(tok); b < MinBits {
		return fmt.Errorf("has about %d bits of entropy, at least %d are needed: %s", int(b), MinBits, GenerateHint)
	}
	return nil
}

// EstimateBits estimates the entropy of a token in bits, conservatively:
// what an attacker who knows how people make tokens would need to guess
// at most, not what a random generator may have put in. It cannot tell
// a random string from a well-disguised human one; it refuses the usual
// weak ones.
//
// Every character is worth log2 of the alphabet its character classes
// imply (hexadecimal 4 bits, digits only 3.3, base64url 6, lower case,
// digits and punctuation about 6.1), except:
//   - a character that is the fourth or later of a run of one character
//     (aaaa) or of a sequence (1234, dcba), or that ends a group of four
//     characters seen earlier in the token (abcdabcd), is worth 1 bit;
//   - a common word (admin, token, password, …, any case) is worth
//     wordBits as a whole;
//   - a UUID is worth at most 122 bits, the random bits of a version 4;
//   - a passphrase (three or more groups of letters, in one case, between
//     separators: correct-horse-battery) is worth wordBits a word.
//
// Separators (- _ : .) in a token otherwise of hexadecimal or decimal
// digits are worth nothing. It is safe for any string, valid UTF-8 or
// not.
func EstimateBits(tok string) float64 {
	rs := []rune(tok)
	if len(rs) == 0 {
		return 0
	}
	perChar, sepFree := charBits(rs)
	covered := commonWordSpans(rs)
	bits := 0.0
	seen := map[string]int{} // groups of four characters by first start
	for i, r := range rs {
		if i >= 3 {
			g := string(rs[i-3 : i+1])
			if _, ok := seen[g]; !ok {
				seen[g] = i - 3
			}
		}
		switch {
		case covered[i] > 0:
			if covered[i] == 1 { // the word's first character
				bits += wordBits
			}
		case sepFree && isSeparator(r):
		case patterned(rs, i, seen):
			bits++
		default:
			bits += perChar
		}
	}
	switch {
	case uuidRE.MatchString(tok):
		bits = min(bits, 122)
	case passphraseRE.MatchString(tok):
		bits = min(bits, wordBits*float64(len(passphraseSepRE.FindAllStringIndex(tok, -1))+1))
	}
	return bits
}

// wordBits is what a common word is worth: a guess from a list of a few
// thousand.
const wordBits = 12

// commonWords are words people put in hand-made tokens; a token built of
// them is as strong as the number of words, not of letters. Four letters
// at least, so that a random token rarely holds one by chance.
var commonWords = []string{
	"password", "passwd", "passphrase", "admin", "administrator", "token", "secret", "studio",
	"redis", "session", "dashboard", "letmein", "qwerty", "azerty", "changeme", "default",
	"example", "sample", "test", "demo", "prod", "production", "staging", "develop", "master",
	"root", "login", "welcome", "dragon", "monkey", "shadow", "sunshine", "football", "iloveyou",
	"trustno1", "access", "bearer", "api-key", "apikey", "private", "super", "hello", "local",
	"server", "service", "user", "guest", "temp", "company", "platform",
}

// commonWordSpans marks, for each rune of rs, its position+1 within a
// common word found there (case-insensitive; longest words first; words
// do not overlap), or 0.
func commonWordSpans(rs []rune) []int {
	lower := []rune(strings.ToLower(string(rs)))
	cov := make([]int, len(rs))
	if len(lower) != len(rs) { // a rune whose lower case changes length: no words
		return cov
	}
	for _, w := range sortedWords {
		wr := []rune(w)
		for i := 0; i+len(wr) <= len(lower); i++ {
			if string(lower[i:i+len(wr)]) != w || !free(cov[i:i+len(wr)]) {
				continue
			}
			for j := range wr {
				cov[i+j] = j + 1
			}
		}
	}
	return cov
}

func free(cov []int) bool {
	for _, c := range cov {
		if c != 0 {
			return false
		}
	}
	return true
}

// sortedWords is commonWords, longest first.
var sortedWords = func() []string {
	ws := slices.Clone(commonWords)
	slices.SortStableFunc(ws, func(a, b string) int { return len(b) - len(a) })
	return ws
}()

var (
	passphraseRE    = regexp.MustCompile(`^(?:[a-z]+|[A-Z]+)(?:[-_.:]+(?:[a-z]+|[A-Z]+)){2,}$`)
	passphraseSepRE = regexp.MustCompile(`[-_.:]+`)
)

var uuidRE = regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func isSeparator(r rune) bool { return r == '-' || r == '_' || r == ':' || r == '.' }

// patterned reports whether rs[i] continues a pattern: the fourth or later
// of a run or a sequence, or the end of a group of four seen earlier.
func patterned(rs []rune, i int, seen map[string]int) bool {
	if i < 3 {
		return false
	}
	d := rs[i] - rs[i-1]
	if (d >= -1 && d <= 1) && rs[i-1]-rs[i-2] == d && rs[i-2]-rs[i-3] == d {
		return true
	}
	first, ok := seen[string(rs[i-3:i+1])]
	return ok && first < i-3
}

// charBits returns the bits one character is worth, from the classes the
// token's characters belong to, and whether separators (- _ : .) are worth
// nothing: in a token of hexadecimal digits or decimal digits with them.
func charBits(rs []rune) (float64, bool) {
	var lower, upper, digit, seps, punct, other bool
	hexLower, hexUpper := true, true
	for _, r := range rs {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
			hexUpper = false
			hexLower = hexLower && r <= 'f'
		case r >= 'A' && r <= 'Z':
			upper = true
			hexLower = false
			hexUpper = hexUpper && r <= 'F'
		case r >= '0' && r <= '9':
			digit = true
		case isSeparator(r):
			seps = true
		case r > ' ' && r < 0x7f:
			punct = true
		default:
			other = true
		}
	}
	switch {
	case punct || other:
	case !lower && !upper:
		return math.Log2(10), seps // digits only
	case hexLower || hexUpper:
		return 4, seps
	}
	n := 0
	if lower {
		n += 26
	}
	if upper {
		n += 26
	}
	if digit {
		n += 10
	}
	switch {
	case punct:
		n += 33 // every ASCII punctuation character
	case seps:
		n += 4
	}
	if other {
		n += 64
	}
	return math.Log2(float64(n)), false
}
