package clientaddr

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustResolver(t testing.TB, s string) *Resolver {
	t.Helper()
	ps, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return NewResolver(ps)
}

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{" 10.0.0.0/8 , 192.168.1.7 ,fd00::/8,::1", []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"2001:db8::/32,", []string{"2001:db8::/32"}},
	} {
		ps, err := ParsePrefixes(tc.in)
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParsePrefixes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"proxy.internal", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "10.0.0.0/8;10.1.0.0/16", "1.2.3.4:80", "fe80::1%eth0"} {
		if _, err := ParsePrefixes(bad); err == nil || !strings.Contains(err.Error(), "want a CIDR prefix") {
			t.Errorf("ParsePrefixes(%q): err %v, want a refusal", bad, err)
		}
	}
}

// TestResolve: X-Forwarded-For and -Proto count only from a trusted
// peer; then the client is the right-most untrusted entry.
func TestResolve(t *testing.T) {
	r := mustResolver(t, "10.0.0.0/8, fd00::/8")
	for _, tc := range []struct {
		name, peer string
		xff, proto []string
		tls        bool
		want       string
		https      bool
	}{
		{"no proxy", "198.51.100.7:4000", nil, nil, false, "198.51.100.7", false},
		{"TLS to Studio itself", "198.51.100.7:4000", nil, nil, true, "198.51.100.7", true},
		{"spoofed from an untrusted peer", "198.51.100.7:4000", []string{"203.0.113.1"}, []string{"https"}, false, "198.51.100.7", false},
		{"from a trusted proxy", "10.0.0.2:5000", []string{"203.0.113.1"}, []string{"https"}, false, "203.0.113.1", true},
		{"the client's own entries are not believed", "10.0.0.2:5000", []string{"1.1.1.1, 203.0.113.1"}, nil, false, "203.0.113.1", false},
		{"a chain of trusted proxies", "10.0.0.2:5000", []string{"203.0.113.1, 10.9.9.9", "10.0.0.3"}, []string{"https, http"}, false, "203.0.113.1", false},
		{"proto http over TLS from the proxy", "10.0.0.2:5000", nil, []string{"http"}, true, "10.0.0.2", false},
		{"unknown proto ignored", "10.0.0.2:5000", nil, []string{"gopher"}, false, "10.0.0.2", false},
		{"garbage entry stops at the proxy that wrote it", "10.0.0.2:5000", []string{"203.0.113.1, not-an-ip"}, nil, false, "10.0.0.2", false},
		{"garbage left of the client is not looked at", "10.0.0.2:5000", []string{"garbage, 203.0.113.1"}, nil, false, "203.0.113.1", false},
		{"every entry trusted: the left-most", "10.0.0.2:5000", []string{"10.1.1.1, 10.2.2.2"}, nil, false, "10.1.1.1", false},
		{"entries with ports and brackets", "[fd00::1]:443", []string{"[2001:db8::5]:1234"}, nil, false, "2001:db8::5", false},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:5000", []string{"203.0.113.1:80"}, nil, false, "203.0.113.1", false},
		{"peer not an address", "@unix", []string{"203.0.113.1"}, nil, false, "unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.proto {
				req.Header.Add("X-Forwarded-Proto", v)
			}
			if tc.tls {
				req.TLS = &tlsState
			}
			c := r.Resolve(req)
			if c.String() != tc.want || c.HTTPS != tc.https {
				t.Fatalf("Resolve = %s https=%v, want %s https=%v", c, c.HTTPS, tc.want, tc.https)
			}
		})
	}
	var none *Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr, req.Header = "10.0.0.2:1", http.Header{"X-Forwarded-For": {"203.0.113.1"}}
	if c := none.Resolve(req); c.String() != "10.0.0.2" {
		t.Fatalf("a nil Resolver trusts no one: %s", c)
	}
	if c := FromRequest(req.WithContext(With(req.Context(), Client{Addr: netip.MustParseAddr("192.0.2.9")}))); c.String() != "192.0.2.9" {
		t.Fatalf("FromRequest with a Client in the context: %s", c)
	}
}

// FuzzClientAddr: whatever a client sends in X-Forwarded-For and
// X-Forwarded-Proto, the address decided is the untrusted peer's when the
// peer is untrusted, and otherwise the peer's or an entry of the header;
// parsing never panics.
func FuzzClientAddr(f *testing.F) {
	r := mustResolver(f, "10.0.0.0/8, fd00::/8")
	f.Add("10.0.0.2:5000", "203.0.113.1, 10.0.0.3", "https")
	f.Add("198.51.100.7:1", "10.0.0.1", "http")
	f.Add("[fd00::1]:443", "[2001:db8::5]:1234,,", "HTTPS , http")
	f.Add("10.0.0.2:5000", "::ffff:1.2.3.4%eth0, [", ",")
	f.Fuzz(func(t *testing.T, peer, xff, proto string) {
		c := r.resolve(peer, []string{xff}, []string{proto}, false)
		p := parseHost(peer)
		if !r.Trusts(p) {
			if c.Addr != p || c.HTTPS {
				t.Fatalf("untrusted peer %q: got %v https=%v", peer, c.Addr, c.HTTPS)
			}
			return
		}
		if c.Addr == p {
			return
		}
		found := false
		for e := range strings.SplitSeq(xff, ",") {
			if parseHost(strings.TrimSpace(e)) == c.Addr {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %v is neither the peer %q nor in X-Forwarded-For %q", c.Addr, peer, xff)
		}
	})
}

var tlsState = tls.ConnectionState{HandshakeComplete: true}
