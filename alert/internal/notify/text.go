package notify

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Ellipsis marks text cut by Truncate.
const Ellipsis = "…"

// Truncate returns s as valid UTF-8 (invalid bytes become U+FFFD) cut to at
// most max bytes on a rune boundary, ending in Ellipsis when it was cut.
// Counting bytes keeps it within a limit counted in characters, runes or
// UTF-16 code units alike. max <= 0 gives "".
func Truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	if max < len(Ellipsis) {
		return cutRunes(s, max)
	}
	return cutRunes(s, max-len(Ellipsis)) + Ellipsis
}

// cutRunes returns the longest prefix of valid UTF-8 s that is at most n
// bytes and ends on a rune boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Sanitize makes outside text (a response body, an error message) fit for a
// one-line error: valid UTF-8, control and format characters and runs of
// white space turned into single spaces, trimmed, and truncated to max
// bytes.
func Sanitize(s string, max int) string {
	return Truncate(Clean(s), max)
}

// Clean is Sanitize without the truncation.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// MaxRetryAfter caps the wait ParseRetryAfter returns.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either delay-seconds (a non-negative decimal integer) or an HTTP-date,
// which is turned into a wait from now. A date in the past gives 0. Waits
// are capped at MaxRetryAfter. ok is false for an empty or malformed value.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			// Too large for a uint64 is still a valid, very long wait.
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, MaxRetryAfter), true
}

// Errors from ParseURL, for a Config's URL setting.
var (
	ErrURLEmpty   = errors.New("must not be empty")
	ErrURLSpace   = errors.New("must not have leading or trailing white space")
	ErrURLInvalid = errors.New("is not a valid absolute URL")
	ErrURLScheme  = errors.New("must use http or https")
	ErrURLHost    = errors.New("has no host")
)

// ParseURL parses a receiver URL: absolute, http or https, with a host. Its
// errors never contain the URL (which may hold a token): they are one of
// the ErrURL* values.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, ErrURLEmpty
	}
	if strings.TrimSpace(raw) != raw {
		return nil, ErrURLSpace
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, ErrURLInvalid
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, ErrURLScheme
	}
	if u.Hostname() == "" {
		return nil, ErrURLHost
	}
	return u, nil
}

// IsLoopback reports whether u's host is localhost or a loopback IP
// address.
func IsLoopback(u *url.URL) bool {
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// IsLink reports whether s is an absolute http(s) URL with a host, fit to
// be shown as a link (a runbook, a dashboard).
func IsLink(s string) bool {
	u, err := ParseURL(s)
	return err == nil && u != nil
}
