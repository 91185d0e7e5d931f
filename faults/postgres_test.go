package faults_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// privatePostgres is a throw-away PostgreSQL cluster this test alone uses,
// so stopping it hurts no other test. Started like scripts/test.sh starts
// one: initdb + pg_ctl in a temporary directory on a free port, trust
// authentication, fsync off, run as the postgres user when the test runs
// as root (PostgreSQL refuses to run as root).
type privatePostgres struct {
	t      *testing.T
	pgCtl  string
	dir    string
	port   int
	asUser bool
}

// pgBinary finds a PostgreSQL server binary: /usr/lib/postgresql/*/bin
// (Debian), else PATH. The test fails, never skips, when it is missing.
func pgBinary(t *testing.T, name string) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1] // the highest version
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("PostgreSQL's %s not found in /usr/lib/postgresql/*/bin or on PATH: this test starts its own PostgreSQL; install the Debian package postgresql (apt-get install postgresql)", name)
	return ""
}

// startPostgres starts a private PostgreSQL and returns it; it is stopped
// and its directory removed when the test ends.
func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	initdb := pgBinary(t, "initdb")
	pg := &privatePostgres{t: t, pgCtl: pgBinary(t, "pg_ctl"), asUser: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "studio-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if pg.asUser {
		if _, err := user.Lookup("postgres"); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "postgres").CombinedOutput(); err != nil {
				t.Fatalf("create the postgres user to run PostgreSQL as (it refuses root): %v: %s", err, out)
			}
		}
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v: %s", dir, err, out)
		}
	}
	pg.port = freePort(t)
	if out, err := pg.command(initdb, "-D", pg.data(), "-U", "postgres", "--auth=trust").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = pg.run("-m", "immediate", "stop") })
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	return pg
}

func (pg *privatePostgres) data() string { return filepath.Join(pg.dir, "data") }

// DSN is the URL of the cluster's postgres database.
func (pg *privatePostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

func (pg *privatePostgres) command(bin string, args ...string) *exec.Cmd {
	if pg.asUser {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (pg *privatePostgres) run(args ...string) error {
	args = append([]string{"-D", pg.data()}, args...)
	out, err := pg.command(pg.pgCtl, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Start starts the server on its port and waits until it accepts
// connections.
func (pg *privatePostgres) Start() error {
	opts := "-c listen_addresses=127.0.0.1 -p " + strconv.Itoa(pg.port) + " -k " + pg.dir + " -c fsync=off"
	return pg.run("-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "-o", opts, "start")
}

// Crash stops the server at once (pg_ctl stop -m immediate: every backend
// is killed, no checkpoint, crash recovery at the next start).
func (pg *privatePostgres) Crash() error { return pg.run("-m", "immediate", "stop") }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
