package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

func TestBenchCommandBadFlags(t *testing.T) {
	httpEnv := map[string]string{"STUDIO_ADMIN_TOKEN": "bench-admin-49ee37b19b5ed1af3009ab2b7b6739b5bbf221e7dd5147ec"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown target", []string{"--target", "grpc"}, nil, `invalid --target "grpc": must be http or inprocess`},
		{"http without url", []string{"--target", "http"}, httpEnv, "--target http needs --url"},
		{"bad url", []string{"--url", "127.0.0.1:8080"}, httpEnv, `invalid --url "127.0.0.1:8080"`},
		{"url with inprocess", []string{"--target", "inprocess", "--url", "http://127.0.0.1:1"}, nil, "--url is only used with --target http, empty, common-http, redis-get, store-miss"},
		{"url with common", []string{"--target", "common", "--url", "http://127.0.0.1:1"}, nil, "--url is only used with --target http, empty"},
		{"served redis-get without tokens", []string{"--target", "redis-get", "--url", "http://127.0.0.1:1", "--mix", "validate=1"}, nil, "--target redis-get keeps no sessions: give --tokens"},
		{"store-miss without tokens", []string{"--target", "store-miss", "--mix", "validate=1"}, nil, "--target store-miss keeps no sessions: give --tokens"},
		{"bad url for a served baseline", []string{"--target", "empty", "--url", "ftp://x", "--mix", "validate=1"}, nil, `invalid --url "ftp://x"`},
		{"bad second url", []string{"--url", "http://127.0.0.1:1,127.0.0.1:2"}, nil, `invalid --url "127.0.0.1:2": want an absolute http:// or https:// URL, or several separated by commas`},
		{"empty url in a list", []string{"--url", "http://127.0.0.1:1,"}, nil, `invalid --url ""`},
		{"unknown baseline to serve", []string{"--serve", "studio"}, nil, `invalid --serve "studio": must be empty, common-http, redis-get, store-miss`},
		{"served store-miss on a bad store", []string{"--serve", "store-miss"}, map[string]string{"DATABASE_URL": "mysql://x"}, "invalid DATABASE_URL"},
		{"serve with tokens", []string{"--serve", "redis-get", "--tokens", "t.txt"}, nil, "--tokens is not used with --serve"},
		{"seed 0", []string{"--seed", "0", "--tokens-out", "t.txt"}, nil, "invalid --seed 0: must be between 1 and 10000000"},
		{"seed negative", []string{"--seed", "-3", "--tokens-out", "t.txt"}, nil, "invalid --seed -3"},
		{"seed too many", []string{"--seed", "10000001", "--tokens-out", "t.txt"}, nil, "invalid --seed 10000001"},
		{"seed not a number", []string{"--seed", "1M"}, nil, `invalid value "1M" for flag -seed`},
		{"seed without tokens-out", []string{"--seed", "10"}, nil, "--seed needs --tokens-out"},
		{"tokens-out without seed", []string{"--tokens-out", "t.txt"}, nil, "invalid --seed 0"},
		{"seed into a missing directory", []string{"--seed", "10", "--tokens-out", "/nonexistent/dir/t.txt"}, nil, "invalid --tokens-out"},
		{"seed with a target", []string{"--seed", "10", "--tokens-out", "t.txt", "--target", "http"}, nil, "--target is not used with --seed, which only creates sessions"},
		{"seed with tokens", []string{"--seed", "10", "--tokens-out", "t.txt", "--tokens", "u.txt"}, nil, "--tokens is not used with --seed"},
		{"seed with serve", []string{"--seed", "10", "--tokens-out", "t.txt", "--serve", "empty"}, nil, "--serve is not used with --seed"},
		{"seed on a bad store", []string{"--seed", "10", "--tokens-out", "t.txt"}, map[string]string{"DATABASE_URL": "mysql://x"}, "invalid DATABASE_URL"},
		{"tokens file missing", []string{"--target", "inprocess", "--tokens", "/nonexistent/t.txt"}, nil, "invalid --tokens: open /nonexistent/t.txt"},
		{"tokens with sessions", []string{"--target", "inprocess", "--tokens", "t.txt", "--sessions", "5"}, nil, "--sessions is not used with --tokens"},
		{"tokens with common", []string{"--target", "common", "--tokens", "t.txt"}, nil, "--tokens is not used with --target common"},
		{"tokens with in-process redis-get", []string{"--target", "redis-get", "--tokens", "t.txt"}, nil, "--tokens with --target redis-get needs --url"},
		{"tokens with creates on store-miss", []string{"--target", "store-miss", "--tokens", "t.txt", "--mix", "validate=5,create=1"}, nil, "--target store-miss keeps no sessions; use --mix validate=1"},
		{"listen without serve", []string{"--target", "empty", "--mix", "validate=1", "--listen", "127.0.0.1:9"}, nil, "--listen is only used with --serve"},
		{"bad listen address", []string{"--serve", "empty", "--listen", "9000"}, nil, `invalid --listen "9000"`},
		{"listen port too big", []string{"--serve", "empty", "--listen", "127.0.0.1:99999"}, nil, `invalid --listen "127.0.0.1:99999"`},
		{"listen port not a number", []string{"--serve", "empty", "--listen", "127.0.0.1:http"}, nil, `invalid --listen "127.0.0.1:http"`},
		{"default listen given without serve", []string{"--target", "empty", "--mix", "validate=1", "--listen", "127.0.0.1:0"}, nil, "--listen is only used with --serve"},
		{"serve with a url", []string{"--serve", "empty", "--url", "http://127.0.0.1:1"}, nil, "--url is not used with --serve"},
		{"serve with a rate", []string{"--serve", "empty", "--rate", "5"}, nil, "--rate is not used with --serve"},
		{"serve with a target", []string{"--serve", "empty", "--target", "http"}, nil, "--target is not used with --serve"},
		{"served common-way store on a bad redis url", []string{"--serve", "common-http"}, map[string]string{"REDIS_URL": "http://x"}, "invalid REDIS_URL"},
		{"http without admin token", []string{"--url", "http://127.0.0.1:1"}, nil, "set STUDIO_ADMIN_TOKEN"},
		{"concurrency 0", []string{"--target", "empty", "--concurrency", "0"}, nil, "invalid --concurrency 0"},
		{"concurrency not a number", []string{"--concurrency", "lots"}, nil, `invalid value "lots" for flag -concurrency`},
		{"negative rate", []string{"--target", "empty", "--rate", "-1"}, nil, "invalid --rate -1"},
		{"NaN rate", []string{"--target", "empty", "--rate", "NaN"}, nil, "invalid --rate NaN"},
		{"zero duration", []string{"--target", "empty", "--duration", "0s"}, nil, "invalid --duration 0s"},
		{"duration without unit", []string{"--duration", "10"}, nil, `invalid value "10" for flag -duration`},
		{"negative warmup", []string{"--target", "empty", "--warmup", "-1s"}, nil, "invalid --warmup -1s"},
		{"zero sessions", []string{"--target", "empty", "--sessions", "0"}, nil, "invalid --sessions 0"},
		{"zipf 1", []string{"--target", "empty", "--zipf", "1"}, nil, "invalid --zipf 1"},
		{"zipf 0.5", []string{"--target", "empty", "--zipf", "0.5"}, nil, "invalid --zipf 0.5"},
		{"mix unknown op", []string{"--target", "inprocess", "--mix", "login=5"}, nil, `invalid --mix "login=5": unknown op "login"`},
		{"mix negative", []string{"--target", "inprocess", "--mix", "validate=-5"}, nil, `invalid --mix "validate=-5": validate weight "-5"`},
		{"mix all zero", []string{"--target", "inprocess", "--mix", "validate=0"}, nil, "must add up to more than 0"},
		{"mix twice", []string{"--target", "inprocess", "--mix", "validate=1,validate=2"}, nil, "validate given twice"},
		{"mix empty", []string{"--target", "inprocess", "--mix", ""}, nil, `invalid --mix "": empty`},
		{"empty target with revokes", []string{"--target", "empty"}, nil, "--target empty keeps no sessions"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined: -nope"},
		{"argument", []string{"--target", "empty", "extra"}, nil, `unexpected argument "extra"`},
		{"bad redis url", []string{"--target", "inprocess"}, map[string]string{"REDIS_URL": "http://x"}, "invalid REDIS_URL"},
		{"unknown http client", []string{"--target", "empty", "--mix", "validate=1", "--http-client", "curl"}, nil, `invalid --http-client "curl": must be raw or net/http`},
		{"cpuprofile in a missing directory", []string{"--target", "empty", "--mix", "validate=1", "--cpuprofile", "/nonexistent/dir/cpu.prof"}, nil, "invalid --cpuprofile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"studio", "bench"}, tc.args...), envOf(tc.env), &stdout, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// benchJSON is the part of the JSON result the tests read.
type benchJSON struct {
	Target   string `json:"target"`
	Mode     string `json:"mode"`
	Validate struct {
		Count     int64   `json:"count"`
		Errors    int64   `json:"errors"`
		OpsPerSec float64 `json:"ops_per_sec"`
		P99US     float64 `json:"p99_us"`
	} `json:"validate"`
	Total struct {
		Count  int64 `json:"count"`
		Errors int64 `json:"errors"`
	} `json:"total"`
	RevokedAccepted int64 `json:"revoked_accepted"`
	Shares          []struct {
		Target   string `json:"target"`
		Workers  int    `json:"workers"`
		Validate struct {
			Count int64 `json:"count"`
		} `json:"validate"`
	} `json:"shares"`
}

func runBenchJSON(t *testing.T, args []string, env map[string]string) benchJSON {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"studio", "bench", "--json", "--duration", "500ms", "--warmup", "100ms",
		"--concurrency", "4", "--sessions", "50"}, args...), envOf(env), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	var out benchJSON
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if out.Total.Count == 0 || out.Total.Errors != 0 || out.RevokedAccepted != 0 {
		t.Fatalf("result %+v", out)
	}
	t.Logf("%s: validate %.0f ops/s, p99 %.0f µs", out.Target, out.Validate.OpsPerSec, out.Validate.P99US)
	return out
}

// TestBenchCommand runs `studio bench` as a user would: in process on a
// real Redis and SQLite, over HTTP against `studio serve`, and against the
// empty-handler baseline.
func TestBenchCommand(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{
		"REDIS_URL":          rs.URL(),
		"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "bench.db"),
		"STUDIO_ADMIN_TOKEN": "bench-admin-49ee37b19b5ed1af3009ab2b7b6739b5bbf221e7dd5147ec",
		"STUDIO_LOG_LEVEL":   "warn",
	}
	t.Run("inprocess", func(t *testing.T) {
		prof := filepath.Join(t.TempDir(), "cpu.prof")
		if out := runBenchJSON(t, []string{"--target", "inprocess", "--cpuprofile", prof}, env); out.Target != "inprocess" || out.Mode != "closed" {
			t.Fatalf("%+v", out)
		}
		// A profile of the measured window: pprof's gzip-compressed protobuf.
		b, err := os.ReadFile(prof)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("--cpuprofile wrote %d bytes (%v)", len(b), err)
		}
	})
	t.Run("http", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		srv := startServe(t, ctx, map[string]string{
			"STUDIO_ADMIN_TOKEN": env["STUDIO_ADMIN_TOKEN"], "REDIS_URL": env["REDIS_URL"], "DATABASE_URL": env["DATABASE_URL"],
		})
		defer func() { cancel(); <-srv.done }()
		if out := runBenchJSON(t, []string{"--url", srv.base, "--rate", "200"}, env); out.Mode != "open" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("common", func(t *testing.T) {
		if out := runBenchJSON(t, []string{"--target", "common"}, env); out.Target != "common-way store" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("common-http", func(t *testing.T) {
		if out := runBenchJSON(t, []string{"--target", "common-http"}, env); !strings.HasPrefix(out.Target, "common-way store over HTTP http://127.0.0.1:") {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("redis-get", func(t *testing.T) {
		if out := runBenchJSON(t, []string{"--target", "redis-get", "--mix", "validate=1"}, env); out.Target != "redis-get" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("empty", func(t *testing.T) {
		runBenchJSON(t, []string{"--target", "empty", "--mix", "validate=1"}, nil)
		runBenchJSON(t, []string{"--target", "empty", "--mix", "validate=1", "--http-client", "net/http"}, nil)
	})
	// A baseline in a process of its own (as make bench runs it): --serve
	// prints its URL first, --target … --url drives it, and it stops when
	// interrupted.
	for _, kind := range []string{"empty", "common-http"} {
		t.Run("serve "+kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			out, errs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"studio", "bench", "--serve", kind}, envOf(env), out, errs) }()
			var base string
			for deadline := time.Now().Add(10 * time.Second); base == ""; {
				if line, ok := strings.CutSuffix(out.String(), "\n"); ok {
					base = line
				} else if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no URL printed; stderr %q", errs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
				t.Fatalf("printed %q, want the base URL with its port", base)
			}
			// The generator itself needs no Redis: a broken REDIS_URL is
			// never read.
			got := runBenchJSON(t, []string{"--target", kind, "--url", base, "--mix", "validate=1"}, map[string]string{"REDIS_URL": "http://not-read"})
			if !strings.HasSuffix(got.Target, base) {
				t.Fatalf("target %q, want the served %s", got.Target, base)
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("--serve exit %d: %s", code, errs.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("--serve did not stop when interrupted")
			}
		})
	}
	t.Run("serve on a port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"studio", "bench", "--serve", "empty", "--listen", ln.Addr().String()}, envOf(nil), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "listen on "+ln.Addr().String()) || stdout.Len() != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1, nothing printed, and the address named", code, stdout.String(), stderr.String())
		}
	})
	t.Run("table", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"studio", "bench", "--target", "empty", "--mix", "validate=1", "--duration", "200ms", "--warmup", "0s", "--concurrency", "2", "--sessions", "5"}, envOf(nil), &stdout, &stderr)
		if code != 0 || !strings.Contains(stdout.String(), "p99.9") || !strings.Contains(stdout.String(), "validate") || strings.Contains(stdout.String(), "\r") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
	})
}
