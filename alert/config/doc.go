// Package config is Studio's alert rule file: its types (the rules, the
// route tree, the receivers), their strict decoding and validation
// (Load), and the embedded default rules (Default). Package alert
// evaluates and routes what a Config describes; docs/ALERTING.md is the
// guide to every field.
//
// A rule file is one YAML document: a mapping of three sections, of which
// only rules is required.
//
//	rules:       # the Rules: a sample condition (expr) or an event condition (event) each
//	route:       # the root Route of the tree (default: critical → pagerduty, warning → slack)
//	receivers:   # ReceiverConfigs besides the implicit pagerduty and slack
//
// Decoding is strict: each type decodes itself from its yaml.Node
// (UnmarshalYAML) through a table of its fields, so an unknown or repeated
// key, a value of the wrong kind, a YAML alias or a second document is an
// error. Durations are Go durations (300ms, 1m30s, 4h) or whole days and
// weeks (14d, 2w), never negative; a file may be at most 4 MiB.
//
// Load stops at the first problem: it checks the rules, then the
// receivers, then the routes (each route before its children), each in
// the file's order, and within one the fields in a fixed order. The error,
// an *Error, names the file, the line and the reason,
//
//	rules.yaml:12: rule "X": for: invalid duration "5x"
//
// the line being that of the YAML node the problem is in; only a YAML
// syntax error, which has no node, takes it from the YAML library's
// message.
package config
