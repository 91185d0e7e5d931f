package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is an HTTP proxy in front of the real Studio that can hold
// every answer for a delay (Studio slow) or drop answers after Studio has
// acted on the request (a lost response). It counts the requests it
// forwards. It never answers in Studio's place.
type faultProxy struct {
	URL      string
	upstream *url.URL
	rt       *http.Transport
	delay    atomic.Int64 // nanoseconds before each answer
	drop     atomic.Int64 // answers still to drop
	requests atomic.Int64
}

func newFaultProxy(tb testing.TB, upstream string) *faultProxy {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	p := &faultProxy{upstream: u, rt: &http.Transport{}}
	srv := httptest.NewServer(p)
	tb.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); p.rt.CloseIdleConnections() })
	p.URL = srv.URL
	return p
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = p.upstream.Scheme, p.upstream.Host, "", ""
	resp, err := p.rt.RoundTrip(out)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d := time.Duration(p.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if p.drop.Add(-1) >= 0 {
		// Studio has acted on the request; the client never hears of it.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	p.drop.Store(0)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
