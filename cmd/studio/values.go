package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Checks of setting values. Their errors never include a value that may be
// secret; the caller names the setting.

// checkHTTPURL accepts an absolute http(s) URL with a host; http only for
// loopback hosts when httpsOnly is set (webhook URLs carry their secret).
func checkHTTPURL(s string, httpsOnly bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("want an absolute http:// or https:// URL")
	}
	if httpsOnly && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("must use https:// (plain http only to a loopback address)")
		}
	}
	return nil
}

func durationIn(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration (examples: 500ms, 5s, 10m)")
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("must be between %s and %s", lo, hi)
	}
	return d, nil
}

// checkHostPort accepts host:port with a numeric port; the host may be
// empty when emptyHost is set (listen on every interface).
func checkHostPort(s string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if host == "" && !emptyHost {
		return fmt.Errorf("the host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535")
	}
	return nil
}

func hostPortList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if err := checkHostPort(part, false); err != nil {
			return nil, fmt.Errorf("entry %q: %v", part, err)
		}
		if p, _ := strconv.Atoi(part[strings.LastIndexByte(part, ':')+1:]); p == 0 {
			return nil, fmt.Errorf("entry %q: port must not be 0", part)
		}
		out = append(out, part)
	}
	return out, nil
}

// checkRedisURL never includes the URL in its errors: it can hold a
// password.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("scheme must be redis:// or rediss://")
	}
	if u.Host == "" {
		return fmt.Errorf("the host is missing")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number from 1 to 65535")
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("the path must be a database number like /0")
		}
	}
	return nil
}

// checkDatabaseURL never includes the URL in its errors.
func checkDatabaseURL(s string) error {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		if strings.TrimPrefix(s, "sqlite:") == "" {
			return fmt.Errorf("sqlite: needs a file path, as in sqlite:studio.db")
		}
		return nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("malformed postgres URL; expected postgres://user@host:port/db")
		}
		return nil
	}
	return fmt.Errorf("must be postgres://… (or postgresql://…) or sqlite:PATH")
}

// control reports an ASCII control character; spaceOrControl also a
// space. Secrets and tokens may contain neither.
func control(r rune) bool        { return r < ' ' || r == 0x7f }
func spaceOrControl(r rune) bool { return r == ' ' || control(r) }
