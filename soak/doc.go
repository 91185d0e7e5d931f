// Package soak holds Studio's soak test: it builds `studio serve`, runs it
// against a real redis-server and SQLite, measures its capacity with the
// load generator, then drives it at half that rate for SOAK_DURATION
// (default 10 minutes) while sampling its heap, resident memory,
// goroutines and open files from its own /metrics, and fails if any of
// them grows beyond noise. See docs/RELIABILITY.md, section "Soak".
//
// The test is behind the build tag soak, so `go test ./...` skips it. Run
// it with `make soak`, or for a quick check:
//
//	SOAK_DURATION=1m go test -tags soak -run TestSoak -timeout 30m -v ./soak/
package soak
