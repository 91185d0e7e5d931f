// Package docs holds Studio's documentation that the binary itself
// serves: the runbooks the alerts link to.
package docs

import "embed"

// Runbooks holds every runbook, docs/runbooks/*.md, under the directory
// "runbooks" (e.g. "runbooks/redis-down.md"), built into the binary so that
// the runbook link of an alert works wherever Studio runs. It is read-only
// and safe for concurrent use. To serve the files at their bare names, as
// server.Options.Runbooks expects, take fs.Sub(docs.Runbooks, "runbooks").
//
//go:embed runbooks/*.md
var Runbooks embed.FS
