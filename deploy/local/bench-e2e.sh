#!/usr/bin/env bash
# deploy/local/bench-e2e.sh — `make bench-e2e`: the whole pipeline under load
# on this machine. For each scenario it starts a fresh engine (its own data
# directory, Redis database and ClickHouse database, on the servers of
# `stack.sh up`), runs `attrib loadgen webhook` against it, and keeps the
# figures. Scenarios: as fast as possible, then a fixed rate.
#
#   bash deploy/local/bench-e2e.sh            # after `make run`'s set-up (stack up, bin/attrib built)
#
# Settings (environment):
#   BENCH_E2E_DURATION   how long each scenario sends new orders (default 2m)
#   BENCH_E2E_RATE       orders/s of the fixed-rate scenario (default 10000)
#   BENCH_E2E_SCENARIOS  which to run, space-separated: max fixed (default both)
#   BENCH_E2E_FSYNC      the embedded broker's --embedded-kafka-fsync (default false: with true, the
#                        broker fsyncs every partition's batch and every offset commit one after
#                        the other, and the disk's fsync time, not the CPU, sets the rate; see
#                        docs/performance.md)
#   BENCH_E2E_SENDERS    webhook requests in flight at most (default 16)
#   BENCH_E2E_HTTP_PORT, BENCH_E2E_KAFKA_PORT, BENCH_E2E_PPROF_PORT  (18080, 18091, 18095)
#   BENCH_E2E_REDIS_DB   Redis database the engine uses, flushed first (default 9)
#   BENCH_E2E_DATABASE   ClickHouse database, dropped first (default attrib_e2e)
#   BENCH_E2E_LOADGEN_FLAGS  more flags for `attrib loadgen webhook`
#   BENCH_E2E_BIN        the binary (default bin/attrib): another build, for alternated comparisons
#   BENCH_E2E_LOADGEN_BIN  the binary that runs `attrib loadgen webhook` (default BENCH_E2E_BIN): one
#                        generator for engines of several builds
#   BENCH_E2E_PROFILE    true: profile every process during each scenario (below)
#   BENCH_E2E_PROFILE_AT, BENCH_E2E_PROFILE_SECONDS  when the engine's CPU profile starts after the
#                        first send, and how long it lasts (default 10 and 20 s)
# With BENCH_E2E_PROFILE=true each scenario also leaves, beside its figures (<UTC time>-<scenario>.*):
# the engine's CPU profile (cpu.pprof) and allocations (allocs.pprof, at the end), Redis's INFO
# commandstats over the run (redis.txt), and ClickHouse's side (clickhouse.txt): the engine's
# queries from system.query_log grouped by shape (count, seconds, rows read and written), the parts
# written per table from system.part_log, the active parts left, and system.events over the run.
# The query and part logs need <clickhouse dir>/config.d/bench-e2e-logs.xml, which the script writes
# once and then asks for a restart of ClickHouse ('stack.sh down' and 'up').
# Figures go to .local/bench-e2e/<UTC time>-<scenario>.txt, and all of them to
# .local/bench-e2e/<UTC time>.txt; the engine's log beside them.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$(realpath -m -- "${ATTRIB_LOCAL_DIR:-${REPO_ROOT}/.local}")"
BIN="${BENCH_E2E_BIN:-${REPO_ROOT}/bin/attrib}"
LOADGEN_BIN="${BENCH_E2E_LOADGEN_BIN:-${BIN}}"
OUT_DIR="${LOCAL_DIR}/bench-e2e"
DURATION="${BENCH_E2E_DURATION:-2m}"
RATE="${BENCH_E2E_RATE:-10000}"
SCENARIOS="${BENCH_E2E_SCENARIOS:-max fixed}"
FSYNC="${BENCH_E2E_FSYNC:-false}"
SENDERS="${BENCH_E2E_SENDERS:-16}"
HTTP_PORT="${BENCH_E2E_HTTP_PORT:-18080}"
KAFKA_PORT="${BENCH_E2E_KAFKA_PORT:-18091}"
PPROF_PORT="${BENCH_E2E_PPROF_PORT:-18095}"
PROFILE="${BENCH_E2E_PROFILE:-false}"
PROFILE_AT="${BENCH_E2E_PROFILE_AT:-10}"
PROFILE_SECONDS="${BENCH_E2E_PROFILE_SECONDS:-20}"
REDIS_DB="${BENCH_E2E_REDIS_DB:-9}"
DATABASE="${BENCH_E2E_DATABASE:-attrib_e2e}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf 'bench-e2e: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[[ -x "${BIN}" ]] || die "${BIN} is missing: run 'make build' (or 'make run' once) first"
[[ -x "${LOADGEN_BIN}" ]] || die "BENCH_E2E_LOADGEN_BIN=${LOADGEN_BIN} is missing"
[[ "${DATABASE}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "BENCH_E2E_DATABASE=${DATABASE}: letters, digits and _ only"
[[ "${REDIS_DB}" =~ ^[0-9]+$ && "${REDIS_DB}" != 0 ]] || die "BENCH_E2E_REDIS_DB=${REDIS_DB}: a database number other than 0 (the engine's own)"
eval "$(bash "${REPO_ROOT}/deploy/local/stack.sh" env)"
[[ -n "${ATTRIB_REDIS_URL:-}" && -n "${ATTRIB_CLICKHOUSE_URL:-}" ]] || die "stack.sh env printed no URLs: run 'make stack-up' first"

# The stack's servers, with the benchmark's own database on each.
REDIS_URL="${ATTRIB_REDIS_URL%/*}/${REDIS_DB}"
CH_URL="${ATTRIB_CLICKHOUSE_URL%/*}/${DATABASE}"
REDIS_HOSTPORT="${ATTRIB_REDIS_URL#*://}"; REDIS_HOSTPORT="${REDIS_HOSTPORT##*@}"; REDIS_HOSTPORT="${REDIS_HOSTPORT%%/*}"
CH_HOSTPORT="${ATTRIB_CLICKHOUSE_URL#*://}"; CH_HOSTPORT="${CH_HOSTPORT##*@}"; CH_HOSTPORT="${CH_HOSTPORT%%/*}"
mkdir -p "${OUT_DIR}"
ch() { clickhouse-client --host "${CH_HOSTPORT%:*}" --port "${CH_HOSTPORT##*:}" "$@"; }
rcli() { redis-cli -h "${REDIS_HOSTPORT%:*}" -p "${REDIS_HOSTPORT##*:}" "$@"; }

if [[ "${PROFILE}" == true ]]; then
	CONF_D="${LOCAL_DIR}/clickhouse/config.d"
	if [[ ! -f "${CONF_D}/bench-e2e-logs.xml" ]]; then
		mkdir -p "${CONF_D}"
		cat >"${CONF_D}/bench-e2e-logs.xml" <<-'EOF'
			<yandex>
			    <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>7500</flush_interval_milliseconds></query_log>
			    <part_log><database>system</database><table>part_log</table><flush_interval_milliseconds>7500</flush_interval_milliseconds></part_log>
			</yandex>
		EOF
		die "wrote ${CONF_D}/bench-e2e-logs.xml: restart ClickHouse once ('stack.sh down' and 'up'), then run this again"
	fi
	# The engine's queries are logged only with log_queries, a setting of its connection.
	CH_URL="${CH_URL}?log_queries=1"
fi

ENGINE_PID=""
stop_engine() {
	if [[ -n "${ENGINE_PID}" ]] && kill -0 "${ENGINE_PID}" 2>/dev/null; then
		kill -TERM "${ENGINE_PID}"
		wait "${ENGINE_PID}" 2>/dev/null || true
	fi
	ENGINE_PID=""
}
trap stop_engine EXIT

# fresh_engine NAME: a new engine over empty stores.
fresh_engine() {
	local data="${OUT_DIR}/data"
	rm -rf -- "${data}"
	redis-cli -h "${REDIS_HOSTPORT%:*}" -p "${REDIS_HOSTPORT##*:}" -n "${REDIS_DB}" FLUSHDB >/dev/null
	clickhouse-client --host "${CH_HOSTPORT%:*}" --port "${CH_HOSTPORT##*:}" -q "DROP DATABASE IF EXISTS ${DATABASE}"
	"${BIN}" serve --http-addr "127.0.0.1:${HTTP_PORT}" --embedded-kafka-addr "127.0.0.1:${KAFKA_PORT}" \
		--embedded-kafka-fsync="${FSYNC}" --pprof-addr "127.0.0.1:${PPROF_PORT}" --data-dir "${data}" \
		--redis-url "${REDIS_URL}" --clickhouse-url "${CH_URL}" --summary-refresh 15s \
		>"${OUT_DIR}/${STAMP}-$1.engine.log" 2>&1 &
	ENGINE_PID=$!
	local i
	for i in $(seq 1 120); do
		if curl -fsS "http://127.0.0.1:${HTTP_PORT}/readyz" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "${ENGINE_PID}" 2>/dev/null || die "the engine stopped; see ${OUT_DIR}/${STAMP}-$1.engine.log"
		sleep 0.5
	done
	die "the engine did not become ready in 60 s; see ${OUT_DIR}/${STAMP}-$1.engine.log"
}

# profile_start PREFIX: note where the servers' counters stand, and take the
# engine's CPU profile in the background once the load is under way.
profile_start() {
	local prefix="$1"
	rcli CONFIG RESETSTAT >/dev/null
	ch -q "SYSTEM FLUSH LOGS"
	ch -q "SELECT event, value FROM system.events ORDER BY event" >"${prefix}.events-before"
	PROFILE_SINCE="$(ch -q "SELECT toUnixTimestamp(now())")"
	(sleep "${PROFILE_AT}" && curl -fsS -o "${prefix}.cpu.pprof" \
		"http://127.0.0.1:${PPROF_PORT}/debug/pprof/profile?seconds=${PROFILE_SECONDS}") >/dev/null 2>&1 &
	PROFILE_PID=$!
}

# profile_end PREFIX: the engine's allocations, Redis's commands and
# ClickHouse's queries, parts and events since profile_start.
profile_end() {
	local prefix="$1" db="'${DATABASE}'" since="toDateTime(${PROFILE_SINCE})"
	curl -fsS -o "${prefix}.allocs.pprof" "http://127.0.0.1:${PPROF_PORT}/debug/pprof/allocs" || true
	wait "${PROFILE_PID}" 2>/dev/null || true
	rcli INFO commandstats >"${prefix}.redis.txt"
	ch -q "SYSTEM FLUSH LOGS"
	{
		echo "== the engine's queries (system.query_log), by shape, most CPU first"
		# ProfileEvents is two arrays on 18.16 and a map on later releases.
		local cpu
		for cpu in "ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')] + ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')]" \
			"ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']"; do
			ch --format PrettyCompactMonoBlock -q "SELECT substring(replaceRegexpAll(query, '[0-9]+', 'N'), 1, 100) AS shape,
				count() AS n, round(sum(${cpu}) / 1e6, 2) AS cpu_seconds, round(sum(query_duration_ms) / 1000, 1) AS seconds,
				round(avg(query_duration_ms)) AS avg_ms, sum(read_rows) AS rows_read, sum(written_rows) AS rows_written
				FROM system.query_log WHERE type = 2 AND event_time >= ${since} AND query LIKE '%${DATABASE}%'
				GROUP BY shape ORDER BY cpu_seconds DESC LIMIT 30" && break
		done
		echo "== parts written (system.part_log): new parts and merges per table"
		ch --format PrettyCompactMonoBlock -q "SELECT table, event_type, count() AS parts, sum(rows) AS rows,
			round(sum(duration_ms) / 1000, 1) AS seconds
			FROM system.part_log WHERE event_time >= ${since} AND database = ${db}
			GROUP BY table, event_type ORDER BY table, event_type"
		echo "== active parts at the end"
		ch --format PrettyCompactMonoBlock -q "SELECT table, count() AS parts, sum(rows) AS rows FROM system.parts
			WHERE active AND database = ${db} GROUP BY table ORDER BY table"
		echo "== system.events over the run (largest first)"
		ch -q "SELECT event, value FROM system.events ORDER BY event" |
			awk -F'\t' 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) printf "%s\t%d\n", $1, d }' \
				"${prefix}.events-before" - | sort -t$'\t' -k2,2nr | head -40
	} >"${prefix}.clickhouse.txt" 2>&1
	rm -f "${prefix}.events-before"
}

# run_scenario NAME RATE [FLAG...]
run_scenario() {
	local name="$1" rate="$2" out="${OUT_DIR}/${STAMP}-$1.txt" status=0
	say "scenario ${name}: rate ${rate} (0: as fast as possible) for ${DURATION}, fsync ${FSYNC}"
	fresh_engine "${name}"
	[[ "${PROFILE}" == true ]] && profile_start "${OUT_DIR}/${STAMP}-${name}"
	# shellcheck disable=SC2086 # BENCH_E2E_LOADGEN_FLAGS is a list of flags
	"${LOADGEN_BIN}" loadgen webhook --url "http://127.0.0.1:${HTTP_PORT}" --data-dir "${OUT_DIR}/data" \
		--redis-url "${REDIS_URL}" --clickhouse-url "${CH_URL}" --engine-pid "${ENGINE_PID}" \
		--rate "${rate}" --duration "${DURATION}" --out "${out}" "${@:3}" ${BENCH_E2E_LOADGEN_FLAGS:-} || status=$?
	[[ "${PROFILE}" == true ]] && profile_end "${OUT_DIR}/${STAMP}-${name}"
	stop_engine
	{ printf '== %s (%s, fsync %s, load average before: %s)\n' "${name}" "${STAMP}" "${FSYNC}" "${LOAD_BEFORE}"; cat "${out}" 2>/dev/null; echo; } >>"${OUT_DIR}/${STAMP}.txt"
	return "${status}"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
for s in ${SCENARIOS}; do
	case "${s}" in
	max) run_scenario max 0 --senders "${SENDERS}" || failed=1 ;;
	fixed) run_scenario "rate${RATE}" "${RATE}" --senders "${SENDERS}" || failed=1 ;;
	*) die "BENCH_E2E_SCENARIOS: unknown scenario ${s} (max, fixed)" ;;
	esac
	LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
done
say "figures: ${OUT_DIR}/${STAMP}.txt"
exit "${failed}"
