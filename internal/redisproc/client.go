package redisproc

import (
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Cleaner registers a function to run when its owner is done: *testing.T,
// *testing.B and testing.TB are Cleaners. The Client methods register the
// Close of the client they return with one, so a test's clients close
// before its servers stop, without this package importing testing.
type Cleaner interface {
	Cleanup(func())
}

// Client returns a go-redis client for s, closed by owner's cleanup (when
// the test ends, for a *testing.T; before the server stops, if s came from
// redistest.Start in the same test). opts may adjust the options, e.g.
// timeouts. The client sends nothing a Redis 7.0 refuses on connecting
// (CLIENT SETINFO, maintenance notifications), so it adds nothing to the
// server's error statistics.
func (s *Server) Client(owner Cleaner, opts ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: s.Addr(), DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	owner.Cleanup(func() { _ = c.Close() })
	return c
}
