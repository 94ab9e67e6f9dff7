package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/schemas"
)

// order is one order a batch touches: its state as loaded from Redis and
// what the batch adds to it.
type order struct {
	key              string // the Redis key of its state
	brandID, orderID string
	st               attribution.OrderState
	// items are the batch's events of the order, in offset order.
	items []item
	// rec holds the records the batch adds to the stored state (stored.go):
	// each event it applied, then the row it emitted.
	rec []byte
	// legacy is the state read from a hash (the former form), as records:
	// the write replaces the hash with it and rec.
	legacy []byte
	// holdBefore is the hold schedule entry the order had before the
	// batch (no member if no hold was due), holdAfter the one it has after.
	holdBefore, holdAfter scheduled
	// cached: the state came from the partition's cache, so it and its
	// hold schedule member are what the last successful write stored.
	cached bool
	// res is its codes resolved for its first decision (nil if it has one
	// already).
	res *attribution.Resolution
	// out is what Decide said.
	out attribution.Outcome
}

// item is one decoded event of a batch.
type item struct {
	i  int // index in the batch
	ev schemas.Event
}

// orderIDs returns the brand and order ids of an order event's payload; ok
// is false for any other event.
func orderIDs(ev schemas.Event) (brandID, orderID string, ok bool) {
	switch p := ev.(type) {
	case *schemas.OrderPlaced:
		return p.BrandID, p.OrderID, true
	case *schemas.OrderConfirmed:
		return p.BrandID, p.OrderID, true
	case *schemas.OrderCancelled:
		return p.BrandID, p.OrderID, true
	case *schemas.OrderRefunded:
		return p.BrandID, p.OrderID, true
	case *schemas.OrderHoldExpired:
		return p.BrandID, p.OrderID, true
	}
	return "", "", false
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
	if len(load) == 0 {
		return nil
	}
	b.stats.roundTrips++
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(load))
	for i, o := range load {
		cmds[i] = pipe.Get(ctx, o.key)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	var legacy []*order
	for i, o := range load {
		val, err := cmds[i].Result()
		switch {
		case err == nil:
			if err := w.restore(o, []byte(val)); err != nil {
				return err
			}
		case errors.Is(err, redis.Nil):
		case isWrongType(err):
			legacy = append(legacy, o)
			continue
		default:
			return fmt.Errorf("load %d order states: %w", len(load), err)
		}
		o.holdBefore = scheduled{}.next(&o.st)
	}
	if len(legacy) > 0 {
		if err := w.loadLegacy(ctx, b, legacy); err != nil {
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
		if err := w.restore(o, b); err != nil {
			return err
		}
		o.legacy = b
		o.holdBefore = scheduled{}.next(&o.st)
	}
	return nil
}

// restore rebuilds o.st from its stored state: the events through
// attribution.Apply, in log order, then the last row through
// attribution.Emitted.
func (w *Worker) restore(o *order, stored []byte) error {
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

// scheduled is an order's entry in the hold schedule: the hold expiry due
// for it, and its member, "" when none is due. The member is the payload of
// the order.hold_expired to emit (JSON): deterministic, since the hold's end
// and terms never change once the order is attributed, so that writing it
// again is a no-op and the emitter needs nothing else.
type scheduled struct {
	due    schemas.OrderHoldExpired
	member string
}

// next returns the entry the order has now; the member is encoded again
// only when the due expiry differs from s's.
func (s scheduled) next(st *attribution.OrderState) scheduled {
	h, ok := attribution.HoldDue(st)
	if !ok {
		return scheduled{}
	}
	if s.member != "" && h == s.due { // the same fields, the time's zone included
		return s
	}
	b, err := schemas.MarshalPayload(h)
	if err != nil {
		panic(fmt.Sprintf("encode hold expiry: %v", err)) // plain strings, ints and a time
	}
	return scheduled{due: h, member: string(b)}
}

// dueScore is a hold end as a schedule score: Unix milliseconds rounded
// up, so that a score <= now (in whole milliseconds) means the hold ended.
func dueScore(t time.Time) float64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return float64(ms)
}

// writeStates adds the batch's events and rows to the orders' states,
// updates the hold schedule of the orders partition and sets the
// partition's applied offset to the batch's next offset, in one pipelined
// round trip. Every
// command is idempotent, so
// a batch retried after a partial write writes the same again. A due hold
// is written again for every order the batch touched whose state was read
// from Redis, so that a retry after a write that stored the state but not
// the schedule repairs it; a state from the cache was stored with its
// schedule by a write that succeeded, so an unchanged hold is not written
// again (if the hold emitter removed it since, its expiry is in the log).
func (w *Worker) writeStates(ctx context.Context, b *batch) error {
	pipe := w.rdb.Pipeline()
	var add []redis.Z
	var rem []any
	for _, o := range b.orders {
		switch {
		case o.legacy != nil:
			// One SET replaces the hash, whatever its type, with all of it.
			pipe.Set(ctx, o.key, append(slices.Clip(o.legacy), o.rec...), 0)
		case len(o.rec) > 0:
			pipe.Do(ctx, "append", o.key, o.rec)
		}
		o.holdAfter = o.holdBefore.next(&o.st)
		after := o.holdAfter.member
		if after != "" && (!o.cached || after != o.holdBefore.member) {
			add = append(add, redis.Z{Score: dueScore(o.holdAfter.due.HoldEndsAt), Member: after})
		}
		if o.holdBefore.member != "" && o.holdBefore.member != after {
			rem = append(rem, o.holdBefore.member)
		}
	}
	if len(add) > 0 {
		pipe.ZAdd(ctx, w.holdsKey(b.Partition), add...)
	}
	if len(rem) > 0 {
		pipe.ZRem(ctx, w.holdsKey(b.Partition), rem...)
	}
	// Last: on one Redis, whose append-only file keeps the commands in
	// order, an applied offset that survived a crash means the states it
	// covers did too (StartOffset).
	pipe.Set(ctx, w.appliedKey(b.Partition), b.Next, 0)
	b.stats.roundTrips++
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("write %d order states: %w", len(b.orders), err)
	}
	return nil
}
