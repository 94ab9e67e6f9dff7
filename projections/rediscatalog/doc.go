// Package rediscatalog projects the catalog topic (attrib.catalog) into
// Redis: the code index the attribution worker resolves promo codes with,
// offers with their terms history, principals by token hash, and code
// requests by creator and by brand. Like every projection it can be dropped
// and rebuilt from the log (Rebuild), to identical content (Dump).
//
// # Writes
//
// A Subscriber in the consumer group Group feeds batches of one partition
// to Handler. Each event maps to plain HSETNX/HSET/ZADD NX commands whose
// values derive from that event alone, so applying a batch twice, or in
// other batch boundaries, leaves the same content: no write reads what an
// earlier write left. Where the aggregate keeps the first of several events
// (a registration, a request's decision, a revocation), HSETNX keeps the
// first in log order, as catalog.Brand.Evolve does. An offer's changes are
// kept raw, one hash field per event keyed by its offset, and folded at
// read time exactly as the aggregate folds them (dedupe by event id against
// the versions kept, skip changes that change nothing).
//
// A batch is written with one pipeline, then the partition's watermark
// (next offset and latest occurred_at) in a second round trip: in Redis
// Cluster the keys of one pipeline live on several nodes and their order is
// not guaranteed, so the watermark is only moved once the data round trip
// succeeded. The watermark only moves forward.
//
// # Effective times
//
// catalog.Brand.Evolve does not use an event's occurred_at as is: its
// effective time is occurred_at made monotonic per brand (never before the
// effective time of the brand's previous event), so that log order and time
// order agree even when writers' clocks disagree. Reproducing that needs
// the brand's clock as of the event, which is a read. It stays idempotent
// because what it reads is immutable history: every time a brand's clock
// advances, the key clock:<brand> records the new clock (member) at the
// event's offset (score), and a batch starting at offset a reads the
// greatest entry below a, which no application of this or any later batch
// changes. Within a batch the clock is carried in memory, and a partition
// handler keeps it across the batches of its group generation, so in steady
// state the read happens once per brand and generation, not per batch. The
// effective times then go into the written values (active from, revoked
// at, decided at, terms effective from, ...).
//
// The projection agrees with catalog.Brand for every log the catalog
// deciders write (one writer per brand), retried appends (the same event
// twice) included. It does not reproduce Evolve's refusals of events
// Decide never emits (a second confirmation of one request under another
// text, events of a brand before its registration): those would need the
// state as of the event, a read-modify-write.
//
// A rotation (of an API key, a webhook secret or a token) is written the
// same way: the new token's principal, the end of validity of the value it
// replaced (its effective time plus catalog.CredentialGrace) and of the
// value it retired (its effective time), each in a field of its own keyed
// by the event's offset; a reader takes the earliest end, and the latest
// rotation record gives the current and previous webhook secret salts.
// The grace thus runs from the event's time, whoever reads it and however
// often the projection is rebuilt.
//
// # Key layout
//
// Every key starts with Config.Prefix (default "attrib:"). Ids inside keys
// are escaped so that ':' separates components unambiguously and braces
// never form an accidental Redis Cluster hash tag ('%' ':' '{' '}' become
// %25 %3A %7B %7D). No read needs two keys in one slot, so no key has a hash
// tag.
//
//	brand:<brand>              hash  name, api_key_hash, webhook_secret_salt, registered_at,
//	                                 rot:<offset, 20 digits> (JSON per webhook secret rotation)
//	creator:<creator>          hash  name, email, registered_at, token_hash, rot:<offset> (JSON per token rotation)
//	analyst:<analyst>          hash  name, registered_at, token_hash, rot:<offset>
//	principal:<token hash>     hash  role, id, name, brand_id (brands by api key hash),
//	                                 until:<offset> (end of validity set by the rotation at offset; the earliest holds)
//	clock:<brand>              zset  member effective time, score offset; one entry per advance
//	offer:<brand>:<offer>      hash  published (JSON), change:<offset, 20 digits> (JSON per offer.changed)
//	offers                     zset  member <brand>:<offer>, score published time (µs)
//	request:<request>          hash  requested (JSON), decision (JSON), revoked_at
//	requests:creator:<creator> zset  member request id, score requested time (µs)
//	requests:brand:<brand>     zset  member request id, score requested time (µs)
//	code:<brand>:<normalised>  hash  c:<request> (JSON: creator, offer, platform, code, active_from), r:<request> revoked_at
//	connectors:<brand>         hash  set:<offset> / del:<offset> (JSON per connector event: platform, confirm_on,
//	                                 sealed secret and fingerprint, effective time), folded at read time
//	wm:catalog                 hash  o:<partition> next offset, t:<partition> latest occurred_at
//
// Request ids are global: the API makes them random, and the key has no
// brand.
//
// # Reads
//
// The reads are for the API and the attribution worker; each makes as few
// round trips as its data allows, with pipelines: Principal, Brand,
// Creator, Offer, Watermark(s), LookupCodes and LookupOffers (any number of
// keys) take one; Offers and Request two; RequestsByCreator and
// RequestsByBrand three. Reads must go to masters: the clock read of the
// writer must not see a stale replica either, so do not enable replica
// reads (ReadOnly/RouteByLatency/RouteRandomly) on the client.
package rediscatalog
