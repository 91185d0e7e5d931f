package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func decodeBody(body string, max int64) (createRequest, string, string) {
	r := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(body))
	return decodeCreate(httptest.NewRecorder(), r, max)
}

func TestDecodeCreateDurations(t *testing.T) {
	cases := map[string]time.Duration{
		`{"user_id":"u","ttl":"90m"}`:  90 * time.Minute,
		`{"user_id":"u","ttl":3600}`:   time.Hour,
		`{"user_id":"u","ttl":1.5}`:    1500 * time.Millisecond,
		`{"user_id":"u","ttl":null}`:   0,
		`{"user_id":"u"}`:              0,
		`{"user_id":"u","ttl":"-1h"}`:  -time.Hour, // refused later by the service, with its reason
		`{"user_id":"u","ttl":"1h2m"}`: time.Hour + 2*time.Minute,
	}
	for body, want := range cases {
		req, code, msg := decodeBody(body, 1<<16)
		if code != "" || time.Duration(req.TTL) != want {
			t.Errorf("%s: ttl %v code %q %q, want %v", body, time.Duration(req.TTL), code, msg, want)
		}
	}
}

// TestDecodeCreateBadInput: each bad body, and the error code and message
// it gets; a message names the field at fault.
func TestDecodeCreateBadInput(t *testing.T) {
	const wantDuration = `: want a duration like "24h" or a number of seconds`
	for _, tc := range []struct{ body, code, msg string }{
		{``, "invalid_json", "the body is empty"},
		{`{"user_id":`, "invalid_json", "the body is truncated JSON"},
		{`{"user_id" "u"}`, "invalid_json", "malformed JSON at byte 12"},
		{`["u"]`, "invalid_json", "the body must be a JSON object"},
		{`{"user_id":"u"} {}`, "invalid_json", "the body must hold exactly one JSON object"},
		{`{"user_id":42}`, "invalid_json", `field "user_id" must be a string`},
		{`{"user_id":"u","admin":true}`, "unknown_field", `unknown field "admin"`},
		{`{"ttl":"banana"}`, "invalid_json", "ttl" + wantDuration},
		{`{"user_id":"u","ttl":"forever"}`, "invalid_json", "ttl" + wantDuration},
		{`{"user_id":"u","ttl":true}`, "invalid_json", "ttl" + wantDuration},
		{`{"user_id":"u","ttl":{}}`, "invalid_json", "ttl" + wantDuration},
		{`{"user_id":"u","idle_timeout":"soon"}`, "invalid_json", "idle_timeout" + wantDuration},
		{`{"user_id":"u","ttl":1e300}`, "invalid_json", "ttl: the number of seconds is out of range"},
		{`{"user_id":"u","ttl":1e400}`, "invalid_json", "ttl: the number of seconds is out of range"},
	} {
		_, code, msg := decodeBody(tc.body, 1<<16)
		if code != tc.code || msg != tc.msg {
			t.Errorf("%s: %s %q, want %s %q", tc.body, code, msg, tc.code, tc.msg)
		}
	}
}

// FuzzDecodeCreate: no body panics the decoder; a body it accepts is a
// single JSON object whose fields round-trip, and a refusal always carries
// a code and a message.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u","ttl":"24h","idle_timeout":600,"metadata":{"a":"b"}}`,
		`{}`, ``, `[]`, `null`, `{"user_id":1}`, `{"ttl":1e400}`, `{"user_id":"u"}{}`,
		`{"ttl":"9999999999h"}`, `{"metadata":{"k":null}}`, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, code, msg := decodeBody(body, 4096)
		if code != "" {
			if msg == "" {
				t.Fatalf("code %q without a message", code)
			}
			return
		}
		if len(body) > 4096 {
			t.Fatal("accepted a body over the limit")
		}
		var generic map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &generic); err != nil {
			t.Fatalf("accepted a body that is not one JSON object: %v", err)
		}
		for k := range generic {
			// encoding/json matches field names case-insensitively.
			if !strings.EqualFold(k, "user_id") && !strings.EqualFold(k, "ttl") &&
				!strings.EqualFold(k, "idle_timeout") && !strings.EqualFold(k, "metadata") {
				t.Fatalf("accepted unknown field %q", k)
			}
		}
		if req.TTL != 0 && !strings.Contains(strings.ToLower(body), "ttl") {
			t.Fatal("a ttl appeared from nowhere")
		}
	})
}

// FuzzBearer: any Authorization header yields either a non-empty token
// without surrounding spaces or an error code, never both.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic x", "", "Bearer", "Bearer ", "BEARER\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		tok, code, msg := bearer(r)
		if (code == "") == (tok == "") {
			t.Fatalf("bearer(%q) = token %q, code %q", h, tok, code)
		}
		if code != "" && msg == "" {
			t.Fatal("code without message")
		}
		if tok != strings.TrimSpace(tok) {
			t.Fatalf("token %q has surrounding space", tok)
		}
	})
}
