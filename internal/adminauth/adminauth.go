// Package adminauth checks Studio's admin bearer token: the one check the
// HTTP API's admin routes and the dashboard's login share. Tokens holds
// the accepted tokens (several at once, replaceable at run time, so a
// token can be rotated without downtime); Guard adds the throttling of
// wrong attempts; EstimateBits says whether a token is strong enough to
// be one.
package adminauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"sync/atomic"
)

// Tokens holds the admin tokens an instance accepts, as SHA-256 digests
// (never the tokens themselves). It is safe for concurrent use; the zero
// value accepts nothing.
type Tokens struct {
	hashes atomic.Pointer[[][sha256.Size]byte]
}

// New returns the Tokens accepting each non-empty token given.
func New(tokens ...string) *Tokens {
	t := &Tokens{}
	t.Set(tokens...)
	return t
}

// Set replaces the accepted tokens with the non-empty ones given, at once
// for every later Check: the rotation of a token without a restart.
// Checks already running use the set they started with.
func (t *Tokens) Set(tokens ...string) {
	var hs [][sha256.Size]byte
	for _, tok := range tokens {
		if tok != "" {
			hs = append(hs, sha256.Sum256([]byte(tok)))
		}
	}
	t.hashes.Store(&hs)
}

func (t *Tokens) list() [][sha256.Size]byte {
	if t == nil {
		return nil
	}
	if p := t.hashes.Load(); p != nil {
		return *p
	}
	return nil
}

// Len is how many tokens are accepted.
func (t *Tokens) Len() int { return len(t.list()) }

// Enabled reports whether any token is accepted: without one, admin
// access is disabled.
func (t *Tokens) Enabled() bool { return t.Len() > 0 }

// Check reports whether tok is one of the tokens. It compares digests in
// constant time and compares against every token, so the time it takes
// tells nothing of which one, or how much of one, matched.
func (t *Tokens) Check(tok string) bool {
	hs := t.list()
	if len(hs) == 0 {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range hs {
		ok |= subtle.ConstantTimeCompare(got[:], hs[i][:])
	}
	return ok == 1
}

// ParseList splits a list of admin tokens as STUDIO_ADMIN_TOKEN and its
// file give them: separated by commas or line breaks, each trimmed of
// white space; empty entries and lines starting with # are skipped. A
// token therefore never holds a comma.
func ParseList(s string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, tok := range strings.Split(line, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}
