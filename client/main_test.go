package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/studiotest"
)

const adminToken = "client-test-admin-c7ad4f275a5323e78a3889075f5aa6b791cc089640e373be"

// The Studio the tests share: started on first use (so fuzzing starts
// none), stopped by TestMain.
var (
	studioOnce sync.Once
	studioSrv  *studiotest.Server
	studioErr  error
	studioDir  string
)

// studio returns the shared `studio serve`, started from $STUDIO_BIN when
// set (scripts/test.sh builds it) or built here.
func studio(tb testing.TB) *studiotest.Server {
	tb.Helper()
	studioOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		studioDir, studioErr = os.MkdirTemp("", "studio-client-test-")
		if studioErr != nil {
			return
		}
		bin := os.Getenv("STUDIO_BIN")
		if bin == "" {
			if bin, studioErr = studiotest.Build(ctx, studioDir); studioErr != nil {
				return
			}
		}
		studioSrv, studioErr = studiotest.Start(ctx, studiotest.Config{
			Binary: bin, Dir: filepath.Join(studioDir, "serve"), AdminToken: adminToken,
			Env: map[string]string{"STUDIO_WARM_ON_START": "false"},
		})
	})
	if studioErr != nil {
		tb.Fatalf("start studio serve: %v", studioErr)
	}
	return studioSrv
}

func TestMain(m *testing.M) {
	code := m.Run()
	printBenchRatio()
	if studioSrv != nil {
		studioSrv.Stop()
	}
	if studioDir != "" {
		_ = os.RemoveAll(studioDir)
	}
	os.Exit(code)
}

// closedPort returns a loopback address where nothing listens.
func closedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var runID = fmt.Sprintf("r%d-", time.Now().UnixNano()%1_000_000)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
