package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
)

// balancer is a round-robin reverse proxy over backends, sending only to
// those whose /readyz answered 200 at its last check, the way a cloud load
// balancer or a Kubernetes Service does. It never retries a request.
type balancer struct {
	backends []string // base URLs
	healthy  []atomic.Bool
	served   []atomic.Int64 // requests forwarded to each backend
	next     atomic.Uint64
	client   *http.Client
}

func newBalancer(backends ...string) *balancer {
	return &balancer{
		backends: backends,
		healthy:  make([]atomic.Bool, len(backends)),
		served:   make([]atomic.Int64, len(backends)),
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
}

// check polls every backend's /readyz every interval until ctx ends, as a
// load balancer's health check does: a backend is taken out after two
// failed checks in a row (an answer other than 200, or none within a
// second) and put back after one good one.
func (b *balancer) check(ctx context.Context, interval time.Duration) {
	probe := &http.Client{Timeout: time.Second}
	var wg sync.WaitGroup
	for i, base := range b.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := 0
			for {
				ok := false
				if resp, err := probe.Get(base + "/readyz"); err == nil {
					ok = resp.StatusCode == http.StatusOK
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ok {
					failed = 0
					b.healthy[i].Store(true)
				} else if failed++; failed >= 2 {
					b.healthy[i].Store(false)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval):
				}
			}
		}()
	}
	wg.Wait()
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := -1
	start := int(b.next.Add(1) % uint64(len(b.backends)))
	for k := range b.backends {
		if n := (start + k) % len(b.backends); b.healthy[n].Load() {
			i = n
			break
		}
	}
	if i < 0 {
		http.Error(w, "no healthy backend", http.StatusServiceUnavailable)
		return
	}
	b.served[i].Add(1)
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, b.backends[i]+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := b.client.Do(req)
	if err != nil {
		http.Error(w, "backend: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// freeAddr reserves a loopback port for an instance that must come back
// at the same address after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rollingLoad sends creates and validations through the balancer until
// stop closes, and remembers every session whose create was answered 201.
type rollingLoad struct {
	url, admin string
	mu         sync.Mutex
	tokens     []string
	creates    atomic.Int64
	validates  atomic.Int64
	failed     atomic.Int64
	firstFails []string
}

func (l *rollingLoad) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.firstFails) < 10 {
		l.firstFails = append(l.firstFails, fmt.Sprintf(format, args...))
	}
}

func (l *rollingLoad) worker(id int, stop <-chan struct{}) {
	c := &http.Client{Timeout: 10 * time.Second}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if n%5 == 0 { // one create in five requests
			req, _ := http.NewRequest("POST", l.url+"/v1/sessions", bytes.NewReader(fmt.Appendf(nil, `{"user_id":"roll-%d"}`, id)))
			req.Header.Set("Authorization", "Bearer "+l.admin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				l.fail("create: %v", err)
				continue
			}
			var body struct{ Token string }
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || err != nil {
				l.fail("create: %d %v", resp.StatusCode, err)
				continue
			}
			l.creates.Add(1)
			l.mu.Lock()
			l.tokens = append(l.tokens, body.Token)
			l.mu.Unlock()
			continue
		}
		l.mu.Lock()
		if len(l.tokens) == 0 {
			l.mu.Unlock()
			continue
		}
		tok := l.tokens[n%len(l.tokens)]
		l.mu.Unlock()
		req, _ := http.NewRequest("GET", l.url+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			l.fail("validate: %v", err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			l.fail("validate: %d %s", resp.StatusCode, bytes.TrimSpace(body))
			continue
		}
		l.validates.Add(1)
	}
}

// TestRollingRestartLosesNothing: two instances behind a round-robin load
// balancer that follows /readyz; each in turn is stopped as SIGTERM stops
// it (its context ends) and started again, under a steady load of creates
// and validations. Not one request fails and every session created
// validates afterwards on both instances.
func TestRollingRestartLosesNothing(t *testing.T) {
	rs := redistest.Start(t)
	const adminTok = "rolling-admin-27c78bb388a876faaf3ad8398ab5894d0f8c4239d962a0ea"
	env := map[string]string{
		"STUDIO_ADMIN_TOKEN":      adminTok,
		"REDIS_URL":               rs.URL(),
		"DATABASE_URL":            pgtest.Database(t, t, "studio_roll_"),
		"STUDIO_SHUTDOWN_DRAIN":   "1s", // five times what the balancer needs to notice
		"STUDIO_SHUTDOWN_TIMEOUT": "10s",
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	type instance struct {
		cancel context.CancelFunc
		srv    *serving
	}
	start := func(i int) instance {
		e := map[string]string{"STUDIO_ADDR": addrs[i]}
		for k, v := range env {
			e[k] = v
		}
		ctx, cancel := context.WithCancel(context.Background())
		return instance{cancel, startServe(t, ctx, e)}
	}
	insts := []instance{start(0), start(1)}
	defer func() {
		for _, in := range insts {
			in.cancel()
			<-in.srv.done
		}
	}()

	lb := newBalancer("http://"+addrs[0], "http://"+addrs[1])
	front := httptest.NewServer(lb)
	defer front.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go lb.check(ctx, 100*time.Millisecond)
	waitHealthy := func(i int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !lb.healthy[i].Load() {
			if time.Now().After(deadline) {
				t.Fatalf("instance %d never became ready", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealthy(0)
	waitHealthy(1)

	load := &rollingLoad{url: front.URL, admin: adminTok}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); load.worker(w, stop) }()
	}
	time.Sleep(500 * time.Millisecond)
	for i := range insts {
		before := lb.served[i].Load()
		began := time.Now()
		insts[i].cancel() // what SIGTERM does in main
		select {
		case code := <-insts[i].srv.done:
			if code != 0 {
				t.Fatalf("instance %d exited %d; stderr %s", i, code, insts[i].srv.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("instance %d did not stop", i)
		}
		t.Logf("instance %d stopped in %v, after %d requests during its stop", i, time.Since(began).Round(time.Millisecond), lb.served[i].Load()-before)
		insts[i] = start(i)
		waitHealthy(i)
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	t.Logf("%d creates, %d validations, %d failed; served %d / %d", load.creates.Load(), load.validates.Load(), load.failed.Load(), lb.served[0].Load(), lb.served[1].Load())
	if n := load.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during the rolling restart; first: %q", n, load.firstFails)
	}
	if load.creates.Load() == 0 || load.validates.Load() == 0 {
		t.Fatal("no load reached the instances")
	}
	// No create was lost: every session answered 201 validates on both.
	for _, tok := range load.tokens {
		for _, in := range insts {
			if code, body := call(t, "GET", in.srv.base+"/v1/session", tok, ""); code != 200 {
				t.Fatalf("a session created during the restart does not validate on %s: %d %v", in.srv.base, code, body)
			}
		}
	}
}
