#!/usr/bin/env bash
# deploy/local/bench-peer.sh — our ClickHouse projector against the peer an
# operator would otherwise use: ClickHouse's own Kafka table engine with a
# materialized view, both reading the same attrib.attributions topic from the
# same embedded broker into equivalent tables, alternated. Run it after
# `make bench-e2e`, on the log that run left:
#
#   bash deploy/local/bench-peer.sh
#
# It starts `attrib broker` on .local/bench-e2e/data (the engine must be
# stopped), then per round: (ours) `attrib rebuild clickhouse` into a fresh
# database, (peer) a Kafka table + materialized view + ReplacingMergeTree with
# a consumer group of its own, timed until it holds every attributed row; the CPU
# of clickhouse-server, of the broker and of the rebuild is read from /proc.
# Last, it compares the two tables' per-creator totals (FINAL) and counts the
# peer's duplicate rows. Settings (environment): BENCH_PEER_ROUNDS (2),
# BENCH_E2E_KAFKA_PORT (18091), BENCH_PEER_DATA (.local/bench-e2e/data).
# The Kafka engine starts a new group at the beginning of the topic only with
# <kafka><auto_offset_reset>smallest</auto_offset_reset></kafka> in the
# server's configuration (librdkafka's default is the end): the script writes
# it to <clickhouse dir>/config.d/ and tells you to restart the server once.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$(realpath -m -- "${ATTRIB_LOCAL_DIR:-${REPO_ROOT}/.local}")"
BIN="${REPO_ROOT}/bin/attrib"
DATA="${BENCH_PEER_DATA:-${LOCAL_DIR}/bench-e2e/data}"
KAFKA_PORT="${BENCH_E2E_KAFKA_PORT:-18091}"
ROUNDS="${BENCH_PEER_ROUNDS:-2}"
OUT="${LOCAL_DIR}/bench-e2e/peer-$(date -u +%Y%m%dT%H%M%SZ).txt"

say() { printf 'bench-peer: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
[[ -x "${BIN}" ]] || die "${BIN} is missing: run 'make build' first"
[[ -d "${DATA}/kafka" ]] || die "no log under ${DATA}: run 'make bench-e2e' first"
eval "$(bash "${REPO_ROOT}/deploy/local/stack.sh" env)"
CH_HOSTPORT="${ATTRIB_CLICKHOUSE_URL#*://}"; CH_HOSTPORT="${CH_HOSTPORT##*@}"; CH_HOSTPORT="${CH_HOSTPORT%%/*}"
CH_HOST="${CH_HOSTPORT%:*}" CH_PORT="${CH_HOSTPORT##*:}"
ch() { clickhouse-client --host "${CH_HOST}" --port "${CH_PORT}" "$@"; }

CONF_D="${LOCAL_DIR}/clickhouse/config.d"
if [[ ! -f "${CONF_D}/peer-kafka.xml" ]]; then
	mkdir -p "${CONF_D}"
	printf '<yandex>\n    <kafka><auto_offset_reset>smallest</auto_offset_reset></kafka>\n</yandex>\n' >"${CONF_D}/peer-kafka.xml"
	die "wrote ${CONF_D}/peer-kafka.xml: restart ClickHouse once ('make stack-down stack-up'), then run this again"
fi

ch_pid() { cat "${LOCAL_DIR}/clickhouse/clickhouse-server.pid"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime + stime, USER_HZ (100/s)
now() { date +%s.%N; }

BROKER_PID=""
cleanup() { [[ -n "${BROKER_PID}" ]] && kill "${BROKER_PID}" 2>/dev/null && wait "${BROKER_PID}" 2>/dev/null; true; }
trap cleanup EXIT
"${BIN}" broker --data-dir "${DATA}" --embedded-kafka-addr "127.0.0.1:${KAFKA_PORT}" --embedded-kafka-fsync=false \
	>"${LOCAL_DIR}/bench-e2e/peer-broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 60); do (echo >"/dev/tcp/127.0.0.1/${KAFKA_PORT}") 2>/dev/null && break; sleep 0.5; done
# The broker answers metadata a moment after it listens.
EVENTS=0
for _ in $(seq 1 60); do
	EVENTS="$( (kcat -C -b "127.0.0.1:${KAFKA_PORT}" -t attrib.attributions -o beginning -e -q -f 'x\n' 2>/dev/null || true) | wc -l)"
	((EVENTS > 0)) && break
	sleep 0.5
done
((EVENTS > 0)) || die "no events in attrib.attributions at 127.0.0.1:${KAFKA_PORT}"
ROWS="$(kcat -C -b "127.0.0.1:${KAFKA_PORT}" -t attrib.attributions -o beginning -e -q 2>/dev/null | grep -c -E '"type":"order\.(attributed|earnings_adjusted)"' || true)"
say "attrib.attributions: ${EVENTS} events, ${ROWS} of them rows of attributed orders"
CHPID="$(ch_pid)"

ours() {
	local db="attrib_peer_ours" t0 t1 c0 c1 b0 b1 cpu
	ch -q "DROP DATABASE IF EXISTS ${db}"
	"${BIN}" migrate --clickhouse-url "clickhouse://${CH_HOSTPORT}/${db}" >/dev/null 2>&1
	c0="$(cpu_ticks "${CHPID}")" b0="$(cpu_ticks "${BROKER_PID}")" t0="$(now)"
	/usr/bin/time -o "${LOCAL_DIR}/bench-e2e/peer-ours.time" -f '%U %S' "${BIN}" rebuild clickhouse --kafka-brokers "127.0.0.1:${KAFKA_PORT}" \
		--clickhouse-url "clickhouse://${CH_HOSTPORT}/${db}" --data-dir "${DATA}" >"${LOCAL_DIR}/bench-e2e/peer-ours.out" 2>"${LOCAL_DIR}/bench-e2e/peer-ours.log"
	cpu="$(tail -1 "${LOCAL_DIR}/bench-e2e/peer-ours.time")"
	t1="$(now)" c1="$(cpu_ticks "${CHPID}")" b1="$(cpu_ticks "${BROKER_PID}")"
	awk -v n="${EVENTS}" -v t0="${t0}" -v t1="${t1}" -v c="$((c1 - c0))" -v b="$((b1 - b0))" -v cpu="${cpu}" 'BEGIN {
		split(cpu, u, " "); p = u[1] + u[2]; s = t1 - t0
		printf "ours (attrib rebuild clickhouse, roll-ups included): %d events in %.1f s: %.0f events/s; CPU per event: rebuild %.1f µs, clickhouse-server %.1f µs, broker %.1f µs, sum %.1f µs\n",
			n, s, n / s, p * 1e6 / n, c * 1e4 / n, b * 1e4 / n, (p * 1e6 + (c + b) * 1e4) / n }'
	# The replay's own rate, from its last progress line (stderr).
	{ grep 'attrib.attributions' "${LOCAL_DIR}/bench-e2e/peer-ours.log" | grep -v catch-up | tail -1 | sed 's/^/ours, the replay alone: /'; } || true
	ch -q "SELECT 'ours: ' || toString(count()) || ' rows, ' || toString(uniqExact(brand_id, order_id)) || ' orders' FROM ${db}.orders"
	ch -q "SELECT name FROM system.databases WHERE name LIKE '${db}_before_rebuild_%'" | while read -r old; do ch -q "DROP DATABASE ${old}"; done
}

peer() {
	local r="$1" t0 last=-1 n same=0 c0 c1 b0 b1 tlast
	ch -q "DROP DATABASE IF EXISTS peer"
	ch -n -q "
CREATE DATABASE peer;
CREATE TABLE peer.orders (brand_id String, order_id String, creator_id String, offer_id String, promo_code String,
  status String, amount Decimal(18, 3), net_amount Decimal(18, 3), currency String, country String,
  earnings Decimal(18, 3), earnings_currency String, placed_at DateTime('UTC'), version UInt64)
  ENGINE = ReplacingMergeTree(version) ORDER BY (creator_id, placed_at, brand_id, order_id);"
	c0="$(cpu_ticks "${CHPID}")" b0="$(cpu_ticks "${BROKER_PID}")" t0="$(now)"
	# The message is read whole as one TSV String (18.16 maps no nested JSON
	# to columns; its Kafka engine shows neither the record's key nor its
	# headers); the view takes the payload's members with visitParam*, which
	# reads the first member of a name: brand_id and order_id are the
	# payload's (the value carries no aggregate key or envelope brand), and
	# the order's currency is the one after net_amount (terms come first and
	# have a currency of their own).
	ch -n -q "
CREATE TABLE peer.queue (raw String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:${KAFKA_PORT}',
  kafka_topic_list = 'attrib.attributions', kafka_group_name = 'ch-peer-$(date +%s)-${r}',
  kafka_format = 'TabSeparated', kafka_row_delimiter = '\n', kafka_num_consumers = 1;
CREATE MATERIALIZED VIEW peer.orders_mv TO peer.orders AS SELECT
  visitParamExtractString(raw, 'brand_id') AS brand_id, visitParamExtractString(raw, 'order_id') AS order_id,
  visitParamExtractString(raw, 'creator_id') AS creator_id, visitParamExtractString(raw, 'offer_id') AS offer_id,
  visitParamExtractString(raw, 'promo_code') AS promo_code, visitParamExtractString(raw, 'status') AS status,
  toDecimal64(visitParamExtractString(raw, 'amount'), 3) AS amount, toDecimal64(visitParamExtractString(raw, 'net_amount'), 3) AS net_amount,
  visitParamExtractString(substring(raw, position(raw, '\"net_amount\":')), 'currency') AS currency, visitParamExtractString(raw, 'country') AS country,
  toDecimal64(visitParamExtractString(raw, 'earnings'), 3) AS earnings, visitParamExtractString(raw, 'earnings_currency') AS earnings_currency,
  toDateTime(replaceOne(substring(visitParamExtractString(raw, 'placed_at'), 1, 19), 'T', ' '), 'UTC') AS placed_at,
  visitParamExtractUInt(raw, 'version') AS version
FROM peer.queue WHERE visitParamExtractString(raw, 'type') IN ('order.attributed', 'order.earnings_adjusted');"
	tlast="$(now)"
	# Until every row of an attributed order is in (the engine flushes its
	# blocks every few seconds, so a pause says nothing), at most 10 minutes.
	while :; do
		sleep 0.1
		n="$(ch -q 'SELECT count() FROM peer.orders')"
		if [[ "${n}" != "${last}" ]]; then last="${n}" tlast="$(now)"; fi
		((n >= ROWS)) && break
		if (( $(printf '%.0f' "$(echo "$(now) - ${t0}" | bc)") > 600 )); then say "peer: only ${n} of ${ROWS} rows after 10 minutes"; break; fi
	done
	c1="$(cpu_ticks "${CHPID}")" b1="$(cpu_ticks "${BROKER_PID}")"
	ch -q "DROP TABLE peer.queue" # stop consuming before measuring anything else
	awk -v n="${EVENTS}" -v t0="${t0}" -v t1="${tlast}" -v c="$((c1 - c0))" -v b="$((b1 - b0))" 'BEGIN {
		s = t1 - t0
		printf "peer (Kafka engine + materialized view): %d events in %.1f s: %.0f events/s; CPU per event: clickhouse-server %.1f µs, broker %.1f µs, sum %.1f µs \n",
			n, s, n / s, c * 1e4 / n, b * 1e4 / n, (c + b) * 1e4 / n }'
	ch -q "SELECT 'peer: ' || toString(count()) || ' rows (want ${ROWS}), ' || toString(count() - uniqExact(brand_id, order_id, version)) || ' duplicate rows, ' || toString(uniqExact(brand_id, order_id)) || ' orders' FROM peer.orders"
}

{
	echo "bench-peer: ${EVENTS} events in attrib.attributions (${DATA}); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for r in $(seq 1 "${ROUNDS}"); do
		ours
		peer "${r}"
	done
	echo "per creator, FINAL: orders and earnings that differ between ours and the peer:"
	ch -q "SELECT count() FROM (SELECT creator_id, count() AS n, sum(earnings) AS e FROM attrib_peer_ours.orders FINAL GROUP BY creator_id) o
	  FULL OUTER JOIN (SELECT creator_id, count() AS n, sum(earnings) AS e FROM peer.orders FINAL GROUP BY creator_id) p USING creator_id
	  WHERE o.n != p.n OR o.e != p.e"
	echo "the peer without FINAL (what a query that forgets it sees): rows vs orders:"
	ch -q "SELECT count(), uniqExact(brand_id, order_id) FROM peer.orders"
	echo "statuses, ours vs peer (FINAL):"
	ch -q "SELECT status, count() FROM attrib_peer_ours.orders FINAL GROUP BY status ORDER BY status"
	ch -q "SELECT status, count() FROM peer.orders FINAL GROUP BY status ORDER BY status"
} | tee "${OUT}"
say "figures: ${OUT}"
