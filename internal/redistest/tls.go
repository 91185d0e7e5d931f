package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TLSOptions make a server TLS-only: it listens on a TLS port (reported by
// Port, Addr and TLSURL) and on no plaintext port (--port 0).
//
// Restart does not support such a server (its readiness probe speaks
// plaintext); stop it and launch a new one, or rotate its certificates live
// with CONFIG SET tls-cert-file / tls-key-file / tls-ca-cert-file.
type TLSOptions struct {
	// CertFile and KeyFile are the server's certificate and key (PEM).
	CertFile, KeyFile string
	// CAFile is the bundle the server verifies client certificates with.
	// Redis requires one even when AuthClients is "no".
	CAFile string
	// AuthClients is redis's tls-auth-clients: "yes" (default), "no" or
	// "optional".
	AuthClients string
	// Probe is the client configuration the readiness probe dials with. It
	// must trust the server certificate and, when AuthClients is "yes",
	// present a client certificate. Required.
	Probe *tls.Config
}

func (o TLSOptions) args() []string {
	auth := o.AuthClients
	if auth == "" {
		auth = "yes"
	}
	return []string{
		"--tls-cert-file", o.CertFile,
		"--tls-key-file", o.KeyFile,
		"--tls-ca-cert-file", o.CAFile,
		"--tls-auth-clients", auth,
	}
}

// LaunchTLS is Launch for a TLS-only server; see TLSOptions.
func LaunchTLS(ctx context.Context, cfg Config, o TLSOptions) (*Server, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" || o.Probe == nil {
		return nil, errors.New("redistest: TLS options: CertFile, KeyFile, CAFile and Probe are required")
	}
	cfg.ExtraArgs = append(o.args(), cfg.ExtraArgs...)
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	base := s.extra
	var lastErr error
	for range portAttempts {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(s.host); err != nil {
				return nil, fmt.Errorf("redistest: pick a free port: %w", err)
			}
		}
		// The directives come after args' "--port N", so they win.
		s.extra = append(append([]string(nil), base...), "--port", "0", "--tls-port", strconv.Itoa(port))
		lastErr = s.startTLS(ctx, port, o.Probe)
		if lastErr == nil {
			s.port = port
			return s, nil
		}
		if cfg.Port != 0 || !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	return nil, fmt.Errorf("redistest: launch TLS redis-server: %w", lastErr)
}

// StartTLS is Start for a TLS-only server; see TLSOptions.
func StartTLS(tb testing.TB, o TLSOptions, opts ...Option) *Server {
	tb.Helper()
	cfg := Config{Dir: tb.TempDir()}
	for _, opt := range opts {
		opt(&cfg)
	}
	s, err := LaunchTLS(tb.Context(), cfg, o)
	if err != nil {
		tb.Fatalf("start TLS redis-server: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("redis-server %s (dir %s), last log lines:\n%s", s.Addr(), s.Dir(), s.LogTail(30))
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("stop redis-server %s: %v", s.Addr(), err)
		}
	})
	return s
}

// TLSURL returns rediss://HOST:PORT/0.
func (s *Server) TLSURL() string { return "rediss://" + s.Addr() + "/0" }

// startTLS is start with a readiness probe over TLS.
func (s *Server) startTLS(ctx context.Context, port int, probeConf *tls.Config) error {
	out := s.stdout
	var logFile *os.File
	if out == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, LogFileName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		logFile, out = f, f
	}
	sink := &logSink{ring: s.logs, out: out}
	cmd := exec.Command(s.bin, s.args(port)...)
	cmd.Dir = s.dir
	cmd.Stdout = sink
	cmd.Stderr = sink
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second

	mark := s.logs.mark()
	if err := startProcess(cmd); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go p.reap(logFile, s.pidPath())
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	err := os.WriteFile(s.pidPath(), []byte(strconv.Itoa(p.pid)+"\n"), 0o644)
	if err == nil {
		err = s.waitReadyTLS(ctx, p, port, mark, probeConf)
	} else {
		err = fmt.Errorf("write pidfile: %w", err)
	}
	if err != nil {
		_ = p.signal(syscall.SIGKILL)
		<-p.done
		return err
	}
	return nil
}

func (s *Server) waitReadyTLS(ctx context.Context, p *process, port, mark int, conf *tls.Config) error {
	addr := net.JoinHostPort(s.host, strconv.Itoa(port))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-p.done:
			if s.logs.containsSince(mark, "Address already in use") {
				return fmt.Errorf("%w: %s; last log lines:\n%s", errPortInUse, addr, s.logs.tail(errorLogLines))
			}
			return fmt.Errorf("redis-server exited during start-up (%v); last log lines:\n%s", p.exitErr(), s.logs.tail(errorLogLines))
		default:
		}
		err := probeTLS(ctx, addr, p.pid, conf)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPortInUse) {
			return err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis-server did not answer over TLS on %s: %w (last probe: %v); last log lines:\n%s",
				addr, ctx.Err(), lastErr, s.logs.tail(errorLogLines))
		case <-p.done:
		case <-tick.C:
		}
	}
}

// probeTLS is probe over TLS.
func probeTLS(ctx context.Context, addr string, pid int, conf *tls.Config) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 250 * time.Millisecond}, Config: conf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	info, infoErr, err := readReply(r)
	if err != nil {
		return err
	}
	if infoErr == "" && !strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n") {
		return fmt.Errorf("%w: %s answered by another server", errPortInUse, addr)
	}
	_, pingErr, err := readReply(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(pingErr, "LOADING") || strings.HasPrefix(pingErr, "BUSY") {
		return fmt.Errorf("not ready: %s", pingErr)
	}
	return nil
}
