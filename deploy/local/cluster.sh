# deploy/local/cluster.sh: the local ClickHouse cluster, sourced by stack.sh
# (which provides say/die, render, spawn_daemon, stop_pids, the apt helpers and
# the paths). One ZooKeeper (Debian's zookeeperd package, run as the invoking
# user) and CLUSTER_REPLICAS ClickHouse 18.16 servers, the replicas of one
# shard of the cluster CLUSTER_NAME, each with its own ports, config and data
# under $ATTRIB_LOCAL_DIR/cluster. See deploy/local/README.md, "The cluster".
#
#   stack.sh cluster-up [N]     install what is missing, start ZooKeeper and every replica (or replica N)
#   stack.sh cluster-down [N]   stop every replica and ZooKeeper (or only replica N)
#   stack.sh cluster-status     state of each; exit 0 if all are up, 3 otherwise
#   stack.sh cluster-env        print the exports of the engine's cluster settings and the tests'

readonly CLUSTER_NAME=attrib
readonly CLUSTER_REPLICAS=2
ZK_PORT="${ATTRIB_LOCAL_ZOOKEEPER_PORT:-2281}"
CL_TCP_BASE="${ATTRIB_LOCAL_CLUSTER_TCP_BASE:-9100}"
CL_HTTP_BASE="${ATTRIB_LOCAL_CLUSTER_HTTP_BASE:-8200}"
CL_INTERSERVER_BASE="${ATTRIB_LOCAL_CLUSTER_INTERSERVER_BASE:-9200}"
readonly ZK_PORT CL_TCP_BASE CL_HTTP_BASE CL_INTERSERVER_BASE

readonly CL_DIR="${LOCAL_DIR}/cluster"
readonly ZK_DIR="${CL_DIR}/zookeeper"
readonly ZK_CFG="${ZK_DIR}/zoo.cfg"
readonly ZK_DATA_DIR="${ZK_DIR}/data"
readonly ZK_LOG_DIR="${ZK_DIR}/log"
readonly ZK_LOG="${ZK_LOG_DIR}/zookeeper.log"
readonly ZK_STDOUT_LOG="${ZK_LOG_DIR}/stdout.log"
readonly ZK_PID_FILE="${ZK_DIR}/zookeeper.pid"
readonly CL_USERS="${CL_DIR}/users.xml"
# Debian's zookeeper.jar names its dependencies in its manifest; log4j 1.2 and
# its slf4j binding make the server log to our file.
readonly ZK_JAR=/usr/share/java/zookeeper.jar
readonly ZK_CLASSPATH="${ZK_JAR}:/usr/share/java/log4j-1.2.jar:/usr/share/java/slf4j-log4j12.jar"

cl_check_settings() {
	local name value
	for name in ATTRIB_LOCAL_ZOOKEEPER_PORT ATTRIB_LOCAL_CLUSTER_TCP_BASE ATTRIB_LOCAL_CLUSTER_HTTP_BASE ATTRIB_LOCAL_CLUSTER_INTERSERVER_BASE; do
		value="${!name:-}"
		[[ -z "${value}" ]] && continue
		if [[ ! "${value}" =~ ^[0-9]+$ ]] || ((10#${value} < 1 || 10#${value} + CLUSTER_REPLICAS > 65535)); then
			die "${name}=${value} is not a TCP port (1-65535, room for ${CLUSTER_REPLICAS} replicas above a base)"
		fi
	done
}

# cl_replica_dir N, cl_port KIND N: replica N's directory and ports (base + N).
cl_replica_dir() { printf '%s/clickhouse-%s' "${CL_DIR}" "$1"; }
cl_port() {
	case "$1" in
	tcp) printf '%s' $((10#${CL_TCP_BASE} + $2)) ;;
	http) printf '%s' $((10#${CL_HTTP_BASE} + $2)) ;;
	interserver) printf '%s' $((10#${CL_INTERSERVER_BASE} + $2)) ;;
	esac
}

cl_replicas() { seq 1 "${CLUSTER_REPLICAS}"; }

# ---------------------------------------------------------------------------
# install

cl_install() {
	cmd_install
	if [[ -r "${ZK_JAR}" ]] && have java; then
		say "install: zookeeper (${ZK_JAR}) and java are installed"
		return 0
	fi
	have apt-get || die "missing ZooKeeper (${ZK_JAR}) or java and apt-get is not available; install zookeeperd by hand"
	say "install: installing zookeeperd"
	has_candidate zookeeperd || apt_get update || die "apt-get update failed"
	apt_get install -y --no-install-recommends zookeeperd || die "apt-get install zookeeperd failed"
	[[ -r "${ZK_JAR}" ]] && have java || die "zookeeperd installed but ${ZK_JAR} or java is still missing"
	# The package's init script may have started a system ZooKeeper (as user
	# zookeeper, port 2181); ours uses its own port, so it is left alone.
}

# ---------------------------------------------------------------------------
# ZooKeeper

# zk_pid: pid of OUR ZooKeeper (a java process started with our zoo.cfg).
zk_pid() {
	local pid dir
	pid="$(read_pid_file "${ZK_PID_FILE}")"
	if [[ -n "${pid}" ]] && zk_is_ours "${pid}"; then
		printf '%s\n' "${pid}"
		return 0
	fi
	for dir in /proc/[0-9]*; do
		pid="${dir#/proc/}"
		if zk_is_ours "${pid}"; then
			printf '%s\n' "${pid}"
			return 0
		fi
	done
}

zk_is_ours() {
	pid_alive "$1" || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -Fxq -- "${ZK_CFG}"
}

# zk_ruok PORT: the server answers "imok" to the four-letter word ruok.
zk_ruok() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	[[ "$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf ruok >&3; cat <&3' _ "$1" 2>/dev/null)" == imok ]]
}

zk_up() {
	local pid deadline
	pid="$(zk_pid)"
	if [[ -n "${pid}" ]] && zk_ruok "${ZK_PORT}"; then
		say "zookeeper: already running (pid ${pid}, 127.0.0.1:${ZK_PORT})"
		return 0
	fi
	[[ -n "${pid}" ]] || require_free_port "${ZK_PORT}" ATTRIB_LOCAL_ZOOKEEPER_PORT zookeeper
	if [[ -z "${pid}" ]]; then
		mkdir -p -- "${ZK_DATA_DIR}" "${ZK_LOG_DIR}"
		render "${SCRIPT_DIR}/zookeeper.cfg.in" "${ZK_CFG}" "ZK_DATA_DIR=${ZK_DATA_DIR}" "ZK_PORT=${ZK_PORT}"
		say "zookeeper: starting on 127.0.0.1:${ZK_PORT} (data ${ZK_DATA_DIR})"
		# setsid -f: java does not daemonise itself; it runs detached, in a
		# session of its own, with the descriptors spawn_daemon closed.
		spawn_daemon "${ZK_STDOUT_LOG}" setsid -f java -Xms64m -Xmx256m \
			-Dzookeeper.log.dir="${ZK_LOG_DIR}" -Dzookeeper.log.file="${ZK_LOG}" \
			-Dlog4j.configuration="file:${SCRIPT_DIR}/zookeeper-log4j.properties" \
			-cp "${ZK_CLASSPATH}" org.apache.zookeeper.server.quorum.QuorumPeerMain "${ZK_CFG}" ||
			die "zookeeper failed to start; see ${ZK_STDOUT_LOG}"
	fi
	deadline=$((SECONDS + 10#${START_TIMEOUT}))
	while ((SECONDS < deadline)); do
		pid="$(zk_pid)"
		if [[ -n "${pid}" ]] && zk_ruok "${ZK_PORT}"; then
			printf '%s\n' "${pid}" >"${ZK_PID_FILE}"
			say "zookeeper: up (pid ${pid}, 127.0.0.1:${ZK_PORT})"
			return 0
		fi
		sleep 0.3
	done
	show_log "${ZK_LOG}"
	show_log "${ZK_STDOUT_LOG}"
	die "zookeeper did not answer ruok on 127.0.0.1:${ZK_PORT} within ${START_TIMEOUT}s; see ${ZK_LOG}"
}

zk_down() {
	local pid
	pid="$(zk_pid)"
	if [[ -z "${pid}" ]]; then
		rm -f -- "${ZK_PID_FILE}"
		say "zookeeper: not running"
		return 0
	fi
	say "zookeeper: stopping (pid ${pid})"
	stop_pids zookeeper "${pid}"
	rm -f -- "${ZK_PID_FILE}"
	say "zookeeper: stopped"
}

# ---------------------------------------------------------------------------
# ClickHouse replicas

# cl_ch_pid N: pid of our replica N (clickhouse-server with its config file).
cl_ch_pid() {
	local bin pid conf
	bin="$(ch_server_bin)"
	[[ -n "${bin}" ]] || return 0
	conf="$(cl_replica_dir "$1")/config.xml"
	pid="$(read_pid_file "$(cl_replica_dir "$1")/clickhouse-server.pid")"
	if [[ -n "${pid}" ]] && cl_ch_is "${pid}" "${conf}"; then
		printf '%s\n' "${pid}"
		return 0
	fi
	for pid in $(pids_of_binary "${bin}"); do
		if cl_ch_is "${pid}" "${conf}"; then
			printf '%s\n' "${pid}"
			return 0
		fi
	done
}

# cl_ch_is PID CONF: PID is a live clickhouse-server started with CONF.
cl_ch_is() {
	pid_alive "$1" && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -Fxq -- "--config-file=$2"
}

# cl_replicas_xml: the <replica> elements of remote_servers.
cl_replicas_xml() {
	local n
	for n in $(cl_replicas); do
		printf '                <replica><host>127.0.0.1</host><port>%s</port></replica>\n' "$(cl_port tcp "${n}")"
	done
}

cl_render_config() {
	local n="$1" out="$2" dir
	dir="$(cl_replica_dir "${n}")"
	render "${SCRIPT_DIR}/clickhouse-cluster.xml.in" "${out}" \
		"CH_LOG_DIR=${dir}/log" \
		"CH_TCP_PORT=$(cl_port tcp "${n}")" \
		"CH_HTTP_PORT=$(cl_port http "${n}")" \
		"CH_INTERSERVER_PORT=$(cl_port interserver "${n}")" \
		"CH_DATA_DIR=${dir}/data" \
		"CH_TMP_DIR=${dir}/tmp" \
		"CH_USER_FILES_DIR=${dir}/user_files" \
		"CH_FORMAT_SCHEMA_DIR=${dir}/format_schemas" \
		"CH_USERS_CONFIG=${CL_USERS}" \
		"ZK_PORT=${ZK_PORT}" \
		"CLUSTER_NAME=${CLUSTER_NAME}" \
		"CLUSTER_REPLICAS=$(cl_replicas_xml)" \
		"CH_REPLICA=r${n}"
}

cl_ch_wait() {
	local n="$1" port deadline started pid dir
	port="$(cl_port tcp "${n}")"
	dir="$(cl_replica_dir "${n}")"
	started=${SECONDS}
	deadline=$((SECONDS + 10#${START_TIMEOUT}))
	while ((SECONDS < deadline)); do
		pid="$(cl_ch_pid "${n}")"
		if [[ -n "${pid}" ]] && ch_ping "${port}"; then
			return 0
		fi
		if [[ -z "${pid}" ]] && ((SECONDS - started >= 3)); then
			show_log "${dir}/log/clickhouse-server.err.log"
			show_log "${dir}/log/stderr.log"
			die "clickhouse replica ${n} exited during start-up; see ${dir}/log"
		fi
		sleep 0.3
	done
	show_log "${dir}/log/clickhouse-server.err.log"
	die "clickhouse replica ${n} did not answer 'SELECT 1' on 127.0.0.1:${port} within ${START_TIMEOUT}s; see ${dir}/log"
}

cl_ch_up() {
	local n="$1" pid dir conf
	dir="$(cl_replica_dir "${n}")"
	conf="${dir}/config.xml"
	mkdir -p -- "${dir}/data" "${dir}/tmp" "${dir}/user_files" "${dir}/format_schemas" "${dir}/log"
	pid="$(cl_ch_pid "${n}")"
	if [[ -n "${pid}" ]]; then
		# 18.16 reads config.xml only at start: restart one started from an
		# older template.
		cl_render_config "${n}" "${conf}.next"
		if cmp -s -- "${conf}.next" "${conf}"; then
			rm -f -- "${conf}.next"
			cl_ch_wait "${n}"
			say "clickhouse replica ${n}: already running (pid ${pid}, 127.0.0.1:$(cl_port tcp "${n}"))"
			return 0
		fi
		rm -f -- "${conf}.next"
		say "clickhouse replica ${n}: ${conf} is out of date; restarting"
		cl_ch_down "${n}"
	fi
	require_free_port "$(cl_port tcp "${n}")" ATTRIB_LOCAL_CLUSTER_TCP_BASE "clickhouse replica ${n} native"
	require_free_port "$(cl_port http "${n}")" ATTRIB_LOCAL_CLUSTER_HTTP_BASE "clickhouse replica ${n} http"
	require_free_port "$(cl_port interserver "${n}")" ATTRIB_LOCAL_CLUSTER_INTERSERVER_BASE "clickhouse replica ${n} interserver"
	cl_render_config "${n}" "${conf}"
	rm -f -- "${dir}/clickhouse-server.pid"
	say "clickhouse replica ${n}: starting on 127.0.0.1:$(cl_port tcp "${n}") (interserver $(cl_port interserver "${n}"), data ${dir}/data)"
	if ! spawn_daemon "${dir}/log/stderr.log" "$(ch_server_bin)" \
		--config-file="${conf}" --pid-file="${dir}/clickhouse-server.pid" --daemon; then
		show_log "${dir}/log/clickhouse-server.err.log"
		die "clickhouse replica ${n} failed to start; see ${dir}/log"
	fi
	cl_ch_wait "${n}"
	say "clickhouse replica ${n}: up (pid $(cl_ch_pid "${n}"), 127.0.0.1:$(cl_port tcp "${n}"))"
}

cl_ch_down() {
	local n="$1" pid
	pid="$(cl_ch_pid "${n}")"
	if [[ -z "${pid}" ]]; then
		say "clickhouse replica ${n}: not running"
		return 0
	fi
	say "clickhouse replica ${n}: stopping (pid ${pid})"
	stop_pids "clickhouse replica ${n}" "${pid}"
	rm -f -- "$(cl_replica_dir "${n}")/clickhouse-server.pid"
	say "clickhouse replica ${n}: stopped"
}

# cl_which N: N itself when it names a replica, else die.
cl_which() {
	[[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= CLUSTER_REPLICAS)) || die "replica $1: want 1 to ${CLUSTER_REPLICAS}"
	printf '%s' "$1"
}

# ---------------------------------------------------------------------------
# commands

cmd_cluster_up() {
	local n
	cl_install
	require_binaries
	mkdir -p -- "${CL_DIR}"
	render_changed "${SCRIPT_DIR}/clickhouse-cluster-users.xml.in" "${CL_USERS}" || true
	zk_up
	if (($# > 0)); then
		cl_ch_up "$(cl_which "$1")"
		return 0
	fi
	for n in $(cl_replicas); do cl_ch_up "${n}"; done
}

cmd_cluster_down() {
	local n
	if (($# > 0)); then
		cl_ch_down "$(cl_which "$1")"
		return 0
	fi
	for n in $(cl_replicas); do cl_ch_down "${n}"; done
	zk_down
}

cmd_cluster_status() {
	local down=0 n pid port version state
	pid="$(zk_pid)"
	if [[ -z "${pid}" ]]; then
		state=stopped
		down=1
	elif zk_ruok "${ZK_PORT}"; then
		state=running
	else
		state="running, not answering"
		down=1
	fi
	printf '%-11s %-9s pid=%-8s port=%-12s data=%s  log=%s\n' zookeeper "${state}" "${pid:--}" "${ZK_PORT}" "${ZK_DATA_DIR}" "${ZK_LOG}"
	for n in $(cl_replicas); do
		pid="$(cl_ch_pid "${n}")"
		port="$(cl_port tcp "${n}")"
		if [[ -z "${pid}" ]]; then
			state=stopped version=-
			down=1
		elif version="$(ch_query "${port}" 'SELECT version()')" && [[ -n "${version}" ]]; then
			state=running
		else
			state="running, not answering" version=-
			down=1
		fi
		printf '%-11s %-9s pid=%-8s port=%-12s version=%-9s data=%s\n' "replica-${n}" "${state}" "${pid:--}" "${port}" "${version:--}" "$(cl_replica_dir "${n}")/data"
	done
	((down == 0)) || return 3
}

cmd_cluster_env() {
	local n hosts=() urls=()
	for n in $(cl_replicas); do
		hosts+=("127.0.0.1:$(cl_port tcp "${n}")")
		urls+=("clickhouse://127.0.0.1:$(cl_port tcp "${n}")/${CH_ENGINE_DATABASE}")
	done
	local IFS=,
	# The engine's settings: every replica in the URL (the client takes the
	# first that answers), and the cluster's name.
	printf 'export ATTRIB_CLUSTER_CLICKHOUSE_URL=clickhouse://%s/%s\n' "${hosts[*]}" "${CH_ENGINE_DATABASE}"
	printf 'export ATTRIB_CLUSTER_CLICKHOUSE_NAME=%s\n' "${CLUSTER_NAME}"
	IFS=' '
	# Each replica alone, in order (replica N is the Nth), for tests that
	# read from one replica or stop it (stack.sh cluster-down N).
	printf "export ATTRIB_CLUSTER_CLICKHOUSE_REPLICAS='%s'\n" "${urls[*]}"
}
