// Package alert turns Studio's health into notifications: rules evaluated
// every second over health Snapshot samples and HA events, routed by
// severity and labels to receivers, with grouping, repeats, resolve
// notices, silences and dedup across instances through Redis. What a rule
// file may say and how alerts behave for an operator is the guide,
// docs/ALERTING.md; this comment maps the code and records the design
// decisions the guide leaves out.
//
// # The code
//
// An Engine (engine.go) evaluates on one goroutine, every Interval:
//
//	Samples() + Event()s ─► Evaluator (eval.go): one state machine per rule and label set
//	  ─► silences (silence.go): which firing alerts are muted
//	  ─► dispatcher.update (dispatch.go): routes (route.go), groups, the notification log
//	  ─► per-receiver queues ─► workers: claim (dedup.go), Notifier.Notify with retries, confirm or release
//
// The rule file (its types, decoding, validation and the embedded default
// rules) is package alert/config; config.go re-exports its names.
//
// The evaluation goroutine does no I/O: update hands episode work to the
// coordinator's goroutine (coordOps) and deliveries to the receivers'
// workers behind bounded queues. A notification log entry is held
// (inflight) by one job at a time, which is what keeps an alert's trigger
// and resolve from overtaking each other. The types in alert.go are the
// contract with the receivers, which live in alert/pagerduty, alert/slack
// and alert/webhook.
//
// # Coordination through Redis
//
// The guide describes the behaviour (one episode, one sender, at least once
// without Redis). The keys, under EngineOptions.KeyPrefix and hash-tagged
// by fingerprint so that a Redis Cluster keeps an alert's keys in one slot:
//
//	{fp}:episode                           "dedupKey|startMs|resolvedMs|seenMs"
//	{fp}:<dedupKey>:<receiver>:trigger     the trigger claim
//	{fp}:<dedupKey>:<receiver>:repeat:<n>  the n-th repeat's claim, n counting repeat intervals from the episode's start
//	{fp}:<dedupKey>:<receiver>:resolve     the resolve claim
//
// Each step is one Lua script (dedup.go), so no two instances interleave
// within one. scriptEpisode adopts the recorded episode or records this
// instance's: a recorded episode is over once it resolved before this
// alert began firing, or when its seenMs is more than episodeStale before
// that. scriptRefresh moves seenMs every episodeRefresh while firing;
// scriptResolve sets resolvedMs once.
//
// scriptClaim takes a trigger or repeat claim with the value
// "sending:<instance>/<random>" unless one exists (a repeat not at all once
// the episode resolved); scriptClaimResolve does the same for a resolve,
// but waits while the trigger claim is "sending:", and skips the resolve
// when nobody claimed the trigger and this instance did not send it.
// scriptSettle turns a claim into "sent:…" (kept sentTTL) or deletes it,
// only while it is still ours. A worker that finds another instance's
// claim "sent:" records the notification as delivered, and leaves one
// still "sending:" to the group's next flush. A claim expires after the
// longest a delivery can take (deliveryBudget plus a minute), so a crashed
// sender's claim frees itself. Every failure to reach Redis degrades to
// sending without coordination (claimUncoord) and is counted; an episode
// begun that way keeps the fingerprint as its DedupKey.
package alert
