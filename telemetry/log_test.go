package telemetry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// fakeToken returns a string shaped like a session token: "stu_", 43
// base64url characters and a 6-character checksum.
func fakeToken(seed byte) string {
	var raw [37]byte
	for i := range raw {
		raw[i] = seed + byte(i)*7
	}
	s := base64.RawURLEncoding.EncodeToString(raw[:])
	return "stu_" + s[:43] + s[43:49]
}

func TestRedact(t *testing.T) {
	tok := fakeToken(1)
	tests := []struct{ name, in, want string }{
		{"token alone", tok, "stu_[REDACTED]"},
		{"token in text", "validate " + tok + " failed", "validate stu_[REDACTED] failed"},
		{"two tokens", tok + "," + fakeToken(2), "stu_[REDACTED],stu_[REDACTED]"},
		{"token glued to text", "x" + tok + "y", "xstu_[REDACTED]"},
		{"token in JSON", `{"token":"` + tok + `"}`, `{"token":"stu_[REDACTED]"}`},
		{"20-char body", "stu_ABCDEFGHIJabcdefghij", "stu_[REDACTED]"},
		{"19-char body is not a token", "stu_ABCDEFGHIJabcdefghi", "stu_ABCDEFGHIJabcdefghi"},
		{"prefix alone", "stu_ is the token prefix", "stu_ is the token prefix"},
		{"nested prefix", "stu_stu_" + tok[4:], "stu_[REDACTED]"},
		{"bearer header", "Bearer " + tok, "Bearer [REDACTED]"},
		{"bearer other credential", "Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"},
		{"bearer lower case", "bearer s3cr3t-admin-token now", "bearer [REDACTED] now"},
		{"bearer upper case", "BEARER s3cr3t", "BEARER [REDACTED]"},
		{"bearer tab and spaces", "Bearer \t  s3cr3t", "Bearer \t  [REDACTED]"},
		{"bearer in JSON", `{"Authorization":"Bearer s3cr3t"}`, `{"Authorization":"Bearer [REDACTED]"}`},
		{"bearer prose", "an Authorization: Bearer token is required", "an Authorization: Bearer token is required"},
		{"bearer with nothing after", "scheme must be Bearer", "scheme must be Bearer"},
		{"bearer inside a word", "Unbearer x", "Unbearer x"},
		{"redis URL", "dial redis://default:hunter2@10.0.0.1:6379/0: refused", "dial redis://default:xxxxx@10.0.0.1:6379/0: refused"},
		{"rediss URL no user", "rediss://:hunter2@cache:6380", "rediss://:xxxxx@cache:6380"},
		{"postgres URL", "postgres://studio:pa%40ss@db:5432/studio?sslmode=disable", "postgres://studio:xxxxx@db:5432/studio?sslmode=disable"},
		{"postgresql URL with @ in password", "postgresql://u:p@ss@db/x", "postgresql://u:xxxxx@db/x"},
		{"https URL", "GET https://bob:pw@example.com/x", "GET https://bob:xxxxx@example.com/x"},
		{"password with slash", "redis://:pa/ss@host:6379", "redis://:xxxxx@host:6379"},
		{"user only", "redis://alice@host:6379", "redis://alice@host:6379"},
		{"port is not a password", "http://localhost:8080/@user", "http://localhost:8080/@user"},
		{"two URLs", "redis://a:b@h1 redis://c:d@h2", "redis://a:xxxxx@h1 redis://c:xxxxx@h2"},
		{"URL without credentials", "see https://example.com/docs?q=1#x", "see https://example.com/docs?q=1#x"},
		{"slack webhook", "post https://hooks.slack.com/services/T000/B000/XXXXsecret: 404", "post https://hooks.slack.com/services/[REDACTED] 404"},
		{"slack webhook in JSON", `{"url":"https://hooks.slack.com/services/T0/B0/abc"}`, `{"url":"https://hooks.slack.com/services/[REDACTED]"}`},
		{"slack workflow", "hooks.slack.com/workflows/T0/A0/123/abc", "hooks.slack.com/workflows/[REDACTED]"},
		{"slack host alone", "https://hooks.slack.com/", "https://hooks.slack.com/"},
		{"everything", "Bearer " + tok + " redis://u:p@h " + tok, "Bearer [REDACTED] redis://u:xxxxx@h stu_[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if again := Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q → %q", got, again)
			}
		})
	}
}

func TestRedactLeavesOrdinaryTextAlone(t *testing.T) {
	for _, s := range []string{
		"", "request", "GET /v1/session", "redis command", "slow redis command",
		"user alice logged in from 10.0.0.1:52110", "sha256 9f86d081884c7d659a2feaa0c55ad015",
		"sqlite:studio.db", "stu_", "session_token_hash", "bearer", "Bearer",
		"listening on :8080", "日本語のテキスト", "a\x00b\xff",
	} {
		got, changed := redact(s)
		if changed || got != s {
			t.Errorf("redact(%q) = %q, %v; want it unchanged", s, got, changed)
		}
	}
}

func TestSensitiveKey(t *testing.T) {
	for _, k := range []string{
		"authorization", "Authorization", "Proxy-Authorization", "password", "PASSWORD", "redis_password",
		"passwd", "secret", "client_secret", "token", "admin_token", "adminToken", "routing_key",
		"pagerduty_routing_key", "webhook_url", "slack_webhook_url", "cookie", "Cookie", "set-cookie",
		"Set-Cookie", "api_key", "x_api_key",
	} {
		if !SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false, want true", k)
		}
	}
	for _, k := range []string{
		"", "request_id", "trace_id", "span_id", "method", "route", "status", "bytes", "duration",
		"token_hash", "tokens", "user_id", "session", "key", "url", "error", "n",
	} {
		if SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true, want false", k)
		}
	}
}

type secretValuer struct{ tok string }

func (s secretValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("t", s.tok), slog.Int("n", 1))
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type nilStringer struct{ s string }

func (s *nilStringer) String() string { return s.s }

type creds struct {
	User     string
	Password string
	Note     string
	Headers  map[string][]string
}

// logOne logs one record through a LogHandler over a JSON handler and
// returns the line and its decoded object.
func logOne(t *testing.T, ctx context.Context, build func(*slog.Logger)) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	build(log)
	line := buf.String()
	if strings.Count(line, "\n") != 1 {
		t.Fatalf("want one line, got %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	return line, m
}

func TestLogHandlerRedacts(t *testing.T) {
	tok := fakeToken(3)
	ctx := context.Background()
	u, _ := url.Parse("redis://default:hunter2@cache:6379/0")
	var nilS *nilStringer
	line, m := logOne(t, ctx, func(log *slog.Logger) {
		log.With("admin_token", "super-secret-admin", "note", "with "+tok).
			WithGroup("g").With("ok", "plain").
			LogAttrs(ctx, slog.LevelInfo, "validate "+tok,
				slog.String("authorization", "Bearer "+tok),
				slog.String("header", "Bearer abcdef"),
				slog.String("Cookie", "studio_admin=xyz"),
				slog.String("routing_key", "R0123456789abcdef0123456789abcdef"),
				slog.String("slack", "https://hooks.slack.com/services/T0/B0/secretpath"),
				slog.Any("err", fmt.Errorf("lookup %s: %w", tok, errors.New("boom"))),
				slog.Any("url", u),
				slog.Any("stringer", stringer{"token=" + tok}),
				slog.Any("nil_stringer", nilS),
				slog.Any("valuer", secretValuer{tok}),
				slog.Any("creds", creds{User: "u", Password: "pw-123", Note: tok, Headers: map[string][]string{"Authorization": {"Bearer x"}, "Accept": {"*/*"}}}),
				slog.Any("bytes", []byte("bearer "+tok)),
				slog.Group("nested", slog.Group("deeper", slog.String("v", tok), slog.String("password", "p"))),
				slog.Int("n", 7),
				slog.Duration("d", time.Millisecond),
			)
	})
	for _, secret := range []string{tok, tok[4:20], "super-secret-admin", "abcdef", "xyz", "R0123456789", "secretpath", "hunter2", "pw-123", "Bearer x"} {
		if strings.Contains(line, secret) {
			t.Errorf("output holds %q:\n%s", secret, line)
		}
	}
	if got := m["msg"]; got != "validate stu_[REDACTED]" {
		t.Errorf("msg = %v", got)
	}
	if got := m["admin_token"]; got != Redacted {
		t.Errorf("admin_token = %v", got)
	}
	if got := m["note"]; got != "with stu_[REDACTED]" {
		t.Errorf("note = %v", got)
	}
	g, _ := m["g"].(map[string]any)
	if g == nil {
		t.Fatalf("no group g in %s", line)
	}
	want := map[string]any{
		"ok":            "plain",
		"authorization": Redacted,
		"header":        "Bearer [REDACTED]",
		"Cookie":        Redacted,
		"routing_key":   Redacted,
		"slack":         "https://hooks.slack.com/services/[REDACTED]",
		"err":           "lookup stu_[REDACTED]: boom",
		"url":           "redis://default:xxxxx@cache:6379/0",
		"stringer":      "token=stu_[REDACTED]",
		"nil_stringer":  "<nil>",
		"bytes":         "bearer [REDACTED]",
		"n":             float64(7),
		"d":             float64(time.Millisecond),
	}
	for k, w := range want {
		if g[k] != w {
			t.Errorf("g.%s = %#v, want %#v", k, g[k], w)
		}
	}
	if v := fmt.Sprint(g["valuer"]); v != "map[n:1 t:stu_[REDACTED]]" {
		t.Errorf("g.valuer = %s", v)
	}
	if v := fmt.Sprint(g["nested"]); v != "map[deeper:map[password:[REDACTED] v:stu_[REDACTED]]]" {
		t.Errorf("g.nested = %s", v)
	}
	if v := fmt.Sprint(g["creds"]); v != "map[Headers:map[Accept:[*/*] Authorization:[REDACTED]] Note:stu_[REDACTED] Password:[REDACTED] User:u]" {
		t.Errorf("g.creds = %s", v)
	}
}

func TestLogHandlerLeavesCleanRecordsAlone(t *testing.T) {
	var bare, wrapped bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, h := range []slog.Handler{slog.NewJSONHandler(&bare, opts), NewLogHandler(slog.NewJSONHandler(&wrapped, opts))} {
		slog.New(h).With("component", "test").LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", "GET"), slog.String("route", "GET /v1/session"), slog.Int("status", 200),
			slog.Group("g", slog.Bool("b", true)), slog.Any("list", []int{1, 2}), slog.Any("nil", nil))
	}
	if bare.String() != wrapped.String() {
		t.Errorf("clean record changed:\nbare    %s\nwrapped %s", bare.String(), wrapped.String())
	}
}

func TestLogHandlerCorrelationIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "req-1"), sc)

	count := func(line, key string) int { return strings.Count(line, `"`+key+`":`) }
	check := func(t *testing.T, line string, want map[string]string) {
		t.Helper()
		for _, k := range []string{RequestIDKey, TraceIDKey, SpanIDKey} {
			if n := count(line, k); n != 1 {
				t.Errorf("%s appears %d times in %s", k, n, line)
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %s", k, m[k], v)
			}
		}
	}

	t.Run("from context", func(t *testing.T) {
		line, _ := logOne(t, ctx, func(log *slog.Logger) { log.InfoContext(ctx, "hello", "a", 1) })
		check(t, line, map[string]string{RequestIDKey: "req-1", TraceIDKey: tid.String(), SpanIDKey: sid.String()})
	})
	t.Run("record already has request_id", func(t *testing.T) {
		line, _ := logOne(t, ctx, func(log *slog.Logger) {
			log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String(RequestIDKey, "explicit"))
		})
		check(t, line, map[string]string{RequestIDKey: "explicit", TraceIDKey: tid.String()})
	})
	t.Run("WithAttrs already has ids", func(t *testing.T) {
		line, _ := logOne(t, ctx, func(log *slog.Logger) {
			log.With(RequestIDKey, "with", TraceIDKey, "t").InfoContext(ctx, "x", "secret", "s")
		})
		check(t, line, map[string]string{RequestIDKey: "with", TraceIDKey: "t", SpanIDKey: sid.String(), "secret": Redacted})
	})
	t.Run("dirty record", func(t *testing.T) {
		line, _ := logOne(t, ctx, func(log *slog.Logger) {
			log.InfoContext(ctx, "x", "password", "p", SpanIDKey, "mine")
		})
		check(t, line, map[string]string{RequestIDKey: "req-1", TraceIDKey: tid.String(), SpanIDKey: "mine"})
	})
	t.Run("no ids", func(t *testing.T) {
		line, _ := logOne(t, context.Background(), func(log *slog.Logger) { log.Info("x") })
		for _, k := range []string{RequestIDKey, TraceIDKey, SpanIDKey} {
			if count(line, k) != 0 {
				t.Errorf("%s in %s", k, line)
			}
		}
	})
	t.Run("request id is redacted", func(t *testing.T) {
		tok := fakeToken(9)
		c := WithRequestID(context.Background(), tok)
		line, _ := logOne(t, c, func(log *slog.Logger) { log.InfoContext(c, "x") })
		if strings.Contains(line, tok) {
			t.Errorf("token in %s", line)
		}
	})
}

// TestLogHandlerRecordNotShared checks that a record passed to two
// LogHandlers (as a fan-out handler would) is not corrupted.
func TestLogHandlerRecordNotShared(t *testing.T) {
	var b1, b2 bytes.Buffer
	h1 := NewLogHandler(slog.NewJSONHandler(&b1, nil))
	h2 := NewLogHandler(slog.NewJSONHandler(&b2, nil))
	ctx := WithRequestID(context.Background(), "r")
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	for i := range 6 {
		r.AddAttrs(slog.Int(fmt.Sprint("a", i), i))
	}
	if err := h1.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := h2.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bytes.Buffer{&b1, &b2} {
		if strings.Contains(b.String(), "!BUG") || strings.Count(b.String(), `"request_id"`) != 1 {
			t.Errorf("bad line %s", b.String())
		}
	}
	if r.NumAttrs() != 6 {
		t.Errorf("caller's record has %d attrs, want 6", r.NumAttrs())
	}
}

func TestRuntimeLevel(t *testing.T) {
	var buf bytes.Buffer
	var lv slog.LevelVar
	log := NewLogger(&buf, &lv)
	log.Debug("hidden")
	l, err := ParseLevel("DEBUG")
	if err != nil {
		t.Fatal(err)
	}
	lv.Set(l)
	log.Debug("shown")
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") {
		t.Errorf("output %q", s)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " Warn ": slog.LevelWarn, "error": slog.LevelError,
	} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":            `invalid log level "": must be debug, info, warn or error`,
		"verbose":     `invalid log level "verbose": must be debug, info, warn or error`,
		"warning":     `invalid log level "warning": must be debug, info, warn or error`,
		"info+2":      `invalid log level "info+2": must be debug, info, warn or error`,
		"de\nbug":     `invalid log level "de\nbug": must be debug, info, warn or error`,
		"-4":          `invalid log level "-4": must be debug, info, warn or error`,
		"INFO ERROR ": `invalid log level "INFO ERROR ": must be debug, info, warn or error`,
	} {
		_, err := ParseLevel(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseLevel(%q) error = %v, want %s", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseLevel(%q) error has a newline", in)
		}
	}
}

var tokenShape = regexp.MustCompile(`stu_[A-Za-z0-9_-]{43,}`)
var anyTokenShape = regexp.MustCompile(`stu_[A-Za-z0-9_-]{20,}`)

func FuzzRedact(f *testing.F) {
	tok := fakeToken(5)
	for _, s := range []string{
		"", tok, "Bearer " + tok, "x" + tok + "y", "stu_stu_" + tok, "redis://u:" + tok + "@h",
		"redis://" + tok + ":p@h", "https://hooks.slack.com/services/" + tok, "bearer\t" + tok + `"`,
		"postgres://a:b/c@d", "http://[::1]:80/@x", "Bearer [REDACTED] " + tok, "stu_" + strings.Repeat("A", 19),
		"hooks.slack.com/x/" + tok + " stu_" + tok, "://@:", "Bearerstu_" + tok[4:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Redact(in)
		if !mayHoldSecret(in) && redactAll(in) != in {
			t.Fatalf("the fast path skipped a secret: %q → %q", in, redactAll(in))
		}
		for _, tk := range tokenShape.FindAllString(in, -1) {
			if strings.Contains(out, tk) {
				t.Fatalf("token %q survived: %q → %q", tk, in, out)
			}
		}
		if loc := anyTokenShape.FindString(out); loc != "" {
			t.Fatalf("token shape %q in output: %q → %q", loc, in, out)
		}
		if again := Redact(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", in, out, again)
		}
		// Through the handler too: message and attribute.
		var buf bytes.Buffer
		slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).Info(in, "v", in, "e", errors.New(in))
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("handler wrote bad JSON: %v", err)
		}
		for _, k := range []string{"msg", "v", "e"} {
			s, _ := m[k].(string)
			if loc := anyTokenShape.FindString(s); loc != "" {
				t.Fatalf("token shape %q in %s: %q", loc, k, s)
			}
		}
	})
}

// BenchmarkLogHandler logs an access-log-like record (request id, trace
// context, six attributes) to io.Discard, through a bare JSON handler and
// through a LogHandler over the same.
func BenchmarkLogHandler(b *testing.B) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "0123456789abcdef01234567"), sc)
	access := func(log *slog.Logger) {
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", "GET"),
			slog.String("route", "GET /v1/session"),
			slog.Int("status", 200),
			slog.Int("bytes", 187),
			slog.Duration("duration", 183*time.Microsecond),
			slog.String("remote", "10.1.2.3:51234"),
		)
	}
	withIDs := func(log *slog.Logger) {
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", "0123456789abcdef01234567"),
			slog.String("trace_id", tid.String()),
			slog.String("span_id", sid.String()),
			slog.String("method", "GET"),
			slog.String("route", "GET /v1/session"),
			slog.Int("status", 200),
			slog.Int("bytes", 187),
			slog.Duration("duration", 183*time.Microsecond),
			slog.String("remote", "10.1.2.3:51234"),
		)
	}
	secret := func(log *slog.Logger) {
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", "GET"),
			slog.String("route", "GET /v1/session"),
			slog.Int("status", 200),
			slog.String("authorization", "Bearer stu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAbbbbbb"),
			slog.Duration("duration", 183*time.Microsecond),
			slog.String("remote", "10.1.2.3:51234"),
		)
	}
	json := func() slog.Handler { return slog.NewJSONHandler(io.Discard, nil) }
	for _, bm := range []struct {
		name string
		h    slog.Handler
		log  func(*slog.Logger)
	}{
		{"bare-json", json(), access},
		{"bare-json-ids-as-attrs", json(), withIDs},
		{"handler", NewLogHandler(json()), access},
		{"handler-service", NewLogHandler(json()).WithService(DefaultServiceName), access},
		{"handler-secret-attr", NewLogHandler(json()), secret},
		{"handler-debug-disabled", NewLogHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), func(l *slog.Logger) {
			l.LogAttrs(ctx, slog.LevelDebug, "redis command", slog.String("command", "get"))
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			log := slog.New(bm.h)
			b.ReportAllocs()
			for b.Loop() {
				bm.log(log)
			}
		})
	}
}

func BenchmarkRedactClean(b *testing.B) {
	s := "GET /v1/session from 10.1.2.3:51234 answered by redis in 183µs"
	b.ReportAllocs()
	for b.Loop() {
		_, _ = redact(s)
	}
}

// TestRedactLinear checks that pathological text costs time in proportion
// to its length, not its square.
func TestRedactLinear(t *testing.T) {
	for _, unit := range []string{"://", "x://a:b/", "bearer ", "stu_", "hooks.slack.com/", "://a:b@", "Bearer x://:p/@"} {
		s := strings.Repeat(unit, 300_000/len(unit)) + "@"
		start := time.Now()
		Redact(s)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Redact of 300 kB of %q took %v", unit, d)
		} else {
			t.Logf("%q: %v", unit, d)
		}
	}
}

// TestEveryLineNamesTheService: every line of NewLogger and
// NewServiceLogger carries service.name once, whatever logged it.
func TestEveryLineNamesTheService(t *testing.T) {
	for _, tc := range []struct{ service, want string }{{"", "studio"}, {"auth-sessions", "auth-sessions"}} {
		var buf bytes.Buffer
		log := NewServiceLogger(&buf, slog.LevelDebug, tc.service)
		log.Info("one")
		log.With("component", "alert").Warn("two", "error", errors.New("boom"))
		log.WithGroup("g").Debug("three", "k", "v")
		NewLogger(&buf, nil).Info("four")
		for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			want := tc.want
			if i == 3 {
				want = "studio"
			}
			if strings.Count(line, `"service.name":`) != 1 || !strings.Contains(line, `"service.name":"`+want+`"`) {
				t.Errorf("line %d lacks service.name %q: %s", i, want, line)
			}
		}
	}
}
