package loadgen_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/loadgen"
	"github.com/studiohq/studio/session"
)

// TestRunWithTokens: with Options.Tokens the run validates those existing
// sessions (seeded in the store beforehand, here through the HTTP API of
// a real Service) and creates none: the target has no admin token, so a
// create would fail the setup.
func TestRunWithTokens(t *testing.T) {
	e := newEnv(t)
	toks, err := e.svc.CreateBatch(t.Context(), session.CreateParams{UserID: "seeded"}, 300)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]string, len(toks))
	for i, tok := range toks {
		raw[i] = tok.Reveal()
	}
	tg := e.httpTarget(t, 4, true)
	tg.AdminToken = ""
	res, err := loadgen.Run(t.Context(), loadgen.Options{Target: tg, Concurrency: 4, Tokens: raw, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Sessions != len(raw) || res.Validate.Count == 0 || res.Validate.Errors != 0 || res.Create.Count != 0 {
		t.Fatalf("sessions %d, validate %+v, create %+v", res.Sessions, res.Validate, res.Create)
	}
}

// workerTarget records the workers (WorkerOf) and tokens of its
// validations.
type workerTarget struct {
	name    string
	mu      sync.Mutex
	workers map[int]bool
	tokens  map[string]bool
}

func newWorkerTarget(name string) *workerTarget {
	return &workerTarget{name: name, workers: map[int]bool{}, tokens: map[string]bool{}}
}

func (w *workerTarget) String() string { return w.name }

func (w *workerTarget) Validate(ctx context.Context, tok string) error {
	i, ok := loadgen.WorkerOf(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		i = -1
	}
	w.workers[i] = true
	w.tokens[tok] = true
	return nil
}

func (w *workerTarget) Create(context.Context) (string, error) { return "", nil }
func (w *workerTarget) Revoke(context.Context, string) error   { return nil }

// TestSpread: worker i of a Spread run drives target i mod n and only it;
// each target's share of the validations is reported, and the shares add
// up to the run's.
func TestSpread(t *testing.T) {
	ts := []*workerTarget{newWorkerTarget("a"), newWorkerTarget("b"), newWorkerTarget("c")}
	sp := &loadgen.Spread{Targets: []loadgen.Target{ts[0], ts[1], ts[2]}}
	tokens := []string{"t1", "t2", "t3", "t4", "t5"}
	res, err := loadgen.Run(t.Context(), loadgen.Options{Target: sp, Concurrency: 7, Tokens: tokens, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Target != "spread over 3: a, b, c" || len(res.Shares) != 3 {
		t.Fatalf("target %q, shares %+v", res.Target, res.Shares)
	}
	var sum int64
	for k, w := range ts {
		for i := range w.workers {
			if i < 0 || i%3 != k {
				t.Errorf("target %s got an operation of worker %d", w.name, i)
			}
		}
		for tok := range w.tokens {
			if !slices.Contains(tokens, tok) {
				t.Errorf("target %s validated %q, not one of the tokens given", w.name, tok)
			}
		}
		sh := res.Shares[k]
		if sh.Target != w.name || sh.Workers != []int{3, 2, 2}[k] || sh.Validate.Count == 0 {
			t.Errorf("share %d: %+v", k, sh)
		}
		sum += sh.Validate.Count
	}
	if sum != res.Validate.Count {
		t.Fatalf("shares add up to %d validations, the run has %d", sum, res.Validate.Count)
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil || !strings.Contains(b.String(), "b (2 workers): ") {
		t.Fatalf("table: %v\n%s", err, b.String())
	}
}

// TestSpreadHTTP: three servers of one Service, driven as one through the
// raw client, each serve a share.
func TestSpreadHTTP(t *testing.T) {
	e := newEnv(t)
	var targets []loadgen.Target
	for range 3 {
		targets = append(targets, e.httpTarget(t, 2, true))
	}
	res, err := loadgen.Run(t.Context(), loadgen.Options{Target: &loadgen.Spread{Targets: targets}, Concurrency: 6,
		Sessions: 30, Duration: 300 * time.Millisecond, Mix: loadgen.Mix{Validate: 8, Create: 1, Revoke: 1}})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Validate.Errors != 0 || res.RevokedAccepted != 0 {
		t.Fatalf("validate %+v, revoked accepted %d", res.Validate, res.RevokedAccepted)
	}
	for _, sh := range res.Shares {
		if sh.Workers != 2 || sh.Validate.Count == 0 || !strings.HasPrefix(sh.Target, "http http://127.0.0.1:") {
			t.Errorf("share %+v", sh)
		}
	}
}
