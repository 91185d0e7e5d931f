package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/internal/syncbuf"
)

// forgedSessionToken is what anyone can make without the store's key: a
// well-formed session token (prefix, length, alphabet, CRC-32C: all
// public) around 32 random bytes.
func forgedSessionToken(t *testing.T) string {
	t.Helper()
	var body [32]byte
	if _, err := rand.Read(body[:]); err != nil {
		t.Fatal(err)
	}
	b := base64.RawURLEncoding.AppendEncode([]byte("stu_"), body[:])
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return string(base64.RawURLEncoding.AppendEncode(b, binary.BigEndian.AppendUint32(nil, sum)))
}

// TestForgedTokensOverHTTP: 5 000 forged tokens sent to GET /v1/session
// (and 500 of them to DELETE /v1/session) of Studio as serve wires it are
// all refused with 401 reason unknown, while the store runs no lookup or
// revoke (studio_store_query_duration_seconds) and Redis gets no new
// session key (studio:s:*); /metrics counts them, and no log line names
// one.
func TestForgedTokensOverHTTP(t *testing.T) {
	rs := redistest.Start(t)
	logs := &syncbuf.Buffer{}
	a := openTestApp(t, rs, map[string]string{"STUDIO_WARM_ON_START": "false", "STUDIO_ACCESS_LOG": "all"}, logs, nil)
	ts := httptest.NewServer(a.handler)
	defer ts.Close()
	rdb := rs.Client(t)
	ctx := context.Background()

	storeOps := func() (lookups, revokes float64) {
		fams := families(t, get(t, ts.URL, "/metrics"))
		lookups, _ = series(fams, "studio_store_query_duration_seconds", "operation=lookup")
		revokes, _ = series(fams, "studio_store_query_duration_seconds", "operation=revoke")
		return lookups, revokes
	}
	// Session keys only: the rest of serve (hot-key publisher, alert
	// engine) writes keys of its own meanwhile.
	sessionKeys := func() int {
		keys, err := rdb.Keys(ctx, "studio:s:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	lookups0, revokes0 := storeOps()
	keys0 := sessionKeys()

	const n = 5000
	var sent []string
	for i := range n {
		tok := forgedSessionToken(t)
		if i < 20 {
			sent = append(sent, tok)
		}
		methods := []string{"GET"}
		if i%10 == 0 {
			methods = append(methods, "DELETE")
		}
		for _, m := range methods {
			if code, reason := sessionCall(t, ts, m, tok); code != http.StatusUnauthorized || reason != "unknown" {
				t.Fatalf("%s /v1/session with a forged token: %d reason %q, want 401 unknown", m, code, reason)
			}
		}
	}
	lookups, revokes := storeOps()
	keys := sessionKeys()
	t.Logf("%d forged tokens over HTTP: %v store lookups, %v store revokes, %d new session keys in Redis",
		n, lookups-lookups0, revokes-revokes0, keys-keys0)
	if lookups != lookups0 || revokes != revokes0 || keys != keys0 {
		t.Fatalf("forged tokens cost %v store lookups, %v store revokes and %d new session keys in Redis; want none",
			lookups-lookups0, revokes-revokes0, keys-keys0)
	}
	fams := families(t, get(t, ts.URL, "/metrics"))
	if v, _ := series(fams, "studio_session_forged_tokens_total"); v != n+n/10 {
		t.Errorf("studio_session_forged_tokens_total = %v, want %d", v, n+n/10)
	}
	for _, tok := range sent {
		if strings.Contains(logs.String(), tok[len("stu_"):]) {
			t.Fatal("a forged token reached the log")
		}
	}
}

// sessionCall sends method /v1/session with tok as the bearer and returns
// the status and the error's reason.
func sessionCall(t *testing.T, ts *httptest.Server, method, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+"/v1/session", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body.Error.Reason
}
