// Package config is the alert rule file: its types (rules, the route
// tree, receivers), how a file is decoded and validated (Load), and the
// embedded default rules (Default). Package alert evaluates and routes
// what it describes; docs/ALERTING.md is the file's guide.
package config
