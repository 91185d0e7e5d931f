package redisproc

import (
	"context"
	"crypto/tls"
)

// Internals the package's tests (package redisproc_test, which may import
// internal/redistest) read.
var (
	ServerName = serverName
	FreePort   = freePort
	WaitGone   = waitGone
	Alive      = alive
	IsRedisIn  = isRedisIn
)

// AdminPing sends PING on an admin connection to addr (over TLS with conf
// when it is set) and returns the first error.
func AdminPing(ctx context.Context, addr string, conf *tls.Config) error {
	conn, err := dialAdmin(ctx, addr, conf)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.do(ctx, "PING")
	return err
}
