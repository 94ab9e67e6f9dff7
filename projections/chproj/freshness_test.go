package chproj_test

import (
	"context"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// TestFreshnessIsReadYourWrites: with an upstream consumer between the
// log and the projection (as the attribution worker is), Wait reports the
// tables fresh only once an event appended before it has gone through the
// upstream and the projector, so a read after Wait sees it; while the
// upstream is down, Wait gives up after MaxWait and says so.
func TestFreshnessIsReadYourWrites(t *testing.T) {
	const upstreamGroup = "fresh-upstream"
	r := newRig(t, 3)
	ctx := context.Background()
	if err := r.store.EnsureTopics(ctx, eventstore.TopicSpec{Name: schemas.TopicOrders}); err != nil {
		t.Fatal(err)
	}
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchWait = 10 * time.Millisecond })
	f, err := chproj.NewFreshness(chproj.FreshnessConfig{
		Store: r.store, Watermarks: p.Watermarks, MaxWait: 700 * time.Millisecond, Interval: 10 * time.Millisecond, Logger: testLogger(),
		Upstream: []chproj.Upstream{{Group: upstreamGroup, Topic: schemas.TopicOrders, Output: schemas.TopicAttributions}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("freshness: %v", err)
		}
	})

	// Nothing appended yet: fresh at once.
	if asOf, ok := f.Wait(ctx, time.Now()); !ok || asOf.IsZero() {
		t.Fatalf("empty log: Wait = %v %v, want fresh", asOf, ok)
	}

	// The upstream is down: an order appended now is not in the tables,
	// and Wait says so after MaxWait.
	r.append(schemas.TopicOrders, order{brand: "b", id: "O-1", creator: "c", status: schemas.StatusPending, earnings: "5.00", version: 1}.envelope(t))
	start := time.Now()
	asOf, ok := f.Wait(ctx, time.Now())
	if ok || !asOf.Before(start) {
		t.Fatalf("upstream down: Wait = %v %v, want stale (before %v)", asOf, ok, start)
	}
	if waited := time.Since(start); waited < 600*time.Millisecond || waited > 5*time.Second {
		t.Errorf("Wait gave up after %v, want about MaxWait (700ms)", waited)
	}

	// The upstream forwards each order to the attribution topic, as the
	// worker does; the projector projects it.
	kafkatest.RunSubscriber(t, r.store, eventstore.SubscriberConfig{
		Group: upstreamGroup, Topics: []string{schemas.TopicOrders},
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
			envs := make([]schemas.Envelope, 0, len(b.Messages))
			for _, m := range b.Messages {
				envs = append(envs, m.Envelope)
			}
			return r.store.Append(ctx, schemas.TopicAttributions, envs...)
		})),
	})
	r.run(p)

	for i, id := range []string{"O-1", "O-2", "O-3"} {
		if i > 0 {
			r.append(schemas.TopicOrders, order{brand: "b", id: id, creator: "c", status: schemas.StatusPending, earnings: "5.00", version: 1}.envelope(t))
		}
		// Read your write: once Wait says fresh, the order is in the table.
		since := time.Now()
		asOf, ok := f.Wait(ctx, since)
		for !ok && time.Since(since) < 30*time.Second { // the group's first join takes a while
			asOf, ok = f.Wait(ctx, since)
		}
		if !ok || asOf.Before(since) {
			t.Fatalf("%s: Wait = %v %v, want fresh as of %v", id, asOf, ok, since)
		}
		if _, in := ordersFinal(t, conn, db)[id]; !in {
			t.Fatalf("%s: Wait said fresh, but the order is not in the table", id)
		}
	}
}
