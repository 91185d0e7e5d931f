package filewatch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWatch: a rewrite, a rename over the file and a removal are each
// noticed once; an untouched file never calls load; Reload always does.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p, "one")
	loads := 0
	var failNext error
	w := New(func() error { loads++; err := failNext; failNext = nil; return err }, p)
	check := func(want bool) {
		t.Helper()
		if got, _ := w.Check(); got != want {
			t.Fatalf("Check = %v, want %v (loads %d)", got, want, loads)
		}
	}
	check(false)
	write(p, "one plus")
	check(true)
	check(false)
	tmp := filepath.Join(dir, "tokens.new")
	write(tmp, "two!!!!!") // same size as before: the inode tells
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	check(true)
	failNext = errors.New("bad")
	write(p, "three, bad")
	if changed, err := w.Check(); !changed || err == nil {
		t.Fatalf("Check of a bad change = %v, %v", changed, err)
	}
	check(false) // a bad file is not retried until it changes
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	check(true)
	if err := w.Reload(); err != nil || loads != 5 {
		t.Fatalf("Reload: %v, %d loads, want 5", err, loads)
	}
}
