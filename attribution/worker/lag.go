package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// pollInterval is how often a waiting batch asks the index for its
// watermarks again.
const pollInterval = 20 * time.Millisecond

// lagTracker remembers the index's catalog watermarks and the catalog
// topic's end offsets, shared by every partition handler of a worker.
//
// Watermarks only move forward, so a watermark seen earlier is still a true
// lower bound: a batch first checks the ones it has, and asks Redis only
// when they do not prove the index has caught up.
//
// End offsets prove something only if they were read after the batch's
// events were: an order event read at time t was appended before t, and a
// code confirmed before the order was placed was appended (and emailed to
// its creator, who shared it) before that, so any end offset read after t
// covers it. catalogEnds therefore answers a batch only with a fetch that
// started after the batch did; concurrent handlers share such a fetch
// instead of each making their own.
type lagTracker struct {
	mu     sync.Mutex
	wm     map[int]Watermark
	ends   []int64   // next offset of each catalog partition (index = partition)
	endsAt time.Time // when the fetch of ends started
	flight *boundsFetch
}

type boundsFetch struct {
	started time.Time
	done    chan struct{}
	ends    []int64
	err     error
}

func (l *lagTracker) init() { l.wm = make(map[int]Watermark) }

// merge records watermarks read from the index.
func (l *lagTracker) merge(wms map[int]Watermark) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, w := range wms {
		old := l.wm[p]
		if w.Offset > old.Offset {
			old.Offset = w.Offset
		}
		if w.OccurredAt.After(old.OccurredAt) {
			old.OccurredAt = w.OccurredAt
		}
		l.wm[p] = old
	}
}

// behind returns the catalog partitions among need (partition -> latest
// placed time of the orders to decide there) for which the index is not
// known to be safe by the watermarks it has seen; see behindOf.
func (l *lagTracker) behind(need map[int]time.Time, ends []int64) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return behindOf(l.wm, need, ends)
}

// behindOf returns the partitions of need for which the watermarks wm do
// not show the index safe: it has applied no event that occurred after the
// placed time, and (with ends) it has not applied everything up to the
// partition's end. Occurred-at alone is exact when the catalog writer's
// clock is monotonic per partition (strictly after, since a confirmation
// at the very placed time counts); the end offsets are what decide live
// orders, which are newer than the catalog's latest event.
func behindOf(wm map[int]Watermark, need map[int]time.Time, ends []int64) []int {
	var out []int
	for p, placed := range need {
		w := wm[p]
		if w.OccurredAt.After(placed) {
			continue
		}
		if ends != nil && p < len(ends) && w.Offset >= ends[p] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// known returns a copy of the watermarks seen so far.
func (l *lagTracker) known() map[int]Watermark {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]Watermark, len(l.wm))
	for p, w := range l.wm {
		out[p] = w
	}
	return out
}

// lastEnds returns the last end offsets of the catalog partitions read
// (nil if none yet): a lower bound of the current ones.
func (l *lagTracker) lastEnds() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ends
}

// catalogEnds returns the end offsets of the catalog partitions as read by
// a fetch that started at or after after.
func (l *lagTracker) catalogEnds(ctx context.Context, store *eventstore.Store, after time.Time) ([]int64, error) {
	l.mu.Lock()
	if l.ends != nil && !l.endsAt.Before(after) {
		ends := l.ends
		l.mu.Unlock()
		return ends, nil
	}
	if f := l.flight; f != nil && !f.started.Before(after) {
		l.mu.Unlock()
		select {
		case <-f.done:
			return f.ends, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &boundsFetch{started: time.Now(), done: make(chan struct{})}
	l.flight = f
	l.mu.Unlock()

	bounds, err := store.Bounds(ctx, schemas.TopicCatalog)
	var ends []int64
	if err == nil {
		for _, b := range bounds {
			for len(ends) <= b.Partition {
				ends = append(ends, 0)
			}
			ends[b.Partition] = b.End
		}
	} else {
		err = fmt.Errorf("catalog bounds: %w", err)
	}
	l.mu.Lock()
	if err == nil && (l.ends == nil || f.started.After(l.endsAt)) {
		l.ends, l.endsAt = ends, f.started
	}
	if l.flight == f {
		l.flight = nil
	}
	l.mu.Unlock()
	f.ends, f.err = ends, err
	close(f.done)
	return ends, err
}

// snapshot returns the watermarks of the given partitions, for logs.
func (l *lagTracker) snapshot(parts []int) map[int]Watermark {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]Watermark, len(parts))
	for _, p := range parts {
		out[p] = l.wm[p]
	}
	return out
}

// catalogNeed maps the brands of orders to decide for the first time
// (brand -> latest placed time) to their catalog partitions (partition ->
// latest placed time).
func (w *Worker) catalogNeed(ctx context.Context, brands map[string]time.Time) (map[int]time.Time, error) {
	n, err := w.partitions(ctx, schemas.TopicCatalog)
	if err != nil {
		return nil, err
	}
	need := make(map[int]time.Time)
	for brand, placed := range brands {
		p := eventstore.PartitionOf(brand, n)
		if t, ok := need[p]; !ok || placed.After(t) {
			need[p] = placed
		}
	}
	return need, nil
}

// awaitIndex returns once the code index is safe for deciding, for the
// first time, orders placed in the given catalog partitions up to the
// given times (see catalogNeed): for each partition, the index has applied
// an event that occurred after the placed time, or every event the
// partition held after the batch started. It waits
// up to IndexWait, polling the index's watermarks; then it returns anyway
// (counted in attrib_attribution_index_wait_timeouts_total and logged). An
// error is an outage: the batch must be retried.
func (w *Worker) awaitIndex(ctx context.Context, b *batch, need map[int]time.Time) error {
	start := time.Now()
	waited := func() {
		b.stats.indexWaited, b.stats.indexWait = true, time.Since(start)
	}
	if len(w.lag.behind(need, nil)) == 0 {
		b.stats.indexWaited, b.stats.indexWait = true, 0
		return nil
	}
	ends, err := w.lag.catalogEnds(ctx, w.store, b.start)
	if err != nil {
		return err
	}
	if len(w.lag.behind(need, ends)) == 0 {
		waited()
		return nil
	}
	deadline := start.Add(w.wait)
	for {
		wms, err := w.index.Watermarks(ctx)
		b.stats.roundTrips++
		if err != nil {
			return fmt.Errorf("index watermarks: %w", err)
		}
		w.lag.merge(wms)
		behind := w.lag.behind(need, ends)
		if len(behind) == 0 {
			waited()
			return nil
		}
		if !time.Now().Before(deadline) {
			waited()
			b.stats.indexTimedOut = true
			wm := w.lag.snapshot(behind)
			for _, p := range behind {
				end := int64(-1)
				if p < len(ends) {
					end = ends[p]
				}
				w.log.Error("code index still behind after the wait; deciding anyway: first decisions of this batch may miss codes confirmed just before their orders",
					"catalog_partition", p, "index_offset", wm[p].Offset, "catalog_end", end,
					"index_occurred_at", wm[p].OccurredAt, "placed_up_to", need[p], "waited", w.wait)
			}
			return nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
