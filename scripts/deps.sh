#!/usr/bin/env bash
# The system packages the README's commands need on Debian, installed with
# apt-get when missing:
#
#   scripts/deps.sh up     what `make up` needs: redis-server
#   scripts/deps.sh test   what `make test` (and CI) needs: redis-server,
#                          PostgreSQL, python3, curl, systemd-analyze,
#                          Chromium, the CA bundle, Node.js and npm
#
# With everything there it does nothing. As root it installs what is
# missing (`make up`, `make test` and .ci/run call it first); otherwise it
# prints the one command that would, and exits 1. Go itself (go.mod's
# version) is not a Debian package: it is checked, not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-}
case "$profile" in
up | test) ;;
*)
	echo "usage: scripts/deps.sh up|test" >&2
	exit 2
	;;
esac

need=()
# Studio's local Redis, and every test's (internal/redistest).
command -v redis-server >/dev/null || need+=(redis-server)

if [ "$profile" = test ]; then
	# PostgreSQL: the tests use the server at STUDIO_TEST_POSTGRES_URL
	# (default 127.0.0.1:5432); when none answers, scripts/test.sh starts a
	# throw-away one, which needs the server binaries.
	command -v pg_isready >/dev/null || need+=(postgresql-client)
	pg_url="${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null &&
		! { command -v pg_isready >/dev/null && pg_isready -q -d "$pg_url" -t 3; }; then
		need+=(postgresql)
	fi
	# scripts/test.sh picks the throw-away server's port with python3.
	command -v python3 >/dev/null || need+=(python3)
	# The `studio up` test runs the banner's curl lines as printed.
	command -v curl >/dev/null || need+=(curl)
	# The systemd unit's checks run systemd-analyze (no running systemd needed).
	command -v systemd-analyze >/dev/null || need+=(systemd)
	# The dashboard's browser tests drive the system Chromium (chromedp).
	command -v chromium >/dev/null || need+=(chromium)
	# The container image (make image and its test) carries Debian's CA bundle.
	[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
	# The TypeScript client's build and tests (Node ≥ 20).
	command -v node >/dev/null || need+=(nodejs)
	command -v npm >/dev/null || need+=(npm)
fi

gomissing=""
command -v go >/dev/null || gomissing="Go ($(sed -n 's/^go //p' go.mod) or later, https://go.dev/dl/) is not on PATH"

if [ ${#need[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null; then
		echo "scripts/deps.sh: missing ${need[*]} (Debian package names); install them with your package manager" >&2
		exit 1
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "scripts/deps.sh: missing ${need[*]}; install with:" >&2
		echo "  sudo apt-get install -y ${need[*]}" >&2
		exit 1
	fi
	echo "scripts/deps.sh: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -n "$gomissing" ]; then
	echo "scripts/deps.sh: $gomissing" >&2
	exit 1
fi
