package redistest_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
)

func TestStartTLS(t *testing.T) {
	p := redistest.NewPKI(t)
	conf := p.ClientTLS

	s := redistest.StartTLS(t, p.TLSOptions())
	c := s.Client(t, func(o *redis.Options) { o.TLSConfig = conf })
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if got := s.TLSURL(); got != "rediss://"+s.Addr()+"/0" {
		t.Fatalf("TLSURL = %q", got)
	}
	// No plaintext listener: a plaintext client fails.
	plain := s.Client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	if err := plain.Ping(t.Context()).Err(); err == nil {
		t.Fatal("plaintext PING succeeded against a TLS-only server")
	} else {
		t.Logf("plaintext client against TLS port: %v", err)
	}
	// Restart probes over TLS too.
	port := s.Port()
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Fatalf("port %d after Restart, want %d", s.Port(), port)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING over TLS after Restart: %v", err)
	}
}
