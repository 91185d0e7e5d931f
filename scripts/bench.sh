#!/usr/bin/env bash
# make bench: the load-tool benchmarks behind docs/PERFORMANCE.md, each
# beside its baselines from the same run, then the go-test benchmarks.
#
# It starts its own redis-server and `studio serve` (SQLite in a temp dir)
# on free loopback ports, runs every target ROUNDS times interleaved
# (round 1: all targets, round 2: all targets, …), rewrites the section of
# docs/PERFORMANCE.md between <!-- bench:begin --> and <!-- bench:end -->
# with scripts/benchtables, and stops everything it started on exit, even
# on failure.
#
# CPU placement (PIN, default auto: on when there are 2 or more CPUs and
# taskset is installed): the load generator of every HTTP run gets the
# first half of the physical cores and the servers it drives (`studio
# serve`, and the empty handler and the common-way store, each in a process
# of its own via `studio bench --serve`) the second half, as a generator on
# another machine would leave the server its cores; on two cores, one each
# (hyperthreads of one core stay on the same side). Without
# it the generator and the server take turns on the same cores, and the
# p99 is mostly the kernel's time slices. redis-server and the in-process
# targets are not pinned. PIN=0 turns placement off; PIN=1 insists on it.
#
# Sections (BENCH): default (the tables above, then the go-test
# benchmarks), scale (Studio at a million sessions beside its plain
# baselines: scripts/benchscale.sh, the section between
# <!-- bench-scale:begin --> and <!-- bench-scale:end -->), or all (both).
# `make bench` runs default; `BENCH=scale make bench` the scale section.
#
# Environment: DURATION (10s) and WARMUP (2s) per `studio bench` run,
# CONCURRENCY (32), ROUNDS (2), REQUESTS (200000, redis-benchmark),
# GOBENCH=0 to skip the go-test benchmarks, GO (go), KEEP=1 to keep the
# results directory (printed; the scale section keeps it by default, for
# its profiles). The scale section's own knobs are in
# scripts/benchscale.sh: SESSIONS (1000000), STORES (sqlite postgresql),
# PROFILE (1), PROFILE_SECONDS, TRACE_SECONDS, ALLOC_DURATION, SCALE_OUT
# (3), STUDIO_TEST_POSTGRES_URL.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-32}
ROUNDS=${ROUNDS:-2}
REQUESTS=${REQUESTS:-200000}
GOBENCH=${GOBENCH:-1}
BENCH=${BENCH:-default}
case $BENCH in
default | scale | all) ;;
*) echo "bench: BENCH must be default, scale or all (got $BENCH)" >&2; exit 2 ;;
esac
if [[ $BENCH != default ]]; then
	KEEP=${KEEP:-1}
fi

for cmd in redis-server redis-benchmark redis-cli curl python3; do
	command -v "$cmd" >/dev/null || { echo "bench: $cmd is not on PATH" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/studio-bench.XXXXXX")
out=$work/results
mkdir -p "$out"
redis_pid=
serve_pid=
empty_pid=
common_pid=
baseline_pid=
scale_pids=
cleanup_hooks=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $serve_pid $empty_pid $common_pid $baseline_pid $scale_pids $redis_pid; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $serve_pid $empty_pid $common_pid $baseline_pid $scale_pids $redis_pid; do
		wait "$pid" 2>/dev/null || true
	done
	for hook in "${cleanup_hooks[@]}"; do
		$hook || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "bench: results kept in $out" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Records a command line (for the doc; the temporary directory shown as
# $TMP) and runs it. cmdlog is the file of the section running.
cmdlog=$out/commands.txt
: >"$cmdlog"
logline() { # logline TEXT…: one line of the command log
	local line="$*"
	echo "${line//$work/\$TMP}" >>"$cmdlog"
}
logged() {
	if [[ ${round:-1} == 1 ]]; then
		logline "$@"
	fi
	"$@"
}

date -u +%FT%TZ >"$out/started"
cat /proc/loadavg >"$out/loadavg-start"
nproc >"$out/nproc"
{ grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; } >"$out/cpu" || true
{
	echo "Go: $($GO version | sed 's/^go version //')"
	echo "redis-server: $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
} >"$out/versions"

# placement prints "GEN_CPUS SRV_CPUS CORES": the CPUs this script may use
# (Cpus_allowed_list) grouped by physical core (hyperthreads of one core
# stay together), the first half of the cores for the generator, the
# second for the servers; CORES is the number of cores, and nothing is
# printed for a single core.
placement() {
	python3 - <<'PY'
import re
allowed = []
for line in open("/proc/self/status"):
    if line.startswith("Cpus_allowed_list:"):
        for part in line.split(":", 1)[1].strip().split(","):
            a, _, b = part.partition("-")
            allowed += range(int(a), int(b or a) + 1)
cores = {}
for c in allowed:
    try:
        base = "/sys/devices/system/cpu/cpu%d/topology/" % c
        key = (open(base + "physical_package_id").read().strip(), open(base + "core_id").read().strip())
    except OSError:
        key = ("?", str(c))
    cores.setdefault(key, []).append(c)
groups = list(cores.values())
if len(groups) >= 2:
    half = len(groups) // 2
    fmt = lambda gs: ",".join(str(c) for g in gs for c in g)
    print(fmt(groups[:half]), fmt(groups[half:]), len(groups))
PY
}
ncpu=$(nproc)
PIN=${PIN:-auto}
case $PIN in
auto | 0 | 1) ;;
*) echo "bench: PIN must be auto, 0 or 1 (got $PIN)" >&2; exit 2 ;;
esac
gen_pin=()
srv_pin=()
place=
if [[ $PIN != 0 ]] && command -v taskset >/dev/null; then
	place=$(placement)
fi
if [[ $PIN == 1 && -z $place ]]; then
	echo "bench: PIN=1 needs taskset and at least two physical cores" >&2
	exit 2
fi
if [[ -n $place ]]; then
	read -r gen_cpus srv_cpus ncores <<<"$place"
	gen_pin=(taskset -c "$gen_cpus")
	srv_pin=(taskset -c "$srv_cpus")
	echo "load generator of the HTTP runs on CPUs $gen_cpus; studio serve and the baseline servers on CPUs $srv_cpus ($ncores cores, split by core); redis-server and the in-process targets on all $ncpu CPUs" >"$out/placement"
else
	echo "not pinned: the load generator, the servers and redis-server share all $ncpu CPUs" >"$out/placement"
fi

echo "== building bin/studio" >&2
$GO build -o bin/studio ./cmd/studio
studio=bin/studio

redis_port=$(freeport)
echo "== redis-server on 127.0.0.1:$redis_port" >&2
echo "redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize no &" >>"$cmdlog"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
	redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
	sleep 0.05
done
redis-cli -p "$redis_port" ping >/dev/null

export STUDIO_ADMIN_TOKEN=bench-admin-49ee37b19b5ed1af3009ab2b7b6739b5bbf221e7dd5147ec
export REDIS_URL=redis://127.0.0.1:$redis_port/0
export STUDIO_LOG_LEVEL=warn
# start_serve NAME PORT [VAR=VALUE…]: `studio serve` on PORT, on the
# servers' CPUs, with the settings given; logs to $work/NAME.log; sets
# started_pid once /healthz answers.
start_serve() {
	local name=$1 port=$2
	shift 2
	if [[ ${round:-1} == 1 ]]; then
		logline "STUDIO_ADDR=127.0.0.1:$port STUDIO_ADMIN_TOKEN=… REDIS_URL=$REDIS_URL $* STUDIO_LOG_LEVEL=warn ${srv_pin[*]} $studio serve &"
	fi
	env STUDIO_ADDR="127.0.0.1:$port" "$@" "${srv_pin[@]}" "$studio" serve >"$work/$name.log" 2>&1 &
	started_pid=$!
	for _ in $(seq 600); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
		kill -0 "$started_pid" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
		sleep 0.05
	done
	echo "bench: studio serve ($name) did not answer /healthz within 30 s" >&2
	exit 1
}

# The baselines served over HTTP, each in a process of its own on the
# server's CPUs; the first line each prints is its base URL.
serve_baseline() { # serve_baseline NAME KIND [VAR=VALUE…]: prints the base URL; sets baseline_pid
	local name=$1 kind=$2 url=
	shift 2
	logline "$* ${srv_pin[*]} $studio bench --serve $kind &"
	: >"$work/$name.url"
	env "$@" "${srv_pin[@]}" "$studio" bench --serve "$kind" >"$work/$name.url" 2>"$work/$name.log" &
	baseline_pid=$!
	for _ in $(seq 200); do
		url=$(head -n1 "$work/$name.url" || true)
		[[ -n $url ]] && break
		kill -0 "$baseline_pid" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
		sleep 0.05
	done
	[[ -n $url ]] || { echo "bench: studio bench --serve $kind printed no URL" >&2; exit 1; }
	echo "$url"
}

# default_section: the tables between <!-- bench:begin --> and
# <!-- bench:end -->.
default_section() {
	serve_port=$(freeport)
	serve_url=http://127.0.0.1:$serve_port
	echo "== studio serve on $serve_url" >&2
	start_serve serve "$serve_port" DATABASE_URL="sqlite:$work/serve.db" STUDIO_WARM_ON_START=false
	serve_pid=$started_pid

	echo "== baselines: the empty handler and the common-way store, each in its own process" >&2
	serve_baseline empty empty >"$work/empty.base"
	empty_pid=$baseline_pid
	baseline_pid=
	empty_url=$(cat "$work/empty.base")
	serve_baseline common-http common-http >"$work/common-http.base"
	common_pid=$baseline_pid
	baseline_pid=
	common_url=$(cat "$work/common-http.base")

	# In-process Service runs use their own SQLite file (serve holds its own).
	export DATABASE_URL=sqlite:$work/inprocess.db
	logline "export STUDIO_ADMIN_TOKEN=… REDIS_URL=$REDIS_URL DATABASE_URL=sqlite:$work/inprocess.db STUDIO_LOG_LEVEL=warn"
	logline "# then $ROUNDS rounds, each running these in this order:"

	flags=(--mix validate=1 --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --json)
	for round in $(seq "$ROUNDS"); do
		default_round
	done
	unset DATABASE_URL
	kill "$serve_pid" "$empty_pid" "$common_pid" 2>/dev/null || true
	wait "$serve_pid" "$empty_pid" "$common_pid" 2>/dev/null || true
	serve_pid= empty_pid= common_pid=
}

bench() { # bench NAME ARGS…: one studio bench run into rN-NAME.json
	local name=$1
	shift
	echo "== round $round: $name" >&2
	logged "$studio" bench "$@" "${flags[@]}" >"$out/r$round-$name.json"
}
hbench() { # hbench NAME ARGS…: an HTTP run, the generator on its CPUs
	local name=$1
	shift
	echo "== round $round: $name" >&2
	logged "${gen_pin[@]}" "$studio" bench "$@" "${flags[@]}" >"$out/r$round-$name.json"
}

default_round() {
	echo "== round $round: redis-benchmark" >&2
	logged redis-benchmark -p "$redis_port" -t get -n "$REQUESTS" -c "$CONCURRENCY" --csv >"$out/r$round-redis-benchmark.csv"
	bench redis-get --target redis-get
	bench inprocess --target inprocess
	bench common --target common
	hbench empty --target empty --url "$empty_url"
	hbench http --target http --url "$serve_url"
	hbench common-http --target common-http --url "$common_url"
	# Open loop at half Studio's closed-loop HTTP rate of this round: the
	# p99 at 32 connections at 50 % load (a saturated closed loop's p99 is
	# queueing for the cores); the empty handler at the same rate.
	# And at a quarter of it: 25 % load.
	rate_at() { python3 -c 'import json,sys; print(max(1, round(json.load(open(sys.argv[1]))["validate"]["ops_per_sec"] / int(sys.argv[2]))))' "$out/r$round-http.json" "$1"; }
	half=$(rate_at 2)
	quarter=$(rate_at 4)
	hbench empty-open --target empty --url "$empty_url" --rate "$half"
	hbench http-open --target http --url "$serve_url" --rate "$half"
	hbench empty-open-quarter --target empty --url "$empty_url" --rate "$quarter"
	hbench http-open-quarter --target http --url "$serve_url" --rate "$quarter"
}

if [[ $BENCH != scale ]]; then
	default_section
fi
if [[ $BENCH != default ]]; then
	# shellcheck source=scripts/benchscale.sh
	source scripts/benchscale.sh
	scale_section
fi

cat /proc/loadavg >"$out/loadavg-end"
date -u +%FT%TZ >"$out/finished"
$GO run ./scripts/benchtables -dir "$out" -doc docs/PERFORMANCE.md
echo "== docs/PERFORMANCE.md rewritten between the markers of the sections run ($BENCH)" >&2

if [[ $GOBENCH != 0 && $BENCH != scale ]]; then
	# The go-test benchmarks (each beside its same-run baseline in its output).
	$GO test -run '^$' -bench . -benchtime 2s -count 3 ./session/ ./session/sqlstore/ ./internal/server/
	$GO test -run '^$' -bench 'HookOverhead' -count 3 ./redisconn/
	$GO test -run '^$' -bench 'GetSaturationPaired' -benchtime 10x -count 3 ./redisconn/
	$GO test -run '^$' -bench . -count 3 ./monitor/ ./telemetry/
fi
