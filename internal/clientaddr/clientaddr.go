// Package clientaddr decides who a request comes from and over which
// scheme, behind TLS-terminating proxies: the client's address (for the
// admin throttle and the access log) and whether the client's own
// connection was https (for the dashboard cookie's Secure flag).
//
// X-Forwarded-For and X-Forwarded-Proto are read only when the TCP peer
// is a trusted proxy; from anyone else they are ignored, since any client
// can write them.
package clientaddr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Client is who a request comes from, as the trusted-proxy rules decide.
type Client struct {
	// Addr is the client's address; invalid when it is not known (a
	// RemoteAddr that is not an IP address).
	Addr netip.Addr
	// HTTPS reports whether the client's own connection was https: TLS
	// to Studio, or X-Forwarded-Proto: https from a trusted proxy.
	HTTPS bool
}

// String is the address for logs ("unknown" when not known).
func (c Client) String() string {
	if !c.Addr.IsValid() {
		return "unknown"
	}
	return c.Addr.String()
}

// maxHops bounds the X-Forwarded-For entries looked at.
const maxHops = 32

// Resolver applies the trusted-proxy rules. The zero value and nil trust
// no proxy. It is safe for concurrent use and never changes.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver trusting the proxies in trusted.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes
// (10.0.0.0/8, fd00::/8); a bare address stands for itself alone. The
// error names the first bad entry.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := parsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("entry %q: want a CIDR prefix like 10.0.0.0/8 or fd00::/8, or an IP address", part)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("a zone has no prefix")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusts reports whether a is a trusted proxy.
func (r *Resolver) Trusts(a netip.Addr) bool {
	if r == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve decides req's client. The TCP peer is the client unless it is a
// trusted proxy; then the client is the right-most X-Forwarded-For entry
// that is not itself a trusted proxy (each proxy appends the address it
// got the request from, so entries to its left are the client's word and
// are not believed), and X-Forwarded-Proto's last value gives the scheme.
func (r *Resolver) Resolve(req *http.Request) Client {
	return r.resolve(req.RemoteAddr, req.Header.Values("X-Forwarded-For"), req.Header.Values("X-Forwarded-Proto"), req.TLS != nil)
}

func (r *Resolver) resolve(remoteAddr string, xff, proto []string, tls bool) Client {
	c := Client{Addr: parseHost(remoteAddr), HTTPS: tls}
	if !r.Trusts(c.Addr) {
		return c
	}
	c.Addr = r.forwardedFor(c.Addr, xff)
	if p, ok := lastValue(proto); ok {
		switch strings.ToLower(p) {
		case "https":
			c.HTTPS = true
		case "http":
			c.HTTPS = false
		}
	}
	return c
}

// forwardedFor walks the X-Forwarded-For entries from the right, from the
// trusted peer: past trusted proxies, up to the first address that is
// not one. An entry that is not an address stops the walk at the hop
// that wrote it; when every entry is trusted, the left-most is the
// client.
func (r *Resolver) forwardedFor(peer netip.Addr, xff []string) netip.Addr {
	var entries []string
	for _, v := range xff {
		entries = append(entries, strings.Split(v, ",")...)
	}
	client := peer
	for i, hops := len(entries)-1, 0; i >= 0 && hops < maxHops; i, hops = i-1, hops+1 {
		e := strings.TrimSpace(entries[i])
		if e == "" {
			continue
		}
		a := parseHost(e)
		if !a.IsValid() {
			return client
		}
		client = a
		if !r.Trusts(a) {
			return a
		}
	}
	return client
}

// lastValue is the last comma-separated value of a header, trimmed.
func lastValue(vals []string) (string, bool) {
	if len(vals) == 0 {
		return "", false
	}
	v := vals[len(vals)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// parseHost parses an address, with or without a port or brackets
// (192.0.2.1, 192.0.2.1:80, 2001:db8::1, [2001:db8::1]:80); invalid when
// it is none of these.
func parseHost(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

type ctxKey struct{}

// With returns ctx carrying c: the server's middleware decides the
// client once, and every handler reads it with FromRequest.
func With(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromRequest returns the Client a middleware put in req's context, or,
// without one, the TCP peer and the connection's own TLS (no proxy
// trusted).
func FromRequest(req *http.Request) Client {
	if c, ok := req.Context().Value(ctxKey{}).(Client); ok {
		return c
	}
	return (*Resolver)(nil).Resolve(req)
}
