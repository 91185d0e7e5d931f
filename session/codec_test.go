package session

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, s := range []Session{
		{ID: "a", UserID: "u", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: strings.Repeat("i", 300), UserID: "ü", CreatedAt: now, LastSeenAt: now.Add(time.Minute), ExpiresAt: now.Add(24 * time.Hour),
			IdleTimeout: 5 * time.Minute, Metadata: map[string]string{"ip": "10.0.0.1", "": "", "k": strings.Repeat("v", 1024)}},
		{ID: "old", UserID: "u", CreatedAt: time.UnixMilli(-5).UTC(), LastSeenAt: time.UnixMilli(0).UTC(), ExpiresAt: time.UnixMilli(1).UTC()},
	} {
		b, err := encodeSession(&s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCached(string(b))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestDecodeCachedRefusesCorruptValues(t *testing.T) {
	now := time.Now()
	good, _ := encodeSession(&Session{ID: "a", UserID: "u", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), Metadata: map[string]string{"k": "v"}})
	for name, v := range map[string]string{
		"empty":          "",
		"json":           `{"i":"a"}`,
		"unknown layout": "\x02abc",
		"truncated":      string(good[:len(good)-1]),
		"trailing":       string(good) + "x",
		"huge length":    "\x01\xff\xff\xff\xff\x0f",
		"endless varint": "\x01" + strings.Repeat("\xff", 20),
		"no id":          "\x01\x00\x00\x00\x00\x02\x00\x00",
	} {
		if _, err := decodeCached(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeCached(f *testing.F) {
	now := time.Now()
	good, _ := encodeSession(&Session{ID: "a", UserID: "u", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), Metadata: map[string]string{"k": "v"}})
	f.Add(string(good))
	f.Add("R")
	f.Add("\x01")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := decodeCached(v)
		if err != nil {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		b, _ := encodeSession(&s)
		again, err := decodeCached(string(b))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip of a decoded value: %v", err)
		}
	})
}
