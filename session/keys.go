package session

import (
	"encoding/hex"
	"unsafe"
)

// DefaultWarmKeyPrefix starts the bookkeeping keys a Service's Warmers
// keep in Redis with the default Options.KeyPrefix (the run marker, its
// per-master copies in a Cluster and the latency probe): not session keys,
// never hot keys. With another KeyPrefix they start with it and "warm".
const DefaultWarmKeyPrefix = "studio:warm"

// DefaultSessionKeyPrefix starts the session keys with the default
// Options.KeyPrefix (KeyPrefix + "s:" with another). The Service counts
// its callers' accesses to them itself (Options.Keys); a Redis hook that
// also counts keys must leave them out (hotkey.Ignoring), or it adds the
// Service's own reads and writes — refresh-ahead, fills, warming,
// tombstone retries — and counts a validation twice.
const DefaultSessionKeyPrefix = "studio:s:"

// SessionKey returns the Redis key of the session with token hash h for a
// Service whose Options.KeyPrefix is keyPrefix ("" means the default,
// "studio:"): keyPrefix + "s:" + the hash in lower-case hex. It is what
// Service.Key returns, for code that reads Studio's copies without a
// Service (the benchmark's plain-GET baseline); the key never holds the
// token itself.
func SessionKey(keyPrefix string, h TokenHash) string {
	if keyPrefix == "" {
		keyPrefix = "studio:"
	}
	b := appendSessionKey(make([]byte, 0, len(keyPrefix)+len("s:")+hex.EncodedLen(len(h))), keyPrefix, h)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again
}

// appendSessionKey appends the Redis key of h under keyPrefix (already
// defaulted) to b: the one place the key's form is written.
func appendSessionKey(b []byte, keyPrefix string, h TokenHash) []byte {
	b = append(b, keyPrefix...)
	b = append(b, "s:"...)
	return hex.AppendEncode(b, h[:])
}
