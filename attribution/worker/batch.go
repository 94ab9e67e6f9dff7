package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// batch is one batch of attrib.orders on its way through the worker: the
// orders it touches and what handling it cost so far.
type batch struct {
	*eventstore.Batch
	// start is when handling began.
	start time.Time
	// orders are the batch's orders, in the order of their first event.
	orders []*order
	// ps is the partition handler's state; nil in a rebuild.
	ps *partitionState
	// snaps is the buffer the orders' snapshots were written to.
	snaps []byte
	// stats are what the batch's metrics record (metrics.observe).
	stats batchStats
}

// handle is the live path of a batch: each step reads what the one before
// it left in b. It returns an error, and the subscriber retries the whole
// batch, on any Redis or Kafka failure; everything it writes is
// idempotent. Poison events are rejected in eb (the subscriber
// dead-letters them).
func (w *Worker) handle(ctx context.Context, eb *eventstore.Batch, ps *partitionState) (err error) {
	b := w.newBatch(eb, ps)
	defer func() { w.m.observe(&b.stats, b.start, err) }()
	pf := w.startPrefetch(ctx, b) // overlaps the load of the states
	defer pf.wait()
	if err := w.apply(ctx, b); err != nil {
		return err
	}
	if err := w.decide(ctx, b, pf); err != nil {
		return err
	}
	if err := w.emit(ctx, b); err != nil {
		return err
	}
	if err := w.writeStates(ctx, b); err != nil {
		return err
	}
	if b.ps != nil {
		b.ps.keep(b)
	}
	return nil
}

// rebuildBatch is the rebuild's path of a batch: the live path without
// deciding, emitting or metrics.
func (w *Worker) rebuildBatch(ctx context.Context, eb *eventstore.Batch) error {
	b := w.newBatch(eb, nil)
	if err := w.apply(ctx, b); err != nil {
		return err
	}
	return w.writeStates(ctx, b)
}

// newBatch decodes the batch's payloads and groups them by order, in the
// order of first appearance; events that are not order events (or do not
// decode) are rejected.
func (w *Worker) newBatch(eb *eventstore.Batch, ps *partitionState) *batch {
	b := &batch{Batch: eb, start: time.Now(), ps: ps}
	byKey := make(map[string]*order)
	// One allocation for the batch's orders (at most one per message).
	slab := make([]order, 0, len(eb.Messages))
	for i := range eb.Messages {
		if _, rejected := eb.Rejected(i); rejected {
			continue // undecodable envelope (the subscriber marks them)
		}
		m := &eb.Messages[i]
		ev, err := schemas.DecodeTrusted(m.Envelope)
		if err != nil {
			eb.Reject(i, err.Error())
			continue
		}
		brandID, orderID, ok := orderIDs(ev)
		switch {
		case !ok:
			eb.Reject(i, fmt.Sprintf("event %s: %s is not an order event", m.Envelope.EventID, m.Envelope.Type))
			continue
		case brandID == "" || orderID == "":
			eb.Reject(i, fmt.Sprintf("event %s: %s without brand_id or order_id", m.Envelope.EventID, m.Envelope.Type))
			continue
		}
		key := w.orderKey(brandID, orderID)
		o := byKey[key]
		if o == nil {
			slab = append(slab, order{key: key, brandID: brandID, orderID: orderID})
			o = &slab[len(slab)-1]
			byKey[key] = o
			b.orders = append(b.orders, o)
		}
		o.items = append(o.items, item{i: i, ev: ev})
	}
	return b
}

// order is one order a batch touches: its state as loaded from Redis and
// what the batch adds to it.
type order struct {
	key              string // the Redis key of its state
	brandID, orderID string
	st               attribution.OrderState
	// items are the batch's events of the order, in offset order.
	items []item
	// dirty: the batch applied an event to the order or emitted a row for
	// it, so its snapshot is written.
	dirty bool
	// migrate: the state was stored in a former form (records, or a hash),
	// which the write replaces with a snapshot.
	migrate bool
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
