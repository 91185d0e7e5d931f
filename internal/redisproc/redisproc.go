// Package redisproc starts and supervises real redis-server processes on
// free local ports: single servers, TLS-only servers, a Sentinel topology
// and a Redis Cluster. `studio up` runs its local Redis with it, and
// internal/redistest wraps it for tests. It does not import testing.
//
// Launch is the core: it starts redis-server with its whole configuration on
// the command line, waits until that very process answers, and returns a
// *Server that owns the process. The caller owns the Server and must call Stop
// (or Kill) when done; the Dir stays the caller's and is never removed. Tests
// use redistest.Start, which does this with tb.TempDir and tb.Cleanup.
//
// Orphans: on Linux every child is started in its own process group with a
// parent-death signal of SIGKILL (see spawn_linux.go), so it dies with the
// process that launched it, even when that process crashes or is SIGKILLed.
// Each server also keeps a pidfile in its Dir, and KillStale removes a server
// an earlier run left behind there (KillStaleTree: in every sub-directory).
//
// Topologies are built from Servers: LaunchSentinel (sentinel.go) starts a
// master, its replicas and the Sentinels watching them; LaunchCluster
// (cluster.go) starts a Redis Cluster. Both give every process a
// sub-directory of one state directory.
//
// The package reads no environment variables other than PATH (to find the
// binary). Its only process-wide state is the spawner goroutine of
// spawn_linux.go.
package redisproc

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
	"sync"
	"syscall"
	"time"
)

// ErrNoRedisServer is wrapped by the error Launch returns when the
// redis-server binary cannot be found or run.
var ErrNoRedisServer = errors.New("redis-server binary not found; install the Debian package redis-server (apt-get install redis-server)")

const (
	// PidFileName is the name of the pidfile a Server keeps in its Dir.
	PidFileName = "redis-server.pid"
	// LogFileName is the name of the log file in Dir that receives the
	// server's log when Config.Stdout is nil.
	LogFileName = "redis-server.log"

	defaultStartTimeout = 10 * time.Second
	stopTimeout         = 5 * time.Second
	portAttempts        = 5
	logRingLines        = 500
	errorLogLines       = 20
)

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

// Config describes one redis-server. Only Dir is required.
type Config struct {
	// Dir is the server's state directory (working directory, pidfile, log
	// file, RDB/AOF when Persist is set). It is created if missing. Required.
	Dir string
	// Port is the TCP port; 0 picks a free one.
	Port int
	// Bind is the address (or space-separated addresses) to listen on;
	// default "127.0.0.1". Addr uses the first one.
	Bind string
	// ExtraArgs are appended to the command line as redis-server config
	// directives, e.g. {"--maxmemory", "10mb"} or
	// {"--enable-debug-command", "local"} (Redis 7) for DEBUG SLEEP. They
	// come last, so they override the defaults this package sets.
	ExtraArgs []string
	// Persist keeps Redis's default persistence. When false (the default)
	// the server runs with --save "" --appendonly no and writes no data files.
	Persist bool
	// Stdout receives the server's log lines. It is written from one
	// goroutine at a time per Server; errors writing to it are ignored.
	// Default: the file LogFileName in Dir (appended to).
	Stdout io.Writer
	// Binary is the redis-server executable; default "redis-server" from PATH.
	Binary string
	// ConfigFile, when set, is a redis config file put first on the command
	// line, where redis-server requires it. The directives this package sets
	// and ExtraArgs follow it, so they override it. CONFIG REWRITE (which
	// Sentinel sends to the nodes it reconfigures) writes to it, and Restart
	// starts from it again, so a node keeps the role Sentinel gave it. A
	// relative path is resolved against the calling process's working
	// directory. Optional, except in Sentinel mode.
	ConfigFile string
	// Sentinel runs the process as a Redis Sentinel (redis-server
	// sentinel.conf --sentinel; no redis-sentinel binary needed). Sentinel needs a ConfigFile it can rewrite, holding at
	// least its "sentinel monitor" line; LaunchSentinel writes one. Persist
	// is ignored: a Sentinel keeps no data set.
	Sentinel bool
	// StartTimeout bounds how long Launch and Restart wait for the server to
	// answer; default 10s. The context passed to them can shorten it.
	StartTimeout time.Duration
}

// Server is a redis-server process started by Launch. Its methods are safe
// for concurrent use. Stop, Kill and Restart are serialised with each other.
//
// Exactly one goroutine per started process waits for it; it ends as soon as
// the process exits, after which Done is closed. A Server whose process has
// exited holds no goroutines or files.
type Server struct {
	bin          string
	dir          string
	host         string   // for clients
	bind         []string // for --bind
	port         int      // fixed once Launch returns
	extra        []string
	persist      bool
	configFile   string // absolute; "" for none
	sentinel     bool
	stdout       io.Writer
	startTimeout time.Duration
	logs         *logRing

	// probeTLS, when set, is the client configuration the readiness probe
	// dials with (a TLS-only server, see LaunchTLS); nil probes plaintext.
	probeTLS *tls.Config

	life sync.Mutex // serialises Stop, Kill and Restart

	mu   sync.Mutex // guards proc
	proc *process   // current or last process; nil only during Launch
}

// Launch starts a redis-server described by cfg and returns once the process
// answers commands on its port. ctx bounds only the start-up: cancelling it
// later does not stop the server.
//
// With Port 0 Launch picks a free port (listening on it and closing it), and
// tries a new port a few times if another process takes it first. If the
// binary is missing the error wraps ErrNoRedisServer. If the server dies or
// does not answer in time, the error includes the last lines of its log and
// no process is left running.
func Launch(ctx context.Context, cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()

	if cfg.Port != 0 {
		if err := s.start(ctx, cfg.Port); err != nil {
			return nil, fmt.Errorf("redisproc: launch redis-server on port %d: %w", cfg.Port, err)
		}
		s.port = cfg.Port
		return s, nil
	}
	var lastErr error
	for range portAttempts {
		port, err := freePort(s.host)
		if err != nil {
			return nil, fmt.Errorf("redisproc: pick a free port: %w", err)
		}
		lastErr = s.start(ctx, port)
		if lastErr == nil {
			s.port = port
			return s, nil
		}
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	return nil, fmt.Errorf("redisproc: launch redis-server: %w", lastErr)
}

func newServer(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("redisproc: config: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("redisproc: config: dir %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redisproc: create dir: %w", err)
	}
	name := cfg.Binary
	if name == "" {
		name = "redis-server"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("redisproc: %w: %w", ErrNoRedisServer, err)
	}
	bind := strings.Fields(cfg.Bind)
	if len(bind) == 0 {
		bind = []string{"127.0.0.1"}
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	var configFile string
	if cfg.ConfigFile != "" {
		if configFile, err = filepath.Abs(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("redisproc: config: config file %q: %w", cfg.ConfigFile, err)
		}
	} else if cfg.Sentinel {
		return nil, errors.New("redisproc: config: Sentinel mode requires ConfigFile")
	}
	return &Server{
		bin:          bin,
		dir:          dir,
		host:         clientHost(bind[0]),
		bind:         bind,
		extra:        append([]string(nil), cfg.ExtraArgs...),
		persist:      cfg.Persist,
		configFile:   configFile,
		sentinel:     cfg.Sentinel,
		stdout:       cfg.Stdout,
		startTimeout: timeout,
		logs:         newLogRing(logRingLines),
	}, nil
}

// clientHost turns a bind address into one a local client can dial.
func clientHost(bind string) string {
	bind = strings.TrimPrefix(bind, "-") // "-addr" means optional in redis
	switch bind {
	case "*", "0.0.0.0", "":
		return "127.0.0.1"
	case "::*", "::":
		return "::1"
	}
	return bind
}

// freePort asks the kernel for a free port on host. Someone else may take it
// before redis-server binds it; Launch retries in that case.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) pidPath() string { return filepath.Join(s.dir, PidFileName) }

// args is the redis-server command line for port. Only directives that Redis
// 6 and 7 both know are used. The config file, if any, comes first (redis
// only accepts it there), then --sentinel for a Sentinel. A cluster node
// (cluster.go) is a Server with --cluster-enabled yes in ExtraArgs; a
// Sentinel (sentinel.go) has a generated sentinel.conf and Sentinel mode.
func (s *Server) args(port int) []string {
	var a []string
	if s.configFile != "" {
		a = append(a, s.configFile)
	}
	if s.sentinel {
		a = append(a, "--sentinel")
	}
	a = append(a, "--port", strconv.Itoa(port), "--bind")
	a = append(a, s.bind...)
	a = append(a,
		"--dir", s.dir,
		"--pidfile", s.pidPath(),
		"--logfile", "", // stdout, which we capture
		"--daemonize", "no",
	)
	if !s.persist && !s.sentinel {
		a = append(a, "--save", "", "--appendonly", "no")
	}
	return append(a, s.extra...)
}

// start runs one redis-server process on port and waits until it answers.
// On failure no process is left running. Callers hold s.life or own s alone.
func (s *Server) start(ctx context.Context, port int) error {
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
	// A child that redis forked (BGSAVE) may hold the log pipe after redis
	// died; do not let that block the reaper.
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

	// redis-server writes the same pidfile once it is up; writing it now
	// covers a crash of ours during start-up on systems without Pdeathsig.
	err := os.WriteFile(s.pidPath(), []byte(strconv.Itoa(p.pid)+"\n"), 0o644)
	if err == nil {
		err = s.waitReady(ctx, p, port, mark)
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

// waitReady polls until process p answers on port, p exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context, p *process, port int, mark int) error {
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
		err := probe(ctx, addr, p.pid, s.probeTLS)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPortInUse) {
			return err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis-server did not answer on %s: %w (last probe: %v); last log lines:\n%s",
				addr, ctx.Err(), lastErr, s.logs.tail(errorLogLines))
		case <-p.done:
		case <-tick.C:
		}
	}
}

// probe checks that the server on addr is process pid and ready for commands,
// over TLS with conf when it is set. It returns an error wrapping
// errPortInUse if a different process answers.
func probe(ctx context.Context, addr string, pid int, conf *tls.Config) error {
	nd := &net.Dialer{Timeout: 250 * time.Millisecond}
	var (
		conn net.Conn
		err  error
	)
	if conf != nil {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: conf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", addr)
	}
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
	// INFO may be refused (requirepass in ExtraArgs); then the pid cannot be
	// checked and the answer from the port is taken as ours.
	if infoErr == "" {
		want := "process_id:" + strconv.Itoa(pid)
		found := false
		for line := range strings.Lines(info) {
			if strings.TrimSpace(line) == want {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%w: %s answered by another server", errPortInUse, addr)
		}
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

// readReply reads one RESP2 simple, error or bulk string reply. An error
// reply is returned as errReply, not as err.
func readReply(r *bufio.Reader) (val, errReply string, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", "", errors.New("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], "", nil
	case '-':
		return "", line[1:], nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 {
			return "", "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "", "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", "", err
		}
		return string(buf[:n]), "", nil
	}
	return "", "", fmt.Errorf("unexpected reply %q", line)
}

// Addr returns host:port for clients.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Port returns the TCP port. It stays the same across Restart.
func (s *Server) Port() int { return s.port }

// URL returns redis://HOST:PORT/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir returns the absolute state directory.
func (s *Server) Dir() string { return s.dir }

// PID returns the pid of the running process, or 0 if it has exited.
func (s *Server) PID() int {
	p := s.current()
	if p == nil || p.hasExited() {
		return 0
	}
	return p.pid
}

// Done returns a channel that is closed when the current process exits, for
// whatever reason (Stop, Kill, a crash). After Restart a new process has a
// new channel: call Done again.
func (s *Server) Done() <-chan struct{} { return s.current().done }

// Wait blocks until the current process exits and returns how it ended: nil
// for a clean exit (as after Stop), else an error such as *exec.ExitError
// (e.g. "signal: killed" after Kill).
func (s *Server) Wait() error {
	p := s.current()
	<-p.done
	return p.exitErr()
}

// LogTail returns up to the last n lines of the server's log (all kept lines,
// at most 500, if n <= 0), joined by newlines. The log spans restarts.
func (s *Server) LogTail(n int) string { return s.logs.tail(n) }

func (s *Server) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Stop shuts the server down with SIGTERM (resuming it first if paused),
// sends SIGKILL if it has not exited after 5 seconds, and waits for it to
// exit. Stop on a server that is not running returns nil, so it is safe to
// call any number of times, and after Kill or a crash.
func (s *Server) Stop() error {
	s.life.Lock()
	defer s.life.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	p := s.current()
	if p == nil || p.hasExited() {
		return nil
	}
	if err := p.signal(syscall.SIGTERM); err != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("redisproc: stop redis-server (pid %d): %w", p.pid, err)
	}
	_ = p.signal(syscall.SIGCONT) // a paused server must run to see SIGTERM
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("redisproc: kill redis-server (pid %d) after stop timeout: %w", p.pid, err)
	}
	<-p.done
	return nil
}

// Kill sends SIGKILL to the server (and any child it forked) and waits for
// it to exit, simulating a crash. It returns nil if the server is not running.
func (s *Server) Kill() error {
	s.life.Lock()
	defer s.life.Unlock()
	p := s.current()
	if p == nil {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("redisproc: kill redis-server (pid %d): %w", p.pid, err)
	}
	<-p.done
	return nil
}

// Pause freezes the server with SIGSTOP: connections stay open and commands
// hang until Resume, simulating a hung node. It returns once the kernel
// reports the process stopped.
func (s *Server) Pause() error {
	p := s.current()
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("redisproc: pause redis-server: %w", err)
	}
	p.waitState(func(state byte) bool { return state == 'T' })
	return nil
}

// Resume continues a server frozen by Pause (SIGCONT).
func (s *Server) Resume() error {
	p := s.current()
	if err := p.signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("redisproc: resume redis-server: %w", err)
	}
	p.waitState(func(state byte) bool { return state != 'T' })
	return nil
}

// Restart starts the server again on the same port and Dir, stopping it first
// if it is still running (as Stop does). If the port is briefly taken it keeps
// trying until the start timeout or ctx ends. Without Persist the new server
// starts empty.
func (s *Server) Restart(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if err := s.stopLocked(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	for {
		err := s.start(ctx, s.port)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPortInUse) {
			return fmt.Errorf("redisproc: restart redis-server on port %d: %w", s.port, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisproc: restart redis-server on port %d: %w", s.port, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errExited is returned when signalling a process that has already exited.
var errExited = errors.New("process already exited")

// process is one run of a server binary. Its reap goroutine is the only
// caller of cmd.Wait.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed by reap after exited and err are set

	mu     sync.Mutex
	exited bool
	err    error
}

func (p *process) reap(logFile *os.File, pidPath string) {
	err := p.cmd.Wait()
	if logFile != nil {
		logFile.Close()
	}
	// redis-server removes its pidfile on a clean shutdown, not on SIGKILL.
	if b, rerr := os.ReadFile(pidPath); rerr == nil && strings.TrimSpace(string(b)) == strconv.Itoa(p.pid) {
		_ = os.Remove(pidPath)
	}
	p.mu.Lock()
	p.exited, p.err = true, err
	p.mu.Unlock()
	close(p.done)
}

func (p *process) hasExited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// signal sends sig to the process group the child leads (Setpgid), which also
// reaches children redis forked. The exited check makes signalling a reaped
// (and possibly reused) pid impossible except in the instant between the
// kernel reaping it inside cmd.Wait and reap recording it.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return errExited
	}
	err := syscall.Kill(-p.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return errExited
	}
	return err
}

// waitState polls the process state for up to 2s until ok accepts it. It
// returns early if the process exits or its state cannot be read.
func (p *process) waitState(ok func(state byte) bool) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		st, err := readProcStat(p.pid)
		if err != nil || ok(st.state) || p.hasExited() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
