package session

// DefaultWarmKeyPrefix starts the bookkeeping keys a Service's Warmers
// keep in Redis with the default Options.KeyPrefix (the run marker, its
// per-master copies in a Cluster and the latency probe): not session keys,
// never hot keys. With another KeyPrefix they start with it and "warm".
const DefaultWarmKeyPrefix = "studio:warm"
