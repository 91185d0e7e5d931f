//go:build unix

package loadgen

import (
	"net"
	"syscall"
)

// peekClosed reports whether the peer closed c or sent bytes on it, with
// a non-blocking MSG_PEEK read of the socket (nothing is consumed). A
// read deadline cannot do this: Go returns a past deadline's timeout
// without reading the socket at all.
func peekClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var buf [1]byte
	closed := false
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
			closed = false // idle and open
		case rerr != nil, n == 0: // an error, or EOF
			closed = true
		default: // stray bytes: not a connection to reuse either
			closed = true
		}
		return true // done: never wait for readiness
	})
	return closed || err != nil
}
