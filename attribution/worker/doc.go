// Package worker is the attribution worker: the adapter that drives the
// pure core (package attribution) from the log. It consumes attrib.orders in
// the consumer group Group, one batch of one partition at a time, keeps
// each order's state in Redis, decides with attribution.Decide and appends
// order.attributed, order.unattributed and order.earnings_adjusted rows to
// attrib.attributions; it also emits order.hold_expired to attrib.orders
// when an attributed order's hold ends.
//
// # A batch
//
// Worker.handle (batch.go) runs the steps of a live batch in order, each
// in a file of its own and each on what the step before left in the batch
// value; a rebuild runs steps 1, 2 and 5 (Worker.rebuildBatch), so an
// order's state is built the same way either way.
//
//  1. newBatch (batch.go): decode the payloads and group them by order
//     (events that are not order events go to the dead-letter topic). If
//     the batch has placements, startPrefetch (prefetch.go) looks up their
//     codes and the catalog's end offsets (below) at once, so that they
//     overlap step 2.
//  2. apply (load.go): take the states of the batch's orders from the
//     partition handler's cache (below), load the others in one pipelined
//     round trip and restore each attribution.OrderState from its
//     snapshot (those missing that may have been evicted from the
//     ColdStore, in one more round trip); then Apply
//     the batch's events (duplicates by event id or shop_event_id are
//     ignored; a *attribution.PoisonError rejects the event with its
//     reason, and the partition moves on).
//  3. decide (decide.go): for orders decided for the first time, make sure
//     the code index has caught up (below) and use the codes looked up in
//     step 1 (or look them up again after waiting), resolve each order's
//     codes once (attribution.Resolve), then look up the winning codes'
//     offers in one round trip. Decide every order
//     (attribution.DecideResolved); later rows repeat the first decision
//     without lookups.
//  4. emit (emit.go): append the rows, keyed by order, to
//     attrib.attributions (one request per partition and maxAppendBytes,
//     sent concurrently); record them with Emitted.
//  5. writeStates (write.go): write the changed orders' snapshots, the
//     hold schedule and (with retention) the eviction schedule in one
//     pipelined round trip, ending with the applied offset. The partition handler then keeps the states it wrote
//     (partitionState.keep, cache.go).
//
// The batch's metrics are recorded in one place (metrics.observe) when it
// ends.
//
// So a batch costs 2 Redis round trips (load, write) when it only adds to
// decided orders (1 when the cache had every state), and 4 (load, codes,
// offers, write; the codes overlap the load) when it decides orders for
// the first time; while the watermarks known do not show the index
// current, add one per watermark poll and a second code lookup (attrib_attribution_redis_round_trips). Kafka: the
// append of the rows, and for first decisions a Bounds call of the catalog
// topic shared by the concurrent handlers. The subscriber commits the
// batch's offsets only after Handle returned nil.
//
// Any Redis or Kafka error fails the batch: the subscriber retries it with
// backoff and commits nothing, and nothing is ever rejected because of an
// outage. Every write is idempotent (a snapshot written again is the same
// state, a schedule entry is added only if absent), and rows are
// appended before the states are written: a crash in between re-emits the same rows, with the same
// versions and content, which the projections absorb by keeping the
// highest version.
//
// # Lost writes
//
// Redis acknowledges a write before its append-only file is on disk
// (appendfsync everysec): a crash of its machine can lose the last second,
// and a restore from a backup loses more, while the group's committed
// offsets say those events were handled. Each batch's write ends by
// setting the partition's applied offset, after the states, so that on
// one Redis (whose file keeps the commands in order) an applied offset
// that survived means the states it covers did. When a partition handler
// starts, it reads the applied offset, and if it is behind the committed
// offset the subscriber reads the partition again from there
// (eventstore.StartOffsetter; counted in
// attrib_attribution_state_rewinds_total and logged as an error). The
// events are applied again to states that lack them, and their rows,
// emitted again, are the rows of before: same versions, same content,
// except for a first decision whose code changed in the index since,
// which a full `attrib rebuild redis` (it takes first decisions from the
// rows) avoids. In a Redis Cluster the states of a partition live on
// several nodes, and an applied offset on one node says nothing of the
// others: there, restore every node from the same point and rebuild.
//
// # The state cache
//
// Each partition handler keeps the states it wrote last in memory
// (Config.StateCache of them, least recently used dropped first), so the
// next events of an order need not read its state back; Redis stays
// authoritative, since every batch still writes what it changed. The cache
// lives as long as the handler, that is one group generation, during which
// the handler is its partition's only writer; a batch takes its orders'
// states out of the cache and puts them back only once they are written,
// so a failed batch is retried from what Redis holds. Every state is
// rebuilt by the same Apply and Emitted either way.
//
// A batch retried after its rows were appended (its state write failed)
// decides its orders again. If an order's row of the same version differs
// this time (its first decision was taken while the index lagged, after
// the IndexWait timeout, and the index has caught up since), the handler
// emits the row it appended before, so one version is always one row.
// (After a crash between the append and the state write, the next owner
// has no such memory: that window remains.)
//
// # Lag safety
//
// An order must not be declared unattributed because the code index had
// not yet applied a confirmation that happened before the order. Before an
// order's first decision, the index's watermark of the brand's catalog
// partition (eventstore.PartitionOf(brand, partitions of attrib.catalog))
// must show either an applied event that occurred after the order's placed
// time, or every event the partition held when the batch was already read
// (its end offset by a Bounds call started after the batch began: a code
// confirmed before an order was appended before it, since its creator
// learnt it from the confirmation). Watermarks are cached (they only move
// forward) and polled every pollInterval while behind; concurrent handlers share
// the Bounds calls. After Config.IndexWait the batch is decided anyway,
// counted in attrib_attribution_index_wait_timeouts_total and logged with
// the partition and offsets: a stuck index must not stop attribution, and
// the alert names what to look at. The wait is observed in
// attrib_attribution_index_wait_seconds.
//
// The answers of the code index are cached per catalog partition
// (codeCache) for as long as the partition's end offset stays where it
// was when they were read with the index caught up to it: no catalog event
// of the brand can have changed them. A batch uses them only if its own
// end offsets, read after it began, still say so; a moved partition's
// codes are looked up again. With a quiet catalog this saves the lookup
// of every code seen before (attrib_attribution_code_cache_total).
//
// If a winning code's offer is missing from the offer index (or its terms
// do not parse), the core cannot decide: the worker asks again until
// IndexWait, then fails the batch, which is retried with backoff. The
// offer is published before any code of it is confirmed, so this only
// happens while the index is mid-write or broken, and deciding without the
// terms is not possible.
//
// # Hold expiry
//
// When attribution.HoldDue says an order's hold will end, the order is put
// in the hold schedule of its attrib.orders partition (an entry in the
// bucket of the hour its hold ends in, schedule.go). Each partition
// handler, every Config.HoldTick, reads the entries of the buckets begun,
// and for each whose second has begun reads the order's state: if its
// hold is still due and has ended, it appends an order.hold_expired
// (occurred_at = the hold's end, an event id derived from the order and
// the hold end) and removes the entry. The event comes back through the worker like any order
// event, so a replay of the log reaches the same status.
//
// # Key layout
//
// Every key starts with Config.Prefix (default DefaultPrefix, outside the
// projections' prefix). Ids are escaped as in the catalog projection ('%'
// ':' '{' '}' become %25 %3A %7B %7D).
//
//	order:<brand>:<order>      string  the order's snapshot (attribution.AppendSnapshot)
//	applied:<partition>        string  the applied offset: the next offset after the last batch whose states were written
//	hq:{<partition>}[:<hour>]  zset, lists  the hold schedule: an entry per order whose hold ends in the hour (schedule.go)
//	eq:{<partition>}[:<hour>]  zset, lists  the eviction schedule: an entry per settled order whose retention ends in the hour; with a ColdStore only
//	brands                     hash    the brands' numbers in the schedules' entries
//	evicted:<partition>        hash    field a brand, value the latest placed time (Unix ms, rounded up) of its orders evicted from the partition
//
// The schedules of the former form, sorted sets holds:<partition> (member
// the order.hold_expired payload) and evict:<partition> (member
// <brand>:<order>), are moved into buckets by each partition handler
// when it starts (migrateSchedules).
//
// An order's state is one snapshot, about 120 to 150 bytes for an
// attributed order (the placement's facts, each event's type, time and a
// 64-bit hash of its shop_event_id or event id, the decision of its last
// row), written whole by each batch that changes the order, through a
// script that never replaces a snapshot by one with fewer events or an
// older row (a writer of a former group generation cannot go back on the
// new owner's). States stored by earlier versions, as a string of records
// (each applied event's envelope and payload, each emitted row) or as a
// hash (fields e:<offset> and row), are read as they are (stored.go,
// codec.go), and replaced by a snapshot, with one SET, by the first batch
// that touches their order; no migration step is needed. Snapshots hold
// nothing the log does not: Rebuild derives them again from
// attrib.attributions and attrib.orders, byte for byte.
//
// # Retention
//
// With Config.Cold, a settled order (attribution.Settled) leaves Redis
// Config.Retention after its last event, and comes back from the
// ColdStore when a late event of it arrives; evict.go says how, what a
// new order costs, and what happens when the ColdStore fails.
package worker
