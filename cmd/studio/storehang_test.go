package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/studiohq/studio/faults"
	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
)

// answer is one HTTP call of the hanging-store test.
type answer struct {
	op      string // create, revoke, validate
	status  int    // 0: no answer (the client gave up)
	code    string // the JSON error's code
	message string
	took    time.Duration
	at      time.Duration // since the link was cut
}

// hangSettings are the figures of TestStoreHangAnswersBounded.
const (
	hangAdmin        = "hang-admin-1bd3acf27f3b99a3a655c6ad9545b5b19476a86808b77dbf"
	hangStoreTimeout = time.Second
	hangSlack        = 1500 * time.Millisecond // a shared 2-core machine
	hangHold         = 6 * time.Second
)

// hangFixture is a `studio serve` whose PostgreSQL is reached through a
// proxy, with sessions cached in Redis and others kept for logouts.
type hangFixture struct {
	srv      *studioProc
	proxy    *faults.Proxy
	cached   []string     // validated once: in Redis and the L1
	toRevoke chan string  // one per logout
	client   *http.Client // gives up after 15 s: a hang shows as no answer
}

// TestStoreHangAnswersBounded reaches PostgreSQL through a link that stops
// passing bytes (a partition: no reset, no refusal) while creates,
// revokes and validations run concurrently through `studio serve`. Every
// create and revoke answers 503 store_unavailable within the store
// timeout (never 204 for a logout), validations of cached sessions keep
// answering while the revocation index is current, goroutines and heap
// stay bounded, and everything works again once the link is back.
func TestStoreHangAnswersBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test; -short skips it")
	}
	f := startHangFixture(t)
	goroutines0, heap0 := f.srv.metric(t, "go_goroutines"), f.srv.metric(t, "go_memstats_heap_inuse_bytes")

	f.proxy.SetBlackhole(true)
	answers, maxGoroutines, maxHeap := f.load(t, hangHold)
	counts, slowest := checkHangAnswers(t, answers)
	t.Logf("MEASURED during %s of hang: answers by status %v; slowest %v; goroutines %.0f before, at most %.0f during; heap in use %.1f MiB before, at most %.1f MiB during",
		hangHold, counts, slowest, goroutines0, maxGoroutines, heap0/(1<<20), maxHeap/(1<<20))
	if maxGoroutines > goroutines0+150 {
		t.Errorf("goroutines grew from %.0f to %.0f while the store hung", goroutines0, maxGoroutines)
	}
	if maxHeap > heap0+64<<20 {
		t.Errorf("heap in use grew from %.1f to %.1f MiB while the store hung", heap0/(1<<20), maxHeap/(1<<20))
	}

	f.proxy.SetBlackhole(false)
	f.checkRecovered(t, goroutines0)
	f.srv.stop(t, syscall.SIGTERM)
}

// startHangFixture starts PostgreSQL's proxy, Redis and `studio serve`,
// and makes the sessions the load uses.
func startHangFixture(t *testing.T) *hangFixture {
	t.Helper()
	dsn, err := url.Parse(pgtest.Database(t, t, "studio_hang_"))
	if err != nil {
		t.Fatal(err)
	}
	f := &hangFixture{client: &http.Client{Timeout: 15 * time.Second}, toRevoke: make(chan string, 200)}
	if f.proxy, err = faults.NewProxy(dsn.Host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.proxy.Close() })
	dsn.Host = f.proxy.Addr()
	rs := redistest.Start(t)
	f.srv = startStudioProc(t, map[string]string{
		"STUDIO_ADMIN_TOKEN":   hangAdmin,
		"REDIS_URL":            rs.URL(),
		"DATABASE_URL":         dsn.String(),
		"STUDIO_STORE_TIMEOUT": hangStoreTimeout.String(),
	})
	f.cached = make([]string, 20)
	for i := range f.cached {
		f.cached[i] = createToken(t, f.srv.base, hangAdmin, fmt.Sprintf("c%d", i))
		if code, body := send(t, "GET", f.srv.base+"/v1/session", f.cached[i], ""); code != 200 {
			t.Fatalf("validate: %d %s", code, body)
		}
	}
	for i := range cap(f.toRevoke) {
		f.toRevoke <- createToken(t, f.srv.base, hangAdmin, fmt.Sprintf("r%d", i))
	}
	return f
}

// call makes one request and records its answer; cut is when the link
// was cut.
func (f *hangFixture) call(op, method, path, auth, body string, cut time.Time) answer {
	req, _ := http.NewRequest(method, f.srv.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth)
	start := time.Now()
	a := answer{op: op, at: start.Sub(cut)}
	resp, err := f.client.Do(req)
	a.took = time.Since(start)
	if err != nil {
		return a
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	var e struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	a.code, a.message = e.Error.Code, e.Error.Message
	return a
}

// load runs 4 creators, 4 logout-ers and 4 validators of cached sessions
// for hold, sampling the server's goroutines and heap every 250 ms, and
// returns every answer and the largest samples.
func (f *hangFixture) load(t *testing.T, hold time.Duration) (answers []answer, maxGoroutines, maxHeap float64) {
	cut := time.Now()
	var (
		mu   sync.Mutex
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	record := func(a answer) { mu.Lock(); answers = append(answers, a); mu.Unlock() }
	worker := func(fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				fn(i)
			}
		}()
	}
	for w := range 4 {
		worker(func(i int) {
			record(f.call("create", "POST", "/v1/sessions", hangAdmin, fmt.Sprintf(`{"user_id":"h%d-%d"}`, w, i), cut))
		})
		worker(func(int) {
			select {
			case tok := <-f.toRevoke:
				record(f.call("revoke", "DELETE", "/v1/session", tok, "", cut))
			default:
				time.Sleep(10 * time.Millisecond)
			}
		})
		worker(func(i int) {
			record(f.call("validate", "GET", "/v1/session", f.cached[(w*7+i)%len(f.cached)], "", cut))
			time.Sleep(5 * time.Millisecond)
		})
	}
	for time.Since(cut) < hold {
		maxGoroutines = max(maxGoroutines, f.srv.metric(t, "go_goroutines"))
		maxHeap = max(maxHeap, f.srv.metric(t, "go_memstats_heap_inuse_bytes"))
		time.Sleep(250 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	return answers, maxGoroutines, maxHeap
}

// checkHangAnswers checks every answer given while the store hung and
// returns their statuses and the slowest answer by operation.
func checkHangAnswers(t *testing.T, answers []answer) (counts map[string]map[int]int, slowest map[string]time.Duration) {
	t.Helper()
	counts, slowest = map[string]map[int]int{}, map[string]time.Duration{}
	bound := hangStoreTimeout + hangSlack
	for _, a := range answers {
		if counts[a.op] == nil {
			counts[a.op] = map[int]int{}
		}
		counts[a.op][a.status]++
		slowest[a.op] = max(slowest[a.op], a.took)
		switch {
		case a.status == 0:
			t.Errorf("%s at +%s: no answer within %s", a.op, a.at.Round(time.Millisecond), a.took.Round(time.Millisecond))
		case a.took > bound:
			t.Errorf("%s at +%s answered %d after %s; want within %s", a.op, a.at.Round(time.Millisecond), a.status, a.took.Round(time.Millisecond), bound)
		}
		switch a.op {
		case "create", "revoke":
			want := map[string]string{"create": "nothing was changed", "revoke": "the logout may not have been recorded"}[a.op]
			if a.status != 0 && (a.status != 503 || a.code != "store_unavailable" || !strings.Contains(a.message, want)) {
				t.Errorf("%s answered %d %s %q while the store hung; want 503 store_unavailable saying %q", a.op, a.status, a.code, a.message, want)
			}
		case "validate":
			// Cached sessions are answered from Redis while the
			// revocation index is current (5 polls' worth, 5 s by
			// default); then from the L1 only, and otherwise 503.
			if a.at < 3*time.Second && a.status != 200 {
				t.Errorf("validation of a cached session at +%s: %d %s", a.at.Round(time.Millisecond), a.status, a.code)
			}
			if a.status != 200 && a.status != 503 {
				t.Errorf("validation of a cached session: %d %s", a.status, a.code)
			}
		}
	}
	if counts["revoke"][503] == 0 || counts["create"][503] == 0 {
		t.Errorf("not a single create or revoke answered 503: %v", counts)
	}
	return counts, slowest
}

// checkRecovered checks, once the link is back, that the store is ready,
// that a create, validations and a logout work, and that the goroutines
// are back near their count before the hang.
func (f *hangFixture) checkRecovered(t *testing.T, goroutines0 float64) {
	t.Helper()
	base := f.srv.base
	waitUntil(t, 20*time.Second, "/readyz ok after the link came back", func() bool {
		code, _ := send(t, "GET", base+"/readyz", "", "")
		return code == 200
	})
	tok := createToken(t, base, hangAdmin, "after")
	for _, x := range []string{tok, f.cached[0]} {
		if code, body := send(t, "GET", base+"/v1/session", x, ""); code != 200 {
			t.Fatalf("validate after the link came back: %d %s", code, body)
		}
	}
	if code, body := send(t, "DELETE", base+"/v1/session", tok, ""); code != 204 {
		t.Fatalf("revoke after the link came back: %d %s", code, body)
	}
	if code, _ := send(t, "GET", base+"/v1/session", tok, ""); code != 401 {
		t.Fatalf("a session revoked after the link came back answered %d", code)
	}
	var after float64
	waitUntil(t, 15*time.Second, "goroutines back near their count before the hang", func() bool {
		after = f.srv.metric(t, "go_goroutines")
		return after <= goroutines0+20
	})
	t.Logf("MEASURED goroutines after recovery: %.0f (before: %.0f)", after, goroutines0)
}
