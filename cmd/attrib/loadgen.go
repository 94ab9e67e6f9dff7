package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/attrib-engine/attrib/projections/chproj/chload"
	"github.com/attrib-engine/attrib/readmodel"
)

// loadgenOptions are the flags of `attrib loadgen clickhouse`.
type loadgenOptions struct {
	orders, creators, brands, blockRows int
	database, end                       string
	seed                                uint64
	skew                                float64
	spanDays                            int
	drop                                bool
	retention                           retentionOptions
	webhook                             webhookLoadOptions
}

// loadgenCommand is `attrib loadgen clickhouse`: generated orders straight
// into the projection tables of a database of their own, for benchmarks.
func loadgenCommand() command {
	o := &loadgenOptions{}
	return command{
		name:    "loadgen",
		summary: "`attrib loadgen clickhouse --orders 10000000 --database attrib_bench`: load generated orders into a benchmark database (not the engine's); `attrib loadgen webhook --rate 10000 --duration 2m`: send order streams to a running engine and time them into the reports",
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.orders, "orders", chload.DefaultOrders, "loadgen: attributed orders to generate (unattributed ones come on top: 5% of all)")
			fs.IntVar(&o.creators, "creators", chload.DefaultCreators, "loadgen: creators")
			fs.IntVar(&o.brands, "brands", chload.DefaultBrands, "loadgen: brands")
			fs.StringVar(&o.database, "database", chload.DefaultDatabase, "loadgen: the database to fill, on the server of --clickhouse-url")
			fs.Uint64Var(&o.seed, "seed", chload.DefaultSeed, "loadgen: seed of the data (the same seed, --end and sizes give the same rows)")
			fs.Float64Var(&o.skew, "skew", chload.DefaultSkew, "loadgen: exponent of the creators' Zipf law of order counts")
			fs.StringVar(&o.end, "end", "", "loadgen: newest placed time, RFC 3339 or YYYY-MM-DD; empty: today, 00:00 UTC")
			fs.IntVar(&o.spanDays, "span-days", int(chload.DefaultSpan/(24*time.Hour)), "loadgen: days of placed times before --end")
			fs.IntVar(&o.blockRows, "block-rows", chload.DefaultBlockRows, "loadgen: orders per insert")
			fs.BoolVar(&o.drop, "drop", false, "loadgen: drop the database first (a load refuses a database that has orders)")
			o.retention.flags(fs)
			o.webhook.bind(fs)
		},
		run: func(ctx context.Context, ec *engineConfig, log *slog.Logger, args []string) error {
			return runLoadgen(ctx, ec, log, args, o)
		},
	}
}

func runLoadgen(ctx context.Context, ec *engineConfig, log *slog.Logger, args []string, o *loadgenOptions) error {
	switch {
	case len(args) == 1 && args[0] == "retention":
		return runRetention(ctx, ec, log, &o.retention)
	case len(args) == 1 && args[0] == "webhook":
		return runLoadgenWebhook(ctx, ec, log, &o.webhook, o.seed)
	case len(args) != 1 || args[0] != "clickhouse":
		return fmt.Errorf("usage: attrib loadgen clickhouse [--orders N] [--database NAME] [--seed N] [--end DATE] [--drop]; attrib loadgen retention [--retention-orders N] [--retention-days N] and serve's settings; attrib loadgen webhook [--rate N] [--duration D] [--out FILE]")
	}
	if o.database == ec.ClickHouse.Auth.Database {
		return fmt.Errorf("--database %s is the engine's own database (--clickhouse-url): load into a database of its own", o.database)
	}
	end := time.Now().UTC().Truncate(24 * time.Hour)
	if o.end != "" {
		var err error
		if end, err = time.Parse(time.RFC3339, o.end); err != nil {
			if end, err = time.Parse(time.DateOnly, o.end); err != nil {
				return fmt.Errorf("--end %q: want RFC 3339 or YYYY-MM-DD", o.end)
			}
		}
	}
	opts := *ec.ClickHouse
	opts.Auth.Database = ""
	opts.ReadTimeout = 10 * time.Minute
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		return &startError{setting: "clickhouse-url", err: err}
	}
	defer conn.Close()
	if err := waitFor(ctx, ec.DependencyTimeout, conn.Ping); err != nil {
		return &startError{setting: "clickhouse-url", err: fmt.Errorf("clickhouse unreachable: %w", err)}
	}
	if o.drop {
		if err := chload.Drop(ctx, conn, o.database); err != nil {
			return err
		}
	} else {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = ? AND table = 'orders'", o.database).Scan(&n)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("database %s already has orders: pass --drop to load it afresh", o.database)
		}
	}
	log.Info("loading generated orders", "database", o.database, "orders", o.orders, "creators", o.creators, "brands", o.brands,
		"seed", o.seed, "end", end.Format(time.RFC3339), "span_days", o.spanDays)
	var last time.Time
	stats, err := chload.Load(ctx, chload.Config{
		Conn: conn, Database: o.database, Orders: o.orders, Creators: o.creators, Brands: o.brands,
		Seed: o.seed, Skew: o.skew, End: end, Span: time.Duration(o.spanDays) * 24 * time.Hour, BlockRows: o.blockRows,
		Progress: func(p chload.Progress) {
			if progressOut == nil || (p.Orders < p.Total && time.Since(last) < time.Second) {
				return
			}
			last = time.Now()
			fmt.Fprintf(progressOut, "loadgen %s: %d/%d orders (%.1f%%), %d rows, %.0f rows/s, ETA %s\n", o.database,
				p.Orders, p.Total, 100*float64(p.Orders)/float64(p.Total), p.Rows, p.Rate(), p.ETA().Round(time.Second))
		},
	})
	if err != nil {
		return err
	}
	// The daily roll-ups, as the clickhouse-summary component would compute
	// them.
	summarizer, err := readmodel.NewSummarizer(conn, o.database, log, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	days, err := summarizer.Refresh(ctx, summaryProgress(progressOut, o.database))
	if err != nil {
		return err
	}
	log.Info("summary rolled up", "database", o.database, "days", days, "took", time.Since(start).Round(time.Millisecond))
	log.Info("loaded", "database", o.database, "orders", stats.Orders, "order_rows", stats.OrderRows,
		"unattributed", stats.Unattributed, "statuses", stats.ByStatus)
	curs := make([]string, 0, len(stats.ByEarningsCurrency))
	for c := range stats.ByEarningsCurrency {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		g := stats.ByCurrency[c]
		if g == nil {
			g = &chload.Sum{}
		}
		e := stats.ByEarningsCurrency[c]
		log.Info("currency", "currency", c, "orders", g.Orders, "gmv", g.Decimal().StringFixed(2),
			"earning_orders", e.Orders, "earnings", e.Decimal().StringFixed(2))
	}
	return nil
}
