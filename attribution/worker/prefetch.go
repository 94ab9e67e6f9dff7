package worker

import (
	"context"
	"errors"

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
