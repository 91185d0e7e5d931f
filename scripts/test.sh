#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, vet, staticcheck, then
# every test with the race detector against real redis-server, PostgreSQL
# and SQLite.
#
# Needs Go, redis-server, helm and promtool on PATH (scripts/deps.sh test
# installs the Debian packages, scripts/tools.sh helm and promtool; make
# test runs both first).
# PostgreSQL: the server named by
# STUDIO_TEST_POSTGRES_URL (default: this machine's, 127.0.0.1:5432); when
# none answers, a throw-away PostgreSQL is started in a temporary directory
# for the run and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
export STUDIO_TEST_POSTGRES_URL="${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"

die() { echo "scripts/test.sh: $*" >&2; exit 1; }

command -v go >/dev/null || die "go not found on PATH"
command -v redis-server >/dev/null || die "redis-server not found: scripts/deps.sh test installs it (make test runs it first)"
# Tools installed with `go install` (scripts/tools.sh puts them in
# /usr/local/bin; a developer's may be in GOPATH/bin).
export PATH="$PATH:$(go env GOPATH)/bin"
command -v helm >/dev/null || die "helm not found: scripts/tools.sh installs it (make test runs it first)"
command -v promtool >/dev/null || die "promtool not found: scripts/tools.sh installs it (make test runs it first)"

pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/$1" ] && { echo "$d/$1"; return; }
	done
	command -v "$1" || true
}

PG_TMP=""
STUDIO_BIN_DIR=""
cleanup() {
	[ -z "$STUDIO_BIN_DIR" ] || rm -rf "$STUDIO_BIN_DIR"
	if [ -n "$PG_TMP" ]; then
		run_pg "$(pg_bin pg_ctl)" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$PG_TMP"
	fi
}
trap cleanup EXIT

# PostgreSQL refuses to run as root; run it as the postgres user then.
run_pg() {
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_throwaway_postgres() {
	local initdb pg_ctl port
	initdb=$(pg_bin initdb)
	pg_ctl=$(pg_bin pg_ctl)
	[ -n "$initdb" ] && [ -n "$pg_ctl" ] || die "no PostgreSQL answers at STUDIO_TEST_POSTGRES_URL and initdb is not installed: scripts/deps.sh test installs it (make test runs it first)"
	PG_TMP=$(mktemp -d /tmp/studio-pg.XXXXXX)
	chmod 755 "$PG_TMP"
	[ "$(id -u)" = 0 ] && chown postgres "$PG_TMP"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	run_pg "$initdb" -D "$PG_TMP/data" -U postgres --auth=trust >/dev/null
	run_pg "$pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off" start >/dev/null
	export STUDIO_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	echo "scripts/test.sh: started a throw-away PostgreSQL on 127.0.0.1:$port"
}

if ! pg_isready -q -d "$STUDIO_TEST_POSTGRES_URL" -t 3 2>/dev/null; then
	start_throwaway_postgres
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || die "gofmt needed on: $unformatted"
echo "== go vet"
go vet ./...
echo "== staticcheck"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
echo "== build studio for the client tests"
# The clients' and examples' tests run this binary as a real `studio serve`
# (STUDIO_BIN), so it is built once here rather than by each of them.
STUDIO_BIN_DIR=$(mktemp -d /tmp/studio-bin.XXXXXX)
go build -o "$STUDIO_BIN_DIR/studio" ./cmd/studio
export STUDIO_BIN="$STUDIO_BIN_DIR/studio"
echo "== go test -race"
# Two cores: two packages at a time. The fault-injection tests (faults/)
# hold real outages for seconds and assert what Studio does inside its
# time bounds, so they run afterwards, alone, not beside another package's
# load.
if [ $# -eq 0 ]; then
	go test -race -count=1 -p 2 -timeout 10m $(go list ./... | grep -v '/faults$')
	go test -race -count=1 -timeout 10m ./faults/
else
	go test -race -count=1 -p 2 -timeout 10m "$@" ./...
fi
if [ $# -eq 0 ]; then
	echo "== TypeScript client (clients/typescript) against a real studio serve"
	command -v node >/dev/null && command -v npm >/dev/null || die "node and npm not found: apt-get install nodejs npm (.ci/run installs them)"
	(
		cd clients/typescript
		# npm ci only when node_modules is missing or differs from the lockfile.
		if [ ! -f node_modules/.package-lock.json ] || ! cmp -s \
			<(node -e 'const l=require("./package-lock.json");delete l.packages[""];console.log(JSON.stringify(l.packages))') \
			<(node -e 'const l=require("./node_modules/.package-lock.json");console.log(JSON.stringify(l.packages))'); then
			npm ci --no-audit --no-fund
		fi
		npm run build
		npm test
	) || die "TypeScript client tests failed"
	echo "== timing bounds without the race detector"
	# The race detector slows goroutines several-fold; the revocation test's
	# 10 ms bound is asserted here, on an otherwise idle machine.
	go test -count=1 -run '^TestRevokeRace$' ./session/
fi
