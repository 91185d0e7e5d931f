package main

import (
	"os"
	"testing"
)

// asStudioEnv, when set, makes the test binary the studio command itself
// (see TestMain).
const asStudioEnv = "STUDIO_TEST_AS_STUDIO"

// TestMain runs the test binary as the studio command when asStudioEnv is
// set: `studio up` prints commands that name the running binary (in a test,
// this one), and a test runs them as a user would paste them.
func TestMain(m *testing.M) {
	if os.Getenv(asStudioEnv) != "" {
		main()
	}
	os.Exit(m.Run())
}
