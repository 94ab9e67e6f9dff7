package readmodel

// Table names of the projection, in the database given to Migrate and New.
const (
	TableOrders            = "orders"
	TableUnattributed      = "unattributed_orders"
	TableBrands            = "brands"
	TableCreators          = "creators"
	TableOfferNames        = "offer_names"
	TableCodeRequestEvents = "code_request_events"
	TableWatermarks        = "projection_watermarks"
	TableMigrations        = "schema_migrations"
	// TableDayMarks notes, per UTC day of placed time and partition of
	// attrib.attributions, the next offset whose orders rows are written.
	TableDayMarks = "order_day_marks"
	// TableSummaryDaily is the analysts' summary rolled up per UTC day,
	// recomputed from orders FINAL by the Summarizer.
	TableSummaryDaily = "summary_daily"
	// TableCreatorDaily rolls orders up per creator, UTC day and every
	// dimension a creator's report filters on, by the Summarizer.
	TableCreatorDaily = "creator_daily"
	// TableOrdersByBrand holds the report columns of orders sorted by
	// brand, for a brand's reports; the projector writes it in the same
	// flush as orders.
	TableOrdersByBrand = "orders_by_brand"
	// TableRollupDays notes the version of each day of each roll-up.
	TableRollupDays = "rollup_days"
	// ViewCodeRequests folds code_request_events into one row per request.
	ViewCodeRequests = "code_requests"
	// ViewEarningsDaily is the daily earnings roll-up (UTC days).
	ViewEarningsDaily = "earnings_daily"
)

// migrations is the schema, in order; the package doc says how to add one
// ("Adding a migration").
//
// {db} stands for the quoted database name. Money is Decimal(18, 3): every
// amount of the engine has at most money.MaxIntegerDigits (15) digits
// before the point and money.MaxMinorUnits (3) after it (KWD, BHD, ... have
// 3 minor digits, JPY 0), so 18 digits hold each exactly in 8 bytes;
// sum() of Decimal(18, 3) is Decimal(38, 3), so totals cannot overflow.
// Times are DateTime('UTC') (seconds; 18.16 has no DateTime64).
var migrations = []Migration{
	{
		Version: 1,
		Name:    "orders and unattributed orders",
		Statements: []string{
			// One logical row per (brand, order): ReplacingMergeTree keeps the
			// highest version, so redelivered or replayed rows never count
			// twice; reads use FINAL. Sorted for the creator's report: the
			// creator and placed time of an order never change after its first
			// row (the attribution worker fixes the decision then), so every
			// version of an order has the same sorting key and replaces the
			// others. No PARTITION BY: on 18.16 FINAL costs a constant per
			// part, and monthly partitions would make every month a part of a
			// creator's page. Granules of 1024 rows: a typical creator's
			// orders fit in a few.
			`CREATE TABLE IF NOT EXISTS {db}.orders (
    creator_id        String,
    placed_at         DateTime('UTC'),
    brand_id          String,
    order_id          String,
    offer_id          String,
    offer_name        String,
    request_id        String,
    promo_code        String,
    platform          String,
    status            String,
    amount            Decimal(18, 3),
    net_amount        Decimal(18, 3),
    currency          String,
    country           String,
    earnings          Decimal(18, 3),
    earnings_currency String,
    payout_type       String,
    payout_value      String,
    payout_currency   String,
    hold_days         UInt16,
    cause             String,
    decision          String,
    last_event_at     DateTime('UTC'),
    updated_at        DateTime('UTC'),
    version           UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (creator_id, placed_at, brand_id, order_id)
SETTINGS index_granularity = 1024`,
			// Analysts look at a brand's unattributed orders over time.
			`CREATE TABLE IF NOT EXISTS {db}.unattributed_orders (
    brand_id    String,
    placed_at   DateTime('UTC'),
    order_id    String,
    promo_codes Array(String),
    reason      String,
    decision    String,
    amount      Decimal(18, 3),
    currency    String,
    country     String,
    updated_at  DateTime('UTC'),
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, placed_at, order_id)
SETTINGS index_granularity = 1024`,
		},
	},
	{
		Version: 2,
		Name:    "catalog: brands, creators, offer names, code requests",
		Statements: []string{
			// Catalog rows are versioned by their Kafka offset: every event of
			// a brand (and of a creator) is in one partition of attrib.catalog,
			// so offsets order them as the log does.
			`CREATE TABLE IF NOT EXISTS {db}.brands (
    brand_id      String,
    name          String,
    registered_at DateTime('UTC'),
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY brand_id`,
			`CREATE TABLE IF NOT EXISTS {db}.creators (
    creator_id    String,
    name          String,
    registered_at DateTime('UTC'),
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY creator_id`,
			// The current name of each offer (published, then renamed by
			// offer.changed). Orders also keep the name at their decision.
			`CREATE TABLE IF NOT EXISTS {db}.offer_names (
    brand_id String,
    offer_id String,
    name     String,
    named_at DateTime('UTC'),
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, offer_id)`,
			// One row per code event (requested, confirmed, rejected,
			// revoked): no event carries the whole request, and folding them
			// at write time would need a read. The decider emits each type at
			// most once per request; a retried append of the same event lands
			// on the same key.
			`CREATE TABLE IF NOT EXISTS {db}.code_request_events (
    brand_id        String,
    request_id      String,
    type            String,
    offer_id        String,
    creator_id      String,
    platform        String,
    code            String,
    normalized_code String,
    reason          String,
    occurred_at     DateTime('UTC'),
    recorded_at     DateTime('UTC'),
    version         UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, request_id, type)`,
			// One row per request. Only aggregates that ignore duplicates
			// (any, min, countIf > 0), so it needs no FINAL.
			`CREATE VIEW IF NOT EXISTS {db}.code_requests AS
SELECT
    brand_id,
    request_id,
    anyIf(offer_id, offer_id != '') AS offer_id,
    anyIf(creator_id, creator_id != '') AS creator_id,
    anyIf(platform, platform != '') AS platform,
    multiIf(countIf(type = 'code.revoked') > 0, 'revoked',
            countIf(type = 'code.confirmed') > 0, 'confirmed',
            countIf(type = 'code.rejected') > 0, 'rejected',
            'moderation') AS status,
    anyIf(code, type = 'code.confirmed') AS code,
    anyIf(normalized_code, type = 'code.confirmed') AS normalized_code,
    anyIf(reason, type = 'code.rejected') AS reject_reason,
    minIf(occurred_at, type = 'code.requested') AS requested_at,
    minIf(occurred_at, type IN ('code.confirmed', 'code.rejected')) AS decided_at,
    minIf(occurred_at, type = 'code.revoked') AS revoked_at
FROM {db}.code_request_events
GROUP BY brand_id, request_id`,
		},
	},
	{
		Version: 3,
		Name:    "projection watermarks",
		Statements: []string{
			// The next offset applied per partition, written after the data of
			// the same flush; max(next_offset) is exact without FINAL.
			`CREATE TABLE IF NOT EXISTS {db}.projection_watermarks (
    projection       String,
    topic            String,
    kafka_partition  UInt32,
    next_offset      UInt64,
    last_recorded_at DateTime('UTC'),
    updated_at       DateTime('UTC')
) ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (projection, topic, kafka_partition)`,
		},
	},
	{
		Version: 4,
		Name:    "daily earnings roll-up",
		Statements: []string{
			// A view, not a materialized roll-up: no insert-time aggregation
			// is exact on 18.16 when an order's status or earnings change and
			// rows are redelivered (package doc). UTC days; other time zones
			// group orders directly with toDate(placed_at, tz). 18.16 does not
			// push a WHERE into a view: filter orders FINAL directly for one
			// creator, and use this view for whole-table analysis.
			`CREATE VIEW IF NOT EXISTS {db}.earnings_daily AS
SELECT
    toDate(placed_at, 'UTC') AS day,
    creator_id,
    brand_id,
    offer_id,
    status,
    currency,
    earnings_currency,
    count() AS orders,
    sum(amount) AS gmv,
    sum(net_amount) AS net_gmv,
    sum(earnings) AS earnings
FROM {db}.orders FINAL
GROUP BY day, creator_id, brand_id, offer_id, status, currency, earnings_currency`,
		},
	},
	{
		Version: 5,
		Name:    "summary roll-up per day",
		Statements: []string{
			// Written by the projector after the orders rows of a flush and
			// before its watermarks: for each UTC day of placed time the flush
			// wrote orders rows for, the next offset of their partition. It
			// only grows (a redelivered flush notes an offset already there),
			// so max(next_offset) needs no FINAL.
			`CREATE TABLE IF NOT EXISTS {db}.order_day_marks (
    day             Date,
    topic           String,
    kafka_partition UInt32,
    next_offset     UInt64
) ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (day, topic, kafka_partition)`,
			// The summary's aggregates per grouping (brand, offer, creator,
			// country, platform, day), UTC day, key and currencies, computed
			// from orders FINAL. version is the sum of the day's marks read
			// before the computation: a day is served from here only while its
			// version equals the sum of its marks now (DayState), so a day
			// with newer orders rows is read from orders instead. Every
			// computation writes every key the day had (an order's grouping
			// keys and currencies never change); reads use FINAL and keep the
			// rows of at least the day's current version.
			`CREATE TABLE IF NOT EXISTS {db}.summary_daily (
    grouping          String,
    day               Date,
    key               String,
    currency          String,
    earnings_currency String,
    name              String,
    orders            UInt64,
    gmv               Decimal(38, 3),
    earnings          Decimal(38, 3),
    approved          UInt64,
    rejected          UInt64,
    version           UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (grouping, day, key, currency, earnings_currency)`,
		},
	},
	{
		Version: 6,
		Name:    "creator roll-up per day",
		Statements: []string{
			// Orders rolled up per creator, UTC day and every column a
			// creator's report filters on or the summary groups by, from
			// orders FINAL; summary_daily is computed from it. The key columns
			// never change for an order, so every computation of a day writes
			// every key the day had, and each key's row counts each of its
			// orders once, in one status column.
			`CREATE TABLE IF NOT EXISTS {db}.creator_daily (
    creator_id        String,
    day               Date,
    brand_id          String,
    offer_id          String,
    offer_name        String,
    promo_code        String,
    platform          String,
    country           String,
    currency          String,
    earnings_currency String,
    orders            UInt64,
    pending           UInt64,
    approved          UInt64,
    rejected          UInt64,
    gmv               Decimal(38, 3),
    earnings          Decimal(38, 3),
    earnings_pending  Decimal(38, 3),
    earnings_approved Decimal(38, 3),
    earnings_rejected Decimal(38, 3),
    version           UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (creator_id, day, brand_id, offer_id, offer_name, promo_code, platform, country, currency, earnings_currency)`,
			// The version (marks' sum) each roll-up was computed at, per day:
			// written after the roll-up's rows, so a day is read from a
			// roll-up only once its rows are all in.
			`CREATE TABLE IF NOT EXISTS {db}.rollup_days (
    rollup_table String,
    day          Date,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (rollup_table, day)`,
		},
	},
	{
		Version: 7,
		Name:    "orders sorted by brand",
		Statements: []string{
			// A brand's reports: the columns they read and filter on, sorted so
			// that a brand's orders are one range in placed-time order, as a
			// creator's are in orders. Every column of the key (and every
			// column but status, earnings and updated_at) is the same in every
			// version of an order, so versions replace each other here as in
			// orders, and the same PREWHERE rules hold. The projector writes
			// each flush's orders rows to both tables, before the day marks and
			// watermarks; a rebuild fills and swaps it with the others.
			`CREATE TABLE IF NOT EXISTS {db}.orders_by_brand (
    brand_id          String,
    placed_at         DateTime('UTC'),
    creator_id        String,
    order_id          String,
    offer_id          String,
    offer_name        String,
    promo_code        String,
    status            String,
    amount            Decimal(18, 3),
    currency          String,
    country           String,
    earnings          Decimal(18, 3),
    earnings_currency String,
    updated_at        DateTime('UTC'),
    version           UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, placed_at, creator_id, order_id)
SETTINGS index_granularity = 1024`,
			// The orders projected before this migration. Run again, it writes
			// the same versions again, which replace each other.
			`INSERT INTO {db}.orders_by_brand (brand_id, placed_at, creator_id, order_id, offer_id, offer_name, promo_code,
    status, amount, currency, country, earnings, earnings_currency, updated_at, version)
SELECT brand_id, placed_at, creator_id, order_id, offer_id, offer_name, promo_code,
    status, amount, currency, country, earnings, earnings_currency, updated_at, version
FROM {db}.orders`,
		},
	},
}
