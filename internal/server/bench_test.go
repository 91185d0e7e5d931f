package server_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
	"github.com/studiohq/studio/telemetry"
)

// benchClients is the number of concurrent loopback clients, each sending
// its requests one after another on its own keep-alive connection.
const benchClients = 32

// BenchmarkHTTP is issue 2's end-to-end figure: GET /v1/session through a
// real net/http server on loopback (the full middleware and handler, a real
// session.Service on a real redis-server and a SQLite store), beside an
// empty net/http handler served the same way in the same process.
//
//	http_empty            the baseline: 200 and a 3-byte body
//	http_validate         Studio with its default (discarding) logger
//	http_validate_logged  Studio with a JSON slog logger at info writing
//	                      to io.Discard and STUDIO_ACCESS_LOG=all: one
//	                      access-log line per request
//	http_validate_full    as studio serve runs it: Studio's logger
//	                      (correlation ids, redaction) at info with the
//	                      default sampled access log, the HTTP histogram,
//	                      and a non-exporting tracer provider giving each
//	                      request its trace and span ids
//
// Each reports req/s, p50 and p99 latency as seen by the client, and the
// Studio forms their throughput as a fraction of http_empty's in the same
// run (x_empty_throughput). The load generator runs in the same process on
// the same CPUs; see docs/PERFORMANCE.md.
func BenchmarkHTTP(b *testing.B) {
	ctx := context.Background()
	rsrv := redistest.Start(b)
	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// The production client (redisconn, with the circuit breaker), with
	// generous timeouts because the machine may be shared.
	rdb, err := redisconn.Open(redisconn.Config{
		URL:          rsrv.URL(),
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		Breaker:      redisconn.NewBreaker(redisconn.BreakerOptions{}),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Close() })
	// Default options: a 5s L1, so nearly every request is an L1 hit and
	// each session goes to Redis about once per 5s.
	svc, err := session.NewService(session.Options{Store: st, Redis: rdb})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	for deadline := time.Now().Add(5 * time.Second); !svc.Subscribed(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("invalidation subscription not up after 5s")
		}
	}

	// One session per client, as if each were a different user.
	toks := make([]string, benchClients)
	ids := make([]string, benchClients)
	for i := range toks {
		tok, sess, err := svc.Create(ctx, session.CreateParams{
			UserID:   "bench_user",
			TTL:      24 * time.Hour,
			Metadata: map[string]string{"ip": "192.0.2.1", "ua": "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		toks[i], ids[i] = tok.Reveal(), sess.ID
	}

	// Each handler is served by a real listener on 127.0.0.1 with the
	// http.Server settings of `studio serve`.
	serve := func(h http.Handler) string {
		ts := httptest.NewUnstartedServer(h)
		ts.Config.ReadHeaderTimeout = 5 * time.Second
		ts.Config.ReadTimeout = 30 * time.Second
		ts.Config.WriteTimeout = 30 * time.Second
		ts.Config.IdleTimeout = 2 * time.Minute
		ts.Config.MaxHeaderBytes = 16 << 10
		ts.Start()
		b.Cleanup(ts.Close)
		return ts.URL
	}
	emptyURL := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n")
	}))
	plainURL := serve(server.New(server.Options{Sessions: svc, AdminToken: "bench-admin-token"}))
	loggedURL := serve(server.New(server.Options{
		Sessions:   svc,
		AdminToken: "bench-admin-token",
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		AccessLog:  server.AccessLogAll,
	}))

	fullURL := serve(server.New(server.Options{
		Sessions:       svc,
		AdminToken:     "bench-admin-token",
		Logger:         telemetry.NewLogger(io.Discard, slog.LevelInfo),
		Metrics:        telemetry.NewMetrics(prometheus.NewRegistry(), telemetry.Build{Version: "bench"}),
		TracerProvider: noExportProvider(b),
	}))

	// One Transport shared by every client, with room for each server's
	// 32 idle keep-alive connections.
	tr := &http.Transport{
		MaxIdleConns:        4 * benchClients,
		MaxIdleConnsPerHost: 2 * benchClients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)

	checkEmpty := func(i int, body []byte) error {
		if string(body) != "ok\n" {
			return fmt.Errorf("empty handler body %q", body)
		}
		return nil
	}
	checkSession := func(i int, body []byte) error {
		var v struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Session.ID != ids[i] {
			return fmt.Errorf("GET /v1/session answered %q (%v); want session %s", body, err, ids[i])
		}
		return nil
	}

	// emptyRPS holds the throughput of every measured http_empty run; the
	// Studio forms compare with their median (with -count N, all N runs of
	// http_empty come first).
	var emptyRPS []float64
	b.Run("http_empty", func(b *testing.B) {
		rps := benchLoad(b, tr, emptyURL+"/v1/session", toks, checkEmpty)
		if benchFinal(b) {
			emptyRPS = append(emptyRPS, rps)
		}
	})
	for _, c := range []struct{ name, url string }{
		{"http_validate", plainURL},
		{"http_validate_logged", loggedURL},
		{"http_validate_full", fullURL},
	} {
		b.Run(c.name, func(b *testing.B) {
			before := svc.Stats()
			rps := benchLoad(b, tr, c.url+"/v1/session", toks, checkSession)
			after := svc.Stats()
			// Every timed request (and each client's warm-up request) found
			// its session, and none needed the store.
			var hits uint64
			for t := range after.Hits {
				hits += after.Hits[t] - before.Hits[t]
			}
			if want := uint64(b.N + benchClients); hits != want || after.Hits[session.TierStore] != before.Hits[session.TierStore] ||
				after.Failed != before.Failed || after.Refused != before.Refused {
				b.Fatalf("validations: %d hits (want %d), store hits %d→%d, failed %d→%d, refused %v→%v",
					hits, want, before.Hits[session.TierStore], after.Hits[session.TierStore],
					before.Failed, after.Failed, before.Refused, after.Refused)
			}
			if len(emptyRPS) > 0 {
				b.ReportMetric(rps/benchMedian(slices.Clone(emptyRPS)), "x_empty_throughput")
			}
		})
	}
}

// benchLoad sends b.N requests for url from benchClients goroutines, client
// i presenting toks[i] as its bearer token, and reports throughput and the
// p50/p99 of the per-request latencies. Each client first sends one
// untimed request whose body check verifies (so the connections are open
// and the answers right before the clock starts); every timed request must
// answer 200. It returns the requests per second.
func benchLoad(b *testing.B, tr *http.Transport, url string, toks []string, check func(i int, body []byte) error) float64 {
	b.Helper()
	reqs := make([]*http.Request, benchClients)
	for i := range reqs {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+toks[i])
		reqs[i] = req
	}
	do := func(req *http.Request, keep bool) ([]byte, error) {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var body []byte
		if keep {
			body, err = io.ReadAll(resp.Body)
		} else {
			_, err = io.Copy(io.Discard, resp.Body) // read to the end: keep-alive
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return body, err
	}

	var wg sync.WaitGroup
	errs := make([]error, benchClients)
	for i := range benchClients {
		wg.Go(func() {
			body, err := do(reqs[i], true)
			if err == nil {
				err = check(i, body)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("warm-up request: %v", err)
		}
	}

	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range benchClients {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				t0 := time.Now()
				_, err := do(reqs[i], false)
				lat[n] = time.Since(t0)
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("request: %v", err)
		}
	}

	slices.Sort(lat)
	rps := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(benchQuantile(lat, 0.50).Seconds()*1e6, "p50-us")
	b.ReportMetric(benchQuantile(lat, 0.99).Seconds()*1e6, "p99-us")
	return rps
}

// benchQuantile is the nearest-rank q-quantile of sorted.
func benchQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// benchFinal reports whether the run that just ended is the reported one,
// not one of the short runs the testing package makes first to choose b.N:
// it lasted -benchtime, or made its -benchtime=Nx iterations.
func benchFinal(b *testing.B) bool {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return true
	}
	v := f.Value.String()
	if n, ok := strings.CutSuffix(v, "x"); ok {
		want, err := strconv.Atoi(n)
		return err != nil || b.N >= want
	}
	d, err := time.ParseDuration(v)
	return err != nil || b.Elapsed() >= d || b.N >= 1e9
}

// benchMedian is the median of xs (which it sorts).
func benchMedian(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// noExportProvider is what studio serve builds with OTEL_TRACES_EXPORTER
// unset: valid ids, nothing recorded or sent.
func noExportProvider(b *testing.B) *sdktrace.TracerProvider {
	tp, err := telemetry.NewTracerProvider(context.Background(), telemetry.TraceConfig{Exporter: telemetry.ExporterNone}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp
}
