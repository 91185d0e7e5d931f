package server

import (
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/docs"
)

const redisDownRunbook = "# Redis down\n\n<script>alert(1)</script>\n"

func testRunbooks() fstest.MapFS {
	return fstest.MapFS{
		"redis-down.md":         {Data: []byte(redisDownRunbook)},
		"cache-hit-rate-low.md": {Data: []byte("# Cache hit rate low\n")},
		"Upper-Case.md":         {Data: []byte("not served")},
		"notes.txt":             {Data: []byte("not served")},
		"sub/nested.md":         {Data: []byte("not served")},
	}
}

func TestRunbook(t *testing.T) {
	a := newAPIServer(t, Options{AdminToken: alertsAdmin, Runbooks: testRunbooks()})
	r := a.do("GET", "/docs/runbooks/redis-down.md", "", "")
	if r.status != 200 || r.raw != redisDownRunbook {
		t.Fatalf("runbook: %d %q", r.status, r.raw)
	}
	for h, want := range map[string]string{
		"Content-Type":           "text/markdown; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	// No authentication needed, and a token does no harm.
	if r := a.do("GET", "/docs/runbooks/redis-down.md", "Bearer wrong", ""); r.status != 200 {
		t.Fatalf("with a stray token: %d %s", r.status, r.raw)
	}
	if r := a.do("HEAD", "/docs/runbooks/redis-down.md", "", ""); r.status != 200 || r.raw != "" || r.header.Get("Content-Type") != "text/markdown; charset=utf-8" {
		t.Fatalf("HEAD: %d %q", r.status, r.raw)
	}
	if r := a.do("POST", "/docs/runbooks/redis-down.md", "", ""); r.status != 405 {
		t.Fatalf("POST: %d %s", r.status, r.raw)
	}
}

func TestRunbookNames(t *testing.T) {
	a := newAPIServer(t, Options{Runbooks: testRunbooks()})
	cases := []struct {
		name, path string
		status     int
	}{
		{"good", "/docs/runbooks/redis-down.md", 200},
		{"good with digits", "/docs/runbooks/cache-hit-rate-low.md", 200},
		{"valid name, no such file", "/docs/runbooks/redis-gone.md", 404},
		{"uppercase", "/docs/runbooks/Upper-Case.md", 404},
		{"uppercase extension", "/docs/runbooks/redis-down.MD", 404},
		{"no .md", "/docs/runbooks/redis-down", 404},
		{"other extension", "/docs/runbooks/notes.txt", 404},
		{"double extension", "/docs/runbooks/redis-down.md.bak", 404},
		{"only extension", "/docs/runbooks/.md", 404},
		{"underscore", "/docs/runbooks/redis_down.md", 404},
		{"space", "/docs/runbooks/redis%20down.md", 404},
		{"trailing space", "/docs/runbooks/redis-down.md%20", 404},
		{"nul byte", "/docs/runbooks/redis-down.md%00", 404},
		{"newline", "/docs/runbooks/redis-down.md%0a", 404},
		{"dot dot", "/docs/runbooks/..", 404},
		{"dot", "/docs/runbooks/.", 200}, // cleaned to the listing
		{"encoded dot dot", "/docs/runbooks/%2e%2e", 404},
		{"traversal", "/docs/runbooks/../server.go", 404},
		{"encoded slash traversal", "/docs/runbooks/..%2fserver.go", 404},
		{"encoded slash traversal upper", "/docs/runbooks/..%2F..%2Fgo.mod", 404},
		{"fully encoded traversal", "/docs/runbooks/%2e%2e%2f%2e%2e%2fgo.mod", 404},
		{"backslash traversal", "/docs/runbooks/..%5cserver.go", 404},
		{"encoded slash to nested", "/docs/runbooks/sub%2fnested.md", 404},
		{"nested path", "/docs/runbooks/sub/nested.md", 404},
		{"double slash", "/docs/runbooks//redis-down.md", 200}, // cleaned by the mux
		{"absolute", "/docs/runbooks/%2fetc%2fpasswd", 404},
		{"unicode", "/docs/runbooks/r%C3%A9dis.md", 404},
		{"very long", "/docs/runbooks/" + strings.Repeat("a", 5000) + ".md", 404},
		{"just over the limit", "/docs/runbooks/" + strings.Repeat("a", 126) + ".md", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("GET", tc.path, "", "")
			if r.status != tc.status {
				t.Fatalf("got %d %.200q, want %d", r.status, r.raw, tc.status)
			}
			if tc.status == 404 {
				if r.errCode() != "not_found" {
					t.Fatalf("got %s, want not_found", r.raw)
				}
				if strings.Contains(r.raw, "not served") || strings.Contains(r.raw, "package server") || strings.Contains(r.raw, "module ") {
					t.Fatalf("a file leaked: %.200q", r.raw)
				}
			}
		})
	}
}

func TestRunbookList(t *testing.T) {
	a := newAPIServer(t, Options{Runbooks: testRunbooks()})
	r := a.do("GET", "/docs/runbooks/", "", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	if got := strings.TrimSpace(r.raw); got != `{"runbooks":["cache-hit-rate-low.md","redis-down.md"]}` {
		t.Fatalf("list: %s", got)
	}
	if r := a.do("GET", "/docs/runbooks", "", ""); r.status != 200 || r.body["runbooks"] == nil {
		t.Fatalf("list without the slash: %d %s", r.status, r.raw)
	}

	empty := newAPIServer(t, Options{Runbooks: fstest.MapFS{}})
	if r := empty.do("GET", "/docs/runbooks/", "", ""); r.status != 200 || strings.TrimSpace(r.raw) != `{"runbooks":[]}` {
		t.Fatalf("empty list: %d %s", r.status, r.raw)
	}
}

func TestRunbooksDisabled(t *testing.T) {
	a := newAPIServer(t, Options{})
	for _, p := range []string{"/docs/runbooks/", "/docs/runbooks/redis-down.md"} {
		if r := a.do("GET", p, "", ""); r.status != http.StatusNotFound || r.errCode() != "not_found" {
			t.Fatalf("%s: %d %s, want 404 not_found", p, r.status, r.raw)
		}
	}
}

// TestEmbeddedRunbooks: every runbook the default rules link to is built
// into the binary and served, so an alert's link always works.
func TestEmbeddedRunbooks(t *testing.T) {
	runbooks, err := fs.Sub(docs.Runbooks, "runbooks")
	if err != nil {
		t.Fatal(err)
	}
	a := newAPIServer(t, Options{Runbooks: runbooks})
	r := a.do("GET", "/docs/runbooks/", "", "")
	listed, _ := r.body["runbooks"].([]any)
	if r.status != 200 || len(listed) == 0 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	for _, rule := range alert.DefaultConfig().Rules {
		name, ok := strings.CutPrefix(rule.RunbookURL, "docs/runbooks/")
		if !ok {
			t.Errorf("rule %s: runbook_url %q is not one of Studio's runbooks", rule.Name, rule.RunbookURL)
			continue
		}
		r := a.do("GET", "/docs/runbooks/"+name, "", "")
		if r.status != 200 || r.header.Get("Content-Type") != "text/markdown; charset=utf-8" || !strings.HasPrefix(r.raw, "#") {
			t.Errorf("rule %s: runbook %s: %d %.80q", rule.Name, name, r.status, r.raw)
		}
		if !slices.Contains(listed, any(name)) {
			t.Errorf("rule %s: runbook %s is not listed", rule.Name, name)
		}
	}
}
