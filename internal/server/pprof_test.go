package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// getRaw sends GET path with the bearer token (none when empty) and
// returns the status and the body as it is.
func (f *fixture) getRaw(path, bearer string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var pprofPaths = []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1", "/debug/pprof/heap",
	"/debug/pprof/goroutine?debug=2", "/debug/pprof/allocs"}

// TestPprofNeedsAdmin: every profiling route refuses a request without
// the admin token, with a wrong one, and when admin routes are disabled,
// before profiling anything.
func TestPprofNeedsAdmin(t *testing.T) {
	f := newFixture(t, strongAdmin)
	for _, p := range pprofPaths {
		for bearer, want := range map[string]int{"": 401, wrongAdmin: 401} {
			if code, body := f.getRaw(p, bearer); code != want || !bytes.Contains(body, []byte(`"error"`)) {
				t.Errorf("GET %s with bearer %q: %d %.200q, want %d", p, bearer, code, body, want)
			}
		}
	}
	off := newFixture(t, "")
	for _, p := range pprofPaths {
		if code, body := off.getRaw(p, strongAdmin); code != 403 || !bytes.Contains(body, []byte("admin_disabled")) {
			t.Errorf("GET %s, admin routes disabled: %d %.200q, want 403", p, code, body)
		}
	}
}

// TestPprofServesProfiles: with the admin token, the index, the named
// profiles (gzipped protobuf, or text with ?debug=1), a CPU profile and a
// trace of the requested length; no cmdline, and bad parameters are 400.
func TestPprofServesProfiles(t *testing.T) {
	f := newFixture(t, strongAdmin)
	gzipped := func(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b }
	if code, body := f.getRaw("/debug/pprof/", strongAdmin); code != 200 || !bytes.Contains(body, []byte("\nheap\t")) || !bytes.Contains(body, []byte("profile?seconds=N")) {
		t.Fatalf("index: %d %q", code, body)
	}
	for _, name := range []string{"heap", "allocs", "goroutine", "block", "mutex", "threadcreate", "heap?gc=1"} {
		if code, body := f.getRaw("/debug/pprof/"+name, strongAdmin); code != 200 || !gzipped(body) {
			t.Errorf("%s: %d, %d bytes, want 200 and a gzipped profile", name, code, len(body))
		}
	}
	if code, body := f.getRaw("/debug/pprof/heap?debug=1", strongAdmin); code != 200 || !bytes.HasPrefix(body, []byte("heap profile: ")) {
		t.Errorf("heap?debug=1: %d %.100q", code, body)
	}
	if code, body := f.getRaw("/debug/pprof/profile?seconds=1", strongAdmin); code != 200 || !gzipped(body) {
		t.Errorf("CPU profile: %d, %d bytes", code, len(body))
	}
	if code, body := f.getRaw("/debug/pprof/trace?seconds=1", strongAdmin); code != 200 || !bytes.HasPrefix(body, []byte("go 1.")) {
		t.Errorf("trace: %d %.20q", code, body)
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/debug/pprof/cmdline", 404, "no such profile"},
		{"/debug/pprof/symbol", 404, "no such profile"},
		{"/debug/pprof/nope", 404, "no such profile"},
		{"/debug/pprof/profile?seconds=0", 400, "seconds must be a whole number from 1 to 300"},
		{"/debug/pprof/profile?seconds=-1", 400, "seconds must be"},
		{"/debug/pprof/profile?seconds=1.5", 400, "seconds must be"},
		{"/debug/pprof/profile?seconds=301", 400, "seconds must be"},
		{"/debug/pprof/trace?seconds=ten", 400, "seconds must be"},
		{"/debug/pprof/heap?debug=3", 400, "debug must be a whole number from 0 to 2"},
		{"/debug/pprof/heap?debug=x", 400, "debug must be"},
		{"/debug/pprof/heap?gc=2", 400, "gc must be a whole number from 0 to 1"},
	} {
		if code, body := f.getRaw(tc.path, strongAdmin); code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.want)
		}
	}
}
