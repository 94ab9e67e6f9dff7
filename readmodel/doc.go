// Package readmodel is the schema of the ClickHouse read model: its tables
// and views, the migrations that create them, the bookkeeping of the daily
// roll-ups and the Summarizer that keeps them current, the database-level
// steps of a rebuild, and the SQL the reads share. Package chproj (the
// projector) writes the tables from attrib.attributions and attrib.catalog;
// package reports reads them. The read model holds nothing the log does
// not: drop the database, Migrate, and replay to rebuild it to the same
// content.
//
// # Tables
//
// Every table is a ReplacingMergeTree, so a row written twice (a
// redelivered batch, a replay, a retried append) is still one row:
//
//	orders               ReplacingMergeTree(version) ORDER BY (creator_id, placed_at, brand_id, order_id)
//	                     one row per (brand, order) attributed to a creator: status, amounts, earnings,
//	                     terms, the decision as JSON; version = the worker's row version
//	orders_by_brand      ReplacingMergeTree(version) ORDER BY (brand_id, placed_at, creator_id, order_id):
//	                     the report columns of orders, for a brand's reports; written with orders
//	unattributed_orders  ReplacingMergeTree(version) ORDER BY (brand_id, placed_at, order_id), with reason
//	brands, creators     ReplacingMergeTree(version) ORDER BY id: names, for "name part" filters
//	offer_names          ReplacingMergeTree(version) ORDER BY (brand_id, offer_id): the current name
//	code_request_events  ReplacingMergeTree(version) ORDER BY (brand_id, request_id, type)
//	code_requests        VIEW: one row per request (status, code, reason, requested/decided/revoked at;
//	                     1970-01-01 means "not yet")
//	earnings_daily       VIEW over orders FINAL: orders, GMV, earnings per UTC day, creator, brand,
//	                     offer, status, currency and earnings currency
//	order_day_marks      ReplacingMergeTree(next_offset) ORDER BY (day, topic, kafka_partition): per UTC day of
//	                     placed time, the next offset of each partition whose orders rows of that day are written
//	creator_daily        ReplacingMergeTree(version) ORDER BY CreatorDailyKey: orders, GMV and earnings
//	                     per status, recomputed by the Summarizer
//	summary_daily        ReplacingMergeTree(version) ORDER BY (grouping, day, key, currency, earnings_currency):
//	                     the analysts' summary per UTC day, computed from creator_daily
//	rollup_days          ReplacingMergeTree(version) ORDER BY (rollup_table, day): the version of each day
//	                     of each roll-up, written after its rows
//	projection_watermarks ReplacingMergeTree(next_offset) ORDER BY (projection, topic, kafka_partition)
//	schema_migrations    ReplacingMergeTree ORDER BY version
//
// Catalog rows are versioned by their offset: a brand's (and a creator's)
// events are all in one partition of attrib.catalog, in log order. This
// assumes, as the rest of the engine does, that a topic's partition count
// never changes.
//
// The creator and the placed time of an order never change after its first
// row: the attribution worker takes the decision once and repeats it (see
// package attribution, "Emission"), and a second placement with other facts
// is poison. So all versions of an order share the sorting key and replace
// each other, and the table is sorted for the creator's report: a creator's
// orders are one contiguous range, in placed-time order. No table is
// partitioned (FINAL costs a constant per part on 18.16), and orders has
// granules of 1024 rows: a typical creator's orders fit in a few.
//
// # Reading
//
// Reads use FINAL. Filters on columns that change between the versions of
// an order (status, earnings, ...) go in WHERE: ClickHouse applies WHERE to
// the merged (latest) rows, on 18.16 as on current releases (chproj
// TestFinalFiltersTheLatestVersion pins it). Never put such a column in
// PREWHERE: PREWHERE filters the versions before FINAL merges them, and a
// replaced row shows again (18.16 does this). Columns that are the same in
// every version of an order may go in PREWHERE: the sorting key (creator,
// placed time, brand, order), the placement facts (amount, currency,
// country: a second placement with other facts is poison) and the decision
// (offer, offer name at the decision, code, request, platform: taken once).
// Such a condition keeps or drops all versions of an order together, so
// FINAL over the survivors is still exact, and it reads far fewer rows
// (reports TestFilters pins it with a replaced version). argMax(col,
// version) ... GROUP BY brand_id, order_id is exact too, but slower than
// FINAL.
//
// FINAL on 18.16 is one merging stream aggregated by one thread: whole-table
// aggregates run one per slice of creators (CreatorSlices) in parallel
// under UNION ALL; every version of an order is in the same slice.
//
// Keyset paging: (placed_at, brand_id, order_id) < (?, ?, ?) works on 18.16.
// Names match with positionCaseInsensitiveUTF8(name, ?) > 0. earnings_daily
// is for whole-table analysis: 18.16 does not push a WHERE into a view, so
// the reports of one creator group orders FINAL with the creator in WHERE.
//
// # The roll-ups
//
// creator_daily and summary_daily are exact without insert-time
// aggregation; only the speed of the reports depends on them:
//   - Each flush of the projector writes, after its orders rows and before
//     its watermarks, a mark per (UTC day of placed time, partition) it
//     wrote rows of: the partition's next offset. Marks only grow.
//   - The Summarizer (component clickhouse-summary, every --summary-refresh;
//     `attrib rebuild summary`; the rebuild and the generator run it too)
//     reads each day's marks' sum, and recomputes every day whose roll-ups'
//     versions (rollup_days) differ from it: creator_daily from orders
//     FINAL, then summary_daily from creator_daily FINAL, each an INSERT ...
//     SELECT (one block), with the sum it read as the rows' version, then
//     the versions in rollup_days. The marks are read before the orders,
//     and written after the rows, so the rows hold at least every orders
//     row of those marks.
//   - A report reads a whole UTC day from a roll-up only while the
//     roll-up's version of the day equals the day's marks' sum now
//     (DayState), keeping rows of at least that version (FINAL); the rest
//     of its range (its partial days at the ends, today, days changed
//     since the last refresh) comes from orders FINAL, in the same query.
//   - The roll-ups' keys are columns that never change for an order
//     (statuses are columns, not keys), so a recomputation writes every
//     key the day had before, and each key's row counts each of its orders
//     once. Two summarizers computing a day at once write the same
//     version; each key then holds one of two exact views of its orders.
//   - Orders rows without marks (projected before the marks existed) are
//     never read from a roll-up until Summarizer.Backfill (at the start of
//     the component, and in `attrib rebuild summary`) marks their days,
//     after reading them from orders, as the projector would.
//
// Assumed, as for the watermarks: a topic is never recreated with its
// offsets starting again while the tables are kept (then rebuild them).
//
// # The earnings roll-up is a view
//
// An exact materialized roll-up is not possible on 18.16 at a reasonable
// cost. A SummingMergeTree (or materialized view) adds every inserted row:
// a redelivered batch would count twice, since a non-replicated MergeTree
// does not deduplicate inserted blocks on 18.16; and an order that moves
// from pending to approved must take its earnings out of the pending sum,
// which needs the previous version of the row, i.e. a read before every
// write, and the read-then-write is not atomic with the insert.
// Recomputing each touched (creator, day) per flush would cost a granule
// read per touched creator-day, i.e. per event during a replay, and a
// UTC-day roll-up cannot answer days in another time zone anyway. So
// earnings_daily is a view over orders FINAL: always exact.
//
// # Adding a migration
//
// Append it to the list in schema.go with the next version; never edit one
// that may have been applied. Every statement must be harmless when run
// again (a crash between a statement and the record of its migration runs
// the migration again): CREATE ... IF NOT EXISTS, DROP ... IF EXISTS.
// 18.16 has no ALTER TABLE ... ADD/DROP COLUMN IF [NOT] EXISTS (a rerun
// fails with code 44): prefer a new table filled by a replay; otherwise
// give such an ALTER a migration of its own, so that a rerun stops there,
// loudly, with nothing half-applied. A new table that holds data is swapped
// by a rebuild (Swap moves every base table but schema_migrations), and a
// new view must name its tables, so that it reads whichever is in place.
//
// # Money and time
//
// Money columns are Decimal(18, 3): the money package allows 15 digits
// before the point and 3 after (KWD, BHD, ... have 3 minor digits, JPY 0),
// so every amount fits exactly in 8 bytes (package chproj checks the
// limits at compile time); sum() gives Decimal(38, 3), so no total
// overflows. The projector rejects an amount with more digits, never
// rounds it. Times are DateTime('UTC'), seconds: 18.16 has
// no DateTime64.
//
// # ClickHouse features relied on
//
// Each was checked on 18.16.1 (Debian) by the tests or by hand; all are
// documented features of current releases, where nothing here is deprecated.
//
//   - MergeTree syntax with ORDER BY and SETTINGS index_granularity;
//     ReplacingMergeTree(version) with a UInt64 version; without a version
//     for schema_migrations.
//   - Types String, UInt16, UInt32, UInt64, Decimal(18, 3), DateTime('UTC'),
//     Array(String). Not LowCardinality (experimental on 18.16), not
//     DateTime64, Nullable, Map or JSON.
//   - CREATE DATABASE / TABLE / VIEW IF NOT EXISTS; OPTIMIZE TABLE ... FINAL
//     (tests).
//   - SELECT ... FINAL with WHERE; max, sum, count, any/min with -If
//     combinators, multiIf, toDate(t, tz), positionCaseInsensitiveUTF8,
//     tuple comparison.
//   - The roll-ups: the Date type; INSERT ... SELECT through Exec with bound
//     arguments (unlike INSERT ... VALUES, it returns); ARRAY JOIN over an
//     array of (grouping, key) tuples and .1/.2 on its elements;
//     transform(x, CAST([...] AS Array(UInt16)), CAST([...] AS
//     Array(UInt64)), default); sumIf/countIf; HAVING; UNION ALL of
//     aggregates with FINAL; NOT IN (subquery).
//   - Native protocol, clickhouse-go v2 PrepareBatch with an explicit column
//     list, column-wise Append; client-side ? binding.
//   - The rebuild: RENAME TABLE of several tables across databases in one
//     statement (done one by one, not atomically), DROP DATABASE IF EXISTS,
//     system.tables (name, engine) and system.databases; views resolve the
//     tables they name when queried, so a view keeps reading a table
//     renamed into its place.
//
// # 18.16 surprises
//
//   - INSERT ... VALUES through Exec hangs until its deadline: only
//     PrepareBatch inserts.
//   - groupArray over a Decimal(38, 3) (a sum of Decimal(18, 3)) in an
//     INSERT ... SELECT crashed the 18.16 server (a segmentation fault in
//     ColumnDecimal<Decimal128>::deserializeAndInsertFromArena): the
//     roll-ups keep one row per key instead of arrays of sums.
//   - A column named rollup is a syntax error (WITH ROLLUP): rollup_days
//     names it rollup_table.
//   - No ALTER TABLE ... ADD/DROP COLUMN IF [NOT] EXISTS (code 44 on a
//     rerun): see "Adding a migration".
//   - minIf(toNullable(x), cond) over no row returns 0000-00-00 on 18.16,
//     NULL on current releases: the views return plain values (1970-01-01
//     for "none").
//   - No predicate pushdown into views; PREWHERE with FINAL sees replaced
//     rows (WHERE does not); FINAL costs per part.
//   - No data-skipping indices (allow_experimental_data_skipping_indices
//     does not exist yet), no read-in-order optimisation.
package readmodel
