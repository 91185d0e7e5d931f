# shellcheck shell=bash
# The scale section of make bench (BENCH=scale or BENCH=all): Studio with
# a working set its in-process cache cannot hold, each figure beside its
# plain baseline from the same round, with the same CPU placement (the
# load generator on the first half of the cores, every server on the
# second; redis-server unpinned). Sourced by scripts/bench.sh, which
# provides redis-server, the placement and the helpers; scale_section
# runs it. The results go to the results directory as scale-* and
# rN-scale-* files, which scripts/benchtables renders between
# <!-- bench-scale:begin --> and <!-- bench-scale:end -->.
#
# For each store in STORES, `studio bench --seed` creates SESSIONS
# sessions (timed) and writes their tokens; every run validates those,
# uniformly at random (--zipf 0), over the closed loop of CONCURRENCY
# connections. `studio serve` runs at its default settings except
# STUDIO_WARM_ON_START=false: the rounds fill and empty Redis themselves,
# and a server that re-warmed an emptied Redis would undo the
# copies-gone regime. Each round:
#
#  a. Redis path: FLUSHDB, `studio warm` of all SESSIONS (rate
#     unlimited), then the plain-GET handler (`studio bench --serve
#     redis-get`) and Studio on SQLite. Studio's validations by tier are
#     kept (its L1 holds at most 100 000 entries for 5 s: nearly every
#     validation is a Redis GET).
#  c. Memory: VmRSS and VmHWM (/proc/PID/status) and the Go heap
#     (/metrics) of Studio and of the plain-GET handler after (a).
#  d. Allocations: bytes each server allocated (go_gc_heap_allocs_bytes_total)
#     over an ALLOC_DURATION run with no warm-up, less a scrape's own,
#     divided by the validations; and its CPU time over the same run
#     (process_cpu_seconds_total) per validation.
#  e. Scale-out (SCALE_OUT > 1): 1, then SCALE_OUT `studio serve`
#     instances on the same SQLite file and Redis, the workers spread over
#     them (--url U1,U2,…): all instances share the servers' CPUs.
#  b. Redis copies gone, per store: FLUSHDB before each run; the plain
#     store-miss handler (`studio bench --serve store-miss`), then Studio
#     on that store.
#
# After the rounds (PROFILE=1), one more run of (a), not in the tables,
# during which Studio's CPU profile (PROFILE_SECONDS), an allocation
# profile over the same window and a runtime trace (TRACE_SECONDS) are
# taken from its admin-only /debug/pprof/; they and their `go tool pprof
# -top` are kept in the results directory.
#
# Knobs: SESSIONS (1000000), STORES ("sqlite postgresql"), PROFILE (1),
# PROFILE_SECONDS (DURATION's seconds, at most 25), TRACE_SECONDS (2),
# ALLOC_DURATION (5s), SCALE_OUT (3; 0 or 1 skips it),
# STUDIO_TEST_POSTGRES_URL (the PostgreSQL server on which a database is
# created for the run and dropped after; default
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable).

SESSIONS=${SESSIONS:-1000000}
STORES=${STORES:-sqlite postgresql}
PROFILE=${PROFILE:-1}
TRACE_SECONDS=${TRACE_SECONDS:-2}
ALLOC_DURATION=${ALLOC_DURATION:-5s}
SCALE_OUT=${SCALE_OUT:-3}
PG_BASE=${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

# scale_check refuses bad knobs before anything starts.
scale_check() {
	local s
	[[ $SESSIONS =~ ^[1-9][0-9]*$ && $SESSIONS -le 10000000 ]] || { echo "bench: SESSIONS must be a whole number from 1 to 10000000 (got $SESSIONS)" >&2; exit 2; }
	[[ -n $STORES ]] || { echo "bench: STORES must name sqlite, postgresql or both" >&2; exit 2; }
	for s in $STORES; do
		[[ $s == sqlite || $s == postgresql ]] || { echo "bench: STORES takes sqlite and postgresql (got $s)" >&2; exit 2; }
	done
	[[ $PROFILE == 0 || $PROFILE == 1 ]] || { echo "bench: PROFILE must be 0 or 1 (got $PROFILE)" >&2; exit 2; }
	[[ $TRACE_SECONDS =~ ^[1-9][0-9]?$ ]] || { echo "bench: TRACE_SECONDS must be 1 to 99 (got $TRACE_SECONDS)" >&2; exit 2; }
	[[ $SCALE_OUT =~ ^[0-9]$ ]] || { echo "bench: SCALE_OUT must be 0 to 9 (got $SCALE_OUT)" >&2; exit 2; }
	PROFILE_SECONDS=${PROFILE_SECONDS:-$(python3 -c 'import sys; d=sys.argv[1]; s=float(d[:-2])/1e3 if d.endswith("ms") else float(d[:-1])*{"s":1,"m":60,"h":3600}[d[-1]]; print(max(1, min(25, int(s))))' "$DURATION")}
	[[ $PROFILE_SECONDS =~ ^[1-9][0-9]?$ && $PROFILE_SECONDS -le 25 ]] || { echo "bench: PROFILE_SECONDS must be 1 to 25, under studio serve's 30 s write timeout (got $PROFILE_SECONDS)" >&2; exit 2; }
	if [[ $STORES == *postgresql* ]]; then
		command -v psql >/dev/null || { echo "bench: psql is not on PATH (STORES has postgresql)" >&2; exit 1; }
	fi
}

# scrape URL FILE: the server's /metrics (with the admin token, which the
# baselines ignore) into FILE.
scrape() {
	curl -fsS -H "Authorization: Bearer $STUDIO_ADMIN_TOKEN" "$1/metrics" >"$2"
}

# metric_sum FILE NAME [LABEL="VALUE"]: the sum of the samples of the
# metric NAME (with that label) in the Prometheus text FILE.
metric_sum() {
	python3 - "$@" <<'PY'
import re, sys
path, name = sys.argv[1], sys.argv[2]
want = sys.argv[3] if len(sys.argv) > 3 else None
total = 0.0
for line in open(path):
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
    if line.startswith('#') or not m or m.group(1) != name:
        continue
    if want and want not in (m.group(2) or ''):
        continue
    total += float(m.group(3))
print(repr(total))
PY
}

# sbench NAME TOKENS ARGS…: an HTTP run of round $round validating the
# sessions of TOKENS, the generator on its CPUs, into rN-scale-NAME.json.
sbench() {
	local name=$1 toks=$2
	shift 2
	echo "== scale round $round: $name" >&2
	logged "${gen_pin[@]}" "$studio" bench "$@" --tokens "$toks" --zipf 0 --concurrency "$CONCURRENCY" \
		--duration "${SDURATION:-$DURATION}" --warmup "${SWARMUP:-$WARMUP}" --json >"$out/r$round-scale-$name.json"
}

# studio_run NAME URL TOKENS ARGS…: sbench against Studio at URL, and
# its validations by tier over the run (studio_session_validations_total)
# into rN-scale-NAME-tiers.json.
studio_run() {
	local name=$1 url=$2 toks=$3
	shift 3
	scrape "$url" "$work/tiers-before"
	sbench "$name" "$toks" --target http --url "$url" "$@"
	scrape "$url" "$work/tiers-after"
	python3 - "$work/tiers-before" "$work/tiers-after" >"$out/r$round-scale-$name-tiers.json" <<'PY'
import json, re, sys
def tiers(path):
    out = {}
    for line in open(path):
        m = re.match(r'studio_session_validations_total\{([^}]*)\}\s+(\S+)', line)
        if m:
            t = re.search(r'tier="([^"]*)"', m.group(1))
            if t:
                out[t.group(1)] = out.get(t.group(1), 0) + float(m.group(2))
    return out
a, b = tiers(sys.argv[1]), tiers(sys.argv[2])
print(json.dumps({t: b[t] - a.get(t, 0) for t in sorted(b)}))
PY
}

# refill: FLUSHDB, then `studio warm` of every session of the SQLite
# store (pipelined SET NX, no rate limit), as serve's start-up warm does.
# A warm some of whose writes timed out (Redis's 300 ms read timeout, on
# a loaded machine) is run again, up to twice: it writes only the copies
# still missing.
refill() {
	local try
	echo "== scale round $round: Redis emptied and warmed with $SESSIONS sessions" >&2
	logged redis-cli -p "$redis_port" flushdb >/dev/null
	for try in 1 2 3; do
		if logged env DATABASE_URL="sqlite:$work/scale.db" "$studio" warm --warm-limit "$SESSIONS" --warm-rate 0 >"$work/warm.log" 2>&1; then
			return 0
		fi
		echo "== the warm failed (attempt $try): $(tail -n1 "$work/warm.log")" >&2
	done
	return 1
}

# memory NAME PID URL: the process's VmRSS and VmHWM, and its Go heap
# from URL/metrics, into rN-scale-mem-NAME.json.
memory() {
	local name=$1 pid=$2 url=$3
	scrape "$url" "$work/mem.metrics"
	python3 - "$pid" "$work/mem.metrics" "$(metric_sum "$work/mem.metrics" go_memstats_heap_inuse_bytes)" \
		"$(metric_sum "$work/mem.metrics" go_memstats_heap_alloc_bytes)" "$(metric_sum "$work/mem.metrics" go_memstats_sys_bytes)" \
		>"$out/r$round-scale-mem-$name.json" <<'PY'
import json, sys
pid, _, inuse, alloc, sysb = sys.argv[1:]
kb = {}
for line in open("/proc/%s/status" % pid):
    k, _, v = line.partition(":")
    if k in ("VmRSS", "VmHWM"):
        kb[k] = int(v.split()[0])
print(json.dumps({"vmrss_kb": kb["VmRSS"], "vmhwm_kb": kb["VmHWM"], "heap_inuse_bytes": float(inuse),
                  "heap_alloc_bytes": float(alloc), "go_sys_bytes": float(sysb)}))
PY
}

# allocs NAME URL ARGS…: bytes allocated by the server at URL per
# validation over an ALLOC_DURATION run with no warm-up (ARGS name the
# target), less what one /metrics scrape allocates, into
# rN-scale-alloc-NAME.json.
allocs() {
	local name=$1 url=$2
	shift 2
	scrape "$url" "$work/alloc-a"
	scrape "$url" "$work/alloc-b"
	SDURATION=$ALLOC_DURATION SWARMUP=0s sbench "alloc-$name-run" "$@"
	scrape "$url" "$work/alloc-c"
	python3 - "$out/r$round-scale-alloc-$name-run.json" \
		"$(metric_sum "$work/alloc-a" go_gc_heap_allocs_bytes_total)" \
		"$(metric_sum "$work/alloc-b" go_gc_heap_allocs_bytes_total)" \
		"$(metric_sum "$work/alloc-c" go_gc_heap_allocs_bytes_total)" \
		"$(metric_sum "$work/alloc-b" process_cpu_seconds_total)" \
		"$(metric_sum "$work/alloc-c" process_cpu_seconds_total)" >"$out/r$round-scale-alloc-$name.json" <<'PY'
import json, sys
run, a, b, c, cpu_b, cpu_c = sys.argv[1], *map(float, sys.argv[2:])
n = json.load(open(run))["validate"]["count"]
scrape = b - a
total = c - b - scrape
cpu = cpu_c - cpu_b
print(json.dumps({"bytes": total, "scrape_bytes": scrape, "validations": n, "bytes_per_validation": total / n if n else 0,
                  "cpu_seconds": cpu, "cpu_us_per_validation": cpu * 1e6 / n if n else 0}))
PY
}

# seed_store NAME DSN: `studio bench --seed` into DSN, timed, the tokens
# in $work/tokens-NAME.txt.
seed_store() {
	local name=$1 dsn=$2
	echo "== seeding $SESSIONS sessions into $name" >&2
	logged env DATABASE_URL="$dsn" "$studio" bench --seed "$SESSIONS" --tokens-out "$work/tokens-$name.txt" --json >"$out/scale-seed-$name.json"
}

# pg_database: a new PostgreSQL database for the run, dropped on exit;
# sets pg_url.
pg_database() {
	pg_db=studio_bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')
	psql "$PG_BASE" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $pg_db" >&2
	pg_drop() { psql "$PG_BASE" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1; }
	cleanup_hooks+=(pg_drop)
	pg_url=$(python3 - "$PG_BASE" "$pg_db" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))
PY
)
}

# profile_run: regime (a) once more, while Studio's profiles are taken.
profile_run() {
	local toks=$work/tokens-sqlite.txt length auth=(-H "Authorization: Bearer $STUDIO_ADMIN_TOKEN")
	round=profile
	refill
	length=$((PROFILE_SECONDS + TRACE_SECONDS + 4))
	echo "== profiled run: CPU ${PROFILE_SECONDS}s, allocations, trace ${TRACE_SECONDS}s" >&2
	echo "profile_seconds $PROFILE_SECONDS" >>"$out/scale-params"
	logline "# the profiled run, with the profiles taken from studio serve meanwhile:"
	logline "${gen_pin[*]} $studio bench --target http --url $scale_url --tokens $toks --zipf 0 --concurrency $CONCURRENCY --duration ${length}s --warmup $WARMUP --json &"
	"${gen_pin[@]}" "$studio" bench --target http --url "$scale_url" --tokens "$toks" --zipf 0 --concurrency "$CONCURRENCY" \
		--duration "${length}s" --warmup "$WARMUP" --json >"$out/scale-profiled-run.json" &
	local run_pid=$!
	sleep "$(python3 -c 'import sys; d=sys.argv[1]; print(float(d[:-2])/1e3 if d.endswith("ms") else float(d[:-1])*{"s":1,"m":60,"h":3600}[d[-1]])' "$WARMUP")"
	sleep 2 # the generator reads its tokens first
	logline "curl -H 'Authorization: Bearer …' $scale_url/debug/pprof/allocs                         # before"
	logline "curl -H 'Authorization: Bearer …' '$scale_url/debug/pprof/profile?seconds=$PROFILE_SECONDS'"
	logline "curl -H 'Authorization: Bearer …' '$scale_url/debug/pprof/trace?seconds=$TRACE_SECONDS'"
	logline "curl -H 'Authorization: Bearer …' $scale_url/debug/pprof/allocs                         # after"
	curl -fsS "${auth[@]}" "$scale_url/debug/pprof/allocs" -o "$out/studio-allocs-before.pb.gz"
	curl -fsS "${auth[@]}" "$scale_url/debug/pprof/profile?seconds=$PROFILE_SECONDS" -o "$out/studio-cpu.pb.gz"
	curl -fsS "${auth[@]}" "$scale_url/debug/pprof/trace?seconds=$TRACE_SECONDS" -o "$out/studio-trace.out"
	curl -fsS "${auth[@]}" "$scale_url/debug/pprof/allocs" -o "$out/studio-allocs-after.pb.gz"
	wait "$run_pid"
	$GO tool pprof -top -nodecount=40 "$studio" "$out/studio-cpu.pb.gz" >"$out/studio-cpu-top.txt" 2>/dev/null
	$GO tool pprof -top -cum -nodecount=2000 "$studio" "$out/studio-cpu.pb.gz" >"$out/studio-cpu-top-cum.txt" 2>/dev/null
	$GO tool pprof -sample_index=alloc_space -top -nodecount=40 -base "$out/studio-allocs-before.pb.gz" "$studio" \
		"$out/studio-allocs-after.pb.gz" >"$out/studio-allocs-top.txt" 2>/dev/null
	logline "go tool pprof -top -nodecount=40 bin/studio studio-cpu.pb.gz"
	logline "go tool pprof -top -cum -nodecount=2000 bin/studio studio-cpu.pb.gz   # the breakdown's source"
	logline "go tool pprof -sample_index=alloc_space -top -nodecount=40 -base studio-allocs-before.pb.gz bin/studio studio-allocs-after.pb.gz"
}

# scale_round: one round of (a), (c), (d), (e) and (b).
scale_round() {
	local store url k urls
	refill
	sbench redis-get "$work/tokens-sqlite.txt" --target redis-get --url "$redis_get_url"
	studio_run studio "$scale_url" "$work/tokens-sqlite.txt"
	memory studio "$scale_pid" "$scale_url"
	memory redis-get "$redis_get_pid" "$redis_get_url"
	allocs redis-get "$redis_get_url" "$work/tokens-sqlite.txt" --target redis-get --url "$redis_get_url"
	allocs studio "$scale_url" "$work/tokens-sqlite.txt" --target http --url "$scale_url"
	if ((SCALE_OUT > 1)); then
		urls=$scale_url
		local out_pids=()
		for ((k = 2; k <= SCALE_OUT; k++)); do
			local port
			port=$(freeport)
			start_serve "scale-$k" "$port" DATABASE_URL="sqlite:$work/scale.db" STUDIO_WARM_ON_START=false
			out_pids+=("$started_pid")
			scale_pids="$scale_pids $started_pid"
			urls="$urls,http://127.0.0.1:$port"
		done
		studio_run out-1 "$scale_url" "$work/tokens-sqlite.txt"
		sbench "out-$SCALE_OUT" "$work/tokens-sqlite.txt" --target http --url "$urls"
		kill "${out_pids[@]}" 2>/dev/null || true
		wait "${out_pids[@]}" 2>/dev/null || true
	fi
	for store in $STORES; do
		url=$scale_url
		if [[ $store == postgresql ]]; then
			port=$(freeport)
			start_serve scale-pg "$port" DATABASE_URL="$pg_url" STUDIO_WARM_ON_START=false
			local pg_pid=$started_pid
			scale_pids="$scale_pids $pg_pid"
			url=http://127.0.0.1:$port
		fi
		logged redis-cli -p "$redis_port" flushdb >/dev/null
		sbench "miss-$store-baseline" "$work/tokens-$store.txt" --target store-miss --url "${miss_url[$store]}"
		logged redis-cli -p "$redis_port" flushdb >/dev/null
		studio_run "miss-$store-studio" "$url" "$work/tokens-$store.txt"
		if [[ $store == postgresql ]]; then
			kill "$pg_pid" 2>/dev/null || true
			wait "$pg_pid" 2>/dev/null || true
		fi
	done
}

scale_section() {
	scale_check
	unset round
	cmdlog=$out/scale-commands.txt
	: >"$cmdlog"
	logline "redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize no &"
	logline "export STUDIO_ADMIN_TOKEN=… REDIS_URL=$REDIS_URL STUDIO_LOG_LEVEL=warn"
	echo "$SESSIONS" >"$out/scale-sessions"
	echo "$SCALE_OUT" >"$out/scale-out"
	echo "$STORES" >"$out/scale-stores"
	{
		echo "concurrency $CONCURRENCY"
		echo "duration $DURATION"
		echo "warmup $WARMUP"
		echo "alloc_duration $ALLOC_DURATION"
	} >"$out/scale-params"

	declare -gA miss_url=()
	local store
	seed_store sqlite "sqlite:$work/scale.db"
	if [[ $STORES == *postgresql* ]]; then
		pg_database
		seed_store postgresql "$pg_url"
	fi

	local port
	port=$(freeport)
	scale_url=http://127.0.0.1:$port
	echo "== studio serve on the seeded SQLite store: $scale_url" >&2
	start_serve scale "$port" DATABASE_URL="sqlite:$work/scale.db" STUDIO_WARM_ON_START=false
	scale_pid=$started_pid
	scale_pids="$scale_pids $scale_pid"

	echo "== baselines: the plain-GET handler, the plain store-miss handler per store" >&2
	serve_baseline scale-redis-get redis-get >"$work/scale-redis-get.base"
	redis_get_pid=$baseline_pid
	scale_pids="$scale_pids $baseline_pid"
	redis_get_url=$(cat "$work/scale-redis-get.base")
	for store in $STORES; do
		local dsn="sqlite:$work/scale.db"
		[[ $store == postgresql ]] && dsn=$pg_url
		serve_baseline "scale-miss-$store" store-miss DATABASE_URL="$dsn" >"$work/scale-miss-$store.base"
		scale_pids="$scale_pids $baseline_pid"
		miss_url[$store]=$(cat "$work/scale-miss-$store.base")
	done
	baseline_pid=

	logline "# then $ROUNDS rounds, each running these in this order:"
	for round in $(seq "$ROUNDS"); do
		scale_round
	done
	if [[ $PROFILE == 1 ]]; then
		profile_run
	fi
}
