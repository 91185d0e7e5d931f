package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/pgtest"
	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
	"github.com/studiohq/studio/session"
)

// seedStore runs `studio bench --seed n --tokens-out FILE --json` and
// returns the file, checking what it printed and the file itself: n
// distinct well-formed tokens, one a line, mode 0600.
func seedStore(t *testing.T, env map[string]string, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.txt")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"studio", "bench", "--seed", itoa(n), "--tokens-out", path, "--json"}, envOf(env), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("--seed: exit %d: %s", code, stderr.String())
	}
	var res seedResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Sessions != n || res.TokensWritten != path || res.Seconds <= 0 {
		t.Fatalf("--seed printed %q (%v)", stdout.String(), err)
	}
	t.Logf("seeded %d sessions into %s in %.2fs", n, res.Store, res.Seconds)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v, mode %v; want 0600", err, fi.Mode())
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	seen := map[string]bool{}
	for i, l := range lines {
		if _, err := session.ParseToken(l); err != nil || seen[l] {
			t.Fatalf("line %d of the tokens file: malformed or repeated (%v)", i+1, err)
		}
		seen[l] = true
	}
	if len(lines) != n {
		t.Fatalf("%d tokens in the file, want %d", len(lines), n)
	}
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }

// serveBench starts `studio bench --serve kind` and returns its base URL;
// it is stopped, and must exit 0, when the test ends.
func serveBench(t *testing.T, kind string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, errs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"studio", "bench", "--serve", kind}, envOf(env), out, errs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("--serve %s: exit %d: %s", kind, code, errs.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("--serve %s did not stop when interrupted", kind)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if line, ok := strings.CutSuffix(out.String(), "\n"); ok {
			return line
		}
		select {
		case code := <-done:
			t.Fatalf("--serve %s exited %d: %s", kind, code, errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("--serve %s printed no URL; stderr %q", kind, errs.String())
		}
	}
}

// runTokens runs a short bench of args validating the sessions of the
// tokens file and returns its JSON result; every validation must succeed.
func runTokens(t *testing.T, tokens string, args []string, env map[string]string) benchJSON {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"studio", "bench", "--json", "--duration", "400ms", "--warmup", "100ms",
		"--concurrency", "4", "--zipf", "0", "--tokens", tokens}, args...), envOf(env), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	var out benchJSON
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if out.Validate.Count == 0 || out.Validate.Errors != 0 || out.Total.Count != out.Validate.Count {
		t.Fatalf("%s: %+v", out.Target, out)
	}
	return out
}

// TestBenchSeedAndBaselines seeds a SQLite store with --seed, validates
// its sessions with --tokens in process, over studio serve (no admin
// token needed: nothing is created), and against the plain-GET and
// store-miss baselines served by --serve, the latter with Redis emptied;
// several --url values spread the workers.
func TestBenchSeedAndBaselines(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{
		"REDIS_URL":        rs.URL(),
		"DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "seed.db"),
		"STUDIO_LOG_LEVEL": "warn",
	}
	const n = 6001
	tokens := seedStore(t, env, n)
	rdb := rs.Client(t)
	if keys := rdb.DBSize(t.Context()).Val(); keys != 0 {
		t.Fatalf("seeding wrote %d Redis keys", keys)
	}

	t.Run("seed again into the same file", func(t *testing.T) {
		before, _ := os.ReadFile(tokens)
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"studio", "bench", "--seed", "5", "--tokens-out", tokens}, envOf(env), &stdout, &stderr)
		after, _ := os.ReadFile(tokens)
		if code != 2 || !strings.Contains(stderr.String(), "it must be a new file") || !bytes.Equal(before, after) {
			t.Fatalf("exit %d, stderr %q; the file changed: %v", code, stderr.String(), !bytes.Equal(before, after))
		}
	})
	t.Run("inprocess", func(t *testing.T) {
		if out := runTokens(t, tokens, []string{"--target", "inprocess"}, env); out.Target != "inprocess" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("http without an admin token", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		srv := startServe(t, ctx, map[string]string{
			"STUDIO_ADMIN_TOKEN": "bench-admin-49ee37b19b5ed1af3009ab2b7b6739b5bbf221e7dd5147ec", "REDIS_URL": env["REDIS_URL"],
			"DATABASE_URL": env["DATABASE_URL"], "STUDIO_WARM_ON_START": "false",
		})
		defer func() { cancel(); <-srv.done }()
		runTokens(t, tokens, []string{"--url", srv.base}, env)
	})
	t.Run("redis-get served", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"studio", "warm", "--warm-limit", "100000", "--warm-rate", "0"}, envOf(env), &stdout, &stderr); code != 0 {
			t.Fatalf("warm: exit %d: %s", code, stderr.String())
		}
		a, b := serveBench(t, "redis-get", env), serveBench(t, "redis-get", env)
		out := runTokens(t, tokens, []string{"--target", "redis-get", "--url", a}, map[string]string{"REDIS_URL": "http://not-read"})
		if out.Target != "plain-GET handler over HTTP "+a {
			t.Fatalf("target %q", out.Target)
		}
		spread := runTokens(t, tokens, []string{"--target", "redis-get", "--url", a + "," + b, "--concurrency", "4"}, nil)
		if len(spread.Shares) != 2 || spread.Shares[0].Workers != 2 || spread.Shares[1].Validate.Count == 0 ||
			spread.Shares[0].Validate.Count+spread.Shares[1].Validate.Count != spread.Validate.Count {
			t.Fatalf("shares %+v of %d validations", spread.Shares, spread.Validate.Count)
		}
		checkRuntimeMetrics(t, a)
	})
	t.Run("store-miss served", func(t *testing.T) {
		base := serveBench(t, "store-miss", env)
		if err := rdb.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		out := runTokens(t, tokens, []string{"--target", "store-miss", "--url", base}, nil)
		// Every miss wrote its copy back (the warm-up's too): at most one
		// key a session.
		if keys := rdb.DBSize(t.Context()).Val(); keys < out.Validate.Count/4 || keys > n {
			t.Fatalf("%d Redis keys after %d validations from the store", keys, out.Validate.Count)
		}
	})
	t.Run("store-miss in process", func(t *testing.T) {
		if err := rdb.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		out := runTokens(t, tokens, []string{"--target", "store-miss"}, env)
		if !strings.HasPrefix(out.Target, "plain store-miss handler over HTTP http://127.0.0.1:") {
			t.Fatalf("target %q", out.Target)
		}
	})
	t.Run("served store-miss on a store that is not there", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		bad := map[string]string{"REDIS_URL": rs.URL(), "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "none.db")}
		code := run(t.Context(), []string{"studio", "bench", "--serve", "store-miss"}, envOf(bad), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "the store-miss baseline's store (DATABASE_URL)") || stdout.Len() != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
	})
}

// checkRuntimeMetrics checks that a served baseline exports the bytes
// allocated, as studio serve does.
func checkRuntimeMetrics(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"\ngo_gc_heap_allocs_bytes_total ", "\nprocess_resident_memory_bytes ", "\ngo_memstats_heap_inuse_bytes "} {
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET /metrics: %d, no %q in\n%.2000s", resp.StatusCode, want, b)
		}
	}
}

// TestBenchSeedPostgres seeds PostgreSQL (one COPY per store write) and
// validates through the store-miss baseline on it.
func TestBenchSeedPostgres(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{
		"REDIS_URL":        rs.URL(),
		"DATABASE_URL":     pgtest.Database(t, t, "studio_bench_seed"),
		"STUDIO_LOG_LEVEL": "warn",
	}
	tokens := seedStore(t, env, 5500)
	base := serveBench(t, "store-miss", env)
	runTokens(t, tokens, []string{"--target", "store-miss", "--url", base}, nil)
	runTokens(t, tokens, []string{"--target", "inprocess"}, env)
}

func TestParseTokens(t *testing.T) {
	key, err := session.NewTokenKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := func() string {
		t.Helper()
		tk, err := key.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		return tk.Reveal()
	}
	a, b := tok(), tok()
	got, err := parseTokens([]byte(a + "\r\n\n" + b))
	if err != nil || len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("parseTokens = %d tokens, %v", len(got), err)
	}
	// One character of the body changed: the checksum no longer matches.
	swap := byte('A')
	if a[10] == 'A' {
		swap = 'B'
	}
	bad := a[:10] + string(swap) + a[11:]
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "no tokens"},
		{"blank lines", "\n \n\t\n", "no tokens"},
		{"checksum", a + "\n" + bad + "\n", "line 2: malformed session token: checksum mismatch"},
		{"short", a + "\nstu_abc\n", "line 2: malformed session token: length 7"},
		{"spaces around", " " + a + "\n", "line 1: malformed session token: length"},
		{"two on a line", a + " " + b + "\n", "line 1: malformed session token: length"},
		{"not a token", "hello, world\n", "line 1: malformed session token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := parseTokens([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) || toks != nil {
				t.Fatalf("parseTokens = %d tokens, %v; want an error with %q", len(toks), err, tc.want)
			}
			if strings.Contains(err.Error(), a[4:20]) || strings.Contains(err.Error(), bad[4:20]) {
				t.Fatalf("the error quotes a token: %v", err)
			}
		})
	}
}

// FuzzParseTokens: any file is either refused with an error that quotes
// none of it, or read as well-formed tokens, each a line of it.
func FuzzParseTokens(f *testing.F) {
	key, _ := session.NewTokenKey()
	tk, _ := key.NewToken()
	f.Add([]byte(tk.Reveal() + "\n"))
	f.Add([]byte(tk.Reveal() + "\r\n\r\n" + tk.Reveal()))
	f.Add([]byte("stu_\n\x00\xff"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		toks, err := parseTokens(b)
		if err != nil {
			if toks != nil {
				t.Fatal("tokens with an error")
			}
			for _, l := range strings.Split(string(b), "\n") {
				if len(l) >= 8 && strings.Contains(err.Error(), l) {
					t.Fatalf("the error %q quotes a line of the file", err)
				}
			}
			return
		}
		for _, tok := range toks {
			if _, err := session.ParseToken(tok); err != nil || !strings.Contains(string(b), tok) {
				t.Fatalf("returned %q: %v", tok, err)
			}
		}
	})
}
