package sleep

import (
	"context"
	"testing"
	"time"
)

func TestCtx(t *testing.T) {
	start := time.Now()
	if !Ctx(t.Context(), 20*time.Millisecond) {
		t.Fatal("Ctx with a live context returned false")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("returned after %v, want at least 20ms", d)
	}
	if !Ctx(t.Context(), 0) || !Ctx(t.Context(), -time.Second) {
		t.Fatal("no wait with a live context: want true")
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	if Ctx(ctx, time.Minute) {
		t.Fatal("Ctx returned true although its context ended first")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("returned %v after the context ended", d)
	}
	if Ctx(ctx, 0) || Ctx(ctx, time.Hour) {
		t.Fatal("Ctx with an ended context returned true")
	}
}
