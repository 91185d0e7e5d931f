package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRotatesAtTheLimitKeepingOneOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "studio.log")
	lf, err := Open(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				fmt.Fprintf(lf, "{\"g\":%d,\"i\":%03d,\"pad\":\"%s\"}\n", g, i, strings.Repeat("x", 40))
			}
		})
	}
	wg.Wait()
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"current": cur, "old": old} {
		if len(b) > 1000 || len(b) == 0 {
			t.Errorf("%s file holds %d bytes, want 1-1000", name, len(b))
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if !bytes.HasPrefix(line, []byte(`{"g":`)) || !bytes.HasSuffix(line, []byte(`"}`)) {
				t.Fatalf("%s file has a split line %q", name, line)
			}
		}
	}
	if _, err := os.Stat(path + ".2"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("more than one old file: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := lf.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

// TestAppendsAcrossRuns: a reopened file is appended to, and rotated once
// it reaches the limit, as a later run of studio up finds it.
func TestAppendsAcrossRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "studio.log")
	for run := range 3 {
		lf, err := Open(path, 100)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(lf, "run %d %s\n", run, strings.Repeat("y", 30))
		lf.Close()
	}
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if !strings.Contains(string(old), "run 0") || !strings.Contains(string(old), "run 1") || string(cur) != "run 2 "+strings.Repeat("y", 30)+"\n" {
		t.Fatalf("old %q, current %q", old, cur)
	}
}

func TestBadLimit(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "x.log"), 0); err == nil {
		t.Fatal("a zero limit was accepted")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "x.log"), 10); err == nil || !strings.HasPrefix(err.Error(), "logfile: open: ") {
		t.Fatalf("open in a missing directory: %v", err)
	}
}
