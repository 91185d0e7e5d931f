package hotkey

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// MaxDisplayBytes bounds the visible part of a displayed key.
const MaxDisplayBytes = 64

// DisplayKey is the only form in which a key leaves this package (Top,
// events, logs, the cross-instance payload in Redis, the Snapshot):
//
//   - A key holding a secret-looking run — 32 or more hex digits (a session
//     key is "studio:s:" + hex(sha256(token))), or 40 or more base64url
//     characters mixing upper case, lower case and digits (a raw token) —
//     is cut where that run starts and tagged with a short hash of the
//     whole key: "studio:s:#1a2b3c4d". The tag is the top 32 bits of
//     xxhash64(key) in hex: enough to tell the hot sessions apart and to
//     match the same key across instances, far too little to recover or
//     even narrow down the key hash, and never any part of it.
//   - Any other key longer than MaxDisplayBytes keeps its first
//     MaxDisplayBytes bytes and gets "…#" plus the same tag.
//   - Control characters and invalid UTF-8 become "?".
//
// Two different keys share a display form only if they share the visible
// part and the 32-bit tag.
func DisplayKey(key string) string {
	k := key[:min(len(key), keyBytes)]
	return display([]byte(k), len(key), xxhash.Sum64String(key))
}

// display builds DisplayKey from what a summary stores: the key's first
// keyBytes bytes, its length and its xxhash64.
func display(stored []byte, fullLen int, h uint64) string {
	cut, tagged := len(stored), fullLen > len(stored)
	if p := secretRun(stored); p >= 0 {
		cut, tagged = p, true
	}
	sep := "#"
	if cut > MaxDisplayBytes {
		cut, tagged, sep = MaxDisplayBytes, true, "…#"
	} else if tagged && cut == len(stored) {
		sep = "…#"
	}
	var b strings.Builder
	b.Grow(cut + 12)
	for _, c := range sanitize(stored[:cut]) {
		b.WriteRune(c)
	}
	if tagged {
		b.WriteString(sep)
		b.WriteString(tag(h))
	}
	return b.String()
}

func tag(h uint64) string {
	s := strconv.FormatUint(h>>32, 16)
	return strings.Repeat("0", 8-len(s)) + s
}

func sanitize(b []byte) []rune {
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '?'
		}
		out = append(out, r)
		b = b[n:]
	}
	return out
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isB64(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_'
}

// secretRun returns where the first secret-looking run in b starts, or -1.
func secretRun(b []byte) int {
	for i := 0; i < len(b); {
		if !isB64(b[i]) {
			i++
			continue
		}
		j, hexRun, hexStart := i, 0, -1
		var lower, upper, digit bool
		for j < len(b) && isB64(b[j]) {
			c := b[j]
			switch {
			case '0' <= c && c <= '9':
				digit = true
			case 'a' <= c && c <= 'z':
				lower = true
			case 'A' <= c && c <= 'Z':
				upper = true
			}
			if isHex(c) {
				if hexRun == 0 {
					hexStart = j
				}
				hexRun++
				if hexRun >= 32 {
					return hexStart
				}
			} else {
				hexRun = 0
			}
			j++
		}
		if j-i >= 40 && lower && upper && digit {
			return i
		}
		i = j
	}
	return -1
}
