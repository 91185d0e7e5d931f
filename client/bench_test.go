package client_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/studiohq/studio/client"
)

// The benchmarks validate one session against the real Studio with 8
// callers per core, through the client (cache off) and through plain
// net/http calls with the same transport settings (read the body, check
// the status, decode nothing): the baseline. Each reports validations/s
// and the p50/p99 latency; TestMain prints the client's cost over the
// baseline when both ran.
//
//	go test -run '^$' -bench 'Validate$' -count 3 ./client/

var (
	benchMu      sync.Mutex
	benchResults = map[string]benchResult{}
)

type benchResult struct{ opsPerSec, p50, p99 float64 }

func benchSession(b *testing.B) (base, token string) {
	b.Helper()
	srv := studio(b)
	c, err := client.New(srv.URL, client.WithAdminToken(adminToken))
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := c.Create(b.Context(), client.CreateRequest{UserID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return srv.URL, tok
}

// runValidations runs op from 8 goroutines per core and reports
// throughput and latency quantiles.
func runValidations(b *testing.B, name string, op func() error) {
	b.SetParallelism(8)
	var mu sync.Mutex
	all, _ := ddsketch.NewDefaultDDSketch(0.005)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		sk, _ := ddsketch.NewDefaultDDSketch(0.005)
		for pb.Next() {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			_ = sk.Add(float64(time.Since(t0).Microseconds()))
		}
		mu.Lock()
		_ = all.MergeWith(sk)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	q, _ := all.GetValuesAtQuantiles([]float64{0.5, 0.99})
	res := benchResult{opsPerSec: float64(b.N) / elapsed.Seconds(), p50: q[0], p99: q[1]}
	b.ReportMetric(res.opsPerSec, "validations/s")
	b.ReportMetric(res.p50, "p50-µs")
	b.ReportMetric(res.p99, "p99-µs")
	benchMu.Lock()
	benchResults[name] = res
	benchMu.Unlock()
}

func BenchmarkClientValidate(b *testing.B) {
	base, tok := benchSession(b)
	c, err := client.New(base)
	if err != nil {
		b.Fatal(err)
	}
	runValidations(b, "client", func() error {
		_, err := c.Validate(b.Context(), tok)
		return err
	})
}

func BenchmarkRawHTTPValidate(b *testing.B) {
	base, tok := benchSession(b)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: time.Second}).DialContext
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.Proxy = 256, 64, nil
	hc := &http.Client{Transport: t}
	runValidations(b, "raw", func() error {
		req, _ := http.NewRequestWithContext(b.Context(), "GET", base+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	})
}

// printBenchRatio prints the client's figures beside the raw calls' of the
// same run (the last of each when -count repeats them).
func printBenchRatio() {
	benchMu.Lock()
	defer benchMu.Unlock()
	c, okc := benchResults["client"]
	r, okr := benchResults["raw"]
	if !okc || !okr {
		return
	}
	fmt.Fprintf(os.Stdout, "client vs raw HTTP: %.0f vs %.0f validations/s (client cost %+.1f %%), p50 %.0f vs %.0f µs, p99 %.0f vs %.0f µs\n",
		c.opsPerSec, r.opsPerSec, (r.opsPerSec/c.opsPerSec-1)*100, c.p50, r.p50, c.p99, r.p99)
}
