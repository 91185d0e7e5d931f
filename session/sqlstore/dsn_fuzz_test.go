package sqlstore

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseDSN: no DSN panics the parser, and a refusal never quotes the
// password of a postgres URL.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"postgres://u:secretpw@h:5432/db", "postgresql://h/db?sslmode=disable", "sqlite:studio.db",
		"sqlite:", "sqlite::memory:", "", "mysql://x", "postgres://u:p%zz@h/db", "sqlite:/tmp/a?b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		_, _, err := parseDSN(dsn)
		if err == nil {
			return
		}
		if u, perr := url.Parse(strings.TrimSpace(dsn)); perr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 6 && strings.Contains(err.Error(), pw) {
				t.Fatalf("error quotes the password: %v", err)
			}
		}
	})
}
