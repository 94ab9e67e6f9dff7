package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

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
	wm    map[int]Watermark
	codes attribution.CodeMap
	trips int // Redis round trips
	// cacheHits and cacheMisses count the codes the code cache answered
	// and those it did not, when it could be asked (counted).
	cacheHits, cacheMisses int
	counted                bool
	err                    error
}

// wait waits for the prefetch to end (nil: nothing to wait for).
func (pf *prefetch) wait() {
	if pf != nil {
		<-pf.done
	}
}

// startPrefetch starts the prefetch of a batch with placements (nil for a
// batch without).
func (w *Worker) startPrefetch(ctx context.Context, b *batch) *prefetch {
	keys := make(map[attribution.CodeKey]bool)
	for _, o := range b.orders {
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
		pf.ends, endsErr = w.lag.catalogEnds(ctx, w.store, b.start)
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
			// are not prefetched; decide looks them up if the index is
			// current, and looks everything up if not.
			for _, k := range stale {
				delete(hits, k)
				delete(pf.keys, k)
			}
			for k, recs := range hits {
				codes[k] = recs
			}
			pf.cacheHits = len(answered) - len(stale)
			pf.cacheMisses = len(list) - pf.cacheHits
			pf.counted = true
		}
		pf.codes, pf.err = codes, errors.Join(endsErr, err)
	}()
	return pf
}

// decide decides every order of the batch into o.out.
//
// An order decided for the first time waits for the code index to catch
// up with its placed time (awaitIndex), then its codes are looked up for
// the whole batch in one round trip (usually done already by the
// prefetch), each resolved once (attribution.Resolve), and the offers of
// the winning codes looked up in a second: which offer is needed is known
// only once the codes are. Later rows repeat the first decision and need no
// lookup.
func (w *Worker) decide(ctx context.Context, b *batch, pf *prefetch) error {
	var first []*order
	brands := make(map[string]time.Time)
	for _, o := range b.orders {
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
		b.stats.roundTrips += pf.trips
		if pf.counted {
			b.stats.codeHits, b.stats.codeMisses, b.stats.codesCounted = pf.cacheHits, pf.cacheMisses, true
		}
	}
	offers := attribution.OfferMap{}
	if len(first) > 0 {
		codes, err := w.firstCodes(ctx, b, first, brands, pf)
		if err != nil {
			return err
		}
		var need []attribution.OfferKey
		needed := make(map[attribution.OfferKey]bool)
		resolved := make([]attribution.Resolution, len(first))
		for i, o := range first {
			resolved[i] = attribution.Resolve(&o.st, codes)
			o.res = &resolved[i]
			if k, ok := o.res.Offer(); ok && !needed[k] {
				needed[k] = true
				need = append(need, k)
			}
		}
		if err := w.lookupOffers(ctx, b, offers, need); err != nil {
			return err
		}
	}

	var deadline time.Time
	for {
		var waiting []attribution.OfferKey
		var waitingOrder *order
		for _, o := range b.orders {
			out, ok := attribution.DecideResolved(&o.st, o.res, offers)
			o.out = attribution.Outcome{}
			if ok {
				o.out = out
				if b.ps != nil && len(b.ps.pending) > 0 {
					// A retry of a batch whose rows were appended: the
					// same version must be the same row.
					if prev, ok := b.ps.pending[o.key]; ok && rowVersion(prev) == rowVersion(out.Event) {
						o.out.Event = prev
					}
				}
			} else if out.Wait == attribution.WaitOffer {
				k, _ := o.res.Offer()
				waiting = append(waiting, k)
				waitingOrder = o
			}
		}
		if len(waiting) == 0 {
			return nil
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
			b.stats.offerTimedOut = true
			return fmt.Errorf("order %s/%s: the offer %s/%s of its winning code is not usable in the offer index after %v",
				waitingOrder.brandID, waitingOrder.orderID, waiting[0].BrandID, waiting[0].OfferID, w.wait)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
		if err := w.lookupOffers(ctx, b, offers, waiting); err != nil {
			return err
		}
	}
}

// firstCodes returns the code records the first decisions of orders need
// (brands: each brand's latest placed time among them), once the index is
// safe for them: the prefetched codes if the watermarks known before the
// prefetch already showed it safe, plus a lookup of the codes the prefetch
// left out; else, after awaitIndex, a lookup of all of them.
func (w *Worker) firstCodes(ctx context.Context, b *batch, orders []*order, brands map[string]time.Time, pf *prefetch) (attribution.CodeMap, error) {
	need, err := w.catalogNeed(ctx, brands)
	if err != nil {
		return nil, err
	}
	codes := attribution.CodeMap{}
	prefetched := pf != nil && pf.err == nil && pf.codes != nil && len(behindOf(pf.wm, need, pf.ends)) == 0
	if prefetched {
		b.stats.indexWaited, b.stats.indexWait = true, 0
		codes = pf.codes
	} else if err := w.awaitIndex(ctx, b, need); err != nil {
		return nil, err
	}
	seen := make(map[attribution.CodeKey]bool)
	var keys []attribution.CodeKey
	var promo []string
	for _, o := range orders {
		promo = o.st.AppendPromoCodes(promo[:0])
		for _, c := range promo {
			k := attribution.CodeKey{BrandID: o.brandID, Normalized: c}
			if c != "" && !seen[k] && !(prefetched && pf.keys[k]) {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return codes, nil
	}
	b.stats.roundTrips++
	more, err := w.index.LookupCodes(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("look up codes: %w", err)
	}
	if !prefetched {
		return more, nil
	}
	for k, recs := range more {
		codes[k] = recs
	}
	return codes, nil
}

// lookupOffers adds the offers of keys to offers, in one round trip.
func (w *Worker) lookupOffers(ctx context.Context, b *batch, offers attribution.OfferMap, keys []attribution.OfferKey) error {
	if len(keys) == 0 {
		return nil
	}
	b.stats.roundTrips++
	got, err := w.index.LookupOffers(ctx, keys)
	if err != nil {
		return fmt.Errorf("look up offers: %w", err)
	}
	for k, o := range got {
		offers[k] = o
	}
	return nil
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
