package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

// encodingJSON is what writeJSON (encoding/json) writes for v.
func encodingJSON(t testing.TB, v *sessionView) []byte {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(struct {
		Session sessionView `json:"session"`
	}{*v}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSessionJSONMatchesEncodingJSON: the hand-written encoding is byte for
// byte what encoding/json writes, for awkward strings, times and
// metadata.
func TestSessionJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 18, 0, 0, 123456789, time.UTC)
	strs := []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f", "ünïcödé ✓ 𝄞",
		"line sep \u2028 para sep \u2029", "bad utf-8 \xff\xfe end", "\xc3", "trailing \xe2\x80",
	}
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("odd", -(5*3600 + 30*60))}
	for i, s := range strs {
		v := &sessionView{
			ID: s, UserID: strs[(i+1)%len(strs)],
			CreatedAt: at.In(zones[i%len(zones)]), LastSeenAt: at.Add(time.Duration(i) * time.Second).Truncate(time.Second),
			ExpiresAt: at.Add(time.Hour), IdleTimeout: int64(i * 60),
		}
		if i%2 == 0 {
			v.Metadata = map[string]string{s: strs[(i+2)%len(strs)], "ip": "192.0.2.1", "a": s, "Z": ""}
		}
		got := appendSessionJSON(nil, v)
		if want := encodingJSON(t, v); !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestWriteSession: the route's headers and body.
func TestWriteSession(t *testing.T) {
	v := &sessionView{ID: "s1", UserID: "u<1>", CreatedAt: time.Unix(1, 0).UTC(), Metadata: map[string]string{"k": "v"}}
	rec := httptest.NewRecorder()
	writeSession(rec, v)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	if want := encodingJSON(t, v); !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("body %s, want %s", rec.Body.Bytes(), want)
	}
}

// FuzzSessionJSON: for any strings and times, the hand-written encoding
// equals encoding/json's.
func FuzzSessionJSON(f *testing.F) {
	f.Add("id", "user", "key", "value", int64(0), int64(0), int64(60))
	f.Add("<&>", "\u2028", "\xff", "\x00", int64(1764352800123456789), int64(-3600), int64(0))
	f.Fuzz(func(t *testing.T, id, user, k, val string, nanos, offset, idle int64) {
		// Years 0–9999 only: time.Time's MarshalJSON refuses the rest, and
		// sessions never have them.
		at := time.Unix(0, nanos).In(time.FixedZone("z", int(offset%86400)))
		if y := at.Year(); y < 0 || y > 9999 {
			t.Skip()
		}
		v := &sessionView{ID: id, UserID: user, CreatedAt: at, LastSeenAt: at, ExpiresAt: at, IdleTimeout: idle}
		if k != "" || val != "" {
			v.Metadata = map[string]string{k: val, val: k}
		}
		if got, want := appendSessionJSON(nil, v), encodingJSON(t, v); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkSessionJSON: the hand-written encoding beside encoding/json.
func BenchmarkSessionJSON(b *testing.B) {
	at := time.Date(2026, 11, 28, 18, 0, 0, 123456789, time.UTC)
	v := &sessionView{ID: "3f9a0c2e8d7b6a5f4e3d2c1b0a998877", UserID: "user-1234", CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour),
		IdleTimeout: 1800, Metadata: map[string]string{"ip": "192.0.2.1", "ua": "Mozilla/5.0"}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = appendSessionJSON(buf[:0], v)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = encodingJSON(b, v)
		}
	})
}
