package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// emit appends the decided rows to attrib.attributions, keyed by order
// (appendRows), then records them in the states. Appending
// before the states are written means a crash in between emits the same
// rows (same versions, same content) again on redelivery, which the
// projections absorb by keeping the highest version.
func (w *Worker) emit(ctx context.Context, b *batch) error {
	ps := b.ps
	decided := false
	for _, o := range b.orders {
		decided = decided || o.out.Event != nil
	}
	if !decided {
		return nil
	}
	nAttr, err := w.partitions(ctx, schemas.TopicAttributions)
	if err != nil {
		return err
	}
	recorded := w.now()
	// The rows' payloads in one buffer (the partition's, free again once
	// they are appended).
	payloads := []byte{}
	if ps != nil && ps.payloads != nil {
		payloads = ps.payloads[:0]
	}
	envs := make([]schemas.Envelope, 0, len(b.orders))
	parts := make([]int, 0, len(b.orders))
	counts := make([]int, nAttr)
	var emitted []*order
	for _, o := range b.orders {
		if o.out.Event == nil {
			continue
		}
		key, brand, _ := schemas.KeyOf(o.out.Event)
		// The core builds complete rows (no nil lists, every field set),
		// which the tests check against the JSON Schemas: skip the schema
		// check, which would cost more than everything else per row.
		var env schemas.Envelope
		var err error
		env, payloads, err = schemas.AppendEnvelopeValidated(payloads, o.out.Event, key, brand, o.out.OccurredAt, recorded)
		if err != nil {
			return fmt.Errorf("order %s/%s: envelope of %s: %w", o.brandID, o.orderID, o.out.Event.EventType(), err)
		}
		if n := len(o.items); n > 0 {
			env = env.CausedBy(b.Messages[o.items[n-1].i].Envelope)
		}
		p := eventstore.PartitionOf(key, nAttr)
		envs = append(envs, env)
		parts = append(parts, p)
		counts[p]++
		emitted = append(emitted, o)
	}
	// One backing array, each partition's rows in the order of the batch.
	groups := make(map[int][]schemas.Envelope)
	byPart := make([]schemas.Envelope, len(envs))
	start := 0
	for p, n := range counts {
		if n > 0 {
			groups[p] = byPart[start : start : start+n]
			start += n
		}
	}
	for i, env := range envs {
		groups[parts[i]] = append(groups[parts[i]], env)
	}
	if err := w.appendRows(ctx, groups); err != nil {
		return err
	}
	if ps != nil && cap(payloads) <= maxKeptRecords {
		ps.payloads = payloads
	}
	for _, o := range emitted {
		if ps != nil {
			ps.pending[o.key] = o.out.Event
		}
		if err := attribution.Emitted(&o.st, o.out.Event); err != nil {
			return fmt.Errorf("order %s/%s: %w", o.brandID, o.orderID, err) // cannot happen: Decide made it
		}
		o.dirty = true
		b.stats.countRow(o.out.Event)
	}
	return nil
}

// maxAppendBytes bounds the payloads of one append: a produce request
// carries one record batch, which the brokers refuse above their
// message.max.bytes (1 MiB by default); a row is about 1.5 KiB.
const maxAppendBytes = 512 << 10

// appendRows appends the rows of each partition in requests of at most
// maxAppendBytes, concurrently: each order has one row per batch, so the
// requests need no order among them.
func (w *Worker) appendRows(ctx context.Context, groups map[int][]schemas.Envelope) error {
	type chunk struct {
		partition int
		envs      []schemas.Envelope
	}
	var chunks []chunk
	for p, envs := range groups {
		start, size := 0, 0
		for i := range envs {
			size += len(envs[i].Payload) + 400 // the envelope's other fields and the record's
			if size > maxAppendBytes && i > start {
				chunks = append(chunks, chunk{p, envs[start:i]})
				start, size = i, len(envs[i].Payload)+400
			}
		}
		chunks = append(chunks, chunk{p, envs[start:]})
	}
	if len(chunks) == 1 {
		_, err := w.store.AppendToPartition(ctx, schemas.TopicAttributions, chunks[0].partition, chunks[0].envs...)
		return err
	}
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, c := range chunks {
		wg.Go(func() {
			_, errs[i] = w.store.AppendToPartition(ctx, schemas.TopicAttributions, c.partition, c.envs...)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
