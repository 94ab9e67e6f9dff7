package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// TestCodeCache: a code unknown to the index is answered from the code
// cache while the catalog does not move; once the code is confirmed (the
// brand's catalog partition moved), the next order with it is looked up
// again and attributed.
func TestCodeCache(t *testing.T) {
	t.Parallel()
	r := newRig(t, workerConfig(func(c *worker.Config) { c.HoldTick = time.Hour }))
	r.clock.Set(at(placedAt + time.Hour))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()

	ctx := context.Background()
	h, err := r.w.Handler()(ctx, eventstore.Assignment{Group: worker.Group, Topic: schemas.TopicOrders, Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(interface{ Close() error }).Close()
	batch := batcher(0)
	const fresh = "FRESH5"
	when := at(20 * time.Hour) // after the standard catalog's last event, before the new one
	handle := func(id string, placedAt time.Time) {
		t.Helper()
		if err := h.Handle(ctx, batch([]schemas.Envelope{placed(t, id, placedAt, "1000.00", fresh)})); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	hits := func() float64 {
		return counterWith(t, r.reg, "attrib_attribution_code_cache_total", "result", "hit")
	}
	// c-1 learns the watermarks, c-2 fills the cache, c-3 is answered by it.
	handle("c-1", when)
	handle("c-2", when)
	if got := hits(); got != 0 {
		t.Fatalf("code cache hits %v before any answer was cached, want 0", got)
	}
	handle("c-3", when)
	if got := hits(); got != 1 {
		t.Fatalf("code cache hits %v after c-3, want 1", got)
	}

	r.cat.do(at(21*time.Hour), catalog.RequestCode{BrandID: acme, OfferID: offerFixed, RequestID: "req-fresh", CreatorID: eve, Platform: "instagram"})
	r.cat.do(at(21*time.Hour+time.Minute), catalog.ConfirmCode{BrandID: acme, RequestID: "req-fresh", Code: fresh})
	r.waitIndex()
	misses := counterWith(t, r.reg, "attrib_attribution_code_cache_total", "result", "miss")
	handle("c-4", at(22*time.Hour))
	if got := hits(); got != 1 {
		t.Errorf("code cache hits %v after the catalog moved, want still 1", got)
	}
	if got := counterWith(t, r.reg, "attrib_attribution_code_cache_total", "result", "miss"); got != misses+1 {
		t.Errorf("code cache misses %v after the catalog moved, want %v", got, misses+1)
	}
	waitRows(t, r.store, map[string]want{
		"c-1": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"c-2": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"c-3": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"c-4": {typ: attributed, status: schemas.StatusPending, earnings: fixedPayout, version: 1, winner: fresh},
	}, 30*time.Second)
}
