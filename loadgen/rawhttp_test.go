package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// secretToken is a bearer token no error may show.
const secretToken = "tok-SECRET-7f3a9c41e0"

func newRaw(t testing.TB, base string) *RawClient {
	t.Helper()
	c, err := NewRawClient(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// countingServer is an httptest server that counts the connections it
// accepted.
func countingServer(t testing.TB, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &n
}

// rawServer serves raw TCP: serve runs for the k-th accepted connection
// (from 0) and the connection is closed when it returns. It returns the
// base URL and the number of connections accepted.
func rawServer(t testing.TB, serve func(k int, conn net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			k := int(n.Add(1) - 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serve(k, conn, bufio.NewReader(conn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), &n
}

// readHead reads a request head and returns the value of its
// Authorization header; it allocates nothing per request unless asked for
// that value.
func readHead(br *bufio.Reader, wantAuth bool) (auth string, err error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		if len(line) <= 2 {
			return auth, nil
		}
		if wantAuth && bytes.HasPrefix(line, []byte("Authorization: ")) {
			auth = strings.TrimSpace(string(line[len("Authorization: "):]))
		}
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// serveOK answers every request on the connection with okResponse,
// allocating nothing per request.
func serveOK(conn net.Conn, br *bufio.Reader) {
	resp := []byte(okResponse)
	for {
		if _, err := readHead(br, false); err != nil {
			return
		}
		if _, err := conn.Write(resp); err != nil {
			return
		}
	}
}

func get(path string) *RawRequest {
	return &RawRequest{Method: "GET", Path: path, Bearer: secretToken}
}

func TestNewRawClient(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"https://127.0.0.1:8443", "https is not supported"},
		{"ftp://host", `unsupported scheme "ftp"`},
		{"127.0.0.1:8080", "base URL"},
		{"localhost:8080", `unsupported scheme "localhost"`},
		{"http://user:pw@host:1", "credentials"},
		{"http://:8080", "no host"},
		{"http://host/?q=1", "query"},
		{"http://host/#f", "fragment"},
		{"http://host:8080/%zz", "base URL"},
	} {
		c, err := NewRawClient(tc.base)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRawClient(%q) = %v, %v; want an error with %q", tc.base, c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("NewRawClient(%q): error shows the password: %v", tc.base, err)
		}
	}
	c, err := NewRawClient("HTTP://[::1]/api/")
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "[::1]:80" || c.basePath != "/api" || string(c.head) != "Host: [::1]\r\nUser-Agent: studio-loadgen\r\n" {
		t.Fatalf("addr %q, base path %q, head %q", c.addr, c.basePath, c.head)
	}

	tg := &HTTPTarget{Base: "https://127.0.0.1:1", Raw: true}
	if err := tg.Validate(t.Context(), "x"); err == nil || KindOf(err) != KindOther || !strings.Contains(err.Error(), "https") {
		t.Fatalf("raw target on https: %v (kind %q)", err, KindOf(err))
	}
}

// TestRawClientKeepAlive: sequential requests share one connection;
// concurrent callers use at most one each.
func TestRawClientKeepAlive(t *testing.T) {
	ts, accepted := countingServer(t, EmptyHandler())
	c := newRaw(t, ts.URL)
	for i := range 20 {
		status, body, err := c.Do(t.Context(), get("/v1/session"), nil)
		if err != nil || status != 200 || body != nil {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("20 sequential requests used %d connections; want 1", n)
	}

	ts, accepted = countingServer(t, EmptyHandler())
	c = newRaw(t, ts.URL)
	const callers = 4
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range 25 {
				if status, _, err := c.Do(t.Context(), get("/v1/session"), nil); err != nil || status != 200 {
					t.Errorf("%d %v", status, err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if n := accepted.Load(); n < 1 || n > callers || int64(idle) != n {
		t.Fatalf("%d concurrent callers used %d connections, %d idle after; want ≤ %d, all idle", callers, n, idle, callers)
	}
}

// TestRawClientBodies: each way a response body can end, kept and
// discarded, and which of them leave the connection reusable.
func TestRawClientBodies(t *testing.T) {
	ts, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/chunked":
			_, _ = io.WriteString(w, "hel")
			w.(http.Flusher).Flush() // no length yet: chunked
			_, _ = io.WriteString(w, "lo")
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "hello")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	c := newRaw(t, ts.URL)
	if _, _, err := c.Do(t.Context(), get("/length"), nil); err != nil { // warm up
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
		closes       bool
	}{
		{"GET", "/length", 200, "hello", false},
		{"GET", "/chunked", 200, "hello", false},
		{"GET", "/nocontent", 204, "", false},
		{"HEAD", "/length", 200, "", false}, // Content-Length: 5, no body
		{"GET", "/close", 200, "hello", true},
	} {
		for _, keep := range []bool{false, true} {
			before := accepted.Load()
			var dst []byte
			if keep {
				dst = []byte("old contents")
			}
			status, body, err := c.Do(t.Context(), &RawRequest{Method: tc.method, Path: tc.path}, dst)
			if err != nil || status != tc.status {
				t.Fatalf("%s %s: %d %v", tc.method, tc.path, status, err)
			}
			if keep && string(body) != tc.want || !keep && body != nil {
				t.Fatalf("%s %s keep=%v: body %q; want %q", tc.method, tc.path, keep, body, tc.want)
			}
			c.mu.Lock()
			idle := len(c.idle)
			c.mu.Unlock()
			if tc.closes != (idle == 0) {
				t.Fatalf("%s %s: %d idle connections after it", tc.method, tc.path, idle)
			}
			// The next request must work, on the same connection unless
			// this one closed it.
			if _, _, err := c.Do(t.Context(), get("/length"), nil); err != nil {
				t.Fatal(err)
			}
			if opened := accepted.Load() - before; (opened == 1) != tc.closes || opened > 1 {
				t.Fatalf("%s %s: it and the next request opened %d connections", tc.method, tc.path, opened)
			}
		}
	}

	// A body without length or chunking ends at EOF; so does an HTTP/1.0
	// response without keep-alive.
	responses := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
		"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nuntil the end",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: keep-alive, close\r\n\r\nuntil the end",
	}
	base, accepted := rawServer(t, func(k int, conn net.Conn, br *bufio.Reader) {
		if _, err := readHead(br, false); err == nil {
			_, _ = io.WriteString(conn, responses[k%len(responses)])
		}
	})
	c = newRaw(t, base)
	for i := range 2 * len(responses) {
		status, body, err := c.Do(t.Context(), get("/"), make([]byte, 0, 4))
		if err != nil || status != 200 || string(body) != "until the end" {
			t.Fatalf("response %d: %d %q %v", i, status, body, err)
		}
	}
	if n := accepted.Load(); n != int64(2*len(responses)) {
		t.Fatalf("%d requests whose responses close the connection used %d connections", 2*len(responses), n)
	}
}

// TestRawClientRequest checks on the server side what a POST sends.
func TestRawClientRequest(t *testing.T) {
	type seen struct {
		method, path, host, auth, ctype, body, ua string
		length                                    int64
	}
	got := make(chan seen, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Host, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b), r.UserAgent(), r.ContentLength}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"token":"new"}`)
	}))
	t.Cleanup(ts.Close)
	body := []byte(`{"user_id":"u","ttl":"1h0m0s"}`)
	for _, tc := range []struct{ base, path string }{{ts.URL, "/v1/sessions"}, {ts.URL + "/api/", "/api/v1/sessions"}} {
		c := newRaw(t, tc.base)
		status, resp, err := c.Do(t.Context(), &RawRequest{Method: "POST", Path: "/v1/sessions", Bearer: secretToken, ContentType: "application/json", Body: body}, nil)
		if err != nil || status != 201 || resp != nil {
			t.Fatalf("%d %q %v", status, resp, err)
		}
		want := seen{"POST", tc.path, strings.TrimPrefix(ts.URL, "http://"), "Bearer " + secretToken, "application/json", string(body), "studio-loadgen", int64(len(body))}
		if s := <-got; s != want {
			t.Fatalf("server saw %+v\nwant %+v", s, want)
		}
	}
	// A POST without a body says so.
	c := newRaw(t, ts.URL)
	if _, _, err := c.Do(t.Context(), &RawRequest{Method: "POST", Path: "/x"}, nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.length != 0 || s.body != "" || s.auth != "" {
		t.Fatalf("POST without body: %+v", s)
	}
	// Fields that would inject headers are refused before anything is sent.
	for _, req := range []*RawRequest{
		{Method: "GET", Path: "/x", Bearer: secretToken + "\r\nX-Evil: 1"},
		{Method: "GET", Path: "/x HTTP/1.1\r\nX-Evil: 1\r\n"},
		{Method: "GE T", Path: "/x"},
		{Method: "GET", Path: "x"},
		{Method: "GET", Path: "/x", ContentType: "a\nb"},
	} {
		if _, _, err := c.Do(t.Context(), req, nil); err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("%q %q: %v", req.Method, req.Path, err)
		}
	}
}

// TestRawClientMalformed: each malformed response is an error naming the
// problem, on that connection only; the next request works on a new one.
func TestRawClientMalformed(t *testing.T) {
	pad := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
	for _, tc := range []struct {
		name, resp string
		hangUp     bool // the server closes the connection after resp
		want       string
	}{
		{"bad status line", "HTTP/1.1 OK\r\n\r\n", false, "malformed status line"},
		{"not http", "SSH-2.0-OpenSSH_9.6\r\n", false, `malformed status line "SSH-2.0-OpenSSH_9.6"`},
		{"http/2 status line", "HTTP/2 200\r\n\r\n", false, "malformed status line"},
		{"status code not numeric", "HTTP/1.1 2x0 OK\r\n\r\n", false, "malformed status line"},
		{"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", false, `malformed Content-Length "abc"`},
		{"negative content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, `malformed Content-Length "-1"`},
		{"huge content length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, "malformed Content-Length"},
		{"conflicting content lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false, "conflicting Content-Length"},
		{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", false, "malformed header line 1"},
		{"header name with space", "HTTP/1.1 200 OK\r\nX-A: 1\r\nBad Name: 2\r\n\r\n", false, "malformed header line 2"},
		{"unsupported transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, "unsupported Transfer-Encoding"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", false, `malformed chunk size "zz"`},
		{"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n", false, "malformed chunk size"},
		{"chunk without line end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n0\r\n\r\n", false, "malformed chunk"},
		{"oversized headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat(pad, 70) + "\r\n", false, "response headers over 64 KiB"},
		{"oversized header line", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n", false, "response headers over 64 KiB"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, "unexpected 101"},
		{"closed before responding", "", true, "read status line: EOF"},
		{"closed in status line", "HTTP/1.1 20", true, "read status line: unexpected EOF"},
		{"closed in headers", "HTTP/1.1 200 OK\r\nContent-Le", true, "read headers: unexpected EOF"},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true, "read body: unexpected EOF"},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true, "read body: unexpected EOF"},
		{"closed before last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", true, "read chunk size: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, accepted := rawServer(t, func(k int, conn net.Conn, br *bufio.Reader) {
				if k > 0 {
					serveOK(conn, br)
					return
				}
				if _, err := readHead(br, false); err != nil {
					return
				}
				_, _ = io.WriteString(conn, tc.resp)
				if !tc.hangUp {
					// Wait for the client to give up on the connection:
					// it must not wait for us to close it.
					_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, _ = io.Copy(io.Discard, br)
				}
			})
			c := newRaw(t, base)
			c.Timeout = 5 * time.Second
			_, _, err := c.Do(t.Context(), get("/v1/session"), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), base+"/v1/session") {
				t.Fatalf("err %v; want %q", err, tc.want)
			}
			t.Logf("%v", err)
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error shows the token: %v", err)
			}
			if k := KindOf(err); k != KindTransport {
				t.Errorf("kind %q; want %q (as net/http's errors)", k, KindTransport)
			}
			// The bad connection is gone: the next request gets a new one.
			if status, body, err := c.Do(t.Context(), get("/v1/session"), []byte{}); err != nil || status != 200 || string(body) != "ok" {
				t.Fatalf("after the malformed response: %d %q %v", status, body, err)
			}
			if n := accepted.Load(); n != 2 {
				t.Fatalf("%d connections; want 2", n)
			}
		})
	}
}

// TestRawClientStaleConnection: a GET on a connection the server has
// closed while idle is sent again on a new one; a POST is not.
func TestRawClientStaleConnection(t *testing.T) {
	var posts atomic.Int64
	base, accepted := rawServer(t, func(k int, conn net.Conn, br *bufio.Reader) {
		post := false
		if method, err := br.Peek(4); err == nil && string(method) == "POST" {
			posts.Add(1)
			post = true
		}
		if _, err := readHead(br, false); err == nil {
			if post {
				_, _ = br.Discard(2) // the body, "{}"
			}
			_, _ = io.WriteString(conn, okResponse)
		}
		// Closes after one response, without saying so.
	})
	c := newRaw(t, base)
	for i := range 3 {
		if _, _, err := c.Do(t.Context(), get("/"), nil); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond) // let the server's FIN arrive
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("3 GETs, each after the server closed the previous connection: %d connections; want 3 (the first, then one per retry)", n)
	}
	// A POST is never sent twice, so the idle connection is checked before
	// it goes out: the server's close is seen and a fresh one is dialled.
	if _, _, err := c.Do(t.Context(), &RawRequest{Method: "POST", Path: "/", Body: []byte("{}")}, nil); err != nil {
		t.Fatalf("POST after the server closed the idle connection: %v", err)
	}
	if n, conns := posts.Load(), accepted.Load(); n != 1 || conns != 4 {
		t.Fatalf("the server saw the POST %d times on %d connections; want once, on a fresh (4th) one", n, conns)
	}
}

// TestRawClientPostNotRetried: a POST the server reads and then drops the
// connection on, without answering, fails; it is not sent again.
func TestRawClientPostNotRetried(t *testing.T) {
	var posts atomic.Int64
	base, accepted := rawServer(t, func(k int, conn net.Conn, br *bufio.Reader) {
		if method, err := br.Peek(4); err == nil && string(method) == "POST" {
			posts.Add(1)
			_, _ = readHead(br, false)
			return // closes without a response
		}
		if _, err := readHead(br, false); err == nil {
			_, _ = io.WriteString(conn, okResponse)
		}
	})
	c := newRaw(t, base)
	_, _, err := c.Do(t.Context(), &RawRequest{Method: "POST", Path: "/", Body: []byte("{}")}, nil)
	if err == nil {
		t.Fatal("a POST the server dropped succeeded")
	}
	t.Logf("POST dropped by the server: %v (kind %s)", err, KindOf(err))
	if n, conns := posts.Load(), accepted.Load(); n != 1 || conns != 1 {
		t.Fatalf("the server saw the POST %d times on %d connections; want it not retried", n, conns)
	}
}

// TestRawClientCancel: a cancelled context, a context deadline and the
// client's timeout each end a request promptly; none disturbs requests
// of other contexts on the same connection.
func TestRawClientCancel(t *testing.T) {
	release := make(chan struct{})
	ts, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/delay":
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer close(release) // before ts.Close, which waits for handlers
	c := newRaw(t, ts.URL)
	prompt := func(t *testing.T, start time.Time) {
		t.Helper()
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("returned after %v", d)
		}
	}

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := c.Do(ctx, get("/slow"), nil)
		prompt(t, start)
		if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("err %v; want context.Canceled", err)
		}
		if _, _, err := c.Do(ctx, get("/"), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("on a cancelled context: %v", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := c.Do(ctx, get("/slow"), nil)
		prompt(t, start)
		if KindOf(err) != KindTimeout {
			t.Fatalf("err %v, kind %q; want %q", err, KindOf(err), KindTimeout)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		c := newRaw(t, ts.URL)
		c.Timeout = 150 * time.Millisecond
		start := time.Now()
		_, _, err := c.Do(context.Background(), get("/slow"), nil)
		prompt(t, start)
		if KindOf(err) != KindTimeout {
			t.Fatalf("err %v, kind %q; want %q", err, KindOf(err), KindTimeout)
		}
	})
	t.Run("stale watch", func(t *testing.T) {
		// A context used earlier on a connection and cancelled later
		// must not abort that connection's next request.
		c := newRaw(t, ts.URL)
		n0 := accepted.Load()
		ctxA, cancelA := context.WithCancel(t.Context())
		if _, _, err := c.Do(ctxA, get("/"), nil); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, cancelA)
		if _, _, err := c.Do(t.Context(), get("/delay"), nil); err != nil {
			t.Fatalf("request on a context other than the cancelled one: %v", err)
		}
		// And one cancelled while the connection was idle.
		ctxB, cancelB := context.WithCancel(t.Context())
		if _, _, err := c.Do(ctxB, get("/"), nil); err != nil {
			t.Fatal(err)
		}
		cancelB()
		time.Sleep(10 * time.Millisecond)
		if _, _, err := c.Do(context.Background(), get("/delay"), nil); err != nil {
			t.Fatal(err)
		}
		if n := accepted.Load() - n0; n != 1 {
			t.Fatalf("%d connections; want 1", n)
		}
	})
}

// TestRawClientErrorsHideToken: whatever fails, and whatever the server
// echoes back, no error shows the bearer token.
func TestRawClientErrorsHideToken(t *testing.T) {
	templates := []string{
		"HTTP/1.1 AUTH\r\n\r\n",
		"HTTP/1.1 200 AUTH\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: AUTH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nAUTH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: AUTH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nAUTH\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nAUTH",
	}
	base, _ := rawServer(t, func(k int, conn net.Conn, br *bufio.Reader) {
		auth, err := readHead(br, true)
		if err == nil {
			_, _ = io.WriteString(conn, strings.ReplaceAll(templates[k], "AUTH", auth))
		}
	})
	c := newRaw(t, base)
	c.Timeout = 3 * time.Second
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("%s: error shows the token: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	for i := range templates {
		_, _, err := c.Do(t.Context(), get("/"), nil)
		check(fmt.Sprintf("echo %d", i), err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	_, _, err = newRaw(t, refused).Do(t.Context(), get("/"), nil)
	check("refused", err)
	if KindOf(err) != KindRefused {
		t.Errorf("refused dial: kind %q", KindOf(err))
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, _, err = newRaw(t, slow.URL).Do(ctx, get("/"), nil)
	check("timeout", err)

	// Through the target, for the admin token and a session token.
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	defer deny.Close()
	tg := &HTTPTarget{Base: deny.URL, AdminToken: secretToken, Raw: true}
	_, err = tg.Create(t.Context())
	check("create refused", err)
	check("validate refused", tg.Validate(t.Context(), secretToken))
}

// TestHTTPTargetStatusKinds: both clients map every status to the same
// outcome.
func TestHTTPTargetStatusKinds(t *testing.T) {
	// The bearer token is the status to answer with.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(code)
		if code == http.StatusCreated {
			_, _ = io.WriteString(w, `{"token":"t"}`)
		}
	}))
	t.Cleanup(ts.Close)
	targets := map[string]func(admin string) *HTTPTarget{
		"net/http": func(admin string) *HTTPTarget {
			return &HTTPTarget{Base: ts.URL, AdminToken: admin, Client: NewHTTPClient(2, 5*time.Second)}
		},
		"raw": func(admin string) *HTTPTarget { return &HTTPTarget{Base: ts.URL, AdminToken: admin, Raw: true} },
	}
	for _, tc := range []struct {
		code                     int
		validate, create, revoke string
	}{
		{200, "", "http_200", "http_200"},
		{201, "http_201", "", "http_201"},
		{204, "http_204", "http_204", ""},
		{400, KindInvalid, KindInvalid, KindInvalid},
		{401, KindRejected, KindRejected, KindRejected},
		{403, "http_403", "http_403", "http_403"},
		{404, "http_404", "http_404", "http_404"},
		{429, "http_429", "http_429", "http_429"},
		{500, "http_500", "http_500", "http_500"},
		{502, "http_502", "http_502", "http_502"},
		{503, KindUnavailable, KindUnavailable, KindUnavailable},
	} {
		code := strconv.Itoa(tc.code)
		for name, mk := range targets {
			tg := mk(code)
			_, cerr := tg.Create(t.Context())
			got := [3]string{KindOf(tg.Validate(t.Context(), code)), KindOf(cerr), KindOf(tg.Revoke(t.Context(), code))}
			if want := [3]string{tc.validate, tc.create, tc.revoke}; got != want {
				t.Errorf("%s, status %d: validate/create/revoke kinds %q; want %q", name, tc.code, got, want)
			}
			tg.CloseIdleConnections()
		}
	}
}

// raceEnabled reports whether the test binary was built with -race, under
// which allocation counts are not the real ones.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestRawClientAllocs counts the allocations of a validation on a warm
// connection, against a raw server that allocates nothing itself
// (testing.AllocsPerRun counts the whole process).
func TestRawClientAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts differ under the race detector")
	}
	base, _ := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) { serveOK(conn, br) })
	c := newRaw(t, base)
	tg := &HTTPTarget{Base: base, Raw: true}
	t.Cleanup(tg.CloseIdleConnections)
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := get("/v1/session")
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"RawClient.Do, background context", func() { _, _, _ = c.Do(context.Background(), req, nil) }},
		{"RawClient.Do, cancellable context", func() { _, _, _ = c.Do(cancelable, req, nil) }},
		{"HTTPTarget.Validate (Raw), cancellable context", func() { _ = tg.Validate(cancelable, secretToken) }},
	} {
		for range 20 { // warm up: connection, buffers, the watch
			tc.f()
		}
		allocs := testing.AllocsPerRun(300, tc.f)
		t.Logf("%s: %.2f allocations per request", tc.name, allocs)
		if allocs > 2 {
			t.Errorf("%s: %.2f allocations per request; want ≤ 2", tc.name, allocs)
		}
	}
	if err := tg.Validate(cancelable, secretToken); err != nil {
		t.Fatal(err)
	}
}

// FuzzRawResponse feeds arbitrary bytes to the response parser as what a
// server sent on a keep-alive connection: it must not panic, and each
// response is either a final status or an error.
func FuzzRawResponse(f *testing.F) {
	for _, s := range []string{
		okResponse,
		okResponse + okResponse,
		"HTTP/1.1 204 No Content\r\n\r\n" + okResponse,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n" + okResponse,
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 13\r\n\r\n{\"token\":\"t\"}",
		"HTTP/1.0 200 OK\r\n\r\nuntil eof",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"HTTP/1.1 200 " + secretToken + "\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head, keep bool) {
		br := bufio.NewReaderSize(bytes.NewReader(data), rawReadBufferSize)
		var scratch []byte
		method := "GET"
		if head {
			method = "HEAD"
		}
		for range 4 { // responses one after another, as on one connection
			var dst []byte
			if keep {
				dst = make([]byte, 0, 8)
			}
			resp, _, err := readResponse(br, &scratch, method, secretToken, keep, dst)
			if err != nil {
				if resp.status != 0 || resp.body != nil || err.Error() == "" {
					t.Fatalf("error %v with response %+v", err, resp)
				}
				if strings.Contains(err.Error(), secretToken) {
					t.Fatalf("error shows the token: %v", err)
				}
				return
			}
			if resp.status < 200 || resp.status > 999 {
				t.Fatalf("final status %d", resp.status)
			}
			if keep != (resp.body != nil) || len(resp.body) > rawMaxBody {
				t.Fatalf("keep %v: body of %d bytes (nil %v)", keep, len(resp.body), resp.body == nil)
			}
			if resp.close {
				return
			}
		}
	})
}

// BenchmarkRawVsNetHTTP: sequential validations (GET with a bearer
// token) against one empty 200 handler, with each client. allocs/op
// counts the whole process, so it includes the server's own (the same
// for both); TestRawClientAllocs counts the raw client's alone.
func BenchmarkRawVsNetHTTP(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer ts.Close()
	for _, tc := range []struct {
		name string
		tg   *HTTPTarget
	}{
		{"raw", &HTTPTarget{Base: ts.URL, Raw: true}},
		{"net_http", &HTTPTarget{Base: ts.URL, Client: NewHTTPClient(1, 10*time.Second)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer tc.tg.CloseIdleConnections()
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.tg.Validate(ctx, secretToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
