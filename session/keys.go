package session

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
