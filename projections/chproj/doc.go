// Package chproj is the ClickHouse projection: the read models of the
// reports and of the analysts, written from attrib.attributions and
// attrib.catalog. Like every projection it holds nothing the log does not:
// drop the database, Migrate, and replay (a new consumer group) to rebuild
// it to the same content.
//
// # Tables
//
// Migrate creates them (see schema.go for the DDL and Migrations for the
// list). Every table is a ReplacingMergeTree, so a row written twice (a
// redelivered batch, a replay, a retried append) is still one row:
//
//	orders               ReplacingMergeTree(version) ORDER BY (creator_id, placed_at, brand_id, order_id)
//	                     one row per (brand, order) attributed to a creator: status, amounts, earnings,
//	                     terms, the decision as JSON; version = the worker's row version
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
//	creator_daily        ReplacingMergeTree(version) ORDER BY (creator_id, day, brand_id, offer_id, offer_name,
//	                     promo_code, platform, country, currency, earnings_currency): orders, GMV and earnings
//	                     per status, recomputed by the Summarizer (below)
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
// orders are one contiguous range, in placed-time order.
//
// # Reading
//
// Reads use FINAL. Filters on columns that change between the versions of
// an order (status, earnings, ...) go in WHERE: ClickHouse applies WHERE to
// the merged (latest) rows, on 18.16 as on current releases
// (TestFinalFiltersTheLatestVersion pins it). Never put such a column in
// PREWHERE: PREWHERE filters the versions before FINAL merges them, and a
// replaced row shows again (18.16 does this). Columns that are the same in
// every version of an order may go in PREWHERE, and the reports put them
// there: the sorting key (creator, placed time, brand, order), the
// placement facts (amount, currency, country: a second placement with other
// facts is poison) and the decision (offer, offer name at the decision,
// code, request, platform: taken once, see package attribution,
// "Emission"). Such a condition keeps or drops all versions of an order
// together, so FINAL over the survivors is still exact, and it reads far
// fewer rows (reports TestFilters pins it with a replaced version).
// argMax(col, version) ... GROUP BY brand_id, order_id is exact too, but
// was 5x slower than FINAL for a large creator, and 10-23 s against 4 s
// over 10 million orders, on 18.16.
//
// Measured on 18.16 here (2 cores shared with two other engineers' builds
// and tests, so every figure is a range over repeats), over `attrib loadgen
// clickhouse --orders 10000000` (1,000 creators, Zipf: the busiest has 1.34
// million orders, the 10th 133,000, the median 2,700, the last 1,300; 50
// brands; RUB, USD, EUR; background merges had folded it to 3 parts):
//   - a creator's first page as the API reads it (Orders, then Totals),
//     p50 / p99 over 6 creators with the busiest: see the README's table.
//     The page alone (Orders): p99 25-70 ms for most filter combinations,
//     up to 100-210 ms with status, up to 330 ms for a rare combination
//     (rejected, country AM, date_asc) of the busiest creator, whose slices
//     hold few matches. A creator known to be light (its last totals
//     counted fewer than 50,000 orders) is read in one query instead. Totals of the busiest creator (FINAL over 1.3 million rows):
//     0.25-0.47 s in one query, 0.15-0.23 s in four placed-time slices under
//     UNION ALL (what Totals does for a creator it saw with 50,000 orders or
//     more; for a light creator four queries cost 15-46 ms against 4-15);
//     FINAL alone (count()) costs 0.17 s there, without FINAL the same sum
//     takes 40 ms. So the busiest creator's p99 stays above 100 ms.
//   - Time slices: 18.16 has no read-in-order, so ORDER BY placed_at LIMIT
//     n reads and merges every matching row of the creator: 1.5-2 s for the
//     busiest creator's first page. The reports read a creator's page in
//     slices of 1, 8, 64 and 512 days, then the rest, from the newest end
//     (date_asc: from the creator's oldest order, min(placed_at) without
//     FINAL, 20-40 ms for the busiest): 14-30 ms.
//   - PREWHERE on unchanging columns: order_id filter on the busiest
//     creator's totals 0.27 -> 0.05 s; country (rare) + status 0.4 -> 0.125
//     s; a 30-day analyst summary 1.2-1.4 -> 0.7-0.77 s (0.32-0.34 s in
//     creator slices).
//   - The analysts' summary over everything: FINAL over 10 million orders is
//     one merging stream aggregated by one thread on 18.16 (max_threads does
//     not help it): 3.5-4.5 s grouped by brand; count() FINAL alone takes
//     1.7-2.0 s, the same aggregate without FINAL 1.1 s. The summary runs
//     one aggregate per slice of creators (creator_id ranges; every version
//     of an order is in the same slice) under UNION ALL, in parallel: 1.7-2.4
//     s in 8 slices, run alternately with the single query's 3.5-4.0 s (2
//     slices: 2.9-4.4 s, badly balanced; 4: 1.9-2.4 s). Splitting by
//     placed_at instead gave nothing (the slices share granules). Still above
//     the 1 s target, and the aggregate alone, without FINAL, takes 1.1 s
//     on these 2 cores. Tried: a second table sorted for analysis, ORDER BY
//     (brand_id, order_id) with only the summary's columns, in one part:
//     count() FINAL 0.7 s, the summary 1.9-2.1 s, in 8 slices 1.3-1.7 s;
//     with compact types (Int64 thousandths, Enum8 status, FixedString
//     currencies) 1.4-2.3 s. Not added: no clear win, one more part per
//     projector flush, and the rebuild would have to fill and swap it.
//     argMax per (brand_id, order_id) instead of FINAL: 10-23 s. Hence the
//     roll-ups (below), recomputed per changed day by the summarizer rather
//     than per flush by the projector (which would cost a replay dearly):
//     with every day current, the summary over everything takes 0.21-0.74 s
//     per grouping (the creator grouping is the largest: 1.15 million
//     summary_daily rows, 0.29 s of FINAL alone), machine shared; the
//     orders path above is what a day not yet rolled up costs.
//   - A busy creator's totals from creator_daily: the busiest's 44,000 rows
//     under FINAL take 45-95 ms (10-16 ms without FINAL; FINAL on 18.16
//     reads about 1.5 million rows/s per stream), against 150-450 ms over
//     its orders. Its narrowed pages read their first day, then up to where
//     creator_daily counts a page (reports.pageEdge): a rare filter's page
//     of the busiest creator went from 250-340 ms to 45-90 ms.
//   - CSV of 102,848 orders (one creator): 0.37-0.47 s; heap peak 22-26
//     MB with blocks of 8,192 rows (62 MB with the default 65,536); 1.34
//     million orders: 3.7-5.0 s, 28-29 MB.
//   - Earlier measurements (10 million orders, 20,000 creators): monthly
//     partitions (PARTITION BY toYYYYMM(placed_at)) made the typical first
//     page 110-250 ms (FINAL pays per part, and every month is a part);
//     unpartitioned granules of 8192 rows 14-20 ms against 8-12 ms for 1024.
//     Hence no partitioning and granules of 1024 rows. Earnings per day in
//     a time zone for all creators (orders FINAL, GROUP BY
//     toDate(placed_at, 'Europe/Moscow'), status, currency): 2.2 s. The
//     earnings_daily view filtered by one creator: 22 s, because 18.16 does
//     not push a WHERE into a view (enable_optimize_predicate_expression
//     does not help here): reports of one creator group orders FINAL with
//     the creator in WHERE, the view is for whole-table analysis.
//
// Keyset paging: (placed_at, brand_id, order_id) < (?, ?, ?) works on 18.16.
// Names match with positionCaseInsensitiveUTF8(name, ?) > 0.
//
// # The roll-ups (summary.go)
//
// creator_daily and summary_daily are exact without insert-time
// aggregation; only the speed of the reports depends on them:
//   - Each flush writes, after its orders rows and before its watermarks,
//     a mark per (UTC day of placed time, partition) it wrote rows of: the
//     partition's next offset. Marks only grow.
//   - The Summarizer (component clickhouse-summary, every
//     --summary-refresh; `attrib rebuild summary`; the rebuild and the
//     generator run it too) reads each day's marks' sum, and recomputes
//     every day whose roll-ups' versions (rollup_days) differ from it:
//     creator_daily from orders FINAL, then summary_daily from
//     creator_daily FINAL, each an INSERT ... SELECT (one block), with the
//     sum it read as the rows' version, then the versions in rollup_days.
//     The marks are read before the orders, and written after the rows,
//     so the rows hold at least every orders row of those marks.
//   - A report reads a whole UTC day from a roll-up only while the
//     roll-up's version of the day equals the day's marks' sum now
//     (DayState), keeping rows of at least that version (FINAL); the rest
//     of its range (its partial days at the ends, today, days changed
//     since the last refresh) comes from orders FINAL, in the same query.
//     The analysts' summary does so always; a creator's totals when the
//     creator is busy (reports.Totals), and the totals of all creators.
//   - The roll-ups' keys are columns that never change for an order
//     (statuses are columns, not keys), so a recomputation writes every
//     key the day had before, and each key's row counts each of its orders
//     once. Two summarizers computing a day at once write the same
//     version; each key then holds one of two exact views of its orders.
//   - Orders rows without marks (projected before the marks existed) are
//     never read from a roll-up until Summarizer.Backfill (at the start of
//     the component, and in `attrib rebuild summary`) marks their days,
//     after reading them from orders, as the projector would.
//   - Cost: the first roll-up of 10 million orders (730 days) took 40 s
//     (2.5 million creator_daily rows, the busiest creator's 1.34 million
//     orders in 44,000); a refresh reads the granules of the changed days;
//     a day with orders of most creators is about a granule per creator.
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
// write, and the read-then-write is not atomic with the insert. Recomputing
// each touched (creator, day) from orders FINAL into a ReplacingMergeTree
// (versioned by the sum of the versions it saw) is exact, but costs a
// granule read per touched creator-day, i.e. per event during a replay. And
// a UTC-day roll-up cannot answer days in another time zone anyway. So
// earnings_daily is a view over orders FINAL: always exact, and per creator
// the query on orders is fast (above).
//
// # Writing
//
// A Subscriber in the group Group on Topics hands the batches of each
// partition to that partition's handler (Handler), an
// eventstore.PipelinedHandler: up to Config.Window batches of a partition
// in flight, so that the partition decodes its next batch while the
// flushes of the earlier ones are inserted; the subscriber still commits in
// order. A batch is decoded (schemas.DecodeTrusted; unknown types, events
// the projection does not take and values the columns cannot hold exactly
// are rejected to the dead-letter topic), then joins the current flush: the
// batches of all partitions that arrive within BatchWait (or until
// BatchRows events: a full flush takes no more) are inserted together, one
// native batch insert (PrepareBatch, column-wise) per table, the tables in
// parallel, keeping only the highest version of each row of the flush; then
// one insert of the day marks, then one of the watermarks. A batch is done
// once its flush is in ClickHouse, so the subscriber commits offsets only
// after the insert; an error (ClickHouse down) returns to every batch of
// the flush, which the subscriber retries with backoff, committing nothing
// meanwhile. Rows re-inserted after a crash or a retry replace themselves.
// ClickHouse gets about one insert per table per BatchWait while live,
// however many partitions there are (many small inserts would make too
// many parts); the window does not change that, since a flush that is not
// full waits BatchWait whatever is in flight. Catching up, up to Window full
// flushes insert at once.
//
// The order of the positions. Flush n+1 may hold batch k+1 of a partition
// while flush n, holding batch k, is still being inserted, or failed. The
// rows of a flush go in at once: every table keeps the highest version, so
// the order of the inserts does not matter. But a flush writes a
// partition's day marks and watermark only after the flushes of the
// partition's earlier batches that had not succeeded when its batch joined
// (the partition's handler keeps them, for its generation), and not at all
// if one of them failed: then the batch fails too (that partition's
// batches only; the flush's other partitions are written), and the
// subscriber begins it again as soon as the earlier batch succeeded. So a
// watermark still means that every row below it is in ClickHouse
// (read-your-writes, Freshness), and a day mark still follows the rows it
// stands for (the roll-ups, below). TestWatermarkWaitsForEarlierFlush and
// TestWatermarkNeverAheadOfRowsThroughOutages pin it. A plain chain of
// flushes (n's positions after n-1's, n failed when n-1 did) would not do:
// failing n whenever n-1 failed never heals (n+1 fails because n did, and
// so on), and failing only the flushes opened while their predecessor ran
// lets through a batch begun just after its predecessor's flush failed,
// before the subscriber saw the failure. Only the partition knows which of
// its batches came first; the subscriber tells it by calling Begin in
// offset order.
//
// Projector.Handle serves a sequential caller (eventstore.Store.Replay
// hands one batch at a time), whose earlier batch is always done: it
// should set BatchRows to its batch size, or every batch waits BatchWait.
//
// # Watermarks and read-your-writes
//
// projection_watermarks holds, per partition, the next offset applied and
// the latest recorded_at of the events applied, written after the data of
// the same flush. Watermark reads it (max(next_offset), exact without
// FINAL), WaitFor waits until an offset is applied, and the gauges
// attrib_clickhouse_watermark_offset and
// attrib_clickhouse_watermark_recorded_at_seconds show it. Other metrics:
// attrib_clickhouse_events_total{result}, attrib_clickhouse_rows_inserted_total{table},
// attrib_clickhouse_flushes_total, attrib_clickhouse_flush_errors_total,
// attrib_clickhouse_flush_seconds, attrib_clickhouse_flush_events.
//
// # Money and time
//
// Money columns are Decimal(18, 3): the money package allows 15 digits
// before the point and 3 after (KWD, BHD, ... have 3 minor digits, JPY 0),
// so every amount fits exactly in 8 bytes (a compile-time check ties the
// two); sum() gives Decimal(38, 3), so no total overflows. An amount with
// more digits is rejected, never rounded. Times are DateTime('UTC'),
// seconds: 18.16 has no DateTime64.
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
//   - The roll-ups (summary.go): the Date type; INSERT ... SELECT through
//     Exec with bound arguments (unlike INSERT ... VALUES, it returns);
//     ARRAY JOIN over an array of (grouping, key) tuples and .1/.2 on its
//     elements; transform(x, CAST([...] AS Array(UInt16)), CAST([...] AS
//     Array(UInt64)), default); sumIf/countIf; HAVING; UNION ALL of
//     aggregates with FINAL; NOT IN (subquery).
//   - Native protocol, clickhouse-go v2 PrepareBatch with an explicit column
//     list, column-wise Append; client-side ? binding.
//   - The rebuild (rebuild.go): RENAME TABLE of several tables across
//     databases in one statement (done one by one, not atomically),
//     DROP DATABASE IF EXISTS, system.tables (name, engine) and
//     system.databases; views resolve the tables they name when queried,
//     so a view keeps reading a table renamed into its place.
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
//     rerun): see the rules for migrations in schema.go.
//   - minIf(toNullable(x), cond) over no row returns 0000-00-00 on 18.16,
//     NULL on current releases: the views return plain values (1970-01-01
//     for "none").
//   - No predicate pushdown into views; PREWHERE with FINAL sees replaced
//     rows (WHERE does not); FINAL costs per part.
//   - No data-skipping indices (allow_experimental_data_skipping_indices
//     does not exist yet), no read-in-order optimisation.
//
// # Throughput
//
// BenchmarkProjector (the projector alone, 8 partitions' handlers) and
// BenchmarkProjectorFromLog (the embedded broker, a subscriber and
// ClickHouse, all on the same 2 cores), shared with other work on the
// machine. Before the schemas package's hand-written JSON codec: 27,000-
// 58,000 events/s. With it, run alternately: flushes of 10,000 events
// 65,000-80,000, of 40,000 (DefaultBatchRows now) 69,000-90,000; the live
// path 79,000-95,000 in the same quiet spell (22,000-48,000 in a busy one).
// Go is not the limit: it used a third of the two cores during
// BenchmarkProjector (DecodeTrusted a quarter of that; the decision's JSON,
// a tenth, is now written directly; decimal columns 8%). Each flush waits
// for ClickHouse: a part per table, then the watermark insert after the
// data; an insert of 5,000 order rows takes 25-35 ms on an idle server and
// 100-180 ms while merges and other work run, 8 rows 3-6 ms idle and 17-50
// ms busy, so fewer, bigger flushes win. Most of an insert's fixed cost is
// file creation: a part of orders is about 55 files, and an open(O_CREAT)
// takes about 0.5 ms on this disk (strace): a 1-row insert into orders
// takes 55-59 ms, into a 2-column table 3-6 ms. Splitting a flush's orders
// into two parallel inserts did not help (each still pays the files).
// Per 40,000-event flush: decoding 140 ms (8 handlers on 2 cores), the
// inserts 160-210 ms; and each BenchmarkProjector op ends with a partial
// flush that waits BatchWait (the partitions' shares of 80,000 are
// uneven).
//
// With the day marks (one more small insert per flush, between the data
// and the watermarks): 80,000-104,000 events/s over seven quiet runs,
// against 87,000-89,000 for the code without them in between. The machine
// was 40-55% idle during the benchmark (vmstat): a flush is serial (decode
// on every handler, then the tables' inserts, then the marks, then the
// watermarks) and every handler waited for its flush before it decoded its
// next batch.
//
// Pipelined (eventstore.PipelinedHandler; the benchmark drives the
// partitions' handlers as the subscriber does), run alternately with the
// code before it, in quiet spells (load average 1.4-2.0): window 2,
// 100,000-108,000 and 103,000-119,000 events/s in two series, against
// 65,000-77,000 and 76,000-85,000 before; window 3 (DefaultWindow),
// 119,000-143,000 and 138,000-157,000. In a busy spell (load average 4-8
// from other work) all fell and overlapped: before 31,000-73,000, window 2
// 30,000-98,000, window 3 36,000-140,000. A trace of the flushes
// shows why 3: 80,000 events are two flushes of 40,000 and a tail (the
// partitions' shares are uneven, so a few have a small third batch); with
// 2, the third batches can begin only once the first flush is done, and
// wait BatchWait (200 ms) in a flush of their own, a third of the
// benchmark's time; with 3 they fill the second flush. Per flush of 40,000
// with two in flight: data 150-360 ms, marks and watermarks 25-95 ms.
// BenchmarkProjectorFromLog (the embedded broker on the same cores) gained
// little: 56,000-75,000 with 2 and 60,000-92,000 with 3, against
// 54,000-80,000 before (three quiet series, alternately): its flushes are
// as big as the broker's fetches make the batches, and of its three or four
// flushes per 80,000 events, two wait BatchWait part full; the group join
// comes before them, and the embedded broker and kafka-go's readers take
// about a quarter of the Go CPU. Those fixed costs were most of a run of
// 80,000 events: the benchmark now catches up on 400,000, as a projector
// catching up on a backlog does, and does 108,000-112,000 events/s (two
// runs at the end of the session, window 3; 83,000-100,000 with 80,000
// events at the same time). Go used about 0.8 of a core in
// BenchmarkProjector, building the rows 44% of it, the inserts' encoding
// 24%: the limits are ClickHouse's inserts and BatchWait, not Go.
//
// Generated data: `attrib loadgen clickhouse` (package chload) fills a
// database of its own through Migrate, so with exactly these tables; 13.7
// million rows (10 million orders) in 172 s, 80,000 rows/s on average and
// 153,000 at best, bound by the server's inserts and merges.
package chproj
