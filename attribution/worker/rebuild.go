package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// Drop deletes every key under the worker's prefix, on every node. Stop
// the worker first.
func (w *Worker) Drop(ctx context.Context) error {
	w.brands.reset()
	n, err := rediskey.DropPrefix(ctx, w.rdb, w.prefix)
	if err != nil {
		return fmt.Errorf("attribution worker: drop keys under %q: %w", w.prefix, err)
	}
	w.log.Info("dropped the worker's state", "prefix", w.prefix, "keys", n)
	return nil
}

// Rebuild drops the worker's state and derives it again from the log: the
// rows of attrib.attributions (the highest version of each order), then the
// events of attrib.orders through attribution.Apply, exactly as the live
// worker stores them, with the hold schedule. Each topic is read up to the
// end it had when its replay started; progress, when not nil, is called
// after every batch. The rebuilt state makes the same decisions as the one
// it replaces: an order's first decision is taken from its rows, never
// again from the index. Stop the worker (its subscribers and hold emitters)
// first; it resumes from its group's committed offsets afterwards, which
// re-applies (as duplicates) what the rebuild already stored. With a
// ColdStore, the orders settled for longer than the retention window are
// then evicted (saved to it and deleted), so Redis ends with what the
// window keeps.
func (w *Worker) Rebuild(ctx context.Context, progress func(eventstore.ReplayProgress)) error {
	if err := w.Drop(ctx); err != nil {
		return fmt.Errorf("attribution worker: rebuild: %w", err)
	}
	skippedRows := 0
	rows := eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
		n, err := w.rebuildRows(ctx, b)
		skippedRows += n
		return err
	})
	if err := w.store.Replay(ctx, schemas.TopicAttributions, rows, eventstore.ReplayOptions{Progress: progress}); err != nil {
		return fmt.Errorf("attribution worker: rebuild: %w", err)
	}
	skipped := 0
	events := eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
		if err := w.rebuildBatch(ctx, b); err != nil {
			return err
		}
		for i, m := range b.Messages {
			if reason, ok := b.Rejected(i); ok {
				skipped++
				w.log.Warn("rebuild: skipped an event the live worker dead-letters",
					"partition", b.Partition, "offset", m.Offset, "reason", reason)
			}
		}
		return nil
	})
	if err := w.store.Replay(ctx, schemas.TopicOrders, events, eventstore.ReplayOptions{Progress: progress}); err != nil {
		return fmt.Errorf("attribution worker: rebuild: %w", err)
	}
	// Only what the retention window keeps stays in Redis.
	evicted := 0
	if w.cold != nil {
		n, err := w.partitions(ctx, schemas.TopicOrders)
		if err != nil {
			return fmt.Errorf("attribution worker: rebuild: %w", err)
		}
		for p := range n {
			e, err := w.EvictDue(ctx, p, nil)
			evicted += e
			if err != nil {
				return fmt.Errorf("attribution worker: rebuild: evict the settled orders of partition %d: %w", p, err)
			}
		}
	}
	w.log.Info("rebuilt the worker's state", "prefix", w.prefix, "skipped_events", skipped, "skipped_rows", skippedRows, "evicted", evicted)
	return nil
}

// rowOf returns the order and version of an attribution row.
func rowOf(ev schemas.Event) (brandID, orderID string, version uint64, ok bool) {
	switch p := ev.(type) {
	case *schemas.OrderAttributed:
		return p.BrandID, p.OrderID, p.Version, true
	case *schemas.OrderEarningsAdjusted:
		return p.BrandID, p.OrderID, p.Version, true
	case *schemas.OrderUnattributed:
		return p.BrandID, p.OrderID, p.Version, true
	}
	return "", "", 0, false
}

// rebuildRows stores, for each order of a batch of attrib.attributions, its
// highest-version row unless the one stored is higher: two round trips.
// It returns how many records it skipped (not rows).
func (w *Worker) rebuildRows(ctx context.Context, b *eventstore.Batch) (skipped int, err error) {
	type best struct {
		version uint64
		ev      schemas.Event
	}
	rows := make(map[string]*best)
	var keys []string
	for i, m := range b.Messages {
		if _, rejected := b.Rejected(i); rejected {
			skipped++
			continue
		}
		ev, err := schemas.DecodeTrusted(m.Envelope)
		var brandID, orderID string
		var version uint64
		ok := false
		if err == nil {
			brandID, orderID, version, ok = rowOf(ev)
		}
		if !ok || brandID == "" || orderID == "" {
			skipped++
			w.log.Warn("rebuild: skipped a record of attrib.attributions that is not an attribution row",
				"partition", b.Partition, "offset", m.Offset, "type", m.Envelope.Type, "err", err)
			continue
		}
		key := w.orderKey(brandID, orderID)
		r := rows[key]
		if r == nil {
			r = &best{}
			rows[key] = r
			keys = append(keys, key)
		}
		// The last of the highest version in log order, as the live
		// worker keeps the last row it emitted.
		if r.ev == nil || version >= r.version {
			r.version, r.ev = version, ev
		}
	}
	if len(keys) == 0 {
		return skipped, nil
	}
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return skipped, fmt.Errorf("load %d rows: %w", len(keys), err)
	}
	pipe = w.rdb.Pipeline()
	for i, k := range keys {
		r := rows[k]
		brandID, orderID, _, _ := rowOf(r.ev)
		var st attribution.OrderState
		if stored, err := cmds[i].Bytes(); err == nil {
			if err := attribution.RestoreSnapshot(&st, brandID, orderID, stored); err != nil {
				return skipped, fmt.Errorf("rebuild: order state %s: %w", k, err)
			}
		} else if !errors.Is(err, redis.Nil) {
			return skipped, fmt.Errorf("load row of %s: %w", k, err)
		}
		if err := attribution.Emitted(&st, r.ev); err != nil {
			skipped++
			w.log.Warn("rebuild: skipped an attribution row the core refuses", "key", k, "err", err)
			continue
		}
		pipe.Set(ctx, k, attribution.AppendSnapshot(nil, &st), 0)
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return skipped, fmt.Errorf("store %d rows: %w", pipe.Len(), err)
		}
	}
	return skipped, nil
}
