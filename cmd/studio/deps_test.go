package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestTooling: the studio binary links neither the
// testing package nor the module's test helpers (internal/redistest,
// internal/pgtest, internal/receivertest, session/storetest); `studio up`
// starts its Redis through internal/redisproc. Nor does it link
// net/http/pprof, whose init serves profiles on http.DefaultServeMux with
// no authentication (Studio's own, admin-only, are in internal/server).
func TestBinaryLinksNoTestTooling(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs `go list`: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	for _, p := range deps {
		module, inModule := strings.CutPrefix(p, "github.com/studiohq/studio/")
		if p == "testing" || strings.HasPrefix(p, "testing/") || p == "net/http/pprof" || (inModule && strings.HasSuffix(path.Base(module), "test")) {
			t.Errorf("cmd/studio depends on %s", p)
		}
	}
}
