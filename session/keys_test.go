package session_test

import (
	"testing"

	"github.com/studiohq/studio/session"
)

// TestSessionKey: SessionKey is the key a Service with that KeyPrefix
// reads and writes, the default prefix for "".
func TestSessionKey(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.create(e.service(), session.CreateParams{})
	h := mustHash(t, tok)
	if got := session.SessionKey("", h); got != "studio:s:"+h.Hex() {
		t.Fatalf("SessionKey(\"\") = %q", got)
	}
	if v, _ := e.redisValue(tok); v == "" {
		t.Fatal("no copy under the default key")
	}
	other := e.service(func(o *session.Options) { o.KeyPrefix = "app1:" })
	if got, want := session.SessionKey("app1:", h), other.Key(h); got != want || got != "app1:s:"+h.Hex() {
		t.Fatalf("SessionKey(\"app1:\") = %q, Service.Key = %q", got, want)
	}
}
