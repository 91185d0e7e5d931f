//go:build !unix

package loadgen

import "net"

// peekClosed cannot look at the socket here: a closed connection is found
// when a request uses it (GETs are then retried).
func peekClosed(net.Conn) bool { return false }
