package server

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The answer of GET /v1/session, the hottest route, is encoded by hand:
// encoding/json's reflection, its map sorting and time.Time's
// MarshalJSON cost three times the validation itself. The bytes are
// exactly what json.NewEncoder(w).Encode of the sessionView wrapper
// writes (HTML characters escaped, map keys sorted, a final newline);
// TestSessionJSONMatchesEncodingJSON and FuzzSessionJSON hold it to that.

var sessionBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeSession writes {"session":…} with status 200, as writeJSON would.
func writeSession(w http.ResponseWriter, v *sessionView) {
	bp := sessionBufs.Get().(*[]byte)
	b := appendSessionJSON((*bp)[:0], v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 { // do not keep a huge buffer around
		*bp = b
		sessionBufs.Put(bp)
	}
}

// appendSessionJSON appends the JSON of {"session": v} and a newline.
func appendSessionJSON(b []byte, v *sessionView) []byte {
	b = append(b, `{"session":{"id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, v.UserID)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, v.CreatedAt)
	b = append(b, `,"last_seen_at":`...)
	b = appendJSONTime(b, v.LastSeenAt)
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, v.ExpiresAt)
	if v.IdleTimeout != 0 {
		b = append(b, `,"idle_timeout":`...)
		b = strconv.AppendInt(b, v.IdleTimeout, 10)
	}
	if len(v.Metadata) > 0 {
		b = append(b, `,"metadata":{`...)
		var stack [16]string
		keys := stack[:0]
		for k := range v.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v.Metadata[k])
		}
		b = append(b, '}')
	}
	return append(b, "}}\n"...)
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted). Session times are always within years 0–9999,
// the range MarshalJSON accepts.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it with HTML escaping on: ", \ and control characters escaped
// (\b \f \n \r \t short, the rest as \u00XX), <, > and & as \u003c,
// \u003e and \u0026, U+2028 and U+2029 as \u2028 and \u2029, and each
// byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
