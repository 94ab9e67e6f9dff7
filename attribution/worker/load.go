package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/schemas"
)

// apply loads the states of the batch's orders (loadStates) and applies
// the batch's events to them with attribution.Apply: duplicates by event id
// or shop_event_id change nothing, a *attribution.PoisonError rejects the
// event with its reason. An order an event changed is marked dirty, to be
// written by writeStates.
func (w *Worker) apply(ctx context.Context, b *batch) error {
	if err := w.loadStates(ctx, b); err != nil {
		return err
	}
	for _, o := range b.orders {
		for _, it := range o.items {
			m := &b.Messages[it.i]
			changed, err := attribution.Apply(&o.st, m.Envelope, it.ev)
			var pe *attribution.PoisonError
			switch {
			case errors.As(err, &pe):
				b.Reject(it.i, pe.Error())
			case err != nil:
				return fmt.Errorf("apply event %s: %w", m.Envelope.EventID, err)
			case changed:
				o.dirty = true
				b.stats.applied++
			default:
				b.stats.duplicates++
			}
		}
	}
	for i := range b.Messages {
		if _, rejected := b.Rejected(i); rejected {
			b.stats.poison++
		}
	}
	return nil
}

// loadStates takes the states of the batch's orders out of the partition's
// cache (none in a rebuild), and reads the others from Redis in one
// pipelined round trip, rebuilding each: the stored events through
// attribution.Apply, in log order, then the last emitted row through
// attribution.Emitted.
func (w *Worker) loadStates(ctx context.Context, b *batch) error {
	load := b.orders
	if b.ps != nil && b.ps.cache != nil {
		load = make([]*order, 0, len(b.orders))
		for _, o := range b.orders {
			if c, ok := b.ps.cache.take(o.key); ok {
				o.st, o.holdBefore, o.cached = c.st, c.hold, true
				continue
			}
			load = append(load, o)
		}
		b.stats.stateHits, b.stats.stateMisses = len(b.orders)-len(load), len(load)
	}
	// The brands new to the worker get their schedule numbers in the same
	// round trip (schedule.go), so that the write after the rows needs
	// none.
	brands := make([]string, len(b.orders))
	for i, o := range b.orders {
		brands[i] = o.brandID
	}
	newBrands := w.brands.unknown(brands)
	if len(load) == 0 {
		if len(newBrands) > 0 {
			_, err := w.brandNumbers(ctx, brands)
			return err
		}
		return nil
	}
	b.stats.roundTrips++
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(load))
	for i, o := range load {
		cmds[i] = pipe.Get(ctx, o.key)
	}
	var assign *redis.Cmd
	if len(newBrands) > 0 {
		if err := w.loadScripts(ctx); err != nil {
			return err
		}
		assign = pipe.EvalSha(ctx, assignBrandsSHA, []string{w.brandsKey()}, newBrands...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	if assign != nil {
		if err := w.brands.learnAll(newBrands, assign); err != nil {
			w.scriptsLost(err)
			return err
		}
	}
	var legacy, cold []*order
	for i, o := range load {
		val, err := cmds[i].Result()
		switch {
		case err == nil:
			if err := w.restore(o, []byte(val)); err != nil {
				return err
			}
		case errors.Is(err, redis.Nil):
			if w.mayBeEvicted(b, o) {
				cold = append(cold, o)
				continue
			}
		case isWrongType(err):
			legacy = append(legacy, o)
			continue
		default:
			return fmt.Errorf("load %d order states: %w", len(load), err)
		}
		o.holdBefore = w.schedOf(&o.st)
	}
	if len(legacy) > 0 {
		if err := w.loadLegacy(ctx, b, legacy); err != nil {
			return err
		}
	}
	if len(cold) > 0 {
		if err := w.loadCold(ctx, b, cold); err != nil {
			return err
		}
	}
	return nil
}

// isWrongType reports whether err is Redis's answer to a command on a key
// of another type.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// loadLegacy reads the states stored as hashes (the former form) in one
// round trip, and rebuilds them from their records.
func (w *Worker) loadLegacy(ctx context.Context, b *batch, orders []*order) error {
	b.stats.roundTrips++
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(orders))
	for i, o := range orders {
		cmds[i] = pipe.HGetAll(ctx, o.key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("load %d order states stored as hashes: %w", len(orders), err)
	}
	for i, o := range orders {
		b, err := legacyState(o.key, cmds[i].Val())
		if err != nil {
			return err
		}
		if err := w.restoreRecords(o, b); err != nil {
			return err
		}
		o.migrate = true
		o.holdBefore = w.schedOf(&o.st)
	}
	return nil
}

// restore sets o.st from its stored state: a snapshot
// (attribution.RestoreSnapshot), or the records of the former string form
// (restoreRecords), which the batch then replaces with a snapshot.
func (w *Worker) restore(o *order, stored []byte) error {
	if attribution.IsSnapshot(stored) {
		if err := attribution.RestoreSnapshot(&o.st, o.brandID, o.orderID, stored); err != nil {
			// Damage, or a format of a later version: deciding without the
			// state would emit wrong versions. Fail; `attrib rebuild
			// redis` rewrites it.
			return fmt.Errorf("order state %s: %w", o.key, err)
		}
		return nil
	}
	o.migrate = true
	return w.restoreRecords(o, stored)
}

// restoreRecords rebuilds o.st from the records of the former string form
// (stored.go): the events through attribution.Apply, in log order, then
// the last row through attribution.Emitted.
func (w *Worker) restoreRecords(o *order, stored []byte) error {
	events, row, _, err := parseState(stored)
	if err != nil {
		// Another format (or damage): deciding without the state would
		// emit wrong versions. Fail; `attrib rebuild redis` rewrites it.
		return fmt.Errorf("order state %s: %w", o.key, err)
	}
	for _, se := range events {
		env, err := decodeEvent(se.data)
		if err != nil {
			return fmt.Errorf("order state %s: event at offset %d: %w", o.key, se.offset, err)
		}
		ev, err := schemas.DecodeTrusted(env)
		if err == nil {
			_, err = attribution.Apply(&o.st, env, ev)
		}
		if err != nil {
			// It was applied once, so only a change of the core (or of the
			// schemas) can refuse it now; a rebuild would skip it the same
			// way.
			w.m.corrupt.Inc()
			w.log.Warn("stored order event refused; skipping it", "key", o.key, "offset", se.offset, "err", err)
		}
	}
	if row != nil {
		ev, err := decodeRow(row)
		if err == nil {
			err = attribution.Emitted(&o.st, ev)
		}
		if err != nil {
			return fmt.Errorf("order state %s: last row: %w", o.key, err)
		}
	}
	return nil
}

// restoreAny sets st from an order's stored state in any form: val, a
// snapshot or the former string form, or, if hash, the former hash form,
// read here. The schedules' readers use it; a batch reads states with
// loadStates.
func (w *Worker) restoreAny(ctx context.Context, st *attribution.OrderState, brandID, orderID string, val []byte, hash bool) error {
	o := &order{key: w.orderKey(brandID, orderID), brandID: brandID, orderID: orderID}
	if hash {
		fields, err := w.rdb.HGetAll(ctx, o.key).Result()
		if err != nil {
			return fmt.Errorf("read order state %s: %w", o.key, err)
		}
		if val, err = legacyState(o.key, fields); err != nil {
			return err
		}
		if err := w.restoreRecords(o, val); err != nil {
			return err
		}
	} else if err := w.restore(o, val); err != nil {
		return err
	}
	*st = o.st
	return nil
}
