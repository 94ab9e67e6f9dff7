// Package chproj is the ClickHouse projector: it writes attrib.attributions
// and attrib.catalog into the tables of package readmodel (which says what
// each table promises to its readers), keeps the watermarks that say how
// far it has applied each partition, and tracks the reports' freshness
// (read-your-writes). Like every projection it holds nothing the log does
// not.
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
// stands for (readmodel's doc, "The roll-ups").
// TestWatermarkWaitsForEarlierFlush and
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
// Generated data: `attrib loadgen clickhouse` (package chload) fills a
// database of its own through readmodel.Migrate, so with exactly these
// tables, without the projector.
package chproj
