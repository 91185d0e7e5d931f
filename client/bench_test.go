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
	runValidations(b, "raw", rawValidate(b, base, tok))
}

// rawValidate is the baseline: one GET with the client's transport
// settings, the body read, the status checked, nothing decoded.
func rawValidate(b *testing.B, base, tok string) func() error {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: time.Second}).DialContext
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.Proxy = 256, 64, nil
	hc := &http.Client{Transport: t}
	return func() error {
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
	}
}

// BenchmarkValidatePaired alternates a client validation and a raw one in
// every goroutine, so both see the same load from whatever else runs on
// the machine; it reports the client's time per validation over the raw
// call's (client-cost-%) and both medians.
func BenchmarkValidatePaired(b *testing.B) {
	base, tok := benchSession(b)
	c, err := client.New(base)
	if err != nil {
		b.Fatal(err)
	}
	raw := rawValidate(b, base, tok)
	b.SetParallelism(8)
	var mu sync.Mutex
	var sum [2]time.Duration
	sk := [2]*ddsketch.DDSketch{}
	for i := range sk {
		sk[i], _ = ddsketch.NewDefaultDDSketch(0.005)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var local [2]time.Duration
		lsk := [2]*ddsketch.DDSketch{}
		for i := range lsk {
			lsk[i], _ = ddsketch.NewDefaultDDSketch(0.005)
		}
		for n := 0; pb.Next(); n++ {
			i := n & 1
			t0 := time.Now()
			var err error
			if i == 0 {
				_, err = c.Validate(b.Context(), tok)
			} else {
				err = raw()
			}
			d := time.Since(t0)
			if err != nil {
				b.Error(err)
				return
			}
			local[i] += d
			_ = lsk[i].Add(float64(d.Microseconds()))
		}
		mu.Lock()
		for i := range sum {
			sum[i] += local[i]
			_ = sk[i].MergeWith(lsk[i])
		}
		mu.Unlock()
	})
	b.StopTimer()
	p := func(i int, q float64) float64 { v, _ := sk[i].GetValueAtQuantile(q); return v }
	b.ReportMetric((float64(sum[0])/float64(sum[1])-1)*100, "client-cost-%")
	b.ReportMetric(p(0, 0.5), "client-p50-µs")
	b.ReportMetric(p(1, 0.5), "raw-p50-µs")
	b.ReportMetric(p(0, 0.99), "client-p99-µs")
	b.ReportMetric(p(1, 0.99), "raw-p99-µs")
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
