package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// handle applies one batch of attrib.orders to the states of its orders
// and, when decide is set, decides and emits their attribution rows. It
// returns an error, and the subscriber retries the whole batch, on any
// Redis or Kafka failure; everything it writes is idempotent. Poison events
// are rejected in b (the subscriber dead-letters them). ps is the partition
// handler's state (nil for a rebuild).
func (w *Worker) handle(ctx context.Context, b *eventstore.Batch, decide bool, ps *partitionState) error {
	start := time.Now()
	rt := 0
	orders := w.gather(b)
	if len(orders) == 0 {
		// Nothing but poison (or records the subscriber dead-lettered):
		// the applied offset passes them.
		if err := w.writeStates(ctx, b.Partition, b.Next, nil, &rt); err != nil {
			return err
		}
		if decide {
			w.m.events.WithLabelValues("poison").Add(float64(len(b.Messages)))
			w.m.roundTrips.Observe(0)
			w.m.batchSeconds.Observe(time.Since(start).Seconds())
		}
		return nil
	}
	var pf *prefetch
	if decide {
		pf = w.startPrefetch(ctx, start, orders)
		defer pf.wait()
	}
	if err := w.loadStates(ctx, orders, ps, &rt); err != nil {
		return err
	}
	// Room for each order's records of the batch, its events and a row, in
	// one buffer (the partition's, reused once the states are written).
	sizes := make([]int, len(orders))
	total := 0
	for i, o := range orders {
		size := rowRecordSize
		for _, it := range o.items {
			size += eventRecordOverhead + len(b.Messages[it.i].Envelope.Payload)
		}
		sizes[i] = size
		total += size
	}
	var buf []byte
	if ps != nil {
		buf = ps.records
	}
	if cap(buf) < total {
		// Room to spare, so that batches a little larger reuse it too.
		buf = make([]byte, total+total/4)
	}
	whole := buf[:cap(buf)]
	buf = whole
	var applied, duplicates int
	for i, o := range orders {
		// A record that outgrows its room moves out of the buffer.
		o.rec = buf[:0:sizes[i]]
		buf = buf[sizes[i]:]
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
				applied++
			default:
				duplicates++
			}
		}
	}
	poison := 0
	for i := range b.Messages {
		if _, rejected := b.Rejected(i); rejected {
			poison++
		}
	}
	if decide {
		if err := w.decideAndEmit(ctx, start, b, orders, pf, ps, &rt); err != nil {
			return err
		}
	}
	if err := w.writeStates(ctx, b.Partition, b.Next, orders, &rt); err != nil {
		return err
	}
	if ps != nil {
		// Written: the records are Redis's now, and the buffer is free.
		if cap(whole) <= maxKeptRecords {
			ps.records = whole
		}
		// What Redis holds now, for the next batches.
		for _, o := range orders {
			ps.cache.put(o.key, &cachedState{st: o.st, hold: o.holdAfter})
			delete(ps.pending, o.key)
		}
	}
	if decide { // not a rebuild
		w.m.events.WithLabelValues("applied").Add(float64(applied))
		w.m.events.WithLabelValues("duplicate").Add(float64(duplicates))
		w.m.events.WithLabelValues("poison").Add(float64(poison))
		w.m.roundTrips.Observe(float64(rt))
		w.m.batchSeconds.Observe(time.Since(start).Seconds())
	}
	return nil
}

// gather decodes the batch's payloads and groups them by order, in the
// order of first appearance; events that are not order events (or do not
// decode) are rejected.
func (w *Worker) gather(b *eventstore.Batch) []*order {
	var orders []*order
	byKey := make(map[string]*order)
	// One allocation for the batch's orders (at most one per message).
	slab := make([]order, 0, len(b.Messages))
	for i := range b.Messages {
		if _, rejected := b.Rejected(i); rejected {
			continue // undecodable envelope (Replay marks them)
		}
		m := &b.Messages[i]
		ev, err := schemas.DecodeTrusted(m.Envelope)
		if err != nil {
			b.Reject(i, err.Error())
			continue
		}
		brandID, orderID, ok := orderIDs(ev)
		switch {
		case !ok:
			b.Reject(i, fmt.Sprintf("event %s: %s is not an order event", m.Envelope.EventID, m.Envelope.Type))
			continue
		case brandID == "" || orderID == "":
			b.Reject(i, fmt.Sprintf("event %s: %s without brand_id or order_id", m.Envelope.EventID, m.Envelope.Type))
			continue
		}
		key := w.orderKey(brandID, orderID)
		o := byKey[key]
		if o == nil {
			slab = append(slab, order{key: key, brandID: brandID, orderID: orderID})
			o = &slab[len(slab)-1]
			byKey[key] = o
			orders = append(orders, o)
		}
		o.items = append(o.items, item{i: i, ev: ev})
	}
	return orders
}

// offerProbe is the offer index Decide reads, recording what it asks for.
type offerProbe struct {
	offers attribution.OfferMap
	asked  []attribution.OfferKey
}

// Offer implements attribution.Offers.
func (p *offerProbe) Offer(brandID, offerID string) (attribution.Offer, bool) {
	p.asked = append(p.asked, attribution.OfferKey{BrandID: brandID, OfferID: offerID})
	return p.offers.Offer(brandID, offerID)
}

// prefetch is the work on the index a batch starts before it has loaded
// its orders' states, so that it overlaps the load: the catalog's end
// offsets, and the codes of the batch's placements. The codes are usable
// for the orders' first decisions if the watermarks known before the
// lookup started already show the index current (behindOf with wm); else
// the batch waits for the index and looks them up again.
//
// Codes the code cache answers at the last end offsets known are not
// looked up; if the batch's own end offsets (read after it began) show
// their catalog partition moved since, they are left out of the prefetch
// (keys), as codes the batch did not prefetch.
type prefetch struct {
	done  chan struct{}
	keys  map[attribution.CodeKey]bool
	ends  []int64
	wm    map[int]rediscatalog.Watermark
	codes attribution.CodeMap
	trips int // Redis round trips
	err   error
}

func (pf *prefetch) wait() {
	if pf != nil {
		<-pf.done
	}
}

// startPrefetch starts the prefetch of a batch with placements (nil for a
// batch without).
func (w *Worker) startPrefetch(ctx context.Context, batchStart time.Time, orders []*order) *prefetch {
	keys := make(map[attribution.CodeKey]bool)
	for _, o := range orders {
		for _, it := range o.items {
			p, ok := it.ev.(*schemas.OrderPlaced)
			if !ok {
				continue
			}
			for _, c := range p.PromoCodes {
				if n := promocode.Normalize(c); n != "" {
					keys[attribution.CodeKey{BrandID: o.brandID, Normalized: n}] = true
				}
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	pf := &prefetch{done: make(chan struct{}), keys: keys, wm: w.lag.known()}
	list := make([]attribution.CodeKey, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	// The cache's answers at the last end offsets known; the others are
	// looked up at once.
	hits, answered, lookup := attribution.CodeMap{}, []attribution.CodeKey(nil), list
	was := w.lag.lastEnds()
	nCat, cacheErr := w.partitions(ctx, schemas.TopicCatalog)
	if cacheErr == nil && was != nil {
		hits, answered, lookup = w.codes.get(list, was, nCat)
	}
	var endsErr error
	ends := make(chan struct{})
	go func() {
		defer close(ends)
		pf.ends, endsErr = w.lag.catalogEnds(ctx, w.store, batchStart)
	}()
	go func() {
		defer close(pf.done)
		codes := attribution.CodeMap{}
		var err error
		if len(lookup) > 0 {
			pf.trips++
			codes, err = w.index.LookupCodes(ctx, lookup)
		}
		<-ends
		if err == nil && endsErr == nil && cacheErr == nil {
			w.codes.put(lookup, codes, pf.wm, pf.ends, nCat)
			stale := w.codes.stale(answered, was, pf.ends, nCat)
			// Partitions that moved since: their answers may be old. They
			// are not prefetched; decideAndEmit looks them up if the index
			// is current, and looks everything up if not.
			for _, k := range stale {
				delete(hits, k)
				delete(pf.keys, k)
			}
			for k, recs := range hits {
				codes[k] = recs
			}
			n := len(answered) - len(stale)
			w.m.codeCache.WithLabelValues("hit").Add(float64(n))
			w.m.codeCache.WithLabelValues("miss").Add(float64(len(list) - n))
		}
		pf.codes, pf.err = codes, errors.Join(endsErr, err)
	}()
	return pf
}

// decideAndEmit decides every order of the batch and appends the rows to
// attrib.attributions, then records them in the orders' states (Emitted).
//
// An order decided for the first time waits for the code index to catch
// up with its placed time (awaitIndex), then its codes are looked up for
// the whole batch in one round trip, and the winning codes' offers in a
// second: which offer is needed is known only once the codes are. The
// codes of the batch's placements were usually looked up already, while
// the states loaded (prefetch). Later rows repeat the first decision and
// need no lookup.
func (w *Worker) decideAndEmit(ctx context.Context, batchStart time.Time, b *eventstore.Batch, orders []*order, pf *prefetch, ps *partitionState, rt *int) error {
	codes, probe := attribution.CodeMap{}, &offerProbe{offers: attribution.OfferMap{}}
	brands := make(map[string]time.Time)
	var first []*order
	for _, o := range orders {
		if o.st.Placed() && o.st.EmittedVersion() == 0 && o.st.Version() > 0 {
			first = append(first, o)
			placed, _ := o.st.PlacedAt()
			if t, ok := brands[o.brandID]; !ok || placed.After(t) {
				brands[o.brandID] = placed
			}
		}
	}
	if pf != nil {
		pf.wait()
		*rt += pf.trips
	}
	if len(first) > 0 {
		need, err := w.catalogNeed(ctx, brands)
		if err != nil {
			return err
		}
		prefetched := pf != nil && pf.err == nil && pf.codes != nil && len(behindOf(pf.wm, need, pf.ends)) == 0
		if prefetched {
			w.m.indexWait.Observe(0)
			codes = pf.codes
		} else if err := w.awaitIndex(ctx, batchStart, need, rt); err != nil {
			return err
		}
		seen := make(map[attribution.CodeKey]bool)
		var keys []attribution.CodeKey
		var promo []string
		for _, o := range first {
			promo = o.st.AppendPromoCodes(promo[:0])
			for _, c := range promo {
				k := attribution.CodeKey{BrandID: o.brandID, Normalized: c}
				if c != "" && !seen[k] && !(prefetched && pf.keys[k]) {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		if len(keys) > 0 {
			*rt++
			more, err := w.index.LookupCodes(ctx, keys)
			if err != nil {
				return fmt.Errorf("look up codes: %w", err)
			}
			if !prefetched {
				codes = more
			} else {
				for k, recs := range more {
					codes[k] = recs
				}
			}
		}
		// The offers of the winning codes, in one round trip.
		var offers []attribution.OfferKey
		needed := make(map[attribution.OfferKey]bool)
		for _, o := range first {
			if k, ok := attribution.WinnerOffer(&o.st, codes); ok && !needed[k] {
				needed[k] = true
				offers = append(offers, k)
			}
		}
		if err := w.lookupOffers(ctx, probe, offers, rt); err != nil {
			return err
		}
	}

	var deadline time.Time
	for {
		var waiting []attribution.OfferKey
		var waitingOrder *order
		for _, o := range orders {
			probe.asked = probe.asked[:0]
			out, ok := attribution.Decide(&o.st, codes, probe)
			o.out = attribution.Outcome{}
			if ok {
				o.out = out
				if ps != nil && len(ps.pending) > 0 {
					// A retry of a batch whose rows were appended: the
					// same version must be the same row.
					if prev, ok := ps.pending[o.key]; ok && rowVersion(prev) == rowVersion(out.Event) {
						o.out.Event = prev
					}
				}
			} else if out.Wait == attribution.WaitOffer {
				waiting = append(waiting, probe.asked...)
				waitingOrder = o
			}
		}
		if len(waiting) == 0 {
			break
		}
		// The code is in the index but its offer is not (or its terms do
		// not parse): the index is mid-write or broken. Ask again until
		// IndexWait, then fail the batch: it is retried with backoff and
		// nothing is committed, so the order is decided as soon as the
		// offer is there and never without its terms.
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(w.wait)
		} else if !now.Before(deadline) {
			w.m.offerWaits.Inc()
			return fmt.Errorf("order %s/%s: the offer %s/%s of its winning code is not usable in the offer index after %v",
				waitingOrder.brandID, waitingOrder.orderID, waiting[0].BrandID, waiting[0].OfferID, w.wait)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
		if err := w.lookupOffers(ctx, probe, waiting, rt); err != nil {
			return err
		}
	}
	return w.emit(ctx, b, orders, ps)
}

// rowVersion returns the version of an attribution row (value or pointer);
// 0 for anything else.
func rowVersion(ev schemas.Event) uint64 {
	switch p := schemas.ValueOf(ev).(type) {
	case schemas.OrderAttributed:
		return p.Version
	case schemas.OrderEarningsAdjusted:
		return p.Version
	case schemas.OrderUnattributed:
		return p.Version
	}
	return 0
}

// lookupOffers adds the offers of keys to probe.offers, in one round trip.
func (w *Worker) lookupOffers(ctx context.Context, probe *offerProbe, keys []attribution.OfferKey, rt *int) error {
	if len(keys) == 0 {
		return nil
	}
	*rt++
	got, err := w.index.LookupOffers(ctx, keys)
	if err != nil {
		return fmt.Errorf("look up offers: %w", err)
	}
	for k, o := range got {
		probe.offers[k] = o
	}
	return nil
}

// emit appends the decided rows to attrib.attributions, keyed by order
// (appendRows), then records them in the states. Appending
// before the states are written means a crash in between emits the same
// rows (same versions, same content) again on redelivery, which the
// projections absorb by keeping the highest version.
func (w *Worker) emit(ctx context.Context, b *eventstore.Batch, orders []*order, ps *partitionState) error {
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
	envs := make([]schemas.Envelope, 0, len(orders))
	parts := make([]int, 0, len(orders))
	counts := make([]int, nAttr)
	var emitted []*order
	for _, o := range orders {
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
		var err error
		if o.rec, err = appendRowRecord(o.rec, o.out.Event); err != nil {
			return fmt.Errorf("order %s/%s: %w", o.brandID, o.orderID, err)
		}
		w.m.rows.WithLabelValues(o.out.Event.EventType()).Inc()
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
