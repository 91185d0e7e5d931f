// Package health is the vocabulary of Studio's health view: the Snapshot
// served at /health/redis and streamed to the dashboard, and its parts —
// the Redis status, the Sentinel topology, the cache warmer's progress,
// the alerts, TLS state and hot-key rows. It holds plain types and
// constants with no I/O and no dependencies: the packages that produce a
// part (monitor, ha, session, hotkey, alert, redisconn) return these types,
// and every reader (the alert engine, the dashboard, the HTTP API) reads
// them, so no value crosses a package boundary as `any` or as JSON.
package health
