package redisconn_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
	"github.com/studiohq/studio/telemetry"
)

type discardRecorder struct{}

type benchKey int

func (discardRecorder) RecordCommand(time.Duration, string) {}

// BenchmarkHookOverhead measures what the instrumentation hook adds to one
// command, with the network taken out: "next" returns at once. bare is the
// same call without the hook, the baseline of the same run.
func BenchmarkHookOverhead(b *testing.B) {
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "studio:s:0123456789abcdef")
	next := func(context.Context, redis.Cmder) error { return nil }
	logger := telemetry.NewLogger(io.Discard, slog.LevelInfo) // debug lines filtered out, as in production
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())) // no exporter: recording cost only
	newHook := func(tp *sdktrace.TracerProvider) redis.ProcessHook {
		m := telemetry.NewMetrics(prometheus.NewRegistry(), telemetry.Build{Version: "bench"})
		in := redisconn.NewInstrumentation(redisconn.InstrumentOptions{
			Tracer: tp.Tracer("bench"), Duration: m.RedisCommandDuration, Logger: logger,
			Recorder: discardRecorder{}, Addr: "127.0.0.1:6379",
		})
		return in.ProcessHook(next)
	}
	// A request whose trace was not sampled (the common case under a
	// ratio sampler) and one whose trace was.
	parent := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: flags, Remote: true,
		}))
	}
	run := func(name string, ctx context.Context, h redis.ProcessHook) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h(ctx, cmd)
			}
		})
	}
	// A request's context as the HTTP server and middleware build it:
	// several values deep, which the hook's context checks walk.
	deep := parent(0)
	for i := range 6 {
		deep = context.WithValue(deep, benchKey(i), i)
	}
	run("bare", ctx, next)
	run("unsampled_request", parent(0), newHook(sampled))
	run("unsampled_request_deep_ctx", deep, newHook(sampled))
	run("unsampled_root", ctx, newHook(unsampled))
	run("sampled_span", parent(trace.FlagsSampled), newHook(sampled))
}

// BenchmarkGetSaturationPaired alternates 200 ms slices of the bare and the
// instrumented client (32 goroutines each) so that drift on a shared
// machine hits both alike; it reports both throughputs and their ratio.
func BenchmarkGetSaturationPaired(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	bare := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer bare.Close()
	m := telemetry.NewMetrics(prometheus.NewRegistry(), telemetry.Build{Version: "bench"})
	full, err := redisconn.Open(redisconn.Config{
		URL: srv.URL(),
		Instrumentation: redisconn.NewInstrumentation(redisconn.InstrumentOptions{
			Tracer:   sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))).Tracer("bench"),
			Duration: m.RedisCommandDuration, Logger: telemetry.NewLogger(io.Discard, slog.LevelInfo),
			Recorder: discardRecorder{}, Addr: srv.Addr(),
		}),
		Breaker: redisconn.NewBreaker(redisconn.BreakerOptions{}),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()
	bare.Set(ctx, "k", "v", 0)
	// Unsampled requests, as most are under a ratio sampler.
	reqCtx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true}))
	slice := func(rdb redis.UniversalClient) (ops int64) {
		var total atomic.Int64
		deadline := time.Now().Add(200 * time.Millisecond)
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := int64(0)
				for time.Now().Before(deadline) {
					if err := rdb.Get(reqCtx, "k").Err(); err != nil {
						b.Error(err)
						return
					}
					n++
				}
				total.Add(n)
			}()
		}
		wg.Wait()
		return total.Load()
	}
	var bareOps, fullOps int64
	for i := 0; i < b.N; i++ {
		bareOps += slice(bare)
		fullOps += slice(full)
	}
	secs := 0.2 * float64(b.N)
	b.ReportMetric(float64(bareOps)/secs, "bare_ops/s")
	b.ReportMetric(float64(fullOps)/secs, "instrumented_ops/s")
	b.ReportMetric(float64(fullOps)/float64(bareOps), "ratio")
}
