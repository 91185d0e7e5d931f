package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a secret in log output.
const Redacted = "[REDACTED]"

// redactedPassword replaces the password of a URL, as net/url's
// URL.Redacted does.
const redactedPassword = "xxxxx"

// Redact returns s with every secret it recognises replaced:
//
//   - a Studio session token, "stu_" followed by 20 or more base64url
//     characters, becomes "stu_[REDACTED]";
//   - the credential after "Bearer " (any case; the run of characters up to
//     the next space or quote) becomes "[REDACTED]", except the word
//     "token" in prose such as "a Bearer token is required";
//   - the password of a URL, scheme://user:password@host (postgres://,
//     redis://, rediss://, https://, any scheme), becomes "xxxxx";
//   - the path of a Slack webhook after its first segment,
//     hooks.slack.com/services/[REDACTED].
//
// Text holding none of "stu_", "bearer" (any case), "://" and "slack.com"
// is returned as it is after a few byte scans, without allocating. Redact is idempotent.
func Redact(s string) string {
	s, _ = redact(s)
	return s
}

// sensitiveKeys are the attribute keys whose whole value is a secret.
// SensitiveKey matches them as case-insensitive suffixes, grouped here by
// their last byte for a quick first test.
var sensitiveKeys = [256][]string{
	'n': {"authorization", "token"}, // also admin_token, access_token, …
	'd': {"password", "passwd"},
	't': {"secret"},                 // also client_secret
	'y': {"routing_key", "api_key"}, // PagerDuty routing keys
	'l': {"webhook_url"},            // Slack and other webhooks
	'e': {"cookie"},                 // also set-cookie
	'N': {"authorization", "token"},
	'D': {"password", "passwd"},
	'T': {"secret"},
	'Y': {"routing_key", "api_key"},
	'L': {"webhook_url"},
	'E': {"cookie"},
}

// SensitiveKey reports whether an attribute named key holds a secret as a
// whole: its key ends (in any case) with authorization, password, passwd,
// secret, token, routing_key, api_key, webhook_url or cookie. That covers
// admin_token, set-cookie, redis_password, pagerduty_routing_key,
// slack_webhook_url, Proxy-Authorization and the like.
func SensitiveKey(key string) bool {
	if key == "" {
		return false
	}
	for _, s := range sensitiveKeys[key[len(key)-1]] {
		if len(key) >= len(s) && strings.EqualFold(key[len(key)-len(s):], s) {
			return true
		}
	}
	return false
}

// mayHoldSecret is the fast path: false means redact leaves s unchanged.
// It looks for "stu_", "://", "bearer" in any case and "slack.com": in a
// short string with one pass over its bytes, in a longer one from a rarer
// byte of each with IndexByte.
func mayHoldSecret(s string) bool {
	if len(s) < 6 { // shorter than "://:p@", the shortest text redact changes
		return false
	}
	if len(s) <= 48 {
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '_':
				if i >= 3 && s[i-3:i] == "stu" {
					return true
				}
			case ':':
				if strings.HasPrefix(s[i:], "://") {
					return true
				}
			case 'b', 'B':
				if len(s)-i >= 6 && strings.EqualFold(s[i:i+6], "bearer") {
					return true
				}
			case 'k':
				if i >= 4 && strings.HasPrefix(s[i-4:], "slack.com") {
					return true
				}
			}
		}
		return false
	}
	return hasAnchored(s, '_', "stu_", 3, false) ||
		hasAnchored(s, ':', "://", 0, false) ||
		hasAnchored(s, 'b', "bearer", 0, true) ||
		hasAnchored(s, 'B', "bearer", 0, true) ||
		hasAnchored(s, 'k', "slack.com", 4, false)
}

// hasAnchored reports whether s contains pat (in any case, when fold is
// set), whose byte at off is anchor, by looking for anchor with IndexByte.
func hasAnchored(s string, anchor byte, pat string, off int, fold bool) bool {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], anchor)
		if j < 0 {
			return false
		}
		start := i + j - off
		if start >= 0 && len(s)-start >= len(pat) {
			if t := s[start : start+len(pat)]; t == pat || fold && strings.EqualFold(t, pat) {
				return true
			}
		}
		i += j + 1
	}
	return false
}

// redact returns s redacted and whether anything changed.
func redact(s string) (string, bool) {
	if !mayHoldSecret(s) {
		return s, false
	}
	out := redactAll(s)
	return out, out != s
}

// redactAll applies every rule, without the fast path.
func redactAll(s string) string {
	s = redactURLPasswords(s)
	s = redactSlack(s)
	s = redactBearer(s)
	// Tokens last: no other rule's replacement can make one, and this
	// catches a token anywhere the others left text.
	return redactTokens(s)
}

func isB64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// endOfRun ends a credential or URL run: white space, quotes and angle
// brackets, which delimit values in prose, JSON and markup.
func endOfRun(c byte) bool {
	return isSpace(c) || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>'
}

// runEnd returns the index at which the run starting at i ends.
func runEnd(s string, i int) int {
	for i < len(s) && !endOfRun(s[i]) {
		i++
	}
	return i
}

// redactTokens replaces the body of every "stu_" followed by 20 or more
// base64url characters.
func redactTokens(s string) string {
	const prefix = "stu_"
	const minBody = 20
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			break
		}
		start := i + j + len(prefix)
		end := start
		for end < len(s) && isB64URL(s[end]) {
			end++
		}
		if end-start < minBody {
			i = start
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactBearer replaces the credential after every "Bearer" (any case)
// followed by white space.
func redactBearer(s string) string {
	const word = "bearer"
	var b strings.Builder
	last := 0
	for i := 0; i+len(word) < len(s); i++ {
		if s[i]|0x20 != 'b' || !strings.EqualFold(s[i:i+len(word)], word) {
			continue
		}
		if i > 0 && isLetter(s[i-1]) {
			continue
		}
		k := i + len(word)
		if k >= len(s) || (s[k] != ' ' && s[k] != '\t') {
			continue
		}
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		end := runEnd(s, k)
		cred := s[k:end]
		if cred == "" || cred == Redacted || strings.EqualFold(cred, "token") || strings.EqualFold(cred, "tokens") {
			i = end - 1
			continue
		}
		b.WriteString(s[last:k])
		b.WriteString(Redacted)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// redactURLPasswords replaces the password of every scheme://user:pw@host
// with "xxxxx". A password holding an unescaped '/', '?' or '#' makes the
// URL malformed; it is still found, up to the last '@' of the run, when an
// '@' follows in the same run and the text after the colon is not a port
// number.
func redactURLPasswords(s string) string {
	var b strings.Builder
	last := 0
	// The end of the current run and its last '@' (-1: none) are the same
	// for every "://" inside the run: computed once per run, they keep
	// this linear in len(s). Authorities never overlap, as each ends at
	// the '/' of the next "://" at the latest.
	runStop, runAt := -1, -1
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		a := i + j + 3
		i = a
		if a > runStop {
			runStop = runEnd(s, a)
			runAt = strings.LastIndexByte(s[a:runStop], '@')
			if runAt >= 0 {
				runAt += a
			}
		}
		run := s[a:runStop]
		auth := run
		if k := strings.IndexAny(run, "/?#"); k >= 0 {
			auth = run[:k]
		}
		var pwStart, pwEnd int // in run
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			c := strings.IndexByte(auth[:at], ':')
			if c < 0 {
				continue // a user name alone is not a secret
			}
			pwStart, pwEnd = c+1, at
		} else {
			c := strings.IndexByte(auth, ':')
			if runAt < a || c < 0 || len(auth) == len(run) || strings.HasPrefix(auth, "[") || allDigits(auth[c+1:]) {
				continue
			}
			pwStart, pwEnd = c+1, runAt-a
		}
		if pwStart == pwEnd || run[pwStart:pwEnd] == redactedPassword {
			continue
		}
		b.WriteString(s[last : a+pwStart])
		b.WriteString(redactedPassword)
		last = a + pwEnd
		i = a + pwEnd
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactSlack replaces the path of every Slack webhook URL after its first
// segment: hooks.slack.com/services/[REDACTED].
func redactSlack(s string) string {
	const host = "hooks.slack.com/"
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], host)
		if j < 0 {
			break
		}
		p := i + j + len(host)
		e := runEnd(s, p)
		i = e
		slash := strings.IndexByte(s[p:e], '/')
		if slash < 0 {
			continue
		}
		start := p + slash + 1
		if start == e || s[start:e] == Redacted {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = e
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactAttr returns a with its value redacted, and whether it changed.
func redactAttr(a slog.Attr) (slog.Attr, bool) {
	if SensitiveKey(a.Key) {
		if a.Value.Kind() == slog.KindString && a.Value.String() == Redacted {
			return a, false
		}
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			return a, false // an empty group is not logged at all
		}
		return slog.String(a.Key, Redacted), true
	}
	v, changed := redactValue(a.Value)
	if !changed {
		return a, false
	}
	return slog.Attr{Key: a.Key, Value: v}, true
}

// redactValue returns v redacted, and whether it changed.
func redactValue(v slog.Value) (slog.Value, bool) {
	switch v.Kind() {
	case slog.KindString:
		s, changed := redact(v.String())
		if !changed {
			return v, false
		}
		return slog.StringValue(s), true
	case slog.KindLogValuer:
		r, _ := redactValue(v.Resolve())
		return r, true
	case slog.KindGroup:
		attrs := v.Group()
		var out []slog.Attr
		for i, a := range attrs {
			r, changed := redactAttr(a)
			if changed && out == nil {
				out = make([]slog.Attr, len(attrs))
				copy(out, attrs[:i])
			}
			if out != nil {
				out[i] = r
			}
		}
		if out == nil {
			return v, false
		}
		return slog.GroupValue(out...), true
	case slog.KindAny:
		return redactAny(v)
	}
	return v, false
}

// redactAny handles a KindAny value.
func redactAny(v slog.Value) (slog.Value, bool) {
	x := v.Any()
	switch x := x.(type) {
	case nil:
		return v, false
	case error:
		s, _ := redact(safeText(x, x.Error))
		return slog.StringValue(s), true
	case fmt.Stringer:
		s, _ := redact(safeText(x, x.String))
		return slog.StringValue(s), true
	case []byte:
		if s, changed := redact(string(x)); changed && utf8.ValidString(s) {
			return slog.StringValue(s), true
		}
		return v, false
	}
	js, err := marshalJSON(x)
	if err != nil {
		// The wrapped handler cannot log it as JSON either; log its
		// redacted Go syntax instead.
		s, _ := redact(safeText(x, func() string { return fmt.Sprintf("%+v", x) }))
		return slog.StringValue(s), true
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		return slog.StringValue(Redacted), true
	}
	tree, changed := redactJSON(tree)
	if !changed {
		return v, false
	}
	out, err := json.Marshal(tree)
	if err != nil {
		return slog.StringValue(Redacted), true
	}
	return slog.AnyValue(json.RawMessage(out)), true
}

// redactJSON redacts a value decoded from JSON: object members named by a
// SensitiveKey and every string.
func redactJSON(x any) (any, bool) {
	switch x := x.(type) {
	case string:
		return redact(x)
	case map[string]any:
		changed := false
		for k, v := range x {
			if SensitiveKey(k) {
				if v != Redacted {
					x[k] = Redacted
					changed = true
				}
				continue
			}
			if r, ch := redactJSON(v); ch {
				x[k] = r
				changed = true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, v := range x {
			if r, ch := redactJSON(v); ch {
				x[i] = r
				changed = true
			}
		}
		return x, changed
	}
	return x, false
}

// marshalJSON is json.Marshal, with a panicking MarshalJSON method turned
// into an error.
func marshalJSON(x any) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("marshal %T: panic", x)
		}
	}()
	return json.Marshal(x)
}

// safeText calls f, returning "<nil>" for a method called on a nil pointer
// that panics, and a placeholder for any other panic, as slog does.
func safeText(x any, f func() string) (s string) {
	defer func() {
		if p := recover(); p != nil {
			if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
				s = "<nil>"
				return
			}
			s = "!PANIC in String or Error method"
		}
	}()
	return f()
}
