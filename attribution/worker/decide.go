package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/attribution"
)

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
