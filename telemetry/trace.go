package telemetry

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Trace exporters, protocols and samplers: the values of the standard
// OTEL_* variables that Studio accepts.
const (
	ExporterNone    = "none"
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"

	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"

	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"

	// DefaultHTTPEndpoint and DefaultGRPCEndpoint are where
	// TraceConfigFromEnv sends spans when no endpoint is set: a collector
	// on this machine, without TLS, as the OTLP specification says.
	DefaultHTTPEndpoint = "http://localhost:4318/v1/traces"
	DefaultGRPCEndpoint = "http://localhost:4317"

	// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME
	// nor OTEL_RESOURCE_ATTRIBUTES names the service.
	DefaultServiceName = "studio"
)

// TraceConfig says how Studio exports traces. The zero value exports
// nothing. TraceConfigFromEnv fills it from the standard OTEL_* variables;
// NewTracerProvider applies it.
type TraceConfig struct {
	// Exporter is "none" (the default: no spans are recorded or sent),
	// "otlp" or "console" (spans as JSON lines on Console).
	Exporter string
	// Protocol is the OTLP transport: "http/protobuf" (the default) or
	// "grpc".
	Protocol string
	// Endpoint is the full URL spans are sent to: for http/protobuf
	// including the path (http://collector:4318/v1/traces), for grpc the
	// scheme, host and port (http://collector:4317). An http:// URL means
	// no TLS. Empty means the Go exporter's own default, taken from
	// OTEL_EXPORTER_OTLP_* in the process environment or else
	// https://localhost:4318 or :4317 (TLS); TraceConfigFromEnv never
	// leaves it empty for "otlp".
	Endpoint string
	// Headers are sent with every export (API keys, tenant ids). Their
	// values never appear in errors or in LogValue.
	Headers map[string]string
	// Compression is "gzip" or "none" (the default).
	Compression string
	// Sampler is one of the Sampler* names; empty means
	// parentbased_always_on.
	Sampler string
	// SamplerArg is the ratio, from 0 to 1, for traceidratio and
	// parentbased_traceidratio; empty means 1. Other samplers ignore it.
	SamplerArg string
	// ServiceName is service.name; empty means "studio".
	ServiceName string
	// ResourceAttributes describe this process (deployment.environment,
	// service.instance.id, …); ServiceName and the version passed to
	// NewTracerProvider win over the same keys here.
	ResourceAttributes []attribute.KeyValue
	// Console receives the "console" exporter's output; nil means
	// os.Stderr, so that spans never mix with the logs on stdout.
	Console io.Writer
}

// Environment variables read by TraceConfigFromEnv.
const (
	envSDKDisabled        = "OTEL_SDK_DISABLED"
	envTracesExporter     = "OTEL_TRACES_EXPORTER"
	envProtocol           = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol     = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envEndpoint           = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint     = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envHeaders            = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders      = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envCompression        = "OTEL_EXPORTER_OTLP_COMPRESSION"
	envTracesCompression  = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
	envSampler            = "OTEL_TRACES_SAMPLER"
	envSamplerArg         = "OTEL_TRACES_SAMPLER_ARG"
	envServiceName        = "OTEL_SERVICE_NAME"
	envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
)

// TraceConfigFromEnv reads the standard OpenTelemetry variables through
// getenv (an empty value counts as unset):
//
//   - OTEL_TRACES_EXPORTER: otlp, none or console; default none, so
//     Studio sends nothing unless asked. OTEL_SDK_DISABLED=true means none.
//   - OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
//     (which wins): http/protobuf (default) or grpc.
//   - OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; for
//     http/protobuf, /v1/traces is appended to its path.
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT wins and is used as it is.
//     Default: DefaultHTTPEndpoint or DefaultGRPCEndpoint (no TLS).
//   - OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS
//     (whose keys win): key=value,… with percent-encoded values.
//   - OTEL_EXPORTER_OTLP_COMPRESSION, …_TRACES_COMPRESSION: gzip or none.
//   - OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio,
//     parentbased_always_on (default), parentbased_always_off,
//     parentbased_traceidratio; OTEL_TRACES_SAMPLER_ARG the ratio, 0 to 1.
//   - OTEL_SERVICE_NAME (default: service.name from
//     OTEL_RESOURCE_ATTRIBUTES, else "studio") and
//     OTEL_RESOURCE_ATTRIBUTES (key=value,…, percent-encoded values).
//
// Names of exporters, protocols and samplers are case-insensitive. An
// unknown or malformed value gives an error of one line naming the
// variable and what it allows; header and resource values are never
// echoed, and URLs are echoed with any password redacted.
func TraceConfigFromEnv(getenv func(string) string) (TraceConfig, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	var c TraceConfig
	for _, part := range []func(*TraceConfig, func(string) string) error{
		exporterFromEnv, endpointFromEnv, headersFromEnv, compressionFromEnv, samplerFromEnv, resourceFromEnv,
	} {
		if err := part(&c, get); err != nil {
			return c, err
		}
	}
	return c, nil
}

// exporterFromEnv reads the exporter (none unless set; off when the SDK
// is disabled) and the protocol, traces-specific variable first.
func exporterFromEnv(c *TraceConfig, get func(string) string) error {
	var err error
	c.Exporter = ExporterNone
	if v := get(envTracesExporter); v != "" {
		if c.Exporter, err = parseExporter(v); err != nil {
			return envError(envTracesExporter, v, err)
		}
	}
	if v := get(envSDKDisabled); v != "" {
		switch strings.ToLower(v) {
		case "true":
			c.Exporter = ExporterNone
		case "false":
		default:
			return envError(envSDKDisabled, v, fmt.Errorf("must be true or false"))
		}
	}
	protoVar := envTracesProtocol
	v := get(envTracesProtocol)
	if v == "" {
		protoVar, v = envProtocol, get(envProtocol)
	}
	c.Protocol = ProtocolHTTP
	if v != "" {
		if c.Protocol, err = parseProtocol(v); err != nil {
			return envError(protoVar, v, err)
		}
	}
	return nil
}

// endpointFromEnv reads the endpoint: the traces-specific one as given,
// the general one with the traces path added for HTTP, else the
// specification's local default when exporting over OTLP.
func endpointFromEnv(c *TraceConfig, get func(string) string) error {
	if v := get(envTracesEndpoint); v != "" {
		if err := checkEndpoint(v); err != nil {
			return envError(envTracesEndpoint, Redact(v), err)
		}
		c.Endpoint = v
	} else if v := get(envEndpoint); v != "" {
		if err := checkEndpoint(v); err != nil {
			return envError(envEndpoint, Redact(v), err)
		}
		c.Endpoint = v
		if c.Protocol == ProtocolHTTP {
			c.Endpoint = joinTracesPath(v)
		}
	} else if c.Exporter == ExporterOTLP {
		// The specification's defaults: plain HTTP to a local collector.
		// (The Go exporters' own default would be TLS.)
		c.Endpoint = DefaultHTTPEndpoint
		if c.Protocol == ProtocolGRPC {
			c.Endpoint = DefaultGRPCEndpoint
		}
	}
	return nil
}

// headersFromEnv reads the exporter's headers, the traces-specific ones
// overriding the general ones of the same name.
func headersFromEnv(c *TraceConfig, get func(string) string) error {
	for _, name := range []string{envHeaders, envTracesHeaders} {
		v := get(name)
		if v == "" {
			continue
		}
		kvs, err := parseKeyValues(v, true)
		if err != nil {
			return fmt.Errorf("invalid %s: %v", name, err)
		}
		if c.Headers == nil {
			c.Headers = make(map[string]string, len(kvs))
		}
		for _, kv := range kvs {
			c.Headers[kv[0]] = kv[1]
		}
	}
	return nil
}

func compressionFromEnv(c *TraceConfig, get func(string) string) error {
	compVar := envTracesCompression
	v := get(envTracesCompression)
	if v == "" {
		compVar, v = envCompression, get(envCompression)
	}
	if v != "" {
		var err error
		if c.Compression, err = parseCompression(v); err != nil {
			return envError(compVar, v, err)
		}
	}
	return nil
}

// samplerFromEnv reads the sampler (parent-based always-on by default)
// and, for the ratio samplers, its argument.
func samplerFromEnv(c *TraceConfig, get func(string) string) error {
	var err error
	c.Sampler = SamplerParentBasedAlwaysOn
	if v := get(envSampler); v != "" {
		if c.Sampler, err = parseSamplerName(v); err != nil {
			return envError(envSampler, v, err)
		}
	}
	if v := get(envSamplerArg); v != "" && usesRatio(c.Sampler) {
		if _, err := parseRatio(v); err != nil {
			return envError(envSamplerArg, v, fmt.Errorf("%v for %s", err, c.Sampler))
		}
		c.SamplerArg = v
	}
	return nil
}

// resourceFromEnv reads the resource attributes and the service name
// (OTEL_SERVICE_NAME, else service.name among the attributes, else
// DefaultServiceName).
func resourceFromEnv(c *TraceConfig, get func(string) string) error {
	resourceName := ""
	if v := get(envResourceAttributes); v != "" {
		kvs, err := parseKeyValues(v, false)
		if err != nil {
			return fmt.Errorf("invalid %s: %v", envResourceAttributes, err)
		}
		for _, kv := range kvs {
			if kv[0] == string(semconv.ServiceNameKey) {
				resourceName = kv[1]
				continue
			}
			c.ResourceAttributes = append(c.ResourceAttributes, attribute.String(kv[0], kv[1]))
		}
	}
	c.ServiceName = cmp.Or(get(envServiceName), resourceName, DefaultServiceName)
	return nil
}

// envError formats the one-line error for a variable and its value.
func envError(name, value string, err error) error {
	return fmt.Errorf("invalid %s %s: %v", name, quoteShort(value), err)
}

func parseExporter(v string) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case ExporterOTLP, ExporterNone, ExporterConsole:
		return s, nil
	}
	return "", fmt.Errorf("must be otlp, none or console")
}

func parseProtocol(v string) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case ProtocolHTTP, ProtocolGRPC:
		return s, nil
	}
	return "", fmt.Errorf("must be http/protobuf or grpc")
}

func parseCompression(v string) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case "gzip", "none":
		return s, nil
	}
	return "", fmt.Errorf("must be gzip or none")
}

func parseSamplerName(v string) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio,
		SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
		return s, nil
	}
	return "", fmt.Errorf("must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio")
}

func usesRatio(sampler string) bool {
	return sampler == SamplerTraceIDRatio || sampler == SamplerParentBasedTraceIDRatio
}

func parseRatio(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("must be a number from 0 to 1")
	}
	return f, nil
}

// checkEndpoint accepts an http:// or https:// URL with a host and no
// credentials (put those in the headers).
func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an http:// or https:// URL with a host, like http://localhost:4318")
	}
	if u.User != nil {
		return fmt.Errorf("must not hold credentials; send them with OTEL_EXPORTER_OTLP_HEADERS")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number from 1 to 65535")
		}
	}
	return nil
}

// joinTracesPath appends v1/traces to the base endpoint's path, as the
// OTLP specification says for OTEL_EXPORTER_OTLP_ENDPOINT over HTTP.
func joinTracesPath(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	u.RawPath = ""
	return u.String()
}

// parseKeyValues parses the key=value,… lists of OTEL_EXPORTER_OTLP_HEADERS
// and OTEL_RESOURCE_ATTRIBUTES: values are percent-decoded, empty entries
// are skipped. header restricts keys to HTTP header names. Errors name the
// entry by position (and resource keys by name), never a value.
func parseKeyValues(v string, header bool) ([][2]string, error) {
	var out [][2]string
	for i, entry := range strings.Split(v, ",") {
		n := i + 1
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, val, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %d is not key=value", n)
		}
		if header && !isHeaderName(k) {
			return nil, fmt.Errorf("entry %d: the key is not a valid header name", n)
		}
		if !header && !isPrintableASCII(k) {
			return nil, fmt.Errorf("entry %d: the key must be printable ASCII", n)
		}
		what := fmt.Sprintf("entry %d", n)
		if !header {
			what = fmt.Sprintf("entry %d (%s)", n, quoteShort(k))
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: the value is not valid percent-encoding", what)
		}
		if strings.ContainsFunc(dec, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("%s: the value holds a control character", what)
		}
		out = append(out, [2]string{k, dec})
	}
	return out, nil
}

// isHeaderName reports whether k is an HTTP token (RFC 9110).
func isHeaderName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return k != ""
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// check validates a TraceConfig built by hand and fills in the defaults.
func (c TraceConfig) check() (TraceConfig, error) {
	var err error
	if c.Exporter == "" {
		c.Exporter = ExporterNone
	} else if c.Exporter, err = parseExporter(c.Exporter); err != nil {
		return c, fmt.Errorf("trace exporter %s: %v", quoteShort(c.Exporter), err)
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolHTTP
	} else if c.Protocol, err = parseProtocol(c.Protocol); err != nil {
		return c, fmt.Errorf("trace protocol %s: %v", quoteShort(c.Protocol), err)
	}
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			return c, fmt.Errorf("trace endpoint %s: %v", quoteShort(Redact(c.Endpoint)), err)
		}
	}
	if c.Compression != "" {
		if c.Compression, err = parseCompression(c.Compression); err != nil {
			return c, fmt.Errorf("trace compression %s: %v", quoteShort(c.Compression), err)
		}
	}
	if c.Sampler == "" {
		c.Sampler = SamplerParentBasedAlwaysOn
	} else if c.Sampler, err = parseSamplerName(c.Sampler); err != nil {
		return c, fmt.Errorf("trace sampler %s: %v", quoteShort(c.Sampler), err)
	}
	if c.SamplerArg != "" && usesRatio(c.Sampler) {
		if _, err := parseRatio(c.SamplerArg); err != nil {
			return c, fmt.Errorf("trace sampler argument %s: %v", quoteShort(c.SamplerArg), err)
		}
	}
	for k, v := range c.Headers {
		if !isHeaderName(k) {
			return c, fmt.Errorf("trace export header %s: not a valid header name", quoteShort(k))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return c, fmt.Errorf("trace export header %s: the value holds a control character", quoteShort(k))
		}
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	return c, nil
}

// sampler returns the sampler c names; c has passed check.
func (c TraceConfig) sampler() sdktrace.Sampler {
	ratio := 1.0
	if c.SamplerArg != "" {
		ratio, _ = parseRatio(c.SamplerArg)
	}
	switch c.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff:
		return sdktrace.NeverSample()
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(ratio)
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// LogValue describes c for a start-up log line: header names but never
// their values, and the endpoint with any password redacted.
func (c TraceConfig) LogValue() slog.Value {
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	attrs := []slog.Attr{
		slog.String("exporter", c.Exporter),
		slog.String("protocol", c.Protocol),
		slog.String("endpoint", Redact(c.Endpoint)),
		slog.String("sampler", c.Sampler),
		slog.String("service_name", c.ServiceName),
	}
	if c.SamplerArg != "" {
		attrs = append(attrs, slog.String("sampler_arg", c.SamplerArg))
	}
	if len(names) > 0 {
		attrs = append(attrs, slog.String("header_names", strings.Join(names, ",")))
	}
	if c.Compression != "" {
		attrs = append(attrs, slog.String("compression", c.Compression))
	}
	return slog.GroupValue(attrs...)
}

// NewTracerProvider builds the tracer provider cfg describes, with a
// resource holding service.name, service.version (version, when not
// empty), the telemetry.sdk attributes and cfg.ResourceAttributes.
//
// With Exporter "otlp" or "console", spans go through a batch span
// processor to an exporter built from cfg's fields (the OTLP exporters'
// own reading of OTEL_EXPORTER_OTLP_* fills in only what cfg leaves
// empty), sampled by cfg.Sampler. Nothing is sent until the first batch;
// an unreachable collector costs dropped spans and errors reported through
// otel.Handle, never a failed request.
//
// With Exporter "none" the provider has no processor and samples nothing:
// Tracer().Start records nothing and costs a span id and two small
// allocations (about 0.2 µs), yet each span still carries a valid span
// context, so a trace id arriving in a W3C traceparent flows to child
// spans, to outgoing propagation and to the trace_id/span_id of log
// lines. Where even that is too much (a span per Redis command), use a
// no-op tracer instead while the exporter is "none".
//
// Trace and span ids come from math/rand/v2's lock-free generator rather
// than the SDK's default mutex-guarded one.
//
// The caller owns the provider and must call its Shutdown, which flushes
// buffered spans, when done. Install Propagator() alongside it.
func NewTracerProvider(ctx context.Context, cfg TraceConfig, version string) (*sdktrace.TracerProvider, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	attrs := make([]attribute.KeyValue, 0, len(cfg.ResourceAttributes)+5)
	attrs = append(attrs,
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKLanguageGo,
		semconv.TelemetrySDKVersion(sdk.Version()),
	)
	attrs = append(attrs, cfg.ResourceAttributes...)
	attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL, attrs...)),
		sdktrace.WithIDGenerator(fastIDs{}),
	}

	var exp sdktrace.SpanExporter
	switch cfg.Exporter {
	case ExporterNone:
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
		return sdktrace.NewTracerProvider(opts...), nil
	case ExporterConsole:
		w := cfg.Console
		if w == nil {
			w = os.Stderr
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterOTLP:
		exp, err = newOTLPExporter(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s trace exporter: %w", cfg.Exporter, err)
	}
	opts = append(opts, sdktrace.WithSampler(cfg.sampler()), sdktrace.WithBatcher(exp))
	return sdktrace.NewTracerProvider(opts...), nil
}

func newOTLPExporter(ctx context.Context, cfg TraceConfig) (sdktrace.SpanExporter, error) {
	if cfg.Protocol == ProtocolGRPC {
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		if cfg.Compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	switch cfg.Compression {
	case "gzip":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	case "none":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	return otlptracehttp.New(ctx, opts...)
}

// fastIDs generates trace and span ids from the runtime's per-thread
// ChaCha8 generator (math/rand/v2), which takes no lock, unlike the SDK's
// default generator with its one mutex-guarded source.
type fastIDs struct{}

var _ sdktrace.IDGenerator = fastIDs{}

func (fastIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, newSpanID()
}

func (fastIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

// Propagator returns the W3C Trace Context and Baggage propagator Studio
// uses to accept and pass on traceparent, tracestate and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}
