package notify

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "2", "3601", "-1", "1.5", "99999999999999999999", now.Format(http.TimeFormat),
		now.Add(time.Minute).Format(time.RFC850), now.Format(time.ANSIC), "Wed, 21 Oct 2015 07:28:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if !ok && d != 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, false", v, d)
		}
		if d < 0 || d > MaxRetryAfter {
			t.Errorf("ParseRetryAfter(%q) = %v, out of [0, %v]", v, d, MaxRetryAfter)
		}
	})
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "a\x00b\r\nc", "\xff\xfe", "日本語テキスト", "\u202e\u200b x"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 2000
		got := Sanitize(s, n)
		if !utf8.ValidString(got) {
			t.Errorf("Sanitize(%q) = %q: invalid UTF-8", s, got)
		}
		if len(got) > max(n, 0) {
			t.Errorf("Sanitize(%q, %d) = %q: %d bytes", s, n, got, len(got))
		}
		if strings.IndexFunc(got, unicode.IsControl) >= 0 || strings.Contains(got, "  ") {
			t.Errorf("Sanitize(%q) = %q: control characters or double spaces", s, got)
		}
	})
}

// FuzzErrorHasNoSecret checks that whatever a receiver answers, the error
// text holds none of the secrets.
func FuzzErrorHasNoSecret(f *testing.F) {
	f.Add("invalid_payload")
	f.Add("echo " + secretToken + " and " + secretAuth + " and " + secretKey)
	f.Add("Bearer\t\ts3cr3t-bearer-token")
	f.Add(strings.Repeat("x", 505) + secretKey)
	u, _ := url.Parse("https://hooks.example.com/services/T000/B000/" + secretToken + "?k=querysecret123")
	s := NewSender(Config{URL: u, Header: http.Header{"Authorization": {secretAuth}}, Secrets: []string{secretKey}})
	f.Fuzz(func(t *testing.T, body string) {
		_, err := s.Check(&Response{StatusCode: 400, Header: http.Header{}, Body: []byte(body)}, nil)
		for _, secret := range []string{secretToken, secretAuth, "s3cr3t-bearer-token", secretKey, "querysecret123"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("body %q: err %q contains %q", body, err, secret)
			}
		}
	})
}
