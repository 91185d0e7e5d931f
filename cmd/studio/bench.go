package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/sleep"
	"github.com/studiohq/studio/loadgen"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

const benchUsage = `Usage: studio bench [flags]

Load-tests session validation: creates --sessions sessions, then sends a
mix of validate, create and revoke operations from --concurrency workers
for --warmup + --duration, picking sessions with a Zipf distribution, and
prints per operation: count, ops/s, p50/p95/p99/p99.9/max latency and
errors by kind (--json for scripts). --rate 0 is a closed loop (as fast as
the target answers); --rate N an open loop at N ops/s whose latencies are
measured from each operation's scheduled time (see docs/PERFORMANCE.md).

Targets (--target):
  http         the HTTP API at --url; creates sessions with STUDIO_ADMIN_TOKEN
  inprocess    a session.Service in this process, on the Redis, store and
               cache settings below (it writes sessions of user "loadgen"
               there; they expire on their own)
  empty        baseline: an empty net/http handler on loopback (or at --url)
  redis-get    baseline: bare Redis GETs, on the Redis settings; with --url,
               the plain-GET handler served by --serve redis-get
  store-miss   baseline: the plain store-miss handler (GET, point SELECT,
               SET NX) on the store and Redis settings, on loopback (or at
               --url, served by --serve store-miss)
  common       baseline: a session store built the common way, in process
  common-http  baseline: the same served on loopback (or at --url)
--serve KIND serves a baseline on --listen instead, in a process of its own,
as make bench runs them: empty, common-http, redis-get or store-miss; it
also serves GET /metrics (the Go runtime's metrics, as studio serve's).

A million sessions: --seed N --tokens-out FILE creates N sessions in the
store in bulk, writes their tokens to FILE and prints the time taken;
--tokens FILE then validates those sessions instead of creating --sessions
(--mix validate=1 by default). The plain-GET and store-miss handlers keep
no sessions of their own: drive them with --tokens. --url U1,U2,… spreads
the workers over several servers, worker i on U(i mod n), and prints each
one's share.
`

// benchTargets are the --target values: the two targets, then the
// baselines (docs/PERFORMANCE.md).
var benchTargets = []string{"http", "inprocess", "empty", "redis-get", "store-miss", "common", "common-http"}

// servedBaselines are the --serve values.
var servedBaselines = []string{"empty", "common-http", "redis-get", "store-miss"}

// urlTargets are the targets --url may name a server of.
var urlTargets = []string{"http", "empty", "common-http", "redis-get", "store-miss"}

// runBench runs `studio bench`: a table (or JSON) of the results; a
// progress line on a terminal. Bad flags are exit status 2; a run that
// could not start, or saw a revoked session accepted, exit status 1.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	st := newSettings("bench", getenv, stderr, nil)
	st.header = benchUsage
	fs := st.fs
	target := fs.String("target", "http", "what to drive: http, inprocess, or a baseline (see Targets above)")
	baseURL := fs.String("url", "", "base `URL` of the API for --target http (or of a served baseline), e.g. http://127.0.0.1:8080")
	conc := fs.Int("concurrency", loadgen.DefaultConcurrency, "workers (HTTP connections), each with one operation in flight (1-10000)")
	rate := fs.Float64("rate", 0, "open loop at this many operations per second; 0: closed loop, as fast as the target answers")
	duration := fs.Duration("duration", loadgen.DefaultDuration, "measured time")
	warmup := fs.Duration("warmup", 2*time.Second, "load before measuring, not in the results")
	sessions := fs.Int("sessions", loadgen.DefaultSessions, "sessions created before the run (1-10000000)")
	zipf := fs.Float64("zipf", loadgen.DefaultZipf, "Zipf exponent of the session popularity (greater than 1), or 0 for uniform")
	mixFlag := fs.String("mix", "validate=90,create=5,revoke=5", "relative weights of the operations: validate=N,create=N,revoke=N")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	httpClient := fs.String("http-client", "raw", "the generator's HTTP client: raw (a lean HTTP/1.1 keep-alive client that allocates nothing per request, like wrk's) or net/http")
	serve := fs.String("serve", "", "serve a baseline instead of running load: empty (the empty handler), common-http (the common-way store), redis-get (the plain-GET handler) or store-miss (the plain store-miss handler), on --listen until interrupted; its base URL is the first line printed")
	listen := fs.String("listen", "127.0.0.1:0", "the `address` --serve listens on")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured window (this process: the load tool, and the target for --target inprocess) to this `file`")
	seedN := fs.Int("seed", 0, "create this many sessions in the store in bulk (1-10000000), write their tokens to --tokens-out, print the time taken, and exit")
	tokensOut := fs.String("tokens-out", "", "the new `file` --seed writes the sessions' tokens to, one a line (mode 0600)")
	tokensIn := fs.String("tokens", "", "validate the existing sessions whose tokens this `file` holds (as --seed writes them) instead of creating --sessions")
	if err := st.parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["seed"] || given["tokens-out"] {
		if err := onlyWith(given, "--seed, which only creates sessions", "seed", "tokens-out", "json"); err != nil {
			return err
		}
		return runSeed(ctx, st, *seedN, *tokensOut, *asJSON, stdout, stderr)
	}
	if *serve != "" {
		if err := onlyWith(given, "--serve, which only serves a baseline", "serve", "listen"); err != nil {
			return err
		}
		return serveBaseline(ctx, st, *serve, *listen, stdout, stderr)
	}
	if given["listen"] {
		return usageErrorf("--listen is only used with --serve")
	}
	opts := loadgen.Options{Concurrency: *conc, Rate: *rate, Duration: *duration, Warmup: *warmup, Sessions: *sessions, Zipf: *zipf}
	if *tokensIn != "" {
		if given["sessions"] {
			return usageErrorf("--sessions is not used with --tokens: the sessions are the file's")
		}
		if !given["mix"] {
			*mixFlag = "validate=1"
		}
	}
	if err := checkBenchFlags(&opts, *target, *baseURL, *mixFlag, *tokensIn != ""); err != nil {
		return err
	}
	if *tokensIn != "" {
		toks, err := readTokensFile(*tokensIn)
		if err != nil {
			return err
		}
		opts.Tokens, opts.Sessions = toks, 0
	}
	if *httpClient != "raw" && *httpClient != "net/http" {
		return usageErrorf("invalid --http-client %q: must be raw or net/http", *httpClient)
	}

	if *cpuProfile != "" {
		stopProfile, err := profileMeasured(&opts, *cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}

	var release func()
	var err error
	opts.Target, release, err = benchTarget(ctx, st, *target, *baseURL, *httpClient == "raw", opts, stderr)
	if err != nil {
		return err
	}
	defer release()

	tty := isTerminal(stdout)
	if tty {
		opts.OnProgress = func(p loadgen.Progress) {
			if p.Phase == "setup" {
				fmt.Fprintf(stdout, "\r\033[Ksetup: %d/%d sessions created", p.Done, p.Of)
				return
			}
			fmt.Fprintf(stdout, "\r\033[K%s %.1fs/%.0fs: %.0f ops/s, %d ops, %d errors",
				p.Phase, p.Elapsed.Seconds(), p.Length.Seconds(), p.OpsPerSec, p.Done, p.Errors)
		}
	}
	res, runErr := loadgen.Run(ctx, opts)
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if res != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(res)
		} else {
			_ = res.WriteTable(stdout)
		}
	}
	switch {
	case runErr != nil && res != nil:
		return fmt.Errorf("interrupted: %w", runErr)
	case runErr != nil:
		return runErr
	case res.RevokedAccepted > 0:
		return fmt.Errorf("%d validations accepted a session after its revoke had returned", res.RevokedAccepted)
	}
	return nil
}

// benchFlags are the flags of `studio bench` itself (the others are
// settings: Redis, store, cache, logs).
var benchFlags = []string{"target", "url", "concurrency", "rate", "duration", "warmup", "sessions", "zipf", "mix", "json",
	"http-client", "serve", "listen", "cpuprofile", "seed", "tokens-out", "tokens"}

// onlyWith refuses every bench flag given but those named (settings are
// always accepted): the error says they are not used with what.
func onlyWith(given map[string]bool, what string, allowed ...string) error {
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if slices.Contains(benchFlags, name) && !slices.Contains(allowed, name) {
			return usageErrorf("--%s is not used with %s", name, what)
		}
	}
	return nil
}

// splitURLs is the list of --url: base URLs separated by commas.
func splitURLs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// checkBenchFlags checks the bench flags and reads --mix into opts; the
// error names the flag. tokens is whether --tokens was given.
func checkBenchFlags(opts *loadgen.Options, target, baseURL, mix string, tokens bool) error {
	if !slices.Contains(benchTargets, target) {
		return usageErrorf("invalid --target %q: must be http or inprocess, or a baseline: %s", target, strings.Join(benchTargets[2:], ", "))
	}
	if err := checkBenchURLs(target, baseURL, tokens); err != nil {
		return err
	}
	switch {
	case opts.Concurrency < 1 || opts.Concurrency > 10000:
		return usageErrorf("invalid --concurrency %d: must be between 1 and 10000", opts.Concurrency)
	case opts.Rate < 0 || math.IsNaN(opts.Rate) || math.IsInf(opts.Rate, 0) || opts.Rate > 10_000_000:
		return usageErrorf("invalid --rate %v: must be 0 (closed loop) or a rate up to 10000000 per second", opts.Rate)
	case opts.Duration <= 0 || opts.Duration > 24*time.Hour:
		return usageErrorf("invalid --duration %v: must be more than 0 and at most 24h", opts.Duration)
	case opts.Warmup < 0 || opts.Warmup > time.Hour:
		return usageErrorf("invalid --warmup %v: must be between 0 and 1h", opts.Warmup)
	case opts.Sessions < 1 || opts.Sessions > 10_000_000:
		return usageErrorf("invalid --sessions %d: must be between 1 and 10000000", opts.Sessions)
	case opts.Zipf != 0 && !(opts.Zipf > 1 && opts.Zipf <= 100):
		return usageErrorf("invalid --zipf %v: must be 0 (uniform) or greater than 1 (at most 100)", opts.Zipf)
	}
	m, err := loadgen.ParseMix(mix)
	if err != nil {
		return usageErrorf("invalid --mix %q: %v", mix, err)
	}
	if (target == "empty" || target == "store-miss" || target == "redis-get" && baseURL != "") && (m.Create > 0 || m.Revoke > 0) {
		return usageErrorf("invalid --mix %q: --target %s keeps no sessions; use --mix validate=1", mix, target)
	}
	opts.Mix = m
	return nil
}

// checkBenchURLs checks --url (a list) against --target and --tokens.
func checkBenchURLs(target, baseURL string, tokens bool) error {
	urls := splitURLs(baseURL)
	for _, u := range urls {
		if checkHTTPURL(u, false) != nil {
			return usageErrorf("invalid --url %q: want an absolute http:// or https:// URL, or several separated by commas", u)
		}
	}
	switch {
	case target == "http" && baseURL == "":
		return usageErrorf("--target http needs --url, the API's base URL (e.g. http://127.0.0.1:8080)")
	case baseURL != "" && !slices.Contains(urlTargets, target):
		return usageErrorf("--url is only used with --target %s (a baseline served by `studio bench --serve`)", strings.Join(urlTargets, ", "))
	case tokens && (target == "common" || target == "common-http"):
		return usageErrorf("--tokens is not used with --target %s, whose sessions are not Studio's", target)
	case tokens && target == "redis-get" && baseURL == "":
		return usageErrorf("--tokens with --target redis-get needs --url: serve the plain-GET handler with `studio bench --serve redis-get`")
	case !tokens && (target == "store-miss" || target == "redis-get" && baseURL != ""):
		return usageErrorf("--target %s keeps no sessions: give --tokens, the tokens of a store seeded with --seed", target)
	}
	return nil
}

// benchTarget builds the target; the function returned releases what it
// opened. HTTP targets use the lean client when raw is set (net/http's
// otherwise); several --url values make a loadgen.Spread of them. Logs go
// to stderr.
func benchTarget(ctx context.Context, st *settings, kind, baseURL string, raw bool, opts loadgen.Options, stderr io.Writer) (loadgen.Target, func(), error) {
	ttl := max(time.Hour, 2*(opts.Warmup+opts.Duration))
	client := loadgen.NewHTTPClient(opts.Concurrency, 10*time.Second)
	if urls := splitURLs(baseURL); len(urls) > 0 {
		admin := ""
		if kind == "http" && (len(opts.Tokens) == 0 || opts.Mix.Create > 0) {
			var err error
			if admin, err = benchAdminToken(st); err != nil {
				return nil, nil, err
			}
		}
		var targets []loadgen.Target
		for _, u := range urls {
			targets = append(targets, servedTarget(kind, httpSpec{base: strings.TrimRight(u, "/"), admin: admin, client: client, raw: raw, ttl: ttl}))
		}
		if len(targets) == 1 {
			return targets[0], func() {}, nil
		}
		return &loadgen.Spread{Targets: targets}, func() {}, nil
	}
	if kind == "empty" {
		base, stop, err := loadgen.ServeEmpty()
		if err != nil {
			return nil, nil, err
		}
		return &emptyTarget{loadgen.HTTPTarget{Base: base, Client: client, Raw: raw}}, stop, nil
	}
	cfg, err := st.Config()
	if err != nil {
		return nil, nil, err
	}
	log := commandLogger(stderr, cfg.LogLevel)
	switch kind {
	case "redis-get", "common", "common-http", "store-miss":
		return inProcessBaseline(ctx, cfg, log, kind, httpSpec{client: client, raw: raw, ttl: ttl})
	}
	svc, closeAll, err := benchService(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return &loadgen.ServiceTarget{Service: svc, TTL: ttl}, closeAll, nil
}

// benchAdminToken is the admin token --target http creates sessions with:
// the first of STUDIO_ADMIN_TOKEN's list.
func benchAdminToken(st *settings) (string, error) {
	list, err := st.secret("STUDIO_ADMIN_TOKEN")
	if err != nil {
		return "", err
	}
	if toks := adminauth.ParseList(list); len(toks) > 0 {
		return toks[0], nil // the first of a rotation's list
	}
	return "", usageErrorf("--target http creates sessions with the admin token: set STUDIO_ADMIN_TOKEN (--admin-token), or validate seeded sessions with --tokens")
}

// httpSpec is what an HTTP target is made of.
type httpSpec struct {
	base, admin string
	client      *http.Client
	raw         bool
	ttl         time.Duration
}

// servedTarget is the HTTP target of p, named as the --target it drives.
func servedTarget(kind string, p httpSpec) loadgen.Target {
	switch kind {
	case "empty":
		return &emptyTarget{loadgen.HTTPTarget{Base: p.base, Client: p.client, Raw: p.raw}}
	case "common-http":
		return &commonHTTPTarget{loadgen.HTTPTarget{Base: p.base, Client: p.client, Raw: p.raw, TTL: p.ttl}}
	case "redis-get":
		return &namedHTTPTarget{HTTPTarget: loadgen.HTTPTarget{Base: p.base, Client: p.client, Raw: p.raw}, name: "plain-GET handler over HTTP"}
	case "store-miss":
		return &namedHTTPTarget{HTTPTarget: loadgen.HTTPTarget{Base: p.base, Client: p.client, Raw: p.raw}, name: "plain store-miss handler over HTTP"}
	}
	return &loadgen.HTTPTarget{Base: p.base, AdminToken: p.admin, Client: p.client, Raw: p.raw, TTL: p.ttl}
}

// inProcessBaseline opens a baseline of this process on the Redis (and,
// for store-miss, store) settings: bare GETs, the common-way store (in
// process or served on loopback), or the store-miss handler served on
// loopback and driven with h's client.
func inProcessBaseline(ctx context.Context, cfg Config, log *slog.Logger, kind string, h httpSpec) (loadgen.Target, func(), error) {
	rdb, err := openBaselineRedis(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case "redis-get":
		return &loadgen.RedisGetTarget{Redis: rdb, TTL: h.ttl}, func() { rdb.Close() }, nil
	case "common":
		return &loadgen.CommonStoreTarget{Redis: rdb, TTL: h.ttl}, func() { rdb.Close() }, nil
	}
	handler, closeH, err := baselineHandler(ctx, cfg, kind, rdb)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeH()
		rdb.Close()
		return nil, nil, fmt.Errorf("listen for the %s baseline: %w", kind, err)
	}
	stop := loadgen.Serve(ln, handler)
	h.base = "http://" + ln.Addr().String()
	return servedTarget(kind, h), func() { stop(); closeH(); rdb.Close() }, nil
}

// benchService opens a session.Service as serve would (store, Redis with
// the circuit breaker, the configured L1 and cache TTLs) and waits for its
// invalidation subscription.
func benchService(ctx context.Context, cfg Config, log *slog.Logger) (*session.Service, func(), error) {
	store, rc, err := openStoreAndTLS(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	rc.Breaker = redisconn.NewBreaker(redisconn.BreakerOptions{})
	rdb, err := redisconn.Open(rc)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("open redis client: %w", err)
	}
	closeAll := func() { rdb.Close(); store.Close() }
	if err := rdb.Ping(ctx).Err(); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("redis does not answer: %w", err)
	}
	svc, err := session.NewService(session.Options{Store: store, Redis: rdb, L1TTL: cfg.L1TTL, CacheTTL: cfg.CacheTTL,
		ClockSkew: cfg.ClockSkew, StoreTimeout: cfg.StoreTimeout, Logger: log})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closeAll = func() { svc.Close(); rdb.Close(); store.Close() }
	for deadline := time.Now().Add(5 * time.Second); !svc.Subscribed(); {
		if time.Now().After(deadline) || !sleep.Ctx(ctx, 5*time.Millisecond) {
			closeAll()
			return nil, nil, errors.New("the invalidation subscription did not come up within 5s")
		}
	}
	return svc, closeAll, nil
}

// serveBaseline runs `studio bench --serve`: a baseline on listen until
// ctx ends, so that `make bench` can run each baseline in a process of its
// own, placed on the CPUs it gives `studio serve`. Beside the baseline's
// routes it serves GET /metrics: the Go runtime's metrics, named as
// studio serve's (go_gc_heap_allocs_bytes_total: the bytes allocated),
// and the process's. The first line on stdout is the base URL.
func serveBaseline(ctx context.Context, st *settings, kind, listen string, stdout, stderr io.Writer) error {
	if !slices.Contains(servedBaselines, kind) {
		return usageErrorf("invalid --serve %q: must be %s", kind, strings.Join(servedBaselines, ", "))
	}
	if _, port, err := net.SplitHostPort(listen); err != nil || !validPort(port) {
		return usageErrorf("invalid --listen %q: want host:port with a port from 0 to 65535, e.g. 127.0.0.1:0", listen)
	}
	h, closeH := loadgen.EmptyHandler(), func() {}
	if kind != "empty" {
		cfg, err := st.Config()
		if err != nil {
			return err
		}
		rdb, err := openBaselineRedis(ctx, cfg, commandLogger(stderr, cfg.LogLevel))
		if err != nil {
			return err
		}
		defer rdb.Close()
		if h, closeH, err = baselineHandler(ctx, cfg, kind, rdb); err != nil {
			return err
		}
	}
	defer closeH()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	stop := loadgen.Serve(ln, withRuntimeMetrics(h))
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1" // all addresses: loopback is one of them
	}
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
	fmt.Fprintln(stdout, base)
	fmt.Fprintf(stderr, "serving the %s baseline on %s until interrupted\n", kind, base)
	<-ctx.Done()
	stop()
	return nil
}

// baselineHandler is the handler of a baseline on Redis (and the store):
// common-http, redis-get or store-miss; the function returned closes what
// it opened besides rdb.
func baselineHandler(ctx context.Context, cfg Config, kind string, rdb redis.UniversalClient) (http.Handler, func(), error) {
	switch kind {
	case "common-http":
		return loadgen.CommonStoreHandler(rdb), func() {}, nil
	case "redis-get":
		return loadgen.PlainGetHandler(rdb, ""), func() {}, nil
	}
	rows, closeRows, err := loadgen.OpenSessionRows(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("the store-miss baseline's store (DATABASE_URL): %w", err)
	}
	return loadgen.PlainMissHandler(rdb, rows, "", cfg.CacheTTL), closeRows, nil
}

// withRuntimeMetrics serves GET /metrics (the Go runtime's and the
// process's metrics, as studio serve exports them) beside h.
func withRuntimeMetrics(h http.Handler) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	return mux
}

// openBaselineRedis opens the plain go-redis client the baselines use (no
// breaker, no instrumentation) on the REDIS_* settings, TLS included, and
// checks that Redis answers; the caller closes it.
func openBaselineRedis(ctx context.Context, cfg Config, log *slog.Logger) (redis.UniversalClient, error) {
	rc := cfg.Redis
	var err error
	if rc.TLS, err = redisconn.NewTLS(rc, redisconn.TLSOptions{Logger: log}); err != nil {
		return nil, fmt.Errorf("redis TLS (REDIS_TLS_*): %w", err)
	}
	rdb, err := redisconn.Open(rc)
	if err != nil {
		return nil, fmt.Errorf("open redis client: %w", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis does not answer: %w", err)
	}
	return rdb, nil
}

// validPort reports whether p is a decimal port number, 0 to 65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535 && strconv.Itoa(n) == p
}

// emptyTarget is the HTTP target against the empty handler, named as the
// baseline in the results.
type emptyTarget struct{ loadgen.HTTPTarget }

func (t *emptyTarget) String() string { return "empty handler " + t.Base }

// commonHTTPTarget is the HTTP target against the common-way session store
// (loadgen.CommonStoreHandler), named as that baseline in the results.
type commonHTTPTarget struct{ loadgen.HTTPTarget }

func (t *commonHTTPTarget) String() string { return "common-way store over HTTP " + t.Base }

// namedHTTPTarget is an HTTP target named as the baseline it drives.
type namedHTTPTarget struct {
	loadgen.HTTPTarget
	name string
}

func (t *namedHTTPTarget) String() string { return t.name + " " + t.Base }

// profileMeasured makes the run write a CPU profile of its measured
// window to path: profiling starts at the first progress report of the
// "run" phase (within a progress interval of the window's start) and
// stops when the returned function is called. The file is created at
// once, so a bad path fails before the run.
func profileMeasured(opts *loadgen.Options, path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, usageErrorf("invalid --cpuprofile: %v", err)
	}
	var started bool
	next := opts.OnProgress
	opts.OnProgress = func(p loadgen.Progress) {
		if p.Phase == "run" && !started {
			started = pprof.StartCPUProfile(f) == nil
		}
		if next != nil {
			next(p)
		}
	}
	return func() {
		if started {
			pprof.StopCPUProfile()
		}
		_ = f.Close()
	}, nil
}
