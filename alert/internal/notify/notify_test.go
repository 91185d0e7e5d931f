package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/studiohq/studio/alert"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"2", 2 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"3600", time.Hour, true},
		{"3601", MaxRetryAfter, true},
		{"99999999999999999999999", MaxRetryAfter, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"2s", 0, false},
		{"+2", 0, false},
		{"abc", 0, false},
		{"0x10", 0, false},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second, true},
		{now.Add(5 * time.Second).Format(time.ANSIC), 5 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"Mon, 32 Jan 2030 00:00:00 GMT", 0, false},
		{"2030-01-02T03:04:08Z", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 301: false, 400: false, 401: false, 403: false, 404: false, 410: false, 413: false,
		408: true, 429: true, 500: true, 502: true, 503: true, 504: true, 599: true,
	} {
		if got := Retryable(code); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrURLEmpty},
		{" https://example.com/x", ErrURLSpace},
		{"https://example.com/x\n", ErrURLSpace},
		{"example.com/hook", ErrURLInvalid},
		{"/relative/path", ErrURLInvalid},
		{"https://exa mple.com/", ErrURLInvalid},
		{"https://example.com:port/", ErrURLInvalid},
		{"http://[::1/", ErrURLInvalid},
		{"mailto:ops@example.com", ErrURLInvalid},
		{"ftp://example.com/hook", ErrURLScheme},
		{"redis://example.com", ErrURLScheme},
		{"https://", ErrURLHost},
		{"https:///path", ErrURLHost},
		{"https://example.com/hook", nil},
		{"http://127.0.0.1:8080/hook?token=x", nil},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseURL(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:1/": true, "http://127.8.9.1/": true, "http://localhost:80/": true,
		"http://LOCALHOST/": true, "http://[::1]:9/": true, "http://10.0.0.1/": false,
		"http://example.com/": false, "http://localhost.example.com/": false,
	} {
		u, _ := url.Parse(in)
		if got := IsLoopback(u); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 8, "hello…"},
		{"héllo", 4, "h…"}, // é is 2 bytes; … is 3
		{"日本語テキスト", 9, "日本…"},
		{"日本語", 2, ""},
		{"abc", 0, ""},
		{"ab\xffcd", 10, "ab\uFFFDcd"},
		{"\xff\xff\xff\xff", 7, "\uFFFD"}, // a run of bad bytes is one U+FFFD
		{"\xffa\xffb\xffc", 7, "\uFFFDa…"},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if len(got) > max(tt.max, 0) || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q: too long or invalid", tt.in, tt.max, got)
		}
	}
}

func TestSanitize(t *testing.T) {
	got := Sanitize("  line1\r\n\tline2\x00\u202eevil  ", 100)
	if want := "line1 line2 evil"; got != want {
		t.Errorf("Sanitize = %q, want %q", got, want)
	}
}

// server answers every request with the handler's status, headers and
// body.
func server(t *testing.T, h http.HandlerFunc) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/services/T000/B000/" + secretToken)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const (
	secretToken = "XXXXsecretWebhookTokenXXXX"
	secretKey   = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"
	secretAuth  = "Bearer s3cr3t-bearer-token"
)

func reply(status int, hdr map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestSendClassification(t *testing.T) {
	date := now.Add(7 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name       string
		h          http.HandlerFunc
		timeout    time.Duration
		wantRetry  bool
		wantErr    string // substring; "" means no error
		wantAfter  time.Duration
		wantStatus int
	}{
		{name: "200", h: reply(200, nil, "ok")},
		{name: "202", h: reply(202, nil, `{"status":"success"}`)},
		{name: "204", h: reply(204, nil, "")},
		{name: "400", h: reply(400, nil, "invalid_payload"), wantErr: "HTTP 400 Bad Request: invalid_payload", wantStatus: 400},
		{name: "403", h: reply(403, nil, "invalid_token"), wantErr: "HTTP 403 Forbidden: invalid_token", wantStatus: 403},
		{name: "404", h: reply(404, nil, "no_service"), wantErr: "HTTP 404 Not Found: no_service", wantStatus: 404},
		{name: "410", h: reply(410, nil, "channel_is_archived"), wantErr: "HTTP 410 Gone: channel_is_archived", wantStatus: 410},
		{name: "301 not followed", h: reply(301, map[string]string{"Location": "https://example.com/"}, ""), wantErr: "HTTP 301 Moved Permanently", wantStatus: 301},
		{name: "408", h: reply(408, nil, ""), wantRetry: true, wantErr: "HTTP 408", wantStatus: 408},
		{name: "500", h: reply(500, nil, "boom"), wantRetry: true, wantErr: "HTTP 500 Internal Server Error: boom", wantStatus: 500},
		{name: "502", h: reply(502, nil, "<html>bad gateway</html>"), wantRetry: true, wantErr: "HTTP 502 Bad Gateway: <html>bad gateway</html>", wantStatus: 502},
		{name: "503 Retry-After", h: reply(503, map[string]string{"Retry-After": "30"}, ""), wantRetry: true, wantErr: "HTTP 503", wantAfter: 30 * time.Second, wantStatus: 503},
		{name: "429 no Retry-After", h: reply(429, nil, "rate_limited"), wantRetry: true, wantErr: "HTTP 429 Too Many Requests: rate_limited", wantStatus: 429},
		{name: "429 Retry-After seconds", h: reply(429, map[string]string{"Retry-After": "2"}, ""), wantRetry: true, wantErr: "HTTP 429 Too Many Requests (retry after 2s)", wantAfter: 2 * time.Second, wantStatus: 429},
		{name: "429 Retry-After date", h: reply(429, map[string]string{"Retry-After": date}, ""), wantRetry: true, wantErr: "HTTP 429", wantAfter: 7 * time.Second, wantStatus: 429},
		{name: "429 Retry-After garbage", h: reply(429, map[string]string{"Retry-After": "soon"}, ""), wantRetry: true, wantErr: "HTTP 429", wantStatus: 429},
		{name: "429 Retry-After 0", h: reply(429, map[string]string{"Retry-After": "0"}, ""), wantRetry: true, wantErr: "HTTP 429", wantStatus: 429},
		{
			name: "timeout", timeout: 50 * time.Millisecond, wantRetry: true, wantErr: "send: ",
			h: func(w http.ResponseWriter, r *http.Request) {
				// Read the body: only then does net/http watch the
				// connection and cancel r.Context() when the client goes.
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := server(t, tt.h)
			c := NewHTTPClient()
			if tt.timeout > 0 {
				c.Timeout = tt.timeout
			}
			s := NewSender(Config{URL: u, Client: c, Now: func() time.Time { return now }})
			retry, err := s.Send(context.Background(), []byte(`{}`), nil)
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v", retry, tt.wantRetry)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			after, ok := alert.RetryAfter(err)
			if after != tt.wantAfter || ok != (tt.wantAfter > 0) {
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tt.wantAfter)
			}
			if se, ok := errors.AsType[*StatusError](err); ok != (tt.wantStatus != 0) || ok && se.StatusCode != tt.wantStatus {
				t.Errorf("StatusError = %v, %v; want status %d", se, ok, tt.wantStatus)
			}
			if err != nil && strings.Contains(err.Error(), u.Path) {
				t.Errorf("err %q contains the URL path", err)
			}
		})
	}
}

func TestSendTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL + "/services/T000/B000/" + secretToken)
	srv.Close() // nothing listens there now

	s := NewSender(Config{URL: u})
	retry, err := s.Send(context.Background(), []byte(`{}`), nil)
	if !retry || err == nil {
		t.Fatalf("Send to a closed port = %v, %v; want retry and an error", retry, err)
	}
	if strings.Contains(err.Error(), u.String()) || strings.Contains(err.Error(), secretToken) {
		t.Errorf("err %q contains the URL", err)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		t.Errorf("err wraps a *url.Error (%v), which embeds the URL", ue)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err = s.Send(ctx, []byte(`{}`), nil)
	if !retry || !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v, %v; want retry and context.Canceled", retry, err)
	}
	if strings.Contains(err.Error(), secretToken) {
		t.Errorf("err %q contains the URL", err)
	}
}

// TestSecretsNeverInErrors has a receiver echo everything it got (URL,
// headers, body) in its error responses: none of it may reach the error.
func TestSecretsNeverInErrors(t *testing.T) {
	for _, status := range []int{400, 403, 404, 429, 500, 502} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			u := server(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				w.WriteHeader(status)
				fmt.Fprintf(w, "you sent\n%s to\thttp://%s%s?%s with %q and\n%s", b, r.Host, r.URL.Path, r.URL.RawQuery,
					r.Header.Get("Authorization"), strings.ReplaceAll(r.Header.Get("Authorization"), " ", "\n\n "))
			})
			u.RawQuery = "token=querysecret123"
			u.User = url.UserPassword("user", "passw0rdSecret")
			s := NewSender(Config{
				URL:     u,
				Header:  http.Header{"Authorization": {secretAuth}},
				Secrets: []string{secretKey},
			})
			_, err := s.Send(context.Background(), []byte(`{"routing_key":"`+secretKey+`"}`), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, secret := range []string{u.String(), u.Path, secretToken, "querysecret123", "passw0rdSecret", secretAuth, "s3cr3t-bearer-token", secretKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err %q contains secret %q", err, secret)
				}
			}
			if !strings.Contains(err.Error(), "<redacted>") {
				t.Errorf("err %q: want the echoed secrets shown as <redacted>", err)
			}
		})
	}
}

func TestSendHeaders(t *testing.T) {
	var got http.Header
	u := server(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	})
	s := NewSender(Config{URL: u, Header: http.Header{"Authorization": {secretAuth}}})
	if _, err := s.Send(context.Background(), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if got.Get("Content-Type") != "application/json" || got.Get("Authorization") != secretAuth || got.Get("User-Agent") != UserAgent {
		t.Errorf("headers = %v", got)
	}
}

func TestDetailIsBounded(t *testing.T) {
	u := server(t, reply(400, nil, strings.Repeat("x", 100000)))
	s := NewSender(Config{URL: u})
	_, err := s.Send(context.Background(), []byte(`{}`), func(b []byte) string { return string(b) })
	if err == nil || len(err.Error()) > MaxDetail+64 {
		t.Errorf("err = %d bytes, want at most about %d", len(err.Error()), MaxDetail)
	}
}

func TestNewSenderNilURLPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewSender(Config{})
}
