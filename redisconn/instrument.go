package redisconn

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/studiohq/studio/telemetry"
)

// KeyObserver is told the first key of every keyed command (hot-key
// detection). It must be fast, must not block and must not keep key.
type KeyObserver interface {
	ObserveKey(key string)
}

// CommandRecorder is told every command's duration and outcome (the
// monitor's client-side latency and error windows). It must be fast and
// must not block.
type CommandRecorder interface {
	RecordCommand(d time.Duration, outcome string)
}

// InstrumentOptions configures an Instrumentation. Every field is optional:
// a nil dependency turns its part off.
type InstrumentOptions struct {
	// Tracer starts one client span per command (a pipeline is one span).
	Tracer trace.Tracer
	// Duration receives seconds per command, labelled command and outcome
	// (telemetry.Metrics.RedisCommandDuration); a command with a sampled
	// span leaves its trace id as an exemplar.
	Duration *prometheus.HistogramVec
	// Logger gets every command at debug and slow ones at warn.
	Logger *slog.Logger
	// SlowThreshold marks a command slow (default 50ms).
	SlowThreshold time.Duration
	// Keys, if set, is told each command's first key.
	Keys KeyObserver
	// Recorder, if set, is told each command's duration and outcome.
	Recorder CommandRecorder
	// Addr is the server's host:port and DB its database number, for span
	// attributes; with Sentinel or Cluster, the seed address.
	Addr string
	DB   int
	// TraceBackground also starts spans for commands whose context holds
	// no span: background work (polls, publishers, warming, refreshes),
	// which then makes a root trace per command. By default such commands
	// start no span at all; commands of a traced request always get one.
	TraceBackground bool
}

// Instrumentation is the one redis.Hook through which every command passes
// (except the handshake go-redis sends on each new connection):
// a span with current semantic conventions (never key or value text), a
// duration observation, a debug log line (warn when slow) and the hot-key
// count. It is safe for concurrent use.
type Instrumentation struct {
	tracer trace.Tracer
	dur    *prometheus.HistogramVec
	log    *slog.Logger
	slow   time.Duration
	keys   KeyObserver
	rec    CommandRecorder
	attrs  []attribute.KeyValue
	// observers caches the histogram child per (command, outcome).
	observers observerCache
	// roots: start spans for commands without a parent span.
	roots bool
}

var _ redis.Hook = (*Instrumentation)(nil)

// NewInstrumentation returns an Instrumentation for o.
func NewInstrumentation(o InstrumentOptions) *Instrumentation {
	in := &Instrumentation{tracer: o.Tracer, roots: o.TraceBackground, dur: o.Duration, log: o.Logger, slow: o.SlowThreshold, keys: o.Keys, rec: o.Recorder}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.slow <= 0 {
		in.slow = 50 * time.Millisecond
	}
	in.attrs = []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.DBNamespace(strconv.Itoa(o.DB))}
	if host, port, err := net.SplitHostPort(o.Addr); err == nil {
		in.attrs = append(in.attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			in.attrs = append(in.attrs, semconv.ServerPort(p))
		}
	}
	return in
}

// DialHook implements redis.Hook.
func (in *Instrumentation) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (in *Instrumentation) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isHandshake(cmd) || uninstrumented(ctx) {
			return next(ctx, cmd)
		}
		name := commandName(cmd.Name())
		if in.keys != nil {
			if k, ok := firstKey(cmd); ok {
				in.keys.ObserveKey(k)
			}
		}
		ctx, span := in.startSpan(ctx, name)
		start := time.Now()
		err := next(ctx, cmd)
		in.finish(ctx, span, name, start, err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook: a pipeline is one span and
// one observation, named "pipeline" (or "multi" for a transaction).
func (in *Instrumentation) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && isHandshake(cmds[0]) || uninstrumented(ctx) {
			return next(ctx, cmds)
		}
		name := "pipeline"
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			name = "multi"
		}
		if in.keys != nil {
			for _, c := range cmds {
				if k, ok := firstKey(c); ok {
					in.keys.ObserveKey(k)
				}
			}
		}
		ctx, span := in.startSpan(ctx, name)
		if span.IsRecording() {
			span.SetAttributes(semconv.DBOperationBatchSize(len(cmds)))
		}
		start := time.Now()
		err := next(ctx, cmds)
		in.finish(ctx, span, name, start, err)
		return err
	}
}

// noSpan records nothing and belongs to nobody.
var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts a client span unless nothing would record it: no
// tracer, or a caller whose own span was not sampled (Studio's samplers are
// parent-based). Skipping saves most of the hook's cost on unsampled
// requests. A command with no parent span (background work) starts none
// unless TraceBackground is set.
func (in *Instrumentation) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if in.tracer == nil {
		return ctx, noSpan
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsSampled() || !sc.IsValid() && !in.roots {
		return ctx, noSpan
	}
	return in.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
}

func (in *Instrumentation) finish(ctx context.Context, span trace.Span, name string, start time.Time, err error) {
	d := time.Since(start)
	outcome := Outcome(err)
	if in.dur != nil {
		telemetry.ObserveTrace(in.observers.get(in.dur, name, outcome), d.Seconds(), span.SpanContext())
	}
	if in.rec != nil {
		in.rec.RecordCommand(d, outcome)
	}
	if span.IsRecording() {
		span.SetAttributes(in.attrs...)
		span.SetAttributes(semconv.DBOperationName(name))
		if outcome != "ok" && outcome != "miss" {
			span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
	switch {
	case d >= in.slow:
		in.log.LogAttrs(ctx, slog.LevelWarn, "slow redis command", slog.String("command", name), slog.Duration("duration", d), slog.String("outcome", outcome))
	case in.log.Enabled(ctx, slog.LevelDebug):
		in.log.LogAttrs(ctx, slog.LevelDebug, "redis command", slog.String("command", name), slog.Duration("duration", d), slog.String("outcome", outcome))
	}
}

// uninstrumentedKey marks a context made by WithoutInstrumentation.
type uninstrumentedKey struct{}

// WithoutInstrumentation returns a copy of ctx whose commands every
// Instrumentation passes straight through: no span, no duration
// observation, no Recorder entry, no hot-key count and no log line. It is
// for Studio's own probes, whose refusals are answers (asking a server
// whether it has a command), not Redis errors; the Breaker still sees
// their commands.
func WithoutInstrumentation(ctx context.Context) context.Context {
	return context.WithValue(ctx, uninstrumentedKey{}, true)
}

func uninstrumented(ctx context.Context) bool {
	return ctx.Value(uninstrumentedKey{}) != nil
}

// Outcome classifies a command's error into a small fixed set: ok, miss,
// error_reply, timeout, canceled, breaker_open, network.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, redis.Nil):
		return "miss"
	case errors.Is(err, ErrCircuitOpen):
		return "breaker_open"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "timeout"
		}
		return "network"
	}
	var re redis.Error
	if errors.As(err, &re) {
		return "error_reply"
	}
	return "network"
}

// knownCommands bounds the command label: anything else is "other".
var knownCommands = map[string]string{}

func init() {
	for _, c := range []string{
		"get", "set", "del", "exists", "expire", "pexpire", "ttl", "pttl", "mget", "mset", "incr", "incrby",
		"decr", "hget", "hset", "hdel", "hgetall", "hincrby", "zadd", "zincrby", "zrange", "zrevrange",
		"zrangebyscore", "zrem", "zscore", "sadd", "srem", "smembers", "scan", "publish", "subscribe",
		"ping", "info", "latency", "sentinel", "cluster", "client", "config", "eval", "evalsha",
		"script", "hello", "auth", "select", "dbsize", "flushdb", "flushall", "keys", "type", "unlink",
		"getdel", "setnx", "psetex", "setex", "memory", "slowlog", "role", "command", "hotkeys",
		"multi", "exec", "watch", "readonly", "pipeline",
	} {
		knownCommands[c] = c
	}
}

func commandName(n string) string {
	if c, ok := knownCommands[n]; ok {
		return c
	}
	return "other"
}

// firstKey returns the first key argument of cmd, when it has one.
func firstKey(cmd redis.Cmder) (string, bool) {
	args := cmd.Args()
	if len(args) < 2 {
		return "", false
	}
	switch cmd.Name() {
	case "ping", "info", "latency", "sentinel", "cluster", "client", "config", "hello", "auth",
		"select", "dbsize", "flushdb", "flushall", "scan", "publish", "subscribe", "script",
		"slowlog", "role", "command", "hotkeys", "multi", "exec", "memory", "readonly":
		return "", false
	case "eval", "evalsha":
		if len(args) < 4 {
			return "", false
		}
		if n, ok := args[2].(int); !ok || n < 1 {
			return "", false
		}
		k, ok := args[3].(string)
		return k, ok
	}
	k, ok := args[1].(string)
	return k, ok
}
