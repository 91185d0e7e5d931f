// Package studiotest runs a real `studio serve` process, on a free loopback
// port, against a redis-server it starts and a SQLite file, for the tests
// of Studio's clients and examples.
//
// It does not import testing: Start returns errors and the caller stops
// the Server it gets. Callers pass the binary to run, or let Build make
// one; Studio gets the caller's PATH and the settings Start gives it,
// nothing else of the caller's environment.
package studiotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/studiohq/studio/internal/redistest"
)

// Build compiles ./cmd/studio of the module that holds the working
// directory into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("studiotest: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "studio")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/studio")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("studiotest: go build ./cmd/studio: %w\n%s", err, msg)
	}
	return bin, nil
}

// Config describes the Studio to start. Binary and Dir are required.
type Config struct {
	Binary     string // the studio executable
	Dir        string // state: the SQLite file, Redis's directory, logs
	AdminToken string // STUDIO_ADMIN_TOKEN (≥ 128 bits of entropy: see studio token); empty: admin routes off
	// Env holds further settings, e.g. {"STUDIO_L1_TTL": "1s"}.
	Env map[string]string
	// Redis, when set, is used instead of starting a redis-server.
	Redis *redistest.Server
}

// Server is a running `studio serve` and the redis-server it uses. Its
// methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the API, http://127.0.0.1:port.
	URL string
	// Redis is the redis-server Studio uses.
	Redis *redistest.Server

	ownRedis bool
	cmd      *exec.Cmd
	done     chan struct{}
	log      *lockedBuffer
	stopOnce sync.Once
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// Start launches Studio and returns once /readyz answers 200. On failure
// nothing is left running and the error holds Studio's last log lines.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("studiotest: Config.Binary and Config.Dir are required")
	}
	s := &Server{Redis: cfg.Redis, done: make(chan struct{}), log: &lockedBuffer{}}
	if s.Redis == nil {
		rs, err := redistest.Launch(ctx, redistest.Config{Dir: filepath.Join(cfg.Dir, "redis")})
		if err != nil {
			return nil, err
		}
		s.Redis, s.ownRedis = rs, true
	}
	// Only PATH from the caller: settings in its environment must not leak
	// into the Studio under test.
	env := append([]string{"PATH=" + os.Getenv("PATH")},
		"STUDIO_ADDR=127.0.0.1:0",
		"REDIS_URL="+s.Redis.URL(),
		"DATABASE_URL=sqlite:"+filepath.Join(cfg.Dir, "studio.db"),
		"STUDIO_ADMIN_TOKEN="+cfg.AdminToken,
		"OTEL_TRACES_EXPORTER=none",
	)
	for k, v := range cfg.Env {
		env = append(env, k+"="+v)
	}
	s.cmd = exec.Command(cfg.Binary, "serve")
	s.cmd.Env = env
	s.cmd.Stderr = s.log
	s.cmd.SysProcAttr = procAttr()
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("studiotest: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("studiotest: start %s: %w", cfg.Binary, err)
	}
	addr := make(chan string, 1)
	go s.readLog(stdout, addr)
	if err := s.waitReady(ctx, addr); err != nil {
		s.Stop()
		return nil, fmt.Errorf("studiotest: %w; log:\n%s", err, s.Log())
	}
	return s, nil
}

// readLog copies Studio's stdout into the log, reports the listening
// address once, and closes s.done when the process has exited.
func (s *Server) readLog(stdout io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = s.log.Write(append(line, '\n'))
		if m := listening.FindSubmatch(line); m != nil && !sent {
			addr <- string(m[1])
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	_ = s.cmd.Wait()
	close(s.done)
}

func (s *Server) waitReady(ctx context.Context, addr <-chan string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		return errors.New("studio serve exited before listening")
	case <-ctx.Done():
		return errors.New("studio serve did not listen in time")
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("studio serve exited before it was ready")
		case <-ctx.Done():
			return errors.New("studio serve was not ready in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Log returns what Studio has written so far (its JSON log lines).
func (s *Server) Log() string { return s.log.String() }

// Stop ends Studio (SIGTERM, then SIGKILL after 5 s) and the redis-server
// Start launched. Calls after the first do nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.ownRedis {
			_ = s.Redis.Stop()
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
