package worker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/schemas"
)

// writeStates adds the batch's events and rows to the orders' states,
// updates the hold schedule of the orders partition and sets the
// partition's applied offset to the batch's next offset, in one pipelined
// round trip. Every command is idempotent, so a batch retried after a
// partial write writes the same again. A due hold
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
