//go:build race

package session_test

// raceDetector reports whether the race detector is on; it slows every
// goroutine several-fold, so timing bounds are checked without it.
const raceDetector = true
