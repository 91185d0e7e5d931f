#!/usr/bin/env bash
# make sizing: what one `studio serve` instance uses at its default
# settings as the number of active sessions grows — the sizing table of
# docs/DEPLOY.md.
#
# For each N in SIZES it starts a fresh redis-server and `studio serve`
# (PostgreSQL: a throw-away database on STUDIO_TEST_POSTGRES_URL, or
# SQLite with STORE=sqlite), creates N sessions through the API, then
# validates them uniformly at random (every session in use) for DURATION
# at RATE validations per second, and reads: the process's resident memory
# at the end and its peak (VmRSS, VmHWM), its Go heap in use, the
# validations' rate and p99, its connections to Redis and to PostgreSQL,
# and Redis's used_memory. It prints one Markdown table row per N.
#
# Environment: SIZES ("10000 100000 1000000"), DURATION (60s), RATE (2000),
# STORE (postgres), GO (go), KEEP=1 keeps the work directory (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
SIZES=${SIZES:-10000 100000 1000000}
DURATION=${DURATION:-60s}
RATE=${RATE:-2000}
STORE=${STORE:-postgres}
PGURL=${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

for cmd in redis-server redis-cli curl python3 psql; do
	command -v "$cmd" >/dev/null || { echo "sizing: $cmd is not on PATH" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/studio-sizing.XXXXXX")
redis_pid= serve_pid= db=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_instance
	[[ ${KEEP:-0} == 1 ]] && echo "sizing: work directory kept: $work" >&2 || rm -rf "$work"
	exit "$rc"
}
stop_instance() {
	for pid in $serve_pid $redis_pid; do kill "$pid" 2>/dev/null || true; done
	for pid in $serve_pid $redis_pid; do wait "$pid" 2>/dev/null || true; done
	serve_pid= redis_pid=
	if [[ -n $db ]]; then
		psql -q "$PGURL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
		db=
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$serve_pid/status"; }
metric() { curl -fsS "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

$GO build -o "$work/studio" ./cmd/studio
admin=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

echo "| sessions | RSS at the end | peak RSS | Go heap in use | validations (open loop) | connections to Redis | connections to PostgreSQL | Redis used_memory |"
echo "|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
	rport=$(freeport)
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir "$work" --logfile "$work/redis-$n.log" &
	redis_pid=$!
	until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
	if [[ $STORE == postgres ]]; then
		db=studio_sizing_$$_$n
		psql -q "$PGURL" -c "CREATE DATABASE $db" >/dev/null
		dburl=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PGURL" "$db")
	else
		dburl=sqlite:$work/studio-$n.db
	fi
	sport=$(freeport)
	base=http://127.0.0.1:$sport
	STUDIO_ADDR=127.0.0.1:$sport STUDIO_ADMIN_TOKEN=$admin REDIS_URL=redis://127.0.0.1:$rport/0 \
		DATABASE_URL=$dburl STUDIO_LOG_LEVEL=warn "$work/studio" serve >"$work/serve-$n.log" 2>&1 &
	serve_pid=$!
	until curl -fsS "$base/healthz" >/dev/null 2>&1; do sleep 0.05; done
	# Create the sessions (closed loop), then validate them uniformly at
	# RATE: every session in use.
	echo "sizing: $n sessions: creating them, then validating at $RATE/s for $DURATION" >&2
	STUDIO_ADMIN_TOKEN=$admin "$work/studio" bench --target http --url "$base" --sessions "$n" \
		--mix validate=1 --zipf 0 --concurrency 32 --rate "$RATE" --warmup 5s \
		--duration "$DURATION" --json >"$work/bench-$n.json"
	rss=$(kib VmRSS) hwm=$(kib VmHWM)
	heap=$(metric go_memstats_heap_inuse_bytes)
	rconn=$(redis-cli -p "$rport" client list | grep -vc 'cmd=client|list' || true)
	pconn=0
	[[ $STORE == postgres ]] && pconn=$(psql -tA "$PGURL" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'")
	rmem=$(redis-cli -p "$rport" info memory | awk -F: '$1 == "used_memory" {print $2}' | tr -d '\r')
	python3 - "$n" "$rss" "$hwm" "$heap" "$rconn" "$pconn" "$rmem" "$work/bench-$n.json" <<'EOF'
import json, sys
n, rss, hwm, heap, rconn, pconn, rmem, path = sys.argv[1:]
r = json.load(open(path))
v = r["validate"]
mib = lambda b: f"{b / 2**20:.0f} MiB"
print(f"| {int(n):,} | {mib(int(rss) * 1024)} | {mib(int(hwm) * 1024)} | {mib(float(heap))} | "
      f"{v['ops_per_sec']:.0f}/s, p99 {v['p99_us'] / 1000:.2f} ms, {v['errors']} errors | {rconn} | {pconn} | {mib(int(rmem))} |")
EOF
	stop_instance
done
