package worker

import (
	"context"
	"errors"
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
	// records is the buffer the orders' records were cut from.
	records []byte
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
	b.keep()
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

// apply loads the states of the batch's orders (loadStates) and applies
// the batch's events to them with attribution.Apply: duplicates by event id
// or shop_event_id change nothing, a *attribution.PoisonError rejects the
// event with its reason. Each applied event is added to its order's
// records, to be written by writeStates.
func (w *Worker) apply(ctx context.Context, b *batch) error {
	if err := w.loadStates(ctx, b); err != nil {
		return err
	}
	b.reserveRecords()
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
				o.rec = appendEventRecord(o.rec, m.Offset, &m.Envelope)
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

// reserveRecords gives each order room for its records of the batch (its
// events and a row) in one buffer: the partition's, reused once the states
// are written. A record that outgrows its room moves out of the buffer.
func (b *batch) reserveRecords() {
	sizes := make([]int, len(b.orders))
	total := 0
	for i, o := range b.orders {
		size := rowRecordSize
		for _, it := range o.items {
			size += eventRecordOverhead + len(b.Messages[it.i].Envelope.Payload)
		}
		sizes[i] = size
		total += size
	}
	var buf []byte
	if b.ps != nil {
		buf = b.ps.records
	}
	if cap(buf) < total {
		// Room to spare, so that batches a little larger reuse it too.
		buf = make([]byte, total+total/4)
	}
	b.records = buf[:cap(buf)]
	buf = b.records
	for i, o := range b.orders {
		o.rec = buf[:0:sizes[i]]
		buf = buf[sizes[i]:]
	}
}

// keep gives the partition handler what a written batch leaves: its
// buffers, free again, and its orders' states as Redis now holds them.
func (b *batch) keep() {
	if b.ps == nil {
		return
	}
	if cap(b.records) <= maxKeptRecords {
		b.ps.records = b.records
	}
	for _, o := range b.orders {
		b.ps.cache.put(o.key, &cachedState{st: o.st, hold: o.holdAfter})
		delete(b.ps.pending, o.key)
	}
}
