package main

import (
	"fmt"
	"io"
)

const tokenUsage = `Usage: studio token

Prints a new random admin token: 32 bytes (256 bits) from the system's
secure random source, as 64 hexadecimal characters. Put it in
STUDIO_ADMIN_TOKEN, or a line of the file STUDIO_ADMIN_TOKEN_FILE names
(see README, "Settings"). openssl rand -hex 32 makes the same kind.
`

// newAdminToken returns a new admin token of 256 bits, in hex.
func newAdminToken() string { return randomHex(32) }

// runToken is `studio token`.
func runToken(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if isHelpFlag(args[0]) {
			fmt.Fprint(stderr, tokenUsage)
			return nil
		}
		return usageErrorf("unexpected argument %q", args[0])
	}
	_, err := fmt.Fprintln(stdout, newAdminToken())
	return err
}
