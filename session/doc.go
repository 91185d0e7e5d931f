// Package session validates opaque session tokens through three tiers: an
// in-process cache (L1), Redis (L2) and a SQL store (L3).
//
// Only the SHA-256 of a token is ever stored or used as a key; the raw token
// lives only in the caller's hands and in the response to Create.
//
// # The read path
//
// Service.Validate refuses a malformed token (ParseToken: length, prefix,
// alphabet, checksum) before any I/O. Otherwise it looks the token's hash
// up in the L1, whose entries live at most Options.L1TTL and never past
// the session's expiry or idle deadline; refusals (unknown, revoked) are
// cached too. A live entry used in the last fifth of its life is answered
// from the entry and refreshed through the same path as a miss, in the
// background. On a miss it checks the token's tag (see Token tags),
// refusing an untagged token with ErrNotFound before any I/O too, then
// reads the Redis key: a binary copy of the
// session, a tombstone ("R": revoked) or an absent marker ("N": no such
// session). When Redis has nothing, or fails, it reads the store behind
// singleflight (one query per token however many callers miss at once; a
// caller that gives up does not cancel it for the others) and fills Redis
// with SET … PXAT … NX, or replaces a stale copy unless it is a tombstone.
// A copy expires at most Options.CacheTTL after the store read it was made
// from, and never past the session's deadline; the last-seen flusher
// extends the copies of sessions in use on the same terms (a sliding
// lifetime, extend.go). A live copy read from Redis
// is used only if the revocation index vouches for it (see Revocation);
// otherwise the store answers as on a miss. Each successful validation
// records a use, at most once per TouchInterval per session on each
// instance; recorded uses are written to the store in batches
// (Store.Touch).
//
// # Token tags
//
// A token's 32-byte body is 24 random bytes and an 8-byte tag: their
// SipHash-2-4 under the store's TokenKey (16 random bytes, one per
// database: Store.TokenTags creates it once, under the store's migration
// lock, and every Service reads it at NewService and keeps it for its
// life). The CRC-32C that ParseToken checks is public, so anyone can make
// well-formed tokens; without the key, a token passes the tag check with
// probability 2^-64. A token that fails it is refused with ErrNotFound —
// the answer an unknown session gets — with no Redis or store call, no L1
// entry and no log line, on an L1 miss in Validate and in Revoke; an L1
// hit needs no check, since only tokens that passed it fill the L1.
// Stats.ForgedTokens counts the refusals.
//
// Tokens made before the store had a key have 32 random bytes and fail
// the check like a forgery. Their sessions are marked in the store (the
// sessions an older Studio stores are marked the same way, so a rolling
// deploy or a rollback loses none), and TokenTags.LegacyUntil is the
// latest expiry among them. Until then a token that fails the check is
// looked up as before (Stats.UntaggedLookups); the Service reads
// LegacyUntil again every 10 seconds, so a session an older Studio makes
// with a later expiry is accepted within that time. From LegacyUntil on,
// every untagged token is refused with no I/O; no live session has one.
//
// Whoever can read the store can make tokens that pass the check: they
// still name no session, so the tag bounds what forged tokens cost, and
// grants nothing. Changing or removing the key is not supported: every
// token tagged with the old key would be refused as unknown, and the
// Services already running keep the key they started with.
//
// # Keeping the L1 correct
//
// Revocations are broadcast on a Redis channel every instance subscribes
// to. A missed message is bounded by flushing the whole L1 whenever the
// subscription drops (an error, or no reply to a ping for three seconds)
// and again when it comes back, so a lost message can keep a revoked
// session alive for at most one L1 lifetime.
//
// A fill that read Redis or the store before an invalidation and finishes
// after it must not put the old answer back. Every invalidation bumps a
// generation counter (one per first byte of the hash); a fill reads the
// counter before its reads and withdraws its L1 insert if the counter
// moved. The check is made again after the insert, so an invalidation
// that bumps the counter between the check and the insert either removes
// the entry itself or is seen by the second check.
//
// A session revoked on this instance whose tombstone has not reached
// Redis yet (see Revocation) is refused from the retrier's queue before
// Redis is read: Redis may still hold the live copy.
//
// # Replica reads
//
// With Options.ReadRedis set, the Redis tier reads session keys from it
// (typically a client that routes reads to replicas) and everything else
// uses Options.Redis (the master). A replica can lag its master, so it may
// still hold a session's value after the master received its tombstone.
// Two rules keep that from reviving a revoked session:
//
//   - a key named by an invalidation in the last ReplicaGrace is read from
//     the master: the tombstone is written to the master before the
//     invalidation is published, and reaches the replicas through
//     replication within their normal lag, which ReplicaGrace must exceed
//     (a revocation the retrier delivers later restarts the grace);
//   - after every L1 flush (the subscription dropped or resubscribed, e.g.
//     across a failover, when invalidations may have been missed) every
//     key is read from the master for ReplicaGrace.
//
// A replica that lost its link to the master should refuse reads
// (replica-serve-stale-data no, as deploy/ and `studio up` configure):
// such an error, like any replica read error, falls back to the master.
//
// # Revocation
//
// The promise: once the store has recorded a revocation, no validation
// accepts the session again, whatever Redis loses (a tombstone it
// acknowledged and lost in a failover, a restart from an older snapshot),
// on the revoking instance at once and on the others as soon as the
// invalidation message arrives or, if it is lost, at their next read of
// the store.
//
// It rests on two facts. First, every live copy written to Redis (a fill,
// Create, a warm run, a refresh) expires at most CacheTTL after the store
// read it was made from: redisDeadline counts from a time taken before
// that read. The sliding lifetime keeps this: the flusher's Store.Touch
// reads, in its write, which sessions are live, and only their copies are
// extended, to CacheTTL after a time taken before that statement, only
// while the key holds a live copy (never a tombstone or a marker), and
// never shortened. A copy of a session revoked at r was read before r, so it is
// gone by r + CacheTTL. Second, each Service keeps a revocation index
// (revindex.go): every revocation whose revoked_at is within W = CacheTTL
// + ClockSkew, kept until revoked_at + W, loaded from the store at start
// (RevokedSince(now − W)), read again every RevocationPoll (reaching back
// StoreTimeout + 5 s before the previous read, for late commits), and fed
// at once by this instance's Revoke and RevokeUser (before they return)
// and by invalidation messages. A live copy from Redis, or an L1 entry, is
// used only if its session is not in the index, and a Redis copy only if
// the index is also current: loaded, read successfully within five polls,
// and not overflowed within W. Otherwise the store decides. So a copy of
// a revoked session can only be used while its revocation is outside the
// index, which the window makes impossible, given that clocks agree
// within ClockSkew and a revocation commits within StoreTimeout + 5 s of
// its revoked_at (or its message arrives). While the store cannot be read
// for five polls, no Redis copy is trusted: that is the price.
//
// Tombstones and messages make everyone converge fast. Revoke and
// RevokeUser write the store first, within StoreTimeout (an error there
// is returned, wrapping ErrStoreUnavailable, and only a write that may
// still have been applied has an effect: the session is put in the index
// and an invalidation is published, so every instance reads it from the
// store), then the index, then Redis: pipelines of up to 256 tombstones,
// each kept for the rest of its session's life (a plain SET, which
// replaces any cached copy), and one invalidation message; then they drop
// the sessions from the local L1. Every fill writes with NX, so no racing
// fill can replace a tombstone. When Redis refuses, the revocation still
// succeeds: the tombstones go to a retrier that tries again (100 ms
// doubling to 2 s, at once when Redis is seen to answer again) until
// Redis takes them or the sessions expire, and Close makes one last
// attempt and logs the sessions it could not write (their ids and key
// display forms, never a token).
//
// # Warming
//
// A Warmer copies the most recently active sessions from a snapshot of the
// store into Redis with SET … NX, each expiring CacheTTL after the
// snapshot at the latest. No copy it writes can be accepted for a revoked
// session (the revocation index refuses it); it should still not leave
// one in Redis for other readers of Redis. Revoke writes the store (W),
// then a tombstone with a plain SET (T); the warmer reads its snapshot
// (Rd) and later writes its copy with SET NX (N). If Rd follows W the session is not in
// the snapshot. If Rd precedes W, either N precedes T and T's plain SET
// replaces the copy, or N follows T and NX refuses to replace the
// tombstone. Either way Redis ends holding the tombstone, which lives
// until the session's expiry: longer than any copy.
//
// What is left are the cases where T is missing when N lands:
//
//   - T failed and waits in the revoking instance's retrier, or that
//     instance died with it queued. The run's revocation sweep closes
//     this from the store's record of revocations (WarmSource.RevokedSince):
//     every second while the run writes, and once after it, whatever
//     stopped it, from a minute before its snapshot (clock skew between
//     instances and commit delay must stay below that). A copy warmed
//     after a revocation is thus replaced within about a second, and none
//     outlives a run whose final sweep succeeds. What the final sweep
//     cannot write goes to the Service's retrier; what it cannot read is
//     swept by the same Warmer's next run. Either way the run fails.
//   - T was lost after it was written (a restart without persistence, a
//     failover to a replica that had not received it). The warmer checks
//     the server's run_id before every batch and stops with
//     ErrRedisChanged when it changes; the final sweep covers the one
//     batch that may have been in flight, and Watch warms again from a
//     fresh read.
//   - T was evicted (maxmemory with an allkeys policy): run Redis with
//     volatile-ttl or noeviction.
//
// In each case Studio itself refuses the session all along (its index
// has the revocation); the sweep keeps Redis's own content right.
//
// docs/CACHE-WARMING.md describes the sweep, the adaptive back-off and
// the Cluster support in full.
package session
