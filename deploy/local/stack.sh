#!/usr/bin/env bash
# deploy/local/stack.sh — install, start, stop and report the Redis and
# ClickHouse servers that attrib's tests and `attrib serve` use on loopback.
#
#   bash deploy/local/stack.sh install   # apt-get install the packages if missing
#   bash deploy/local/stack.sh up        # install, then start both (idempotent)
#   bash deploy/local/stack.sh down      # stop both (fine when already down)
#   bash deploy/local/stack.sh status    # exit 0 if both are up, 3 otherwise
#   bash deploy/local/stack.sh env       # print exports for the engine
#
# No systemd or init scripts are involved: the servers run as the invoking
# user from configs generated under $ATTRIB_LOCAL_DIR (default: <repo>/.local).
# See deploy/local/README.md.
set -euo pipefail

PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/../.." && pwd -P)"
readonly SCRIPT_DIR REPO_ROOT

REDIS_PORT="${ATTRIB_LOCAL_REDIS_PORT:-6379}"
CH_TCP_PORT="${ATTRIB_LOCAL_CLICKHOUSE_PORT:-9000}"
CH_HTTP_PORT="${ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT:-8123}"
START_TIMEOUT="${ATTRIB_LOCAL_START_TIMEOUT:-60}"
STOP_TIMEOUT="${ATTRIB_LOCAL_STOP_TIMEOUT:-30}"
readonly REDIS_PORT CH_TCP_PORT CH_HTTP_PORT START_TIMEOUT STOP_TIMEOUT

# The database the engine uses on the local server (ATTRIB_CLICKHOUSE_URL of
# `env`), and the only one the analysts' read-only user may read.
readonly CH_ENGINE_DATABASE=default
readonly CH_ANALYST_USER=analyst

# ---------------------------------------------------------------------------
# messages

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: warning: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

usage() {
	cat <<'EOF'
usage: bash deploy/local/stack.sh {install|up|down|status|env|cluster-up [N]|cluster-down [N]|cluster-status|cluster-env}

  install  install redis-server, clickhouse-server, clickhouse-client, chromium, promtool (apt) if missing
  up       install, then start Redis and ClickHouse on 127.0.0.1 (idempotent)
  down     stop them (SIGTERM, SIGKILL after ATTRIB_LOCAL_STOP_TIMEOUT seconds)
  status   print state of both; exit 0 if both are up, 3 otherwise
  env      print `export ATTRIB_REDIS_URL=...`, `ATTRIB_CLICKHOUSE_URL=...` and
           `ATTRIB_ANALYST_CLICKHOUSE_URL=...` (the analysts' read-only user)

  cluster-up [N]    install zookeeperd if missing, start ZooKeeper and the two
                    ClickHouse replicas of the local cluster (or replica N only)
  cluster-down [N]  stop both replicas and ZooKeeper (or replica N only)
  cluster-status    state of each; exit 0 if all are up, 3 otherwise
  cluster-env       print `export ATTRIB_CLUSTER_CLICKHOUSE_URL=...` (both
                    replicas), `_NAME` (the cluster) and `_REPLICAS` (each alone)

environment:
  ATTRIB_LOCAL_DIR                   data/logs/pids/configs (default: <repo>/.local)
  ATTRIB_LOCAL_REDIS_PORT            default 6379
  ATTRIB_LOCAL_CLICKHOUSE_PORT       native protocol, default 9000
  ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT  default 8123
  ATTRIB_LOCAL_START_TIMEOUT         seconds to wait for a server to answer (default 60)
  ATTRIB_LOCAL_STOP_TIMEOUT          seconds to wait before SIGKILL (default 30)
  ATTRIB_LOCAL_ZOOKEEPER_PORT        the cluster's ZooKeeper, default 2281
  ATTRIB_LOCAL_CLUSTER_TCP_BASE      replica N's native port is base + N, default 9100
  ATTRIB_LOCAL_CLUSTER_HTTP_BASE     default 8200
  ATTRIB_LOCAL_CLUSTER_INTERSERVER_BASE  replication between replicas, default 9200
EOF
}

# ---------------------------------------------------------------------------
# settings and paths

check_settings() {
	local name value
	for name in ATTRIB_LOCAL_REDIS_PORT ATTRIB_LOCAL_CLICKHOUSE_PORT ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT; do
		value="${!name:-}"
		[[ -z "${value}" ]] && continue
		if [[ ! "${value}" =~ ^[0-9]+$ ]] || ((10#${value} < 1 || 10#${value} > 65535)); then
			die "${name}=${value} is not a TCP port (1-65535)"
		fi
	done
	if [[ "${REDIS_PORT}" == "${CH_TCP_PORT}" || "${REDIS_PORT}" == "${CH_HTTP_PORT}" || "${CH_TCP_PORT}" == "${CH_HTTP_PORT}" ]]; then
		die "ports must differ: ATTRIB_LOCAL_REDIS_PORT=${REDIS_PORT} ATTRIB_LOCAL_CLICKHOUSE_PORT=${CH_TCP_PORT} ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT=${CH_HTTP_PORT}"
	fi
	for name in ATTRIB_LOCAL_START_TIMEOUT ATTRIB_LOCAL_STOP_TIMEOUT; do
		value="${!name:-}"
		if [[ -n "${value}" && ! "${value}" =~ ^[0-9]+$ ]]; then
			die "${name}=${value} is not a number of seconds"
		fi
	done
}

# The directory goes verbatim into redis.conf and config.xml, so keep it plain.
LOCAL_DIR="$(realpath -m -- "${ATTRIB_LOCAL_DIR:-${REPO_ROOT}/.local}")"
readonly LOCAL_DIR
if [[ ! "${LOCAL_DIR}" =~ ^/[A-Za-z0-9/._+,:@=\ -]*$ ]]; then
	die "ATTRIB_LOCAL_DIR=${LOCAL_DIR}: use a path made of letters, digits, spaces and / . _ + , : @ = -"
fi

readonly REDIS_DIR="${LOCAL_DIR}/redis"
readonly REDIS_CONF="${REDIS_DIR}/redis.conf"
readonly REDIS_PID_FILE="${REDIS_DIR}/redis-server.pid"
readonly REDIS_DATA_DIR="${REDIS_DIR}/data"
readonly REDIS_LOG_DIR="${REDIS_DIR}/log"
readonly REDIS_LOG="${REDIS_LOG_DIR}/redis-server.log"

readonly CH_DIR="${LOCAL_DIR}/clickhouse"
readonly CH_CONF="${CH_DIR}/config.xml"
readonly CH_PID_FILE="${CH_DIR}/clickhouse-server.pid"
readonly CH_DATA_DIR="${CH_DIR}/data"
readonly CH_TMP_DIR="${CH_DIR}/tmp"
readonly CH_USER_FILES_DIR="${CH_DIR}/user_files"
readonly CH_FORMAT_SCHEMA_DIR="${CH_DIR}/format_schemas"
readonly CH_LOG_DIR="${CH_DIR}/log"
readonly CH_LOG="${CH_LOG_DIR}/clickhouse-server.log"
readonly CH_ERR_LOG="${CH_LOG_DIR}/clickhouse-server.err.log"
readonly CH_STDERR_LOG="${CH_LOG_DIR}/stderr.log"
readonly CH_USERS="${CH_DIR}/users.xml"
readonly CH_ANALYST_PASSWORD_FILE="${CH_DIR}/analyst.password"

# ---------------------------------------------------------------------------
# small helpers

have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
	if [[ "${EUID}" -eq 0 ]]; then
		"$@"
	elif have sudo; then
		sudo "$@"
	else
		die "root is needed to run: $*"
	fi
}

# Serialise install/up/down (e.g. `make -j` starting two targets at once).
take_lock() {
	mkdir -p -- "${LOCAL_DIR}"
	exec 9>"${LOCAL_DIR}/stack.lock"
	if have flock && ! flock -w 300 9; then
		die "another stack.sh has held ${LOCAL_DIR}/stack.lock for 300s"
	fi
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local state
	[[ "$1" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$1/stat" ]] || return 1
	state="$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" || return 1
	[[ -n "${state}" && "${state}" != Z && "${state}" != X ]]
}

# exe_of PID: the resolved executable of PID ("" if unreadable).
exe_of() {
	local exe
	exe="$(readlink -- "/proc/$1/exe" 2>/dev/null)" || return 0
	printf '%s\n' "${exe% (deleted)}"
}

# pids_of_binary PATH: live pids running the executable PATH (symlinks resolved).
pids_of_binary() {
	local want dir pid
	want="$(readlink -f -- "$1" 2>/dev/null)" || return 0
	[[ -n "${want}" ]] || return 0
	for dir in /proc/[0-9]*; do
		pid="${dir#/proc/}"
		[[ "$(exe_of "${pid}")" == "${want}" ]] || continue
		pid_alive "${pid}" && printf '%s\n' "${pid}"
	done
	return 0
}

uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

read_pid_file() {
	local pid=""
	[[ -r "$1" ]] && pid="$(tr -dc '0-9' <"$1" 2>/dev/null)"
	printf '%s' "${pid}"
}

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# port_listener PORT: "PID NAME USER" of the process listening on PORT, when ss can tell.
port_listener() {
	local line pid user
	have ss || return 0
	line="$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1)" || return 0
	if [[ "${line}" =~ \(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
		pid="${BASH_REMATCH[2]}"
		user="$(ps -o user= -p "${pid}" 2>/dev/null | tr -d ' ')" || user=""
		printf '%s %s %s\n' "${pid}" "${BASH_REMATCH[1]}" "${user:-?}"
	fi
}

# require_free_port PORT ENV_VAR WHAT: die naming ENV_VAR if PORT is taken.
require_free_port() {
	local port="$1" var="$2" what="$3" pid="" name="" user="" who="" hint=""
	port_in_use "${port}" || return 0
	read -r pid name user < <(port_listener "${port}") || true
	if [[ -n "${pid}" ]]; then
		who=" (pid ${pid}, ${name}, user ${user})"
		if [[ "${user}" == redis || "${user}" == clickhouse ]]; then
			hint=" This looks like the server the Debian package started as user ${user}; stop it with 'kill ${pid}', or"
		fi
	fi
	die "port ${port} on 127.0.0.1 (${what}) is already in use by a process that is not ours${who}.${hint:- Stop it, or} set ${var} to a free port, e.g. '${var}=$((port + 10000)) bash deploy/local/stack.sh up'."
}

# render TEMPLATE OUT NAME=VALUE...: copy TEMPLATE to OUT replacing @NAME@ by VALUE.
render() {
	local template="$1" out="$2" text pair
	shift 2
	text="$(<"${template}")"
	for pair in "$@"; do
		text="${text//@${pair%%=*}@/"${pair#*=}"}"
	done
	if [[ "${text}" =~ @[A-Z_]+@ ]]; then
		die "internal: ${template}: placeholder ${BASH_REMATCH[0]} not replaced"
	fi
	printf '%s\n' "${text}" >"${out}.tmp"
	mv -f -- "${out}.tmp" "${out}"
}

# render_changed TEMPLATE OUT NAME=VALUE...: render, but leave OUT (and its
# mtime, which ClickHouse watches) alone when the text is the same. Returns 0
# when OUT changed or was created, 1 when it was already current.
render_changed() {
	local template="$1" out="$2"
	shift 2
	render "${template}" "${out}.new" "$@"
	if [[ -f "${out}" ]] && cmp -s -- "${out}.new" "${out}"; then
		rm -f -- "${out}.new"
		return 1
	fi
	mv -f -- "${out}.new" "${out}"
}

# show_log FILE: last lines of FILE on stderr.
show_log() {
	[[ -s "$1" ]] || return 0
	printf 'stack: --- last lines of %s ---\n' "$1" >&2
	tail -n 20 -- "$1" >&2 || true
	printf 'stack: ---\n' >&2
}

# spawn_daemon LOG CMD...: run a self-daemonizing server with stdin from
# /dev/null, stdout/stderr appended to LOG and every other descriptor closed,
# so the server holds neither our lock nor a caller's pipe (which would keep
# `$(stack.sh up)` or a CI log reader waiting forever).
spawn_daemon() {
	local log="$1" fd
	shift
	(
		for fd in /proc/"${BASHPID}"/fd/*; do
			fd="${fd##*/}"
			if [[ "${fd}" =~ ^[0-9]+$ ]] && ((fd > 2)); then
				eval "exec ${fd}>&-"
			fi
		done
		exec "$@" </dev/null >>"${log}" 2>&1
	)
}

# stop_pids WHAT PID...: SIGTERM, wait STOP_TIMEOUT seconds, then SIGKILL.
stop_pids() {
	local what="$1" pid deadline left
	shift
	(($# > 0)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	deadline=$((SECONDS + 10#${STOP_TIMEOUT}))
	while ((SECONDS < deadline)); do
		left=0
		for pid in "$@"; do pid_alive "${pid}" && left=1; done
		((left)) || return 0
		sleep 0.2
	done
	warn "${what} (pid $*) did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
	kill -KILL "$@" 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while ((SECONDS < deadline)); do
		left=0
		for pid in "$@"; do pid_alive "${pid}" && left=1; done
		((left)) || return 0
		sleep 0.2
	done
	die "${what} (pid $*) is still alive after SIGKILL"
}

# ---------------------------------------------------------------------------
# install

redis_server_bin() { command -v redis-server 2>/dev/null || true; }
redis_cli_bin() { command -v redis-cli 2>/dev/null || true; }
ch_server_bin() { command -v clickhouse-server 2>/dev/null || true; }
ch_client_bin() { command -v clickhouse-client 2>/dev/null || true; }
# The browser tests (web/, cmd/attrib) drive Chromium; they fail without it.
chromium_bin() { command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true; }
# The rules' tests (cmd/attrib) run promtool, of the Debian package prometheus.
promtool_bin() { command -v promtool 2>/dev/null || true; }

apt_get() {
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@"
}

has_candidate() {
	local candidate
	candidate="$(apt-cache policy -- "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')"
	[[ -n "${candidate}" && "${candidate}" != "(none)" ]]
}

# Debian's postinst may start a system server (as user redis / clickhouse) when
# the machine has an init system or no policy-rc.d. It would hold our ports, so
# stop what the packages we just installed started.
stop_package_daemons() {
	local pkg bin user pid pids
	for pkg in "$@"; do
		case "${pkg}" in
		redis-server) bin="$(redis_server_bin)" user=redis ;;
		clickhouse-server) bin="$(ch_server_bin)" user=clickhouse ;;
		prometheus) bin="$(command -v prometheus 2>/dev/null || true)" user=prometheus ;;
		*) continue ;;
		esac
		[[ -n "${bin}" ]] || continue
		id -u "${user}" >/dev/null 2>&1 || continue
		pids=()
		for pid in $(pids_of_binary "${bin}"); do
			[[ "$(uid_of "${pid}")" == "$(id -u "${user}")" ]] && pids+=("${pid}")
		done
		if ((${#pids[@]} > 0)); then
			say "install: stopping the ${pkg} daemon the package started (pid ${pids[*]}, user ${user})"
			as_root kill -TERM "${pids[@]}" 2>/dev/null || true
			stop_pids "package ${pkg} daemon" "${pids[@]}"
		fi
	done
}

cmd_install() {
	local missing=() update=0 pkg
	[[ -n "$(redis_server_bin)" ]] || missing+=(redis-server)
	[[ -n "$(redis_cli_bin)" ]] || missing+=(redis-tools)
	[[ -n "$(ch_server_bin)" ]] || missing+=(clickhouse-server)
	[[ -n "$(ch_client_bin)" ]] || missing+=(clickhouse-client)
	[[ -n "$(chromium_bin)" || -n "${ATTRIB_CHROMIUM:-}" ]] || missing+=(chromium)
	[[ -n "$(promtool_bin)" ]] || missing+=(prometheus)
	if ((${#missing[@]} == 0)); then
		say "install: redis-server, redis-cli, clickhouse-server, clickhouse-client, chromium, promtool are installed"
		return 0
	fi
	have apt-get || die "missing ${missing[*]} and apt-get is not available; install Redis 7 and ClickHouse by hand"
	say "install: installing ${missing[*]}"
	for pkg in "${missing[@]}"; do
		has_candidate "${pkg}" || update=1
	done
	if ((update)); then
		apt_get update || die "apt-get update failed"
	fi
	if ! apt_get install -y --no-install-recommends "${missing[@]}"; then
		((update)) && die "apt-get install ${missing[*]} failed"
		warn "apt-get install failed; running apt-get update and retrying"
		apt_get update || die "apt-get update failed"
		apt_get install -y --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
	fi
	[[ -n "$(redis_server_bin)" && -n "$(redis_cli_bin)" && -n "$(ch_server_bin)" && -n "$(ch_client_bin)" ]] ||
		die "packages installed but redis-server/redis-cli/clickhouse-server/clickhouse-client still not on PATH"
	[[ -n "$(chromium_bin)" || -n "${ATTRIB_CHROMIUM:-}" ]] || die "package chromium installed but chromium still not on PATH"
	[[ -n "$(promtool_bin)" ]] || die "package prometheus installed but promtool still not on PATH"
	stop_package_daemons "${missing[@]}"
}

require_binaries() {
	[[ -n "$(redis_server_bin)" && -n "$(redis_cli_bin)" && -n "$(ch_server_bin)" && -n "$(ch_client_bin)" ]] ||
		die "Redis/ClickHouse binaries not found; run 'bash deploy/local/stack.sh install'"
}

# ---------------------------------------------------------------------------
# Redis

# redis_pid: pid of OUR redis-server, "" if not running. Ours = the pid file's
# process if it runs redis-server, else any redis-server whose working
# directory is our data dir (redis chdirs to `dir`), in case the pid file is gone.
redis_pid() {
	local bin pid want
	bin="$(redis_server_bin)"
	[[ -n "${bin}" ]] || return 0
	want="$(readlink -f -- "${bin}")"
	pid="$(read_pid_file "${REDIS_PID_FILE}")"
	if [[ -n "${pid}" ]] && pid_alive "${pid}" && [[ "$(exe_of "${pid}")" == "${want}" ]]; then
		printf '%s\n' "${pid}"
		return 0
	fi
	for pid in $(pids_of_binary "${bin}"); do
		if [[ "$(readlink -- "/proc/${pid}/cwd" 2>/dev/null)" == "${REDIS_DATA_DIR}" ]]; then
			printf '%s\n' "${pid}"
			return 0
		fi
	done
}

redis_ping() {
	[[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

redis_version() {
	timeout 5 redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }'
}

# Port from the rendered config of the running server.
redis_conf_port() {
	[[ -r "${REDIS_CONF}" ]] || return 0
	awk '$1 == "port" { print $2; exit }' "${REDIS_CONF}"
}

redis_wait() {
	local port="$1" deadline started pid
	started=${SECONDS}
	deadline=$((SECONDS + 10#${START_TIMEOUT}))
	while ((SECONDS < deadline)); do
		pid="$(redis_pid)"
		if [[ -n "${pid}" ]] && redis_ping "${port}"; then
			return 0
		fi
		# redis daemonizes before binding and writes its pid file after, so
		# "no process at all" after a few seconds means it died.
		if [[ -z "${pid}" ]] && ((SECONDS - started >= 5)); then
			show_log "${REDIS_LOG}"
			die "redis-server exited during start-up; see ${REDIS_LOG}"
		fi
		sleep 0.2
	done
	show_log "${REDIS_LOG}"
	die "redis did not answer PING on 127.0.0.1:${port} within ${START_TIMEOUT}s; see ${REDIS_LOG}"
}

redis_up() {
	local pid port
	pid="$(redis_pid)"
	if [[ -n "${pid}" ]]; then
		port="$(redis_conf_port)"
		if [[ -n "${port}" && "${port}" != "${REDIS_PORT}" ]]; then
			die "our redis (pid ${pid}) is already running on port ${port}, not ${REDIS_PORT}; run 'bash deploy/local/stack.sh down' first"
		fi
		redis_wait "${REDIS_PORT}"
		say "redis: already running (pid ${pid}, 127.0.0.1:${REDIS_PORT})"
		return 0
	fi
	rm -f -- "${REDIS_PID_FILE}"
	require_free_port "${REDIS_PORT}" ATTRIB_LOCAL_REDIS_PORT redis
	mkdir -p -- "${REDIS_DATA_DIR}" "${REDIS_LOG_DIR}"
	render "${SCRIPT_DIR}/redis.conf.in" "${REDIS_CONF}" \
		"REDIS_PORT=${REDIS_PORT}" \
		"REDIS_PID_FILE=${REDIS_PID_FILE}" \
		"REDIS_LOG_FILE=${REDIS_LOG}" \
		"REDIS_DATA_DIR=${REDIS_DATA_DIR}"
	say "redis: starting on 127.0.0.1:${REDIS_PORT} (data ${REDIS_DATA_DIR})"
	if ! spawn_daemon "${REDIS_LOG}" "$(redis_server_bin)" "${REDIS_CONF}"; then
		show_log "${REDIS_LOG}"
		die "redis-server failed to start; see ${REDIS_LOG}"
	fi
	redis_wait "${REDIS_PORT}"
	say "redis: up (pid $(redis_pid), 127.0.0.1:${REDIS_PORT})"
}

redis_down() {
	local pid
	pid="$(redis_pid)"
	if [[ -z "${pid}" ]]; then
		rm -f -- "${REDIS_PID_FILE}"
		say "redis: not running"
		return 0
	fi
	say "redis: stopping (pid ${pid})"
	stop_pids redis "${pid}"
	rm -f -- "${REDIS_PID_FILE}"
	say "redis: stopped"
}

# ---------------------------------------------------------------------------
# ClickHouse

# ch_pid: pid of OUR clickhouse-server, "" if not running. Ours = runs
# clickhouse-server with --config-file=<our config.xml>. The pid file is tried
# first; it is not trusted alone because a second clickhouse-server started
# on the same pid file deletes it when it gives up.
ch_pid() {
	local bin pid
	bin="$(ch_server_bin)"
	[[ -n "${bin}" ]] || return 0
	pid="$(read_pid_file "${CH_PID_FILE}")"
	if [[ -n "${pid}" ]] && ch_is_ours "${pid}"; then
		printf '%s\n' "${pid}"
		return 0
	fi
	for pid in $(pids_of_binary "${bin}"); do
		if ch_is_ours "${pid}"; then
			printf '%s\n' "${pid}"
			return 0
		fi
	done
}

ch_is_ours() {
	pid_alive "$1" || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -Fxq -- "--config-file=${CH_CONF}"
}

ch_query() {
	timeout 10 clickhouse-client --host 127.0.0.1 --port "$1" --query "$2" 2>/dev/null
}

ch_ping() { [[ "$(ch_query "$1" 'SELECT 1')" == 1 ]]; }

ch_conf_port() {
	[[ -r "${CH_CONF}" ]] || return 0
	sed -n 's|.*<tcp_port>\([0-9]*\)</tcp_port>.*|\1|p' "${CH_CONF}" | head -n 1
}

ch_wait() {
	local port="$1" deadline started pid
	started=${SECONDS}
	deadline=$((SECONDS + 10#${START_TIMEOUT}))
	while ((SECONDS < deadline)); do
		pid="$(ch_pid)"
		if [[ -n "${pid}" ]] && ch_ping "${port}"; then
			return 0
		fi
		if [[ -z "${pid}" ]] && ((SECONDS - started >= 3)); then
			show_log "${CH_ERR_LOG}"
			show_log "${CH_STDERR_LOG}"
			die "clickhouse-server exited during start-up; see ${CH_ERR_LOG} and ${CH_STDERR_LOG}"
		fi
		sleep 0.3
	done
	show_log "${CH_ERR_LOG}"
	die "clickhouse did not answer 'SELECT 1' on 127.0.0.1:${port} within ${START_TIMEOUT}s; see ${CH_LOG} and ${CH_ERR_LOG}"
}

# ch_analyst_password: the analysts' password, created (random, readable by
# the invoking user only) when missing.
ch_analyst_password() {
	local pw
	if [[ ! -s "${CH_ANALYST_PASSWORD_FILE}" ]]; then
		pw="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
		[[ "${pw}" =~ ^[0-9a-f]{32}$ ]] || die "could not read 16 random bytes from /dev/urandom"
		(umask 077 && printf '%s\n' "${pw}" >"${CH_ANALYST_PASSWORD_FILE}.tmp")
		mv -f -- "${CH_ANALYST_PASSWORD_FILE}.tmp" "${CH_ANALYST_PASSWORD_FILE}"
	fi
	pw="$(tr -d '\n' <"${CH_ANALYST_PASSWORD_FILE}")"
	# It goes into a URL (`env`) and the users file unescaped.
	[[ "${pw}" =~ ^[A-Za-z0-9._~-]+$ ]] ||
		die "${CH_ANALYST_PASSWORD_FILE}: use letters, digits and . _ ~ - only (or delete it for a new random one)"
	printf '%s' "${pw}"
}

# ch_render_users: write users.xml (the engine's user and the analysts'
# read-only one). A running server reloads it by itself within seconds.
ch_render_users() {
	local pw sha
	mkdir -p -- "${CH_DIR}"
	pw="$(ch_analyst_password)"
	sha="$(printf '%s' "${pw}" | sha256sum | awk '{ print $1 }')"
	if render_changed "${SCRIPT_DIR}/clickhouse-users.xml.in" "${CH_USERS}" \
		"CH_ANALYST_PASSWORD_SHA256=${sha}" \
		"CH_ANALYST_DATABASE=${CH_ENGINE_DATABASE}"; then
		say "clickhouse: users written to ${CH_USERS}"
	fi
}

# ch_render_config OUT: render config.xml into OUT.
ch_render_config() {
	render "${SCRIPT_DIR}/clickhouse-config.xml.in" "$1" \
		"CH_LOG_DIR=${CH_LOG_DIR}" \
		"CH_TCP_PORT=${CH_TCP_PORT}" \
		"CH_HTTP_PORT=${CH_HTTP_PORT}" \
		"CH_DATA_DIR=${CH_DATA_DIR}" \
		"CH_TMP_DIR=${CH_TMP_DIR}" \
		"CH_USER_FILES_DIR=${CH_USER_FILES_DIR}" \
		"CH_FORMAT_SCHEMA_DIR=${CH_FORMAT_SCHEMA_DIR}" \
		"CH_USERS_CONFIG=${CH_USERS}"
}

ch_up() {
	local pid port
	ch_render_users
	pid="$(ch_pid)"
	if [[ -n "${pid}" ]]; then
		port="$(ch_conf_port)"
		if [[ -n "${port}" && "${port}" != "${CH_TCP_PORT}" ]]; then
			die "our clickhouse (pid ${pid}) is already running on port ${port}, not ${CH_TCP_PORT}; run 'bash deploy/local/stack.sh down' first"
		fi
		# 18.16 reads config.xml (and which users file to watch) only at
		# start: a server started from an older template is restarted.
		ch_render_config "${CH_CONF}.next"
		if cmp -s -- "${CH_CONF}.next" "${CH_CONF}"; then
			rm -f -- "${CH_CONF}.next"
			ch_wait "${CH_TCP_PORT}"
			say "clickhouse: already running (pid ${pid}, 127.0.0.1:${CH_TCP_PORT})"
			return 0
		fi
		rm -f -- "${CH_CONF}.next"
		say "clickhouse: ${CH_CONF} is out of date (deploy/local/clickhouse-config.xml.in changed); restarting"
		ch_down
	fi
	rm -f -- "${CH_PID_FILE}"
	require_free_port "${CH_TCP_PORT}" ATTRIB_LOCAL_CLICKHOUSE_PORT "clickhouse native"
	require_free_port "${CH_HTTP_PORT}" ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT "clickhouse http"
	# The log directory must exist before start: with --daemon, 18.16 opens
	# <log dir>/stderr.log before creating the directory and exits with 78.
	mkdir -p -- "${CH_DATA_DIR}" "${CH_TMP_DIR}" "${CH_USER_FILES_DIR}" "${CH_FORMAT_SCHEMA_DIR}" "${CH_LOG_DIR}"
	ch_render_config "${CH_CONF}"
	say "clickhouse: starting on 127.0.0.1:${CH_TCP_PORT} (http ${CH_HTTP_PORT}, data ${CH_DATA_DIR})"
	if ! spawn_daemon "${CH_STDERR_LOG}" "$(ch_server_bin)" \
		--config-file="${CH_CONF}" --pid-file="${CH_PID_FILE}" --daemon; then
		show_log "${CH_ERR_LOG}"
		show_log "${CH_STDERR_LOG}"
		die "clickhouse-server failed to start; see ${CH_ERR_LOG} and ${CH_STDERR_LOG}"
	fi
	ch_wait "${CH_TCP_PORT}"
	say "clickhouse: up (pid $(ch_pid), 127.0.0.1:${CH_TCP_PORT})"
}

ch_down() {
	local pid
	pid="$(ch_pid)"
	if [[ -z "${pid}" ]]; then
		rm -f -- "${CH_PID_FILE}"
		say "clickhouse: not running"
		return 0
	fi
	say "clickhouse: stopping (pid ${pid})"
	stop_pids clickhouse "${pid}"
	rm -f -- "${CH_PID_FILE}"
	say "clickhouse: stopped"
}

# ---------------------------------------------------------------------------
# commands

cmd_up() {
	cmd_install
	require_binaries
	# Check every port we will need before starting anything.
	if [[ -z "$(redis_pid)" ]]; then
		require_free_port "${REDIS_PORT}" ATTRIB_LOCAL_REDIS_PORT redis
	fi
	if [[ -z "$(ch_pid)" ]]; then
		require_free_port "${CH_TCP_PORT}" ATTRIB_LOCAL_CLICKHOUSE_PORT "clickhouse native"
		require_free_port "${CH_HTTP_PORT}" ATTRIB_LOCAL_CLICKHOUSE_HTTP_PORT "clickhouse http"
	fi
	redis_up
	ch_up
}

cmd_down() {
	ch_down
	redis_down
}

cmd_status() {
	local down=0 pid port version state
	pid="$(redis_pid)"
	port="$(redis_conf_port)"
	[[ -n "${pid}" && -n "${port}" ]] || port="${REDIS_PORT}"
	if [[ -z "${pid}" ]]; then
		state=stopped version=-
		down=1
	elif redis_ping "${port}"; then
		state=running version="$(redis_version "${port}")"
	else
		state="running, not answering" version=-
		down=1
	fi
	printf '%-11s %-9s pid=%-8s port=%-12s version=%-9s data=%s  log=%s\n' \
		redis "${state}" "${pid:--}" "${port}" "${version:--}" "${REDIS_DATA_DIR}" "${REDIS_LOG}"

	pid="$(ch_pid)"
	port="$(ch_conf_port)"
	[[ -n "${pid}" && -n "${port}" ]] || port="${CH_TCP_PORT}"
	if [[ -z "${pid}" ]]; then
		state=stopped version=-
		down=1
	elif version="$(ch_query "${port}" 'SELECT version()')" && [[ -n "${version}" ]]; then
		state=running
	else
		state="running, not answering" version=-
		down=1
	fi
	printf '%-11s %-9s pid=%-8s port=%-12s version=%-9s data=%s  log=%s\n' \
		clickhouse "${state}" "${pid:--}" "${port}" "${version:--}" "${CH_DATA_DIR}" "${CH_LOG}"

	((down == 0)) || return 3
}

cmd_env() {
	local pw
	printf 'export ATTRIB_REDIS_URL=redis://127.0.0.1:%s/0\n' "${REDIS_PORT}"
	printf 'export ATTRIB_CLICKHOUSE_URL=clickhouse://127.0.0.1:%s/%s\n' "${CH_TCP_PORT}" "${CH_ENGINE_DATABASE}"
	# The analysts' read-only user; its password exists once `up` has run.
	if [[ -s "${CH_ANALYST_PASSWORD_FILE}" ]]; then
		pw="$(tr -d '\n' <"${CH_ANALYST_PASSWORD_FILE}")"
		printf 'export ATTRIB_ANALYST_CLICKHOUSE_URL=clickhouse://%s:%s@127.0.0.1:%s/%s\n' \
			"${CH_ANALYST_USER}" "${pw}" "${CH_TCP_PORT}" "${CH_ENGINE_DATABASE}"
	else
		printf '# ATTRIB_ANALYST_CLICKHOUSE_URL: run `bash deploy/local/stack.sh up` first (it creates %s)\n' "${CH_ANALYST_PASSWORD_FILE}"
	fi
}

# The local ClickHouse cluster (cluster-* commands) lives in its own file.
# shellcheck source=deploy/local/cluster.sh
source "${SCRIPT_DIR}/cluster.sh"

main() {
	case "$#:${1:-}" in
	1:* | 2:cluster-up | 2:cluster-down) ;;
	*)
		usage >&2
		exit 2
		;;
	esac
	check_settings
	cl_check_settings
	case "$1" in
	cluster-up)
		take_lock
		cmd_cluster_up "${@:2}"
		;;
	cluster-down)
		take_lock
		cmd_cluster_down "${@:2}"
		;;
	cluster-status) cmd_cluster_status ;;
	cluster-env) cmd_cluster_env ;;
	install)
		take_lock
		cmd_install
		;;
	up)
		take_lock
		cmd_up
		;;
	down)
		take_lock
		cmd_down
		;;
	status) cmd_status ;;
	env) cmd_env ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
