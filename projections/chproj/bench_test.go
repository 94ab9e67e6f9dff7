package chproj_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// benchEvents returns n attribution rows as the worker writes them: orders
// of 2000 creators over a year, about two rows per order (attributed, then
// an adjustment), one order in ten unattributed.
func benchEvents(b *testing.B, n int) []schemas.Envelope {
	b.Helper()
	out := make([]schemas.Envelope, 0, n)
	for i := 0; len(out) < n; i++ {
		placed := t0.Add(-time.Duration(i%(365*24)) * time.Hour)
		brand := fmt.Sprintf("brand-%03d", i%200)
		id := fmt.Sprintf("ORD-%09d", i)
		var evs []schemas.Event
		if i%10 == 9 {
			evs = append(evs, schemas.OrderUnattributed{
				OrderID: id, BrandID: brand, PromoCodes: []string{"NOPE"}, Reason: schemas.OutcomeUnknownCode,
				Decision: schemas.Decision{Candidates: []schemas.Candidate{{Code: "nope", NormalizedCode: "NOPE", Outcome: schemas.OutcomeUnknownCode}}},
				Amount:   "990.00", Currency: "RUB", Country: "RU", PlacedAt: placed, Version: 1,
			})
		} else {
			o := order{brand: brand, id: id, creator: fmt.Sprintf("creator-%04d", i%2000), status: schemas.StatusPending, earnings: "250.00", version: 1, placed: placed}
			evs = append(evs, schemas.OrderAttributed{Attribution: o.attribution()})
			o.status, o.version = schemas.StatusApproved, 2
			evs = append(evs, schemas.OrderEarningsAdjusted{Attribution: o.attribution(), Cause: schemas.TypeOrderConfirmed})
		}
		for _, ev := range evs {
			key, brandID, _ := schemas.KeyOf(ev)
			env, err := schemas.NewEnvelopeValidated(ev, key, brandID, placed, placed.Add(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, env)
		}
	}
	return out[:n]
}

// BenchmarkProjector measures the projector alone: decode, build rows and
// insert, with 8 partition handlers handing it batches at once, as the
// subscriber does while catching up (each partition's next batch begun
// while the previous one's flush is inserted: drive); 8 batches fill one
// flush of the default BatchRows (a flush that is not full waits for
// BatchWait).
func BenchmarkProjector(b *testing.B) {
	conn, db := readmodeltest.Migrated(b)
	p := newProjector(b, conn, db, func(c *chproj.Config) { c.BatchWait = chproj.DefaultBatchWait })
	const (
		partitions = 8
		perBatch   = chproj.DefaultBatchRows / partitions
		total      = 80_000
	)
	events := benchEvents(b, total)
	var (
		byPartition [partitions][]schemas.Envelope
		batches     [partitions][]*eventstore.Batch
	)
	for _, e := range events {
		part := eventstore.PartitionOf(e.AggregateKey, partitions)
		byPartition[part] = append(byPartition[part], e)
	}
	for part, envs := range byPartition {
		for off := 0; off < len(envs); off += perBatch {
			batches[part] = append(batches[part], batch(schemas.TopicAttributions, part, int64(off), envs[off:min(off+perBatch, len(envs))]...))
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for part := range partitions {
			wg.Go(func() {
				h, err := p.Handler()(ctx, eventstore.Assignment{Group: chproj.Group, Topic: schemas.TopicAttributions, Partition: part})
				if err != nil {
					b.Error(err)
					return
				}
				if err := drive(ctx, h, batches[part]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}

// drive hands one partition's batches to its handler as the subscriber
// does when nothing fails: a PipelinedHandler gets up to Window batches
// begun and not yet done, which finish in order; any other handler one
// Handle at a time.
func drive(ctx context.Context, h eventstore.PartitionHandler, batches []*eventstore.Batch) error {
	ph, ok := h.(eventstore.PipelinedHandler)
	if !ok || ph.Window() < 2 {
		for _, bt := range batches {
			if err := h.Handle(ctx, bt); err != nil {
				return err
			}
		}
		return nil
	}
	var waits []func() error
	for _, bt := range batches {
		if len(waits) == ph.Window() {
			if err := waits[0](); err != nil {
				return err
			}
			waits = waits[1:]
		}
		waits = append(waits, ph.Begin(ctx, bt))
	}
	for _, w := range waits {
		if err := w(); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkProjectorFromLog measures the live path: a subscriber of the
// projector catching up on 400,000 rows in the embedded broker's log (8
// partitions), from start until every watermark reached the end. The group
// join and the last flushes' BatchWait are in every run: with 80,000 rows
// they were most of it.
func BenchmarkProjectorFromLog(b *testing.B) {
	const total = 400_000
	r := newRig(b, 8)
	r.append(schemas.TopicAttributions, benchEvents(b, total)...)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		conn, db := readmodeltest.Migrated(b)
		p := newProjector(b, conn, db, func(c *chproj.Config) { c.BatchWait = chproj.DefaultBatchWait })
		cfg := p.SubscriberConfig()
		cfg.Group = fmt.Sprintf("%s-bench-%d", chproj.Group, i) // a fresh group reads from the start
		cfg.Logger = testLogger()
		sub, err := eventstore.NewSubscriber(r.store, cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- sub.Run(ctx) }()
		r.waitApplied(p)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}
