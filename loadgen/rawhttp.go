package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits and defaults of RawClient.
const (
	rawDialTimeout      = 5 * time.Second
	rawDefaultTimeout   = 10 * time.Second
	rawDefaultIdle      = 90 * time.Second
	rawMaxHeaderBytes   = 64 << 10 // status line and headers of one response
	rawMaxBody          = 1 << 20  // a body returned to the caller
	rawReadBufferSize   = 4 << 10
	rawMaxWriteBuffer   = 64 << 10 // a larger request buffer is not kept
	rawMaxInformational = 5        // 1xx responses skipped before the final one
)

// aLongTimeAgo is a deadline in the past: setting it makes a pending
// read or write on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

var errHeadersTooLarge = fmt.Errorf("response headers over %d KiB", rawMaxHeaderBytes>>10)

// RawRequest is a request for RawClient.Do. Do does not keep it or its
// Body after it returns.
type RawRequest struct {
	// Method is the request method, e.g. "GET".
	Method string
	// Path is the request target, starting with "/"; it is appended to
	// the path of the client's base URL. It must be escaped already.
	Path string
	// Bearer, if not empty, is sent as "Authorization: Bearer <Bearer>".
	// It never appears in an error.
	Bearer string
	// ContentType, if not empty, is sent as the Content-Type header.
	ContentType string
	// Body, if not nil, is sent with its Content-Length (a POST, PUT or
	// PATCH without one is sent with Content-Length: 0).
	Body []byte
}

// RawClient is a lean HTTP/1.1 keep-alive client for one host, made for
// the load generator, like wrk's: each concurrent caller gets its own
// persistent TCP connection (TCP_NODELAY, dialled on demand with a 5 s
// timeout, re-used across requests), a request is formatted into the
// connection's reusable buffer and sent with one write, and the response
// is parsed from a bufio.Reader, so a request on a warm connection
// allocates nothing (when its context is the one of the connection's
// previous request, or shares its Done channel, or has none: a new
// cancellable context costs a context.AfterFunc registration).
//
// It speaks plain HTTP/1.1 only ("http://" base URLs; no TLS, no proxy,
// no compression, no redirects). Response bodies may have a
// Content-Length, be chunked, or, without either, last until the server
// closes the connection; "Connection: close" and HTTP/1.0 responses
// without keep-alive close the connection after the response. Status
// line and headers are limited to 64 KiB. Any I/O or protocol error
// closes the connection it happened on. It does not retry, except that a
// request whose reused connection turns out to have been closed by the
// server (nothing of the response arrived) is sent once more on a new
// connection, if it is a GET, HEAD, OPTIONS or TRACE or if nothing of it
// was written, as net/http does.
//
// Errors are *url.Error values (Op the method, URL the base URL and
// path, as net/http's), so KindOf classifies them as it does net/http's;
// they never contain the bearer token.
//
// Make one with NewRawClient. It is safe for concurrent use; set its
// exported fields before its first use. Idle connections stay open until
// CloseIdleConnections, until the server closes them, or until a request
// finds them idle for longer than IdleTimeout; it starts no goroutines.
type RawClient struct {
	// Timeout bounds each request, from dialling (if needed) to the end
	// of the response body; a request's context deadline, if earlier,
	// applies instead. Zero means 10 s.
	Timeout time.Duration
	// IdleTimeout is how long a connection may sit idle and still be
	// reused; an older one is closed instead. Zero means 90 s.
	IdleTimeout time.Duration

	base     string // "http://host[:port][/path]", for errors
	addr     string // host:port to dial
	head     []byte // "Host: …\r\nUser-Agent: …\r\n"
	basePath string // the base URL's escaped path without trailing '/'

	mu   sync.Mutex
	idle []*rawConn // most recently used last
}

// NewRawClient returns a RawClient for the host of base, a URL
// "http://host[:port][/path]" (port 80 by default). The path, if any,
// is prepended to every request's. It fails for any scheme other than
// http (there is no TLS), for credentials, a query or a fragment in base,
// and for a missing host. It does not dial.
func NewRawClient(base string) (*RawClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the URL itself: it could carry a password
		}
		return nil, fmt.Errorf("raw http client: base URL: %w", err)
	}
	switch {
	case strings.EqualFold(u.Scheme, "https"):
		return nil, errors.New("raw http client: https is not supported (plain http:// only); use the net/http client for TLS")
	case !strings.EqualFold(u.Scheme, "http"):
		return nil, fmt.Errorf("raw http client: unsupported scheme %q in base URL; want http://host:port", u.Scheme)
	case u.User != nil:
		return nil, errors.New("raw http client: base URL must not carry credentials")
	case u.Hostname() == "":
		return nil, errors.New("raw http client: base URL has no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("raw http client: base URL must not have a query or fragment")
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	basePath := strings.TrimRight(u.EscapedPath(), "/")
	return &RawClient{
		base:     "http://" + u.Host + basePath,
		addr:     net.JoinHostPort(u.Hostname(), port),
		head:     []byte("Host: " + u.Host + "\r\nUser-Agent: studio-loadgen\r\n"),
		basePath: basePath,
	}, nil
}

func (c *RawClient) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return rawDefaultTimeout
}

func (c *RawClient) idleTimeout() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return rawDefaultIdle
}

// Do sends req on an idle connection, or on a new one if none is idle,
// and reads the response to the end. It returns the status code of the
// final response (1xx responses are skipped) whatever it is; only a
// failure to get one is an error.
//
// If dst is nil the response body is discarded and body is nil.
// Otherwise the body is appended to dst[:0] and returned; it must fit in
// 1 MiB. The caller owns dst and body: Do keeps neither, so a caller may
// pass the same buffer again once it has used the body.
//
// The request is bounded by c.Timeout or ctx's deadline, whichever comes
// first; if ctx is cancelled while the request is in flight, Do returns
// promptly with an error wrapping ctx.Err().
func (c *RawClient) Do(ctx context.Context, req *RawRequest, dst []byte) (status int, body []byte, err error) {
	if err := req.validate(); err != nil {
		return 0, nil, c.error(req, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, c.error(req, err)
	}
	now := time.Now()
	deadline := now.Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for fresh := false; ; fresh = true {
		rc, err := c.get(ctx, now, deadline, fresh, !idempotent(req.Method))
		if err != nil {
			return 0, nil, c.error(req, err)
		}
		var retry bool
		status, body, retry, err = rc.roundTrip(ctx, req, dst, now, deadline)
		if err == nil {
			return status, body, nil
		}
		if !retry || fresh {
			return 0, nil, c.error(req, err)
		}
	}
}

// CloseIdleConnections closes the connections not in use. Requests in
// flight are not affected, and the client stays usable.
func (c *RawClient) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, rc := range idle {
		rc.close()
	}
}

// error wraps err as net/http's client does. The URL holds no secret.
func (c *RawClient) error(req *RawRequest, err error) error {
	op := req.Method
	if len(op) > 1 {
		op = op[:1] + strings.ToLower(op[1:])
	}
	return &url.Error{Op: op, URL: c.base + req.Path, Err: err}
}

// get returns an idle connection young enough to reuse (unless fresh),
// or dials a new one. With check (a request that is not sent twice), an
// idle connection is first checked for a close the server sent while it
// was idle: such a request cannot be retried once it has gone out.
func (c *RawClient) get(ctx context.Context, now, deadline time.Time, fresh, check bool) (*rawConn, error) {
	if !fresh {
		maxIdle := c.idleTimeout()
		c.mu.Lock()
		for n := len(c.idle); n > 0; n = len(c.idle) {
			rc := c.idle[n-1]
			c.idle[n-1] = nil
			c.idle = c.idle[:n-1]
			if now.Sub(rc.used) > maxIdle {
				rc.close() // the rest are older still
				continue
			}
			if check && !rc.alive() {
				rc.close()
				continue
			}
			c.mu.Unlock()
			return rc, nil
		}
		c.mu.Unlock()
	}
	d := net.Dialer{Timeout: rawDialTimeout, Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", c.addr, ctx.Err())
		}
		return nil, fmt.Errorf("dial %s: %w", c.addr, err)
	}
	return &rawConn{c: c, nc: nc, br: bufio.NewReaderSize(nc, rawReadBufferSize)}, nil
}

// put makes rc idle, last used at now.
func (c *RawClient) put(rc *rawConn, now time.Time) {
	rc.used = now
	c.mu.Lock()
	c.idle = append(c.idle, rc)
	c.mu.Unlock()
}

// appendRequest appends req's head and body, as sent, to b.
func (c *RawClient) appendRequest(b []byte, req *RawRequest) []byte {
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, c.basePath...)
	b = append(b, req.Path...)
	b = append(b, " HTTP/1.1\r\n"...)
	b = append(b, c.head...)
	if req.Bearer != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, req.Bearer...)
		b = append(b, "\r\n"...)
	}
	if req.ContentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, req.ContentType...)
		b = append(b, "\r\n"...)
	}
	if req.Body != nil || req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(req.Body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, req.Body...)
}

// validate refuses what would make a malformed request or let a field
// inject headers. Its errors quote no token.
func (r *RawRequest) validate() error {
	if r.Method == "" {
		return errors.New("empty method")
	}
	for i := 0; i < len(r.Method); i++ {
		if !isTokenChar(r.Method[i]) {
			return fmt.Errorf("invalid method %q", r.Method)
		}
	}
	if r.Path == "" || r.Path[0] != '/' {
		return errors.New("path must start with /")
	}
	for i := 0; i < len(r.Path); i++ {
		if ch := r.Path[i]; ch <= ' ' || ch == 0x7f {
			return errors.New("path has a space or control character")
		}
	}
	if hasCTL(r.Bearer) {
		return errors.New("bearer token has a control character")
	}
	if hasCTL(r.ContentType) {
		return errors.New("content type has a control character")
	}
	return nil
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; (ch < ' ' && ch != '\t') || ch == 0x7f {
			return true
		}
	}
	return false
}

// isTokenChar reports whether ch may appear in an RFC 9110 token.
func isTokenChar(ch byte) bool {
	switch {
	case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0
}

// rawConn is one connection of a RawClient. Only the caller that took it
// from the pool uses it, except for the cancellation watch.
type rawConn struct {
	c       *RawClient
	nc      net.Conn
	br      *bufio.Reader
	wbuf    []byte // the request being written
	scratch []byte // header lines longer than br's buffer
	used    time.Time
	reused  bool // it has carried a request

	// The cancellation watch: a context.AfterFunc on the Done channel of
	// the last request's context, kept while the following requests on
	// this connection come with the same channel (the load generator's
	// workers share one context), so steady state costs no allocation.
	// When it fires during a request (busy) it sets a past deadline on
	// the connection, so the pending read or write returns at once. gen
	// tells a stale watch from the current one.
	mu        sync.Mutex
	busy      bool
	gen       uint64
	watchDone <-chan struct{}
	stopWatch func() bool
}

// alive reports whether an idle connection can still carry a request: the
// server has sent nothing on it (no close, no stray bytes). It never
// blocks (see peekClosed).
func (rc *rawConn) alive() bool {
	return rc.br.Buffered() == 0 && !peekClosed(rc.nc)
}

// roundTrip sends req and reads the response, then returns rc to the
// pool or closes it. retry reports that rc was a reused connection the
// server had closed before answering and req may be sent again.
func (rc *rawConn) roundTrip(ctx context.Context, req *RawRequest, dst []byte, now, deadline time.Time) (status int, body []byte, retry bool, err error) {
	if err := rc.nc.SetDeadline(deadline); err != nil {
		rc.close()
		return 0, nil, false, fmt.Errorf("set deadline: %w", err)
	}
	rc.arm(ctx)
	if err := ctx.Err(); err != nil { // cancelled before the watch was armed
		rc.disarm()
		rc.c.put(rc, now)
		return 0, nil, false, err
	}
	reused := rc.reused
	rc.reused = true

	b := rc.c.appendRequest(rc.wbuf[:0], req)
	if cap(b) <= rawMaxWriteBuffer {
		rc.wbuf = b
	}
	if n, err := rc.nc.Write(b); err != nil {
		rc.close()
		retry = reused && n == 0 && goneAway(err) && ctx.Err() == nil
		return 0, nil, retry, withContext(ctx, fmt.Errorf("write request: %w", err))
	}
	resp, started, err := readResponse(rc.br, &rc.scratch, req.Method, req.Bearer, dst != nil, dst)
	if err != nil {
		rc.close()
		retry = reused && !started && goneAway(err) && ctx.Err() == nil && idempotent(req.Method)
		return 0, nil, retry, withContext(ctx, err)
	}
	rc.disarm()
	if resp.close {
		rc.close()
	} else {
		rc.c.put(rc, now)
	}
	return resp.status, resp.body, false, nil
}

// arm marks rc busy and makes sure ctx's cancellation is watched.
func (rc *rawConn) arm(ctx context.Context) {
	done := ctx.Done()
	rc.mu.Lock()
	rc.busy = true
	if done != rc.watchDone {
		rc.unwatchLocked()
		rc.watchDone = done
		if done != nil {
			gen := rc.gen
			rc.stopWatch = context.AfterFunc(ctx, func() { rc.expire(gen) })
		}
	}
	rc.mu.Unlock()
}

// disarm marks rc not busy: a watch firing now leaves it alone.
func (rc *rawConn) disarm() {
	rc.mu.Lock()
	rc.busy = false
	rc.mu.Unlock()
}

// expire is the watch of generation gen firing.
func (rc *rawConn) expire(gen uint64) {
	rc.mu.Lock()
	if rc.gen == gen && rc.busy {
		_ = rc.nc.SetDeadline(aLongTimeAgo)
	}
	rc.mu.Unlock()
}

func (rc *rawConn) unwatchLocked() {
	rc.gen++
	if rc.stopWatch != nil {
		rc.stopWatch()
		rc.stopWatch = nil
	}
	rc.watchDone = nil
}

// close stops the watch and closes the connection.
func (rc *rawConn) close() {
	rc.mu.Lock()
	rc.busy = false
	rc.unwatchLocked()
	rc.mu.Unlock()
	_ = rc.nc.Close()
}

// withContext puts ctx's error first when ctx ended: the I/O error is
// then only the watch's doing.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// goneAway reports whether err is how a connection the server closed
// fails.
func goneAway(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// idempotent reports whether a request with method may be sent twice,
// by net/http's rule.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// rawResponse is what readResponse read.
type rawResponse struct {
	status int
	body   []byte // nil unless kept
	close  bool   // the connection cannot carry another request
}

// readResponse reads one response to a request with method from br,
// skipping 1xx responses. With keep it appends the body to dst[:0] and
// returns it; without, it discards the body. started reports whether any
// of the response had arrived when it failed. redact (the request's
// bearer token) is never quoted in an error. scratch is reusable storage
// for header lines longer than br's buffer.
//
// On error the response is the zero value and br is in an unknown state.
func readResponse(br *bufio.Reader, scratch *[]byte, method, redact string, keep bool, dst []byte) (resp rawResponse, started bool, err error) {
	for informational := 0; ; informational++ {
		budget := rawMaxHeaderBytes
		line, err := readLine(br, scratch, &budget)
		if err != nil {
			return rawResponse{}, len(line) > 0 || informational > 0, fmt.Errorf("read status line: %w", err)
		}
		code, minor, ok := parseStatusLine(line)
		if !ok {
			return rawResponse{}, true, fmt.Errorf("malformed status line %s", quote(line, redact))
		}
		contentLength := int64(-1)
		chunked, closeConn, keepAlive := false, false, false
		for n := 1; ; n++ {
			line, err := readLine(br, scratch, &budget)
			if err != nil {
				return rawResponse{}, true, fmt.Errorf("read headers: %w", err)
			}
			if len(line) == 0 {
				break
			}
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !isToken(line[:colon]) {
				// Not quoted: a server may echo request headers.
				return rawResponse{}, true, fmt.Errorf("malformed header line %d: no \"name:\"", n)
			}
			name, value := line[:colon], trimOWS(line[colon+1:])
			switch {
			case equalFold(name, "Content-Length"):
				v, ok := parseContentLength(value)
				if !ok {
					return rawResponse{}, true, fmt.Errorf("malformed Content-Length %s", quote(value, redact))
				}
				if contentLength >= 0 && v != contentLength {
					return rawResponse{}, true, errors.New("conflicting Content-Length headers")
				}
				contentLength = v
			case equalFold(name, "Transfer-Encoding"):
				if chunked || !equalFold(value, "chunked") {
					return rawResponse{}, true, fmt.Errorf("unsupported Transfer-Encoding %s", quote(value, redact))
				}
				chunked = true
			case equalFold(name, "Connection"):
				c, k := connectionTokens(value)
				closeConn, keepAlive = closeConn || c, keepAlive || k
			}
		}
		if code < 200 {
			if code == 101 {
				return rawResponse{}, true, errors.New("unexpected 101 Switching Protocols")
			}
			if informational >= rawMaxInformational {
				return rawResponse{}, true, fmt.Errorf("more than %d informational (1xx) responses", rawMaxInformational)
			}
			continue
		}
		resp = rawResponse{status: code, close: closeConn || (minor == 0 && !keepAlive)}
		if keep {
			dst = dst[:0]
		}
		switch {
		case method == "HEAD" || code == 204 || code == 304:
		case chunked:
			resp.close = resp.close || contentLength >= 0 // RFC 9112 §6.3: both is suspect
			dst, err = readChunked(br, scratch, redact, keep, dst)
		case contentLength >= 0:
			dst, err = readFixed(br, contentLength, keep, dst)
		default:
			resp.close = true
			dst, err = readToEOF(br, keep, dst)
		}
		if err != nil {
			return rawResponse{}, true, err
		}
		if keep {
			resp.body = dst
		}
		return resp, true, nil
	}
}

// readLine reads a line of a response head, without its line end ("\r\n"
// or "\n"), taking its length off *budget. The line is valid until br's
// next read. On error it returns what it read of the line: io.EOF if
// nothing, io.ErrUnexpectedEOF if the line was cut short.
func readLine(br *bufio.Reader, scratch *[]byte, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append((*scratch)[:0], line...)
		for err == bufio.ErrBufferFull && len(buf) <= *budget {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		*scratch = buf
		line = buf
	}
	*budget -= len(line)
	if *budget < 0 {
		return line, errHeadersTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]".
func parseStatusLine(line []byte) (code int, minor byte, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, false
	}
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return 0, 0, false
		}
		code = code*10 + int(ch-'0')
	}
	if code < 100 {
		return 0, 0, false
	}
	return code, line[7] - '0', true
}

// parseContentLength parses a Content-Length value: decimal digits only.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range v {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line (with its line end): hex
// digits, then optional whitespace and chunk extensions.
func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// readFixed reads an n-byte body: appended to dst with keep, else
// discarded.
func readFixed(br *bufio.Reader, n int64, keep bool, dst []byte) ([]byte, error) {
	if !keep {
		for n > 0 {
			k, err := br.Discard(int(min(n, 1<<30)))
			n -= int64(k)
			if err != nil {
				return nil, fmt.Errorf("read body: %w", unexpectedEOF(err))
			}
		}
		return nil, nil
	}
	if n > int64(rawMaxBody-len(dst)) {
		return nil, fmt.Errorf("response body over %d KiB", rawMaxBody>>10)
	}
	m := len(dst)
	dst = slices.Grow(dst, int(n))[:m+int(n)]
	if _, err := io.ReadFull(br, dst[m:]); err != nil {
		return nil, fmt.Errorf("read body: %w", unexpectedEOF(err))
	}
	return dst, nil
}

// readChunked reads a chunked body and its trailers.
func readChunked(br *bufio.Reader, scratch *[]byte, redact string, keep bool, dst []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("malformed chunk size line: over %d bytes", br.Size())
		}
		if err != nil {
			return nil, fmt.Errorf("read chunk size: %w", unexpectedEOF(err))
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return nil, fmt.Errorf("malformed chunk size %s", quote(bytes.TrimRight(line, "\r\n"), redact))
		}
		if size == 0 {
			break
		}
		if dst, err = readFixed(br, size, keep, dst); err != nil {
			return nil, err
		}
		line, err = br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("read chunk end: %w", unexpectedEOF(err))
		}
		if !(len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return nil, fmt.Errorf("malformed chunk: no line end after its %d bytes", size)
		}
	}
	budget := rawMaxHeaderBytes
	for {
		line, err := readLine(br, scratch, &budget)
		if err != nil {
			return nil, fmt.Errorf("read trailers: %w", unexpectedEOF(err))
		}
		if len(line) == 0 {
			return dst, nil
		}
	}
}

// readToEOF reads a body that ends when the server closes the connection.
func readToEOF(br *bufio.Reader, keep bool, dst []byte) ([]byte, error) {
	for {
		if !keep {
			_, err := br.Discard(rawReadBufferSize)
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read body: %w", err)
			}
			continue
		}
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, 512)
		}
		n, err := br.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > rawMaxBody {
			return nil, fmt.Errorf("response body over %d KiB", rawMaxBody>>10)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// connectionTokens reports whether a Connection header value lists
// "close" and "keep-alive".
func connectionTokens(v []byte) (closeConn, keepAlive bool) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = trimOWS(tok)
		closeConn = closeConn || equalFold(tok, "close")
		keepAlive = keepAlive || equalFold(tok, "keep-alive")
	}
	return closeConn, keepAlive
}

func isToken(b []byte) bool {
	for _, ch := range b {
		if !isTokenChar(ch) {
			return false
		}
	}
	return len(b) > 0
}

// equalFold reports whether b and the ASCII string s are equal, ignoring
// ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// quote quotes a short piece of a response for an error, cut to 40
// bytes, or hides it if it holds redact.
func quote(b []byte, redact string) string {
	if redact != "" && bytes.Contains(b, []byte(redact)) {
		return "(withheld: it contains the bearer token)"
	}
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "…"
	}
	return strconv.Quote(string(b))
}
