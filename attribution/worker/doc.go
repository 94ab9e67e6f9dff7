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
//  1. Decode the payloads and group them by order (events that are not
//     order events go to the dead-letter topic). If the batch has
//     placements, start looking up their codes and the catalog's end
//     offsets (below) at once, so that they overlap step 2.
//  2. Take the states of the batch's orders from the partition handler's
//     cache (below); load the others in one pipelined round trip, and
//     rebuild each attribution.OrderState: Apply the stored events in log
//     order, then Emitted the last row.
//  3. Apply the batch's events (duplicates by event id or shop_event_id are
//     ignored; a *attribution.PoisonError rejects the event with its reason,
//     and the partition moves on).
//  4. For orders decided for the first time: make sure the code index has
//     caught up (below) and use the codes looked up in step 1 (or look them
//     up again after waiting), then look up the winning codes' offers in
//     one round trip (which offer is needed is only known from the codes).
//     Later rows repeat the first decision without lookups.
//  5. Decide every order; append the rows, keyed by order, to
//     attrib.attributions (one request per partition and 512 KiB, sent
//     concurrently); record them with Emitted.
//  6. Write the new events, the last rows and the hold schedule in one
//     pipelined round trip.
//
// So a batch costs 2 Redis round trips (load, write) when it only adds to
// decided orders (1 when the cache had every state), and 4 (load, codes,
// offers, write; the codes overlap the load) when it decides orders for
// the first time; while the watermarks
// known do not show the index current, add one per watermark poll and a
// second code lookup (attrib_attribution_redis_round_trips). Kafka: the
// append of the rows, and for first decisions a Bounds call of the catalog
// topic shared by the concurrent handlers. The subscriber commits the
// batch's offsets only after Handle returned nil.
//
// Any Redis or Kafka error fails the batch: the subscriber retries it with
// backoff and commits nothing, and nothing is ever rejected because of an
// outage. Every write is idempotent (an appended event is read back once
// per offset, the last row wins, sorted-set members), and rows are appended before the states are
// written: a crash in between re-emits the same rows, with the same
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
// forward) and polled every 20 ms while behind; concurrent handlers share
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
// in the hold schedule of its attrib.orders partition (a sorted set scored
// by the hold's end). Each partition handler, every Config.HoldTick,
// appends an order.hold_expired for every due member (occurred_at = the
// hold's end, an event id derived from the order and the hold end) and
// removes it. The event comes back through the worker like any order
// event, so a replay of the log reaches the same status.
//
// # Throughput
//
// BenchmarkWorker (300,000 events, -benchtime 300x) on the 2-core machine
// that also runs the embedded broker, Redis and another engineer's builds:
// 61,000-62,400 events/s, 23.0-24.3 µs CPU per event in the process and
// 4.9-5.0 µs in redis-server, 4.0 Redis round trips per 1,974-event batch,
// 74.7 allocations per event (runs while the machine was quiet; before
// this round 55,000-59,300 events/s, 24.6-25.5 µs, 85.2 allocations). The
// cores are saturated (under 3% idle): throughput is CPU per event. The
// process's CPU (ATTRIB_BENCH_PROFILE=<dir> profiles the measured part
// only): this package 17%, schemas (JSON) 15%, the attribution core 14%
// (shopspring/decimal another 4%), eventstore 4%, the catalog index 1%;
// kafka-go 12%, the embedded broker 11%, go-redis 5%; the garbage
// collector 15% (its background marking alone 12%; much of the live heap
// it marks is the state cache's tens of thousands of orders). With
// GOGC=400, as the binary runs and as the benchmark now sets it, the same
// benchmark does 72,500-73,800 events/s (steady 79,500-80,700) at
// 18.6-18.9 µs on the quiet machine, and the round's gains (fewer
// allocations) fall within the noise there.
//
// The next round, alternated with the code before it in a quiet spell:
// 17.8-18.5 µs in the process against 18.9-20.8, 4.3-4.8 µs in
// redis-server against 4.8-5.7, 66.7 allocations per event against 74.8;
// the best run 88,000 events/s (steady 95,000); three runs at the end of
// the session, 77,400-84,800 (steady 83,500-93,500) at 17.3-18.2 µs plus
// 4.5-5.0 µs, 65 allocations per event. Its parts: the state as
// appended records read with GET (no map per state read), money's
// formatting without big.Int (a third of Decide), the append's record
// buffers reused, and Emitted keeping a decision it already has. Redis
// itself (commandstats, and redis-benchmark on this machine) costs about
// 1.3 µs per write command plus 1.5 µs per KiB written, and its
// append-only file's rewrites, which fork and serialise the dataset, had
// taken much of a core during runs at Redis's default rewrite growth
// (deploy/local/redis.conf.in). The machine's noise (other work on the
// same cores moves a run by up to a third) is larger than any one part.
//
// The round after, alternated with the code before it on the quiet
// machine: 103,800-109,100 events/s (steady 112,300-118,800) against
// 87,300-97,100; 13.8-14.3 µs in the process against 15.7-16.3, and
// 3.5-3.8 µs in redis-server against 3.9-4.1; 60 allocations and 11 KB
// per event against 65 and 12.9 KB. Its parts: the code cache (codeCache:
// 85% of a batch's codes answered without Redis, whose lookups had been a
// fifth of its commands), the batch's records and rows' payloads in
// buffers each partition handler reuses, envelopes decoded in place in
// the batch (each had escaped to the heap), PartitionOf without an
// allocation, and MarshalEnvelope trusting the payloads NewEnvelope wrote
// (its canonical-JSON scan was 3%), and promocode.Normalize without NFKC
// for ASCII codes. Over all 21 runs of the final code, quiet or not:
// 84,500-109,700 events/s, median 100,200; the slow ones ran beside other
// work, or during a rewrite of Redis's append-only file (the benchmark
// adds about 177 MB to it, so one run in two or three sets one off).
//
// The round after that, alternated with the code before it: 110,700-114,300
// events/s (steady 120,600-126,900) against 89,800-106,500; 13.2-13.7 µs in
// the process against 13.5-15.2, and 3.5 µs in redis-server against
// 3.4-4.3; 50 allocations per event against 59. Its parts, all in the
// core's arithmetic and bookkeeping: percent earnings and amount parsing
// in integers for the common case (shopspring/decimal's big.Int had been a
// third of the core's allocations), Apply taking pointer payloads as they
// are and building each fingerprint in one allocation, rows reusing the
// amount's and the fixed payout's text, fold's result kept until Apply
// changes the order (Decide and HoldDue folded each order three times per
// batch), the hold schedule member encoded again only when its expiry
// changes, attribution.WinnerOffer instead of a first Decide of every new
// order to learn which offer it needs, and stored times appended in place.
// The core alone (BenchmarkApplyDecide): 1.8-1.9 µs and 16 allocations per
// event against 2.7 µs and 25. Over the session's runs of this code and of
// its steps, the slowest were 96,100 and 99,200 events/s beside other
// work, and 83,000 beside a Go build; the machine's speed still moves a
// run by a tenth or more.
//
// Tried and not kept (BenchmarkWorker, alternated runs):
//   - The subscriber's reader with MaxBytes 1 MiB, 512, 256 or 128 KiB
//     instead of 16 MiB: the broker builds a fetch's answer by appending
//     its batches (1.25x growth), so 16 MiB answers allocate 5.6 times their
//     size, about 2.5 KB per event; 256 KiB saves that and a GC cycle in
//     five, but the smaller fetches left the handlers waiting under load
//     (steady 52,000 events/s against 62,000-64,000). MaxBytes 1 (one
//     record batch per fetch): batches of 1,500-1,700, 40,000-44,000
//     events/s.
//   - Snappy on the rows' appends: 28-29 µs per event against 23-24; LZ4:
//     no difference.
//   - MaxBatch 4,000: 3,750-event batches, no clear change (21-22.5 µs,
//     42,000-44,000 events/s in a loaded hour).
//   - A state cache of 2,000 per partition instead of 10,000: 1-2 µs less
//     per event (less for the collector to mark), at the same hit rate only
//     because the benchmark's later events come within 1,900 events of a
//     partition; not kept, since that is the benchmark's spread rather than
//     live traffic's.
//   - Reusing the hold schedule member of a cached order when its due hold
//     is unchanged: 0.1 allocation per event, no measurable change.
//
// What is left is spread thin. The larger items: the garbage collector
// (fewer objects per cached state; fewer bytes through the broker), the
// reader's per-message channel and copies (a fetch loop of our own over
// kafka.Client.Fetch would read whole record batches), Emitted parsing
// back the row Decide has just built (the decision could be handed over),
// and Redis's writes of the states (HSET of two fields over 64 bytes
// each, 2.6 µs per call, was half of redis-server's CPU here; its APPEND
// of the same bytes, which replaced it, costs about as much: on this
// machine Redis's cost follows the bytes written, and the string form's
// gain is in the worker, which no longer builds a map per state read).
//
// # Key layout
//
// Every key starts with Config.Prefix (default DefaultPrefix, outside the
// projections' prefix). Ids are escaped as in the catalog projection ('%'
// ':' '{' '}' become %25 %3A %7B %7D).
//
//	order:<brand>:<order>  string  records, each batch appending its own: every order event applied (its offset and envelope), every row emitted
//	holds:<partition>      zset    member the order.hold_expired payload (JSON), score its hold end (Unix ms, rounded up)
//	applied:<partition>    string  the applied offset: the next offset after the last batch whose states were written
//
// An order's state is read back as its events in log order, each offset
// once, and its last row (stored.go). It is written with one APPEND per
// order and batch, so a write never reads or rewrites what is stored, and
// a batch retried after its write appends nothing but its row again.
// States stored by earlier versions as hashes (fields e:<offset> and row)
// are read as they are, and replaced by the string form, with one SET,
// by the first batch that touches their order; no migration step is
// needed. Events and rows are stored in a compact binary form (codec.go;
// the event's payload stays JSON), since a batch reads back the states it
// does not have cached: decoding a row's JSON envelope cost about 25 µs,
// more than deciding the order.
// The state holds nothing the log does not: Rebuild derives it again from
// attrib.attributions and attrib.orders, byte for byte.
package worker
