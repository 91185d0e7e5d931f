package session_test

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// BenchmarkValidateTLS: Redis-tier validations (L1 off) from 32 goroutines
// through one redis-server listening on a plaintext and an mTLS port, the
// plaintext Service being the same-run baseline. Reports ops/s and p99.
func BenchmarkValidateTLS(b *testing.B) {
	p := redistest.NewPKI(b)
	dir := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := redistest.Start(b, redistest.WithArgs("--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", p.ServerCert, "--tls-key-file", p.ServerKey, "--tls-ca-cert-file", p.CAFile, "--tls-auth-clients", "yes"))
	store, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })

	newSvc := func(c redisconn.Config) *session.Service {
		c.PoolSize = 32
		c.ReadTimeout, c.WriteTimeout, c.DialTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		rdb, err := redisconn.Open(c)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rdb.Close() })
		svc, err := session.NewService(session.Options{Store: store, Redis: rdb, L1TTL: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		return svc
	}
	plain := newSvc(redisconn.Config{URL: srv.URL()})
	var toks []string
	for range 1000 {
		tok, _, err := plain.Create(context.Background(), session.CreateParams{UserID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		toks = append(toks, tok.Reveal())
	}
	overTLS := newSvc(redisconn.Config{URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort) + "/0", CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey})

	for _, c := range []struct {
		name string
		svc  *session.Service
	}{{"plaintext", plain}, {"tls", overTLS}} {
		b.Run(c.name, func(b *testing.B) {
			var mu sync.Mutex
			var sketches []*ddsketch.DDSketch
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				sk, _ := ddsketch.NewDefaultDDSketch(0.01)
				i := 0
				for pb.Next() {
					t0 := time.Now()
					if _, tier, err := c.svc.ValidateTier(context.Background(), toks[i%len(toks)]); err != nil || tier != session.TierRedis {
						b.Errorf("validate: tier %v err %v", tier, err)
						return
					}
					_ = sk.Add(float64(time.Since(t0).Microseconds()))
					i++
				}
				mu.Lock()
				sketches = append(sketches, sk)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			all := sketches[0]
			for _, sk := range sketches[1:] {
				_ = all.MergeWith(sk)
			}
			p99, _ := all.GetValueAtQuantile(0.99)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "validations/s")
			b.ReportMetric(p99, "p99-µs")
		})
	}
}
