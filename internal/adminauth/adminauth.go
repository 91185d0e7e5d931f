// Package adminauth checks Studio's admin bearer token: the one check the
// HTTP API's admin routes and the dashboard's login share.
package adminauth

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Tokens holds the admin tokens an instance accepts, as SHA-256 digests
// (never the tokens themselves). It is safe for concurrent use; the zero
// value accepts nothing.
type Tokens struct {
	hashes [][sha256.Size]byte
}

// New returns the Tokens accepting each non-empty token given.
func New(tokens ...string) *Tokens {
	t := &Tokens{}
	for _, tok := range tokens {
		if tok != "" {
			t.hashes = append(t.hashes, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Enabled reports whether any token is accepted: without one, admin
// access is disabled.
func (t *Tokens) Enabled() bool { return t != nil && len(t.hashes) > 0 }

// Check reports whether tok is one of the tokens. It compares digests in
// constant time and compares against every token, so the time it takes
// tells nothing of which one, or how much of one, matched.
func (t *Tokens) Check(tok string) bool {
	if !t.Enabled() {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range t.hashes {
		ok |= subtle.ConstantTimeCompare(got[:], t.hashes[i][:])
	}
	return ok == 1
}
