package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// runRebuild rebuilds the Redis projections from the log: `attrib rebuild
// redis` replays the catalog into the catalog projection, then the orders
// and attributions into the attribution worker's order state.
func runRebuild(ctx context.Context, ec *engineConfig, log *slog.Logger, args []string) error {
	if len(args) != 1 || args[0] != "redis" {
		return fmt.Errorf("usage: attrib rebuild redis (the ClickHouse rebuild is not built yet)")
	}
	if ec.RedisPrefix == "" {
		return fmt.Errorf("empty redis prefix")
	}
	store, comps, err := openKafka(ctx, ec, log, nil)
	if err != nil {
		return err
	}
	defer closeAll(comps)
	rdb, err := openRedis(ctx, ec, 0)
	if err != nil {
		return err
	}
	defer rdb.Close()
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: ec.RedisPrefix, Logger: log})
	if err != nil {
		return err
	}
	start := time.Now()
	bar := progressPrinter(progressOut, "redis catalog")
	if err := rediscatalog.Rebuild(ctx, store, proj, bar); err != nil {
		return fmt.Errorf("rebuild redis: %w", err)
	}
	// The worker's order state follows the catalog: its rebuild reads the
	// orders and attributions topics only, but the catalog must be whole
	// before the worker decides anything again.
	w, err := newWorker(ec, store, rdb, proj, log, nil)
	if err != nil {
		return err
	}
	if err := w.Rebuild(ctx, progressPrinter(progressOut, "attribution state")); err != nil {
		return fmt.Errorf("rebuild attribution state: %w", err)
	}
	log.Info("redis projections rebuilt from the log", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// progressOut receives progress lines; tests may silence it.
var progressOut io.Writer = nil

// progressPrinter prints a replay's progress (events, events/s, ETA) at most
// twice a second, and once at the end.
func progressPrinter(w io.Writer, what string) func(eventstore.ReplayProgress) {
	var last time.Time
	return func(p eventstore.ReplayProgress) {
		if w == nil {
			return
		}
		done := p.Read >= p.Total
		if !done && time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		rate := float64(p.Read) / max(p.Elapsed.Seconds(), 1e-9)
		eta := "-"
		if rate > 0 && !done {
			eta = time.Duration(float64(p.Total-p.Read) / rate * float64(time.Second)).Round(time.Second).String()
		}
		pct := 100.0
		if p.Total > 0 {
			pct = 100 * float64(p.Read) / float64(p.Total)
		}
		fmt.Fprintf(w, "rebuild %s: %s %d/%d events (%.1f%%), %.0f events/s, ETA %s\n", what, p.Topic, p.Read, p.Total, pct, rate, eta)
	}
}
