// Package chload fills a ClickHouse database with generated orders, straight
// into the read model's tables (created by readmodel.Migrate, so they are
// the production tables), for benchmarks of the reports at scale: `attrib loadgen
// clickhouse` runs it.
//
// The data is deterministic for a Config (the same Seed, End and sizes give
// the same rows) and shaped like a real deployment: creators' order counts
// follow a Zipf law (with the default skew 1 and 1,000 creators the busiest
// has about 13% of all orders); brands sell in RUB, USD or EUR (a tenth of
// their orders in another of the three); most orders come from the brand's
// home market; offers pay a fixed amount or a percentage, some are renamed;
// placed times span Span before End, denser recently; orders older than
// their hold are mostly approved (some refunded in part), some rejected, a
// few still pending, recent ones mostly pending. About a third of the
// changed orders also keep their first version in the table and one order
// in 50 is written twice (a redelivery), in another block than their latest
// version, so ReplacingMergeTree has duplicates across parts to fold. One
// order in 20 is unattributed, for each of the four reasons.
package chload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// Defaults of Config.
const (
	DefaultDatabase  = "attrib_bench"
	DefaultOrders    = 10_000_000
	DefaultCreators  = 1000
	DefaultBrands    = 50
	DefaultSeed      = 1
	DefaultSkew      = 1.0
	DefaultSpan      = 730 * 24 * time.Hour
	DefaultBlockRows = 250_000
)

// Config configures a load. Zero fields take the defaults, except End.
type Config struct {
	// Conn is a native-protocol connection to the server. Required.
	Conn driver.Conn
	// Database is created and migrated when missing; the load appends to
	// it, so load into a fresh database (see Drop). Default
	// DefaultDatabase.
	Database string
	// Orders is the number of attributed orders (rows of orders after
	// FINAL); unattributed orders come on top, one for every 19.
	Orders   int
	Creators int
	Brands   int
	// Seed makes the data; the same Seed (and End and sizes) gives the
	// same rows.
	Seed uint64
	// Skew is the exponent of the creators' Zipf law (0: all alike).
	Skew float64
	// End is the newest placed time; orders are placed in [End-Span, End].
	// Required: pass the clock's day in, or a fixed time for the same data.
	End  time.Time
	Span time.Duration
	// BlockRows is the number of orders per insert (one part each).
	BlockRows int
	// Progress, when set, is called after every insert.
	Progress func(Progress)
}

// Progress is the state of a load.
type Progress struct {
	// Orders generated and inserted so far, of Total.
	Orders, Total int
	// Rows inserted so far into orders (with the older versions and
	// redeliveries) and unattributed_orders.
	Rows    int
	Elapsed time.Duration
}

// Rate is inserted rows per second.
func (p Progress) Rate() float64 { return float64(p.Rows) / max(p.Elapsed.Seconds(), 1e-9) }

// ETA estimates the time left.
func (p Progress) ETA() time.Duration {
	if p.Orders == 0 {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * float64(p.Total-p.Orders) / float64(p.Orders))
}

func (c *Config) validate() error {
	if c.Conn == nil {
		return errors.New("chload: no connection")
	}
	if c.End.IsZero() {
		return errors.New("chload: End is required")
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.Orders <= 0 {
		c.Orders = DefaultOrders
	}
	if c.Creators <= 0 {
		c.Creators = DefaultCreators
	}
	if c.Brands <= 0 {
		c.Brands = DefaultBrands
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Skew < 0 {
		return fmt.Errorf("chload: skew %v < 0", c.Skew)
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if c.Span <= 0 {
		c.Span = DefaultSpan
	}
	if c.BlockRows <= 0 {
		c.BlockRows = DefaultBlockRows
	}
	c.End = c.End.UTC().Truncate(time.Second)
	return nil
}

// unattributedFor reports whether attributed order n brings an
// unattributed one along: one in 19, i.e. 5% of all orders.
func (c *Config) unattributedFor(n int) bool { return n%19 == 18 }

// Generate calls fn with the catalog, then with every chunk of the data of
// cfg, in order, generating up to two chunks ahead in parallel. Load uses
// it; tests use it to compute what the database must hold. cfg.Conn is not
// used.
func Generate(ctx context.Context, cfg Config, catalog func(*Catalog) error, fn func(Chunk) error) error {
	if cfg.Conn == nil {
		cfg.Conn = noConn{}
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	cat := newCatalog(&cfg)
	if catalog != nil {
		if err := catalog(cat); err != nil {
			return err
		}
	}
	n := (cfg.Orders + cfg.BlockRows - 1) / cfg.BlockRows
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A pipeline of two generators feeding chunks in order.
	slots := make([]chan Chunk, n)
	for i := range slots {
		slots[i] = make(chan Chunk, 1)
	}
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for i := range n {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				slots[i] <- cat.chunk(&cfg, i, i*cfg.BlockRows, min((i+1)*cfg.BlockRows, cfg.Orders))
			})
		}
	})
	for i := range n {
		var ch Chunk
		select {
		case ch = <-slots[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if err := fn(ch); err != nil {
			return err
		}
	}
	return nil
}

// noConn stands in for the connection when only generating.
type noConn struct{ driver.Conn }

// Load migrates cfg.Database and inserts the generated data: the catalog
// rows (brands, creators, offer names, code request events), then each
// chunk's earlier versions, its latest versions and its unattributed
// orders, each one native batch insert, while the next chunks are being
// generated. It returns what it inserted, summed in Go.
func Load(ctx context.Context, cfg Config) (*Stats, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, err := readmodel.Migrate(ctx, cfg.Conn, cfg.Database); err != nil {
		return nil, fmt.Errorf("chload: %w", err)
	}
	db := "`" + cfg.Database + "`"
	stats := newStats()
	start := time.Now()
	prog := Progress{Total: cfg.Orders}
	var marked uint64 // the generated rows so far: the marks' "offset"
	err := Generate(ctx, cfg, func(cat *Catalog) error {
		return insertCatalog(ctx, cfg.Conn, db, cat, cfg.End.Add(-cfg.Span))
	}, func(ch Chunk) error {
		// Each into orders and orders_by_brand, as the projector writes them.
		for _, rows := range [][]Order{ch.Earlier, ch.Final} {
			cols := orderColumns(rows)
			if err := insert(ctx, cfg.Conn, db, readmodel.TableOrders, cols); err != nil {
				return err
			}
			if err := insert(ctx, cfg.Conn, db, readmodel.TableOrdersByBrand, byBrandColumns(cols)); err != nil {
				return err
			}
		}
		if err := insert(ctx, cfg.Conn, db, readmodel.TableUnattributed, unattributedColumns(ch.Unattributed)); err != nil {
			return err
		}
		// Marks after the rows, as the projector writes them, so that the
		// summarizer rolls these days up (readmodel.Summarizer).
		marked += uint64(len(ch.Earlier) + len(ch.Final))
		if err := insert(ctx, cfg.Conn, db, readmodel.TableDayMarks, dayMarkColumns(ch, marked)); err != nil {
			return err
		}
		stats.add(ch)
		prog.Orders += len(ch.Final)
		prog.Rows += len(ch.Earlier) + len(ch.Final) + len(ch.Unattributed)
		prog.Elapsed = time.Since(start)
		if cfg.Progress != nil {
			cfg.Progress(prog)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chload: load %s: %w", cfg.Database, err)
	}
	return stats, nil
}

// Drop drops database (before a fresh load).
func Drop(ctx context.Context, conn driver.Conn, database string) error {
	if database == "" || strings.ContainsAny(database, "`") {
		return fmt.Errorf("chload: bad database name %q", database)
	}
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+database+"`"); err != nil {
		return fmt.Errorf("chload: drop %s: %w", database, err)
	}
	return nil
}

type column struct {
	name   string
	values any
}

// insert writes columns into table with one native batch (an explicit
// column list; INSERT ... VALUES through Exec hangs on 18.16).
func insert(ctx context.Context, conn driver.Conn, db, table string, cols []column) error {
	if cols == nil {
		return nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+table+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	defer func() { _ = b.Close() }()
	for i, c := range cols {
		if err := b.Column(i).Append(c.values); err != nil {
			return fmt.Errorf("insert into %s: column %s: %w", table, c.name, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// MarkTopic is the topic of the day marks a load writes.
const MarkTopic = "chload"

// dayMarkColumns are the marks of the days of a chunk's orders, at offset
// next.
func dayMarkColumns(ch Chunk, next uint64) []column {
	days := map[int64]bool{}
	for _, rows := range [][]Order{ch.Earlier, ch.Final} {
		for _, o := range rows {
			days[o.PlacedAt-o.PlacedAt%86400] = true
		}
	}
	if len(days) == 0 {
		return nil
	}
	var day []time.Time
	var topic []string
	var part []uint32
	var offs []uint64
	for d := range days {
		day, topic, part, offs = append(day, time.Unix(d, 0).UTC()), append(topic, MarkTopic), append(part, 0), append(offs, next)
	}
	return []column{{"day", day}, {"topic", topic}, {"kafka_partition", part}, {"next_offset", offs}}
}

// Money is in thousandths: the Decimal(18, 3) columns' unscaled value.
func dec(thousandths int64) decimal.Decimal { return decimal.New(thousandths, -3) }

func orderColumns(rows []Order) []column {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	str := func(f func(*Order) string) []string {
		out := make([]string, n)
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}
	money := func(f func(*Order) int64) []decimal.Decimal {
		out := make([]decimal.Decimal, n)
		for i := range rows {
			out[i] = dec(f(&rows[i]))
		}
		return out
	}
	secs := func(f func(*Order) int64) []int64 {
		out := make([]int64, n)
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}
	hold, version := make([]uint16, n), make([]uint64, n)
	for i := range rows {
		hold[i], version[i] = rows[i].HoldDays, rows[i].Version
	}
	return []column{
		{"creator_id", str(func(o *Order) string { return o.CreatorID })},
		{"placed_at", secs(func(o *Order) int64 { return o.PlacedAt })},
		{"brand_id", str(func(o *Order) string { return o.BrandID })},
		{"order_id", str(func(o *Order) string { return o.OrderID })},
		{"offer_id", str(func(o *Order) string { return o.OfferID })},
		{"offer_name", str(func(o *Order) string { return o.OfferName })},
		{"request_id", str(func(o *Order) string { return o.RequestID })},
		{"promo_code", str(func(o *Order) string { return o.PromoCode })},
		{"platform", str(func(o *Order) string { return o.Platform })},
		{"status", str(func(o *Order) string { return o.Status })},
		{"amount", money(func(o *Order) int64 { return o.Amount })},
		{"net_amount", money(func(o *Order) int64 { return o.NetAmount })},
		{"currency", str(func(o *Order) string { return o.Currency })},
		{"country", str(func(o *Order) string { return o.Country })},
		{"earnings", money(func(o *Order) int64 { return o.Earnings })},
		{"earnings_currency", str(func(o *Order) string { return o.EarningsCurrency })},
		{"payout_type", str(func(o *Order) string { return o.PayoutType })},
		{"payout_value", str(func(o *Order) string { return o.PayoutValue })},
		{"payout_currency", str(func(o *Order) string { return o.PayoutCurrency })},
		{"hold_days", hold},
		{"cause", str(func(o *Order) string { return o.Cause })},
		{"decision", str(func(o *Order) string { return o.Decision })},
		{"last_event_at", secs(func(o *Order) int64 { return o.LastEventAt })},
		{"updated_at", secs(func(o *Order) int64 { return o.UpdatedAt })},
		{"version", version},
	}
}

// byBrandColumns are the columns of orders_by_brand among the orders
// columns cols.
func byBrandColumns(cols []column) []column {
	var out []column
	for _, c := range cols {
		switch c.name {
		case "brand_id", "placed_at", "creator_id", "order_id", "offer_id", "offer_name", "promo_code", "status",
			"amount", "currency", "country", "earnings", "earnings_currency", "updated_at", "version":
			out = append(out, c)
		}
	}
	return out
}

func unattributedColumns(rows []Unattributed) []column {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	brand, order, reason, decision, cur, country := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	codes, amount := make([][]string, n), make([]decimal.Decimal, n)
	placed, updated, version := make([]int64, n), make([]int64, n), make([]uint64, n)
	for i, u := range rows {
		brand[i], order[i], reason[i], decision[i], cur[i], country[i] = u.BrandID, u.OrderID, u.Reason, u.Decision, u.Currency, u.Country
		codes[i], amount[i], placed[i], updated[i], version[i] = u.PromoCodes, dec(u.Amount), u.PlacedAt, u.Updated, u.Version
	}
	return []column{
		{"brand_id", brand}, {"placed_at", placed}, {"order_id", order}, {"promo_codes", codes}, {"reason", reason},
		{"decision", decision}, {"amount", amount}, {"currency", cur}, {"country", country}, {"updated_at", updated},
		{"version", version},
	}
}

// insertCatalog writes the names the reports filter by and the code
// requests behind the codes, every row at version 1 (a renamed offer's
// current name at version 2, with its first name at version 1).
func insertCatalog(ctx context.Context, conn driver.Conn, db string, cat *Catalog, at time.Time) error {
	at = at.Add(-48 * time.Hour).UTC()
	var (
		ids, names []string
		times      []time.Time
		versions   []uint64
	)
	for _, b := range cat.Brands {
		ids, names, times, versions = append(ids, b.ID), append(names, b.Name), append(times, at), append(versions, 1)
	}
	if err := insert(ctx, conn, db, readmodel.TableBrands, []column{{"brand_id", ids}, {"name", names}, {"registered_at", times}, {"version", versions}}); err != nil {
		return err
	}
	ids, names, times, versions = nil, nil, nil, nil
	for _, c := range cat.Creators {
		ids, names, times, versions = append(ids, c.ID), append(names, c.Name), append(times, at), append(versions, 1)
	}
	if err := insert(ctx, conn, db, readmodel.TableCreators, []column{{"creator_id", ids}, {"name", names}, {"registered_at", times}, {"version", versions}}); err != nil {
		return err
	}
	var brands, offers []string
	ids, names, times, versions = nil, nil, nil, nil
	for _, b := range cat.Brands {
		for _, o := range b.Offers {
			brands, offers, names, times, versions = append(brands, b.ID), append(offers, o.ID), append(names, o.Name), append(times, at), append(versions, 1)
			if o.CurrentName != o.Name {
				brands, offers, names, times, versions = append(brands, b.ID), append(offers, o.ID), append(names, o.CurrentName), append(times, at.Add(time.Hour)), append(versions, 2)
			}
		}
	}
	if err := insert(ctx, conn, db, readmodel.TableOfferNames, []column{{"brand_id", brands}, {"offer_id", offers}, {"name", names}, {"named_at", times}, {"version", versions}}); err != nil {
		return err
	}
	var reqBrand, reqID, typ, offer, creator, platform, code, reason []string
	var occurred []time.Time
	versions = nil
	for _, c := range cat.Creators {
		for _, k := range c.Codes {
			for i, t := range []string{"code.requested", "code.confirmed"} {
				reqBrand, reqID, typ, offer, creator, platform = append(reqBrand, k.BrandID), append(reqID, k.RequestID), append(typ, t), append(offer, k.OfferID), append(creator, c.ID), append(platform, k.Platform)
				cd := ""
				if i == 1 {
					cd = k.Code
				}
				code, reason, occurred, versions = append(code, cd), append(reason, ""), append(occurred, time.Unix(k.confirmedAt, 0).UTC().Add(time.Duration(i-1)*time.Hour)), append(versions, uint64(i+1))
			}
		}
	}
	return insert(ctx, conn, db, readmodel.TableCodeRequestEvents, []column{
		{"brand_id", reqBrand}, {"request_id", reqID}, {"type", typ}, {"offer_id", offer}, {"creator_id", creator},
		{"platform", platform}, {"code", code}, {"normalized_code", code}, {"reason", reason},
		{"occurred_at", occurred}, {"recorded_at", occurred}, {"version", versions},
	})
}
