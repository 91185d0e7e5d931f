package redisproc

// Helpers shared by the topology launchers (sentinel.go, cluster.go): a
// serialised, line-prefixing log writer, a tiny RESP2 admin connection, and
// starting and stopping groups of servers.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	adminTimeout = 2 * time.Second // one admin round trip, at most
	pollInterval = 50 * time.Millisecond
	tailPerProc  = 10       // log lines per process in a launch error
	maxBulk      = 64 << 20 // largest admin reply accepted
)

// sharedOut serialises the writes of several processes onto one writer.
type sharedOut struct {
	mu sync.Mutex
	w  io.Writer
}

// prefixWriter passes whole lines to a sharedOut, each prefixed with the
// process's name, so lines of different processes never interleave.
type prefixWriter struct {
	out    *sharedOut
	prefix string
	buf    []byte // an unfinished line
}

// writer returns the writer for the lines of process name, or nil (a log
// file per process) when o is nil.
func (o *sharedOut) writer(name string) io.Writer {
	if o == nil {
		return nil
	}
	return &prefixWriter{out: o, prefix: name + " "}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := make([]byte, 0, len(p.prefix)+i+1)
		line = append(line, p.prefix...)
		line = append(line, p.buf[:i+1]...)
		_, _ = p.out.w.Write(line)
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) == 0 {
		p.buf = nil // drop the consumed backing array
	}
	return len(b), nil
}

// respError is an error reply from a server.
type respError string

func (e respError) Error() string { return string(e) }

// adminConn is one plain or TLS connection for administrative commands
// (SENTINEL, CLUSTER, INFO). Not safe for concurrent use.
type adminConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

// dialAdmin connects to addr, over TLS with conf when it is not nil, and
// authenticates with password when it is not empty.
func dialAdmin(ctx context.Context, addr string, conf *tls.Config, password ...string) (*adminConn, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	nd := &net.Dialer{}
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
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &adminConn{addr: addr, conn: conn, r: bufio.NewReader(conn)}
	if len(password) > 0 && password[0] != "" {
		if _, err := c.do(ctx, "AUTH", password[0]); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: AUTH: %w", addr, err)
		}
	}
	return c, nil
}

func (c *adminConn) Close() error { return c.conn.Close() }

// do sends one command and reads its reply: a string (simple or bulk), an
// int64, nil, or a []any of those. An error reply is returned as a
// respError.
func (c *adminConn) do(ctx context.Context, args ...string) (any, error) {
	deadline := time.Now().Add(adminTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.addr, args[0], err)
	}
	v, err := readValue(c.r)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.addr, args[0], err)
	}
	if e, ok := v.(respError); ok {
		return nil, fmt.Errorf("%s: %s: %w", c.addr, strings.Join(args[:min(len(args), 2)], " "), e)
	}
	return v, nil
}

// doString is do for a command whose reply is a string.
func (c *adminConn) doString(ctx context.Context, args ...string) (string, error) {
	v, err := c.do(ctx, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: %s: unexpected reply %v", c.addr, args[0], v)
	}
	return s, nil
}

// info returns the fields of INFO section.
func (c *adminConn) info(ctx context.Context, section string) (map[string]string, error) {
	s, err := c.doString(ctx, "INFO", section)
	if err != nil {
		return nil, err
	}
	return parseFields(s, ':'), nil
}

// parseFields parses "key<sep>value" lines (INFO, CLUSTER INFO); comments
// and other lines are skipped.
func parseFields(s string, sep byte) map[string]string {
	m := make(map[string]string)
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, string(sep)); ok {
			m[k] = v
		}
	}
	return m
}

// readValue reads one RESP2 value. An error reply is returned as a respError
// value, not as err, so it can sit inside an array.
func readValue(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return respError(line[1:]), nil
	case ':':
		n, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer reply %q", line)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		vals := make([]any, n)
		for i := range vals {
			if vals[i], err = readValue(r); err != nil {
				return nil, err
			}
		}
		return vals, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// asStrings turns an array reply of strings into a []string.
func asStrings(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		if out[i], ok = e.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// asMaps turns an array reply of flat field/value arrays (SENTINEL
// SENTINELS, SENTINEL REPLICAS) into maps.
func asMaps(v any) ([]map[string]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]map[string]string, len(arr))
	for i, e := range arr {
		if out[i], ok = asMap(e); !ok {
			return nil, false
		}
	}
	return out, true
}

// asMap turns a flat field/value array reply (SENTINEL MASTER) into a map.
func asMap(v any) (map[string]string, bool) {
	fields, ok := asStrings(v)
	if !ok || len(fields)%2 != 0 {
		return nil, false
	}
	m := make(map[string]string, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m, true
}

// hasFlag reports whether the comma-separated flags contain one of want.
func hasFlag(flags string, want ...string) bool {
	for f := range strings.SplitSeq(flags, ",") {
		for _, w := range want {
			if f == w {
				return true
			}
		}
	}
	return false
}

// forEach runs f(i) for i in [0, n) concurrently and returns the errors,
// joined, in index order.
func forEach(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopAll stops servers concurrently; nil entries are skipped.
func stopAll(servers []*Server) error {
	return forEach(len(servers), func(i int) error {
		if servers[i] == nil {
			return nil
		}
		return servers[i].Stop()
	})
}

// serverName is the name of s's process in logs and errors: the base name
// of its Dir (node-0, sentinel-1, …).
func serverName(s *Server) string {
	i := strings.LastIndexAny(s.dir, `/\`)
	return s.dir[i+1:]
}

// logTails returns the last n log lines of each server, headed by its name
// and address, for an error message.
func logTails(servers []*Server, n int) string {
	var b strings.Builder
	for _, s := range servers {
		if s == nil {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s %s (pid %d), last log lines:\n%s", serverName(s), s.Addr(), s.PID(), s.LogTail(n))
	}
	return b.String()
}

// poll calls check every pollInterval until it returns nil or ctx ends;
// then the error names what was last wrong.
func poll(ctx context.Context, check func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last problem: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}
