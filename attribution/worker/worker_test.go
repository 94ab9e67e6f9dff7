package worker_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

const (
	attributed   = "attributed" // order.attributed or order.earnings_adjusted: which depends on batching
	unattributed = schemas.TypeOrderUnattributed
)

func (w want) typeMatches(typ string) bool {
	if w.typ == attributed {
		return typ == schemas.TypeOrderAttributed || typ == schemas.TypeOrderEarningsAdjusted
	}
	return typ == w.typ
}

// scenario is the standard mix of orders: known, unknown, not yet active
// and revoked codes, fixed and percent offers, refunds, a cancellation,
// duplicates, a confirmation before its placement, several codes on one
// order, a Cyrillic look-alike. It returns the events and the final row
// each order must end with.
func scenario(t testing.TB) ([]schemas.Envelope, map[string]want) {
	p := at(placedAt)
	var evs []schemas.Envelope
	add := func(e ...schemas.Envelope) { evs = append(evs, e...) }
	add(placed(t, "o-fixed", p, "1000.00", "anna10"), confirmed(t, "o-fixed", p.Add(2*day)))
	add(placed(t, "o-pct", p, "2000.00", " Boris "), refunded(t, "o-pct", p.Add(time.Hour), "500.00"))
	add(placed(t, "o-unknown", p, "100.00", "NOPE"))
	add(placed(t, "o-notactive", p, "100.00", codeLate))
	add(placed(t, "o-revoked", p, "100.00", codeRevoked))
	add(placed(t, "o-cancel", p, "100.00", codeAnna), cancelled(t, "o-cancel", p.Add(time.Hour)))
	dupPlaced, dupConfirmed := placed(t, "o-dup", p, "300.00", codeAnna), confirmed(t, "o-dup", p.Add(day))
	add(dupPlaced, redelivered(dupPlaced), resent(dupPlaced), dupConfirmed, resent(dupConfirmed))
	add(confirmed(t, "o-ooo", p.Add(day)), placed(t, "o-ooo", p, "500.00", "boris"))
	add(placed(t, "o-nocode", p, "100.00"))
	add(placed(t, "o-multi", p, "1000.00", "NOPE", "boris", "anna10"))
	add(placed(t, "o-full", p, "700.00", codeBoris), refunded(t, "o-full", p.Add(time.Hour), "700.00"))
	add(placed(t, "o-cyr", p, "100.00", "\u0410NNA10")) // a Cyrillic А
	add(placed(t, "o-hold", p, "1000.00", codeHold))
	return evs, map[string]want{
		"o-fixed":     {typ: attributed, status: schemas.StatusApproved, earnings: "150.00", version: 2, winner: codeAnna},
		"o-pct":       {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 2, winner: codeBoris},
		"o-unknown":   {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"o-notactive": {typ: unattributed, reason: schemas.OutcomeCodeNotActive, version: 1},
		"o-revoked":   {typ: unattributed, reason: schemas.OutcomeCodeRevoked, version: 1},
		"o-cancel":    {typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 2, winner: codeAnna},
		"o-dup":       {typ: attributed, status: schemas.StatusApproved, earnings: "150.00", version: 2, winner: codeAnna},
		"o-ooo":       {typ: attributed, status: schemas.StatusApproved, earnings: "50.00", version: 2, winner: codeBoris},
		"o-nocode":    {typ: unattributed, reason: schemas.ReasonNoCode, version: 1},
		"o-multi":     {typ: attributed, status: schemas.StatusPending, earnings: "100.00", version: 1, winner: codeBoris},
		"o-full":      {typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 2, winner: codeBoris},
		"o-cyr":       {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1, winner: codeAnna},
		"o-hold":      {typ: attributed, status: schemas.StatusPending, earnings: "100.00", version: 1, winner: codeHold},
	}
}

// TestEndToEnd runs the scenario through the broker, the worker (with the
// real code index in Redis) and back from attrib.attributions.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.clock.Set(at(placedAt + time.Hour)) // no hold has ended
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	evs, wants := scenario(t)
	r.append(schemas.TopicOrders, evs...)
	r.runWorker()
	rows := waitRows(t, r.store, wants, 30*time.Second)

	// Every decision is explained: the passed-over and unknown codes of
	// o-multi are recorded with the winner.
	var multi schemas.OrderAttributed
	for _, rw := range rows["o-multi"] {
		if err := json.Unmarshal([]byte(rw.payload), &multi); err != nil {
			t.Fatal(err)
		}
	}
	var outcomes []string
	for _, c := range multi.Decision.Candidates {
		outcomes = append(outcomes, c.NormalizedCode+":"+c.Outcome)
	}
	if got, want := strings.Join(outcomes, " "), "NOPE:unknown_code BORIS:won ANNA10:passed_over"; got != want {
		t.Errorf("o-multi candidates = %s, want %s", got, want)
	}
	// One first row per order: an order is decided once.
	for id, rs := range rows {
		n := 0
		for _, rw := range rs {
			if rw.Type == schemas.TypeOrderAttributed {
				n++
			}
		}
		if n > 1 {
			t.Errorf("order %s attributed %d times", id, n)
		}
	}
	if got := counter(t, r.reg, "attrib_attribution_events_total"); got < float64(len(evs)) {
		t.Errorf("events counted %v, want at least %d", got, len(evs))
	}
	if got := counterWith(t, r.reg, "attrib_attribution_events_total", "result", "poison"); got != 0 {
		t.Errorf("poison events %v, want 0", got)
	}
	if got := counter(t, r.reg, "attrib_attribution_index_wait_timeouts_total"); got != 0 {
		t.Errorf("index wait timeouts %v, want 0", got)
	}
}

// TestLagSafety: the order is placed after its code was confirmed, but the
// index has not applied the confirmation when the worker reads the order
// (the projection starts a second later). The worker waits for the index
// and attributes the order.
func TestLagSafety(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cat.standardCatalog() // in the log, not yet in the index
	r.append(schemas.TopicOrders, placed(t, "o-lag", at(placedAt), "1000.00", codeAnna),
		placed(t, "o-lag-new", time.Now(), "1000.00", codeBoris))
	r.runWorker()
	time.Sleep(time.Second)
	if rows := readRows(t, r.store); len(rows) > 0 {
		t.Fatalf("rows emitted before the index caught up: %v", rows)
	}
	r.runProjection()
	waitRows(t, r.store, map[string]want{
		"o-lag":     {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1, winner: codeAnna},
		"o-lag-new": {typ: attributed, status: schemas.StatusPending, earnings: "100.00", version: 1, winner: codeBoris},
	}, 30*time.Second)
	if got := counter(t, r.reg, "attrib_attribution_index_wait_timeouts_total"); got != 0 {
		t.Errorf("index wait timeouts %v, want 0", got)
	}
	if got := sumOf(t, r.reg, "attrib_attribution_index_wait_seconds"); got < 0.5 {
		t.Errorf("index wait observed %.3fs in total, want the second the index was behind", got)
	}
}

// TestLagSafetyIsBounded: with no index at all, a batch waits IndexWait,
// then decides, and the timeout is counted.
func TestLagSafetyIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, workerConfig(func(c *worker.Config) { c.IndexWait = 300 * time.Millisecond }))
	r.cat.standardCatalog() // never applied: the projection does not run
	r.append(schemas.TopicOrders, placed(t, "o-lost", at(placedAt), "1000.00", codeAnna))
	r.runWorker()
	waitRows(t, r.store, map[string]want{
		"o-lost": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
	}, 30*time.Second)
	if got := counter(t, r.reg, "attrib_attribution_index_wait_timeouts_total"); got < 1 {
		t.Errorf("index wait timeouts %v, want at least 1", got)
	}
}

// TestHoldExpiry: an order of an offer with a one-day hold becomes
// approved through the order.hold_expired the worker emits once its clock
// passes the hold's end; a cancellation that occurred before the hold end
// still rejects it, even when it arrives after the expiry.
func TestHoldExpiry(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	p := at(placedAt)
	r.clock.Set(p.Add(time.Hour))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	r.append(schemas.TopicOrders,
		placed(t, "o-hold", p, "1000.00", codeHold),
		placed(t, "o-hold-cancel", p, "1000.00", codeHold), cancelled(t, "o-hold-cancel", p.Add(2*time.Hour)),
		placed(t, "o-hold-late", p, "1000.00", codeHold),
		placed(t, "o-nohold", p, "1000.00", codeAnna), // offer without hold: only the brand approves
	)
	r.runWorker()
	waitRows(t, r.store, map[string]want{
		"o-hold":        {typ: attributed, status: schemas.StatusPending, earnings: "100.00", version: 1},
		"o-hold-cancel": {typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 2},
		"o-hold-late":   {typ: attributed, status: schemas.StatusPending, earnings: "100.00", version: 1},
		"o-nohold":      {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1},
	}, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // several ticks: nothing is due yet
	if holds := holdEvents(t, r.store); len(holds) != 0 {
		t.Fatalf("hold expiries emitted before the hold ended: %v", holds)
	}

	r.clock.Set(p.Add(day + time.Minute))
	waitRows(t, r.store, map[string]want{
		"o-hold":        {typ: schemas.TypeOrderEarningsAdjusted, status: schemas.StatusApproved, earnings: "100.00", version: 2, cause: schemas.TypeOrderHoldExpired},
		"o-hold-cancel": {typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 2},
		"o-hold-late":   {typ: schemas.TypeOrderEarningsAdjusted, status: schemas.StatusApproved, earnings: "100.00", version: 2, cause: schemas.TypeOrderHoldExpired},
		"o-nohold":      {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1},
	}, 30*time.Second)
	holds := holdEvents(t, r.store)
	for _, id := range []string{"o-hold", "o-hold-late"} {
		env, ok := holds[id]
		if !ok {
			t.Errorf("no order.hold_expired for %s in attrib.orders", id)
			continue
		}
		if !env.OccurredAt.Equal(p.Add(day)) {
			t.Errorf("%s: hold expiry occurred at %v, want the hold end %v", id, env.OccurredAt, p.Add(day))
		}
	}
	if len(holds) != 2 {
		t.Errorf("hold expiries for %d orders, want 2", len(holds))
	}

	// A cancellation that occurred before the hold ended, arriving late.
	r.append(schemas.TopicOrders, cancelled(t, "o-hold-late", p.Add(12*time.Hour)))
	waitRows(t, r.store, map[string]want{
		"o-hold-late": {typ: schemas.TypeOrderEarningsAdjusted, status: schemas.StatusRejected, earnings: "0.00", version: 3, cause: schemas.TypeOrderCancelled},
	}, 30*time.Second)
	if d := dump(t, r.rdb, r.cfg.Prefix); strings.Contains(d, "hq:") {
		t.Errorf("holds still scheduled:\n%s", d)
	}
	if got := counter(t, r.reg, "attrib_attribution_holds_emitted_total"); got < 2 {
		t.Errorf("holds emitted %v, want at least 2", got)
	}
}

// holdEvents returns the order.hold_expired events in attrib.orders by
// order id.
func holdEvents(t testing.TB, s *eventstore.Store) map[string]schemas.Envelope {
	t.Helper()
	out := make(map[string]schemas.Envelope)
	h := eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			if m.Envelope.Type != schemas.TypeOrderHoldExpired {
				continue
			}
			ev, err := schemas.Decode(m.Envelope)
			if err != nil {
				t.Errorf("hold expiry at %d: %v", m.Offset, err)
				continue
			}
			out[ev.(*schemas.OrderHoldExpired).OrderID] = m.Envelope
		}
		return nil
	})
	if err := s.Replay(context.Background(), schemas.TopicOrders, h, eventstore.ReplayOptions{}); err != nil {
		t.Fatalf("read orders: %v", err)
	}
	return out
}

// TestPoison: a second placement with other facts, a refund whose amount
// is not a decimal and a catalog event on the orders topic go to the
// dead-letter topic with their reasons; the partition moves on.
func TestPoison(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	p := at(placedAt)
	badRefund := refunded(t, "o-p", p.Add(time.Hour), "1.00")
	badRefund.Payload = json.RawMessage(strings.Replace(string(badRefund.Payload), `"1.00"`, `"1.2.3"`, 1))
	foreign := r.cat.decide(at(time.Hour), catalog.RequestCode{BrandID: acme, OfferID: offerFixed, RequestID: "req-x", CreatorID: eve, Platform: "instagram"})[0]
	foreign.AggregateKey = schemas.OrderKey(acme, "o-p")
	r.append(schemas.TopicOrders,
		placed(t, "o-p", p, "1000.00", codeAnna),
		placed(t, "o-p", p, "2000.00", codeAnna), // the same order, other facts
		badRefund,
		foreign,
		confirmed(t, "o-p", p.Add(day)),
	)
	r.runWorker()
	waitRows(t, r.store, map[string]want{
		"o-p": {typ: attributed, status: schemas.StatusApproved, earnings: "150.00", version: 2},
	}, 30*time.Second)

	dlq := "attrib.dlq." + worker.Group
	var reasons []string
	deadline := time.Now().Add(30 * time.Second)
	for len(reasons) < 3 && time.Now().Before(deadline) {
		reasons = nil
		h := eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				reasons = append(reasons, eventstore.HeaderValue(m.Headers, eventstore.HeaderDLQReason))
			}
			return nil
		})
		if err := r.store.Replay(context.Background(), dlq, h, eventstore.ReplayOptions{}); err != nil {
			t.Fatalf("read %s: %v", dlq, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"a second placement with different facts", "refund_amount", "is not an order event"} {
		if !strings.Contains(all, want) {
			t.Errorf("no dead letter with reason %q; reasons:\n%s", want, all)
		}
	}
	if len(reasons) != 3 {
		t.Errorf("%d dead letters, want 3:\n%s", len(reasons), all)
	}
}

// TestRedisOutage: while the worker's Redis is unreachable it commits
// nothing and emits nothing; once it is back, every order ends with its
// expected row, and no version is emitted twice.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	r, evs, wants := scenarioRig(t)
	half := len(evs) / 2
	for half < len(evs) && evs[half].AggregateKey == evs[half-1].AggregateKey {
		half++ // keep each order's events on one side, so the first half's wants are known
	}
	first := map[string]want{}
	for _, env := range evs[:half] {
		id := strings.TrimPrefix(env.AggregateKey, acme+"/")
		first[id] = wants[id]
	}
	r.append(schemas.TopicOrders, evs[:half]...)
	r.runWorker()
	waitRows(t, r.store, first, 30*time.Second)
	r.waitCommitted()

	r.outage.Down.Store(true)
	r.append(schemas.TopicOrders, evs[half:]...)
	time.Sleep(1500 * time.Millisecond)
	lag, err := r.store.GroupLag(context.Background(), worker.Group, schemas.TopicOrders)
	if err != nil {
		t.Fatalf("group lag: %v", err)
	}
	behind := int64(0)
	for _, l := range lag {
		behind += l
	}
	if behind != int64(len(evs)-half) {
		t.Errorf("during the outage the group is %d events behind, want %d (nothing committed)", behind, len(evs)-half)
	}
	rows := readRows(t, r.store)
	for _, env := range evs[half:] {
		if id := strings.TrimPrefix(env.AggregateKey, acme+"/"); len(rows[id]) > 0 {
			t.Errorf("order %s got rows during the outage: %v", id, rows[id])
		}
	}

	r.outage.Down.Store(false)
	rows = waitRows(t, r.store, wants, 60*time.Second)
	for id, rs := range rows {
		seen := map[uint64]bool{}
		for _, rw := range rs {
			if seen[rw.Version] {
				t.Errorf("order %s: version %d emitted twice", id, rw.Version)
			}
			seen[rw.Version] = true
		}
	}
}

// scenarioRig makes a rig (with opts) with the standard catalog in the
// code index, its clock an hour after the scenario's orders, and returns
// the scenario.
func scenarioRig(t *testing.T, opts ...rigOption) (*rig, []schemas.Envelope, map[string]want) {
	t.Helper()
	r := newRig(t, opts...)
	r.clock.Set(at(placedAt + time.Hour))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	evs, wants := scenario(t)
	return r, evs, wants
}

// scenarioRun runs the worker over the scenario's events until every
// order has its final row, and stops it.
func scenarioRun(t *testing.T) (*rig, map[string]want) {
	t.Helper()
	r, evs, wants := scenarioRig(t)
	r.append(schemas.TopicOrders, evs...)
	stop := r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)
	stop()
	return r, wants
}

// TestRebuild: the state rebuilt from the log is the live state, key for
// key, and goes on making the same decisions.
func TestRebuild(t *testing.T) {
	t.Parallel()
	r, wants := scenarioRun(t)

	before := dump(t, r.rdb, r.cfg.Prefix)
	if !strings.Contains(before, "hq:") {
		t.Fatalf("no hold scheduled before the rebuild:\n%s", before)
	}
	calls := 0
	if err := r.w.Rebuild(context.Background(), func(eventstore.ReplayProgress) { calls++ }); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	after := dump(t, r.rdb, r.cfg.Prefix)
	if after != before {
		t.Errorf("state after rebuild differs\n--- before\n%s\n--- after\n%s", before, after)
	}
	if calls == 0 {
		t.Error("rebuild reported no progress")
	}

	// The rebuilt state goes on: new events extend the same decisions.
	r.runWorker()
	rows := goOn(t, r, wants)
	for id, rs := range rows {
		n := 0
		for _, rw := range rs {
			if rw.Type == schemas.TypeOrderAttributed {
				n++
			}
		}
		if n > 1 {
			t.Errorf("order %s attributed %d times", id, n)
		}
	}
}

// TestRoundTrips counts the Redis round trips of batches handled directly:
// two for the worker's state (load, write; one when the partition
// handler's cache has every state) and, for orders decided for the first
// time, two lookups (codes, overlapping the load, then offers), plus a
// watermark read and a second code lookup while the watermarks known do
// not show the index current.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	t.Run("cached", func(t *testing.T) { testRoundTrips(t, worker.DefaultStateCache, 1) })
	t.Run("no cache", func(t *testing.T) { testRoundTrips(t, -1, 2) })
}

// testRoundTrips is TestRoundTrips with a state cache of cacheSize, where
// a batch of confirmations of orders the handler has seen takes
// confirmState state round trips.
func testRoundTrips(t *testing.T, cacheSize int, confirmState int64) {
	t.Parallel()
	r := newRig(t, workerConfig(func(c *worker.Config) { c.HoldTick = time.Hour; c.StateCache = cacheSize }))
	r.clock.Set(at(placedAt + time.Hour))
	r.cat.standardCatalog()
	stopProj := r.runProjection()
	r.waitIndex()
	stopProj() // its writes would count on the index's client

	ctx := context.Background()
	// Set the connection up (go-redis sends its handshake commands on the
	// first command and again on the first pipeline).
	if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	h, err := r.w.Handler()(ctx, eventstore.Assignment{Group: worker.Group, Topic: schemas.TopicOrders, Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(interface{ Close() error }).Close()
	batch := batcher(0)
	codes := []string{codeAnna, codeBoris, "NOPE", codeRevoked, codeHold, "anna10"}
	orders := func(prefix string, when time.Time) []schemas.Envelope {
		var envs []schemas.Envelope
		for i := range 200 {
			envs = append(envs, placed(t, prefix+strconv.Itoa(i), when, "1000.00", codes[i%len(codes)]))
		}
		return envs
	}
	cases := []struct {
		name                 string
		envs                 []schemas.Envelope
		state, index, wmRead int64
	}{
		// Cold: the codes looked up while the states load cannot be used
		// (no watermark known before the lookup); the watermarks are read,
		// then the codes again.
		{name: "200 new orders, cold", envs: orders("a-", at(placedAt)), state: 2, index: 3, wmRead: 1},
		// Placed after the catalog's latest event: the catalog's end
		// offsets (a broker call) and the cached watermarks prove the
		// index current.
		{name: "200 new orders, warm", envs: orders("b-", at(20*time.Hour)), state: 2, index: 2, wmRead: 0},
		{name: "200 confirmations", envs: func() []schemas.Envelope {
			var envs []schemas.Envelope
			for i := range 200 {
				envs = append(envs, confirmed(t, "a-"+strconv.Itoa(i), at(placedAt+day)))
			}
			return envs
		}(), state: confirmState, index: 0, wmRead: 0},
	}
	for _, tc := range cases {
		r.workerRT.Reset()
		r.projRT.Reset()
		b := batch(tc.envs)
		if err := h.Handle(ctx, b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := r.workerRT.Total(); got != tc.state || r.workerRT.Pipelines.Load() != tc.state {
			t.Errorf("%s: worker state round trips %v, want %d pipelines", tc.name, r.workerRT, tc.state)
		}
		if r.projRT.Pipelines.Load() != tc.index || r.projRT.Commands.Load() != tc.wmRead {
			t.Errorf("%s: index round trips %v, want %d pipelines + %d commands", tc.name, r.projRT, tc.index, tc.wmRead)
		}
		t.Logf("%s: %d events, worker state %v, index %v", tc.name, len(tc.envs), r.workerRT, r.projRT)
	}
}

// hidingIndex is the real index, with its offers hidden until a time: as
// an index caught mid-write (in a Redis Cluster the code and the offer of
// one batch may land at different moments) would show them.
type hidingIndex struct {
	worker.Index
	until time.Time
}

func (h hidingIndex) LookupOffers(ctx context.Context, keys []attribution.OfferKey) (attribution.OfferMap, error) {
	if time.Now().Before(h.until) {
		return attribution.OfferMap{}, nil
	}
	return h.Index.LookupOffers(ctx, keys)
}

// TestOfferMissing: a winning code whose offer the index does not show
// fails the batch after IndexWait (it is retried, nothing is committed and
// nothing decided without the terms); once the offer shows, the order is
// attributed with its terms.
func TestOfferMissing(t *testing.T) {
	t.Parallel()
	r := newRig(t, workerConfig(func(c *worker.Config) {
		c.IndexWait = 100 * time.Millisecond
		c.Index = hidingIndex{Index: c.Index, until: time.Now().Add(1500 * time.Millisecond)}
	}))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	r.append(schemas.TopicOrders, placed(t, "o-offer", at(placedAt), "1000.00", codeAnna))
	r.runWorker()
	waitRows(t, r.store, map[string]want{
		"o-offer": {typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1, winner: codeAnna},
	}, 30*time.Second)
	if got := counter(t, r.reg, "attrib_attribution_offer_waits_total"); got < 1 {
		t.Errorf("offer waits %v, want at least 1", got)
	}
	if rows := readRows(t, r.store)["o-offer"]; len(rows) != 1 {
		t.Errorf("rows of o-offer: %v, want exactly one", rows)
	}
}

// laggingIndex is the real index with every code hidden until shown: an
// index that lags behind the catalog, then catches up.
type laggingIndex struct {
	worker.Index
	show *atomic.Bool
}

func (l laggingIndex) LookupCodes(ctx context.Context, keys []attribution.CodeKey) (attribution.CodeMap, error) {
	if !l.show.Load() {
		return attribution.CodeMap{}, nil
	}
	return l.Index.LookupCodes(ctx, keys)
}

// TestRetryRepeatsTheRow: a batch whose rows were appended but whose
// states could not be written is retried; if the index changed meanwhile
// (an order first decided while the index lagged, as after an index-wait
// timeout), the retry emits the same row again, not a second row with the
// same version.
func TestRetryRepeatsTheRow(t *testing.T) {
	t.Parallel()
	var show, arm atomic.Bool
	var r *rig
	r = newRig(t, workerConfig(func(c *worker.Config) {
		c.HoldTick = time.Hour
		c.Index = laggingIndex{Index: c.Index, show: &show}
		now := c.Now
		c.Now = func() time.Time {
			// Called once per batch, just before its rows are appended:
			// Redis goes down for the state write that follows.
			if arm.CompareAndSwap(true, false) {
				r.outage.Down.Store(true)
			}
			return now()
		}
	}))
	r.clock.Set(at(placedAt + time.Hour))
	r.cat.standardCatalog()
	stop := r.runProjection()
	r.waitIndex()
	stop()

	ctx := context.Background()
	h, err := r.w.Handler()(ctx, eventstore.Assignment{Group: worker.Group, Topic: schemas.TopicOrders, Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(interface{ Close() error }).Close()
	env := placed(t, "o-retry", at(placedAt), "1000.00", codeAnna)
	raw, _ := json.Marshal(env)
	batch := func() *eventstore.Batch {
		return &eventstore.Batch{Topic: schemas.TopicOrders, Partition: 0, Messages: []eventstore.Message{
			{Topic: schemas.TopicOrders, Key: []byte(env.AggregateKey), Value: raw, Envelope: env},
		}}
	}
	arm.Store(true)
	if err := h.Handle(ctx, batch()); err == nil {
		t.Fatal("the batch succeeded although Redis was down for its state write")
	}
	r.outage.Down.Store(false)
	show.Store(true) // the index caught up
	if err := h.Handle(ctx, batch()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	rows := readRows(t, r.store)
	if got := rows["o-retry"]; len(got) != 2 || got[0].Type != unattributed || got[0].Version != 1 {
		t.Fatalf("rows %v, want the first unattributed row of version 1 twice", got)
	}
	final(t, rows) // fails on two different rows of one version

	// The retry stored the row it repeated: a later event goes on from it.
	if err := h.Handle(ctx, &eventstore.Batch{Topic: schemas.TopicOrders, Partition: 0, Messages: []eventstore.Message{
		func() eventstore.Message {
			c := confirmed(t, "o-retry", at(placedAt+day))
			return eventstore.Message{Topic: schemas.TopicOrders, Offset: 1, Key: []byte(c.AggregateKey), Envelope: c}
		}(),
	}}); err != nil {
		t.Fatal(err)
	}
	rows = readRows(t, r.store)
	if got := final(t, rows)["o-retry"]; got.Type != unattributed || got.Version != 2 || got.Reason != schemas.OutcomeUnknownCode {
		t.Errorf("after the confirmation: %v, want unattributed v2 (unknown_code)", got)
	}
}

// goOn appends later events of three orders of the scenario, after the
// worker (running) decided them, and waits for their rows. Meanwhile NOPE,
// the unknown code of o-unknown, is issued: deciding o-unknown again would
// now say code_not_active; it must stay unknown_code, the decision in its
// rows.
func goOn(t *testing.T, r *rig, wants map[string]want) map[string][]row {
	t.Helper()
	p := at(placedAt)
	r.cat.do(at(11*time.Hour), catalog.RequestCode{BrandID: acme, OfferID: offerFixed, RequestID: "req-nope", CreatorID: eve, Platform: "instagram"})
	r.cat.do(at(11*time.Hour+time.Minute), catalog.ConfirmCode{BrandID: acme, RequestID: "req-nope", Code: "NOPE"})
	r.waitIndex()
	r.append(schemas.TopicOrders,
		confirmed(t, "o-pct", p.Add(3*day)),
		refunded(t, "o-cyr", p.Add(day), "100.00"),
		confirmed(t, "o-unknown", p.Add(day)),
	)
	return waitRows(t, r.store, map[string]want{
		"o-pct":     {typ: schemas.TypeOrderEarningsAdjusted, status: schemas.StatusApproved, earnings: "150.00", version: 3, winner: codeBoris},
		"o-cyr":     {typ: schemas.TypeOrderEarningsAdjusted, status: schemas.StatusRejected, earnings: "0.00", version: 2, winner: codeAnna},
		"o-unknown": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 2},
		"o-fixed":   wants["o-fixed"],
	}, 30*time.Second)
}

// TestStatesStoredInFormerForms: states stored in the former forms (a
// string of records, each event's envelope and the last row; before it a
// hash of e:<offset> fields and a row field) are read, go on making the
// same decisions, and are replaced by snapshots once their order is
// touched; those snapshots are what a rebuild from the log stores.
func TestStatesStoredInFormerForms(t *testing.T) {
	t.Parallel()
	r, wants := scenarioRun(t)
	ctx := context.Background()

	// Each order's events with their offsets, and its last row, from the
	// log.
	type former struct {
		offsets []int64
		events  []schemas.Envelope
		row     schemas.Event
		version uint64
	}
	orders := map[string]*former{}
	get := func(brandID, orderID string) *former {
		k := r.cfg.Prefix + "order:" + rediskey.Seg(brandID) + ":" + rediskey.Seg(orderID)
		if orders[k] == nil {
			orders[k] = &former{}
		}
		return orders[k]
	}
	replay := func(topic string, f func(m eventstore.Message, ev schemas.Event)) {
		h := eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				ev, err := schemas.DecodeTrusted(m.Envelope)
				if err != nil {
					return err
				}
				f(m, ev)
			}
			return nil
		})
		if err := r.store.Replay(ctx, topic, h, eventstore.ReplayOptions{}); err != nil {
			t.Fatalf("replay %s: %v", topic, err)
		}
	}
	replay(schemas.TopicOrders, func(m eventstore.Message, ev schemas.Event) {
		brandID, orderID := orderOf(ev)
		o := get(brandID, orderID)
		o.offsets = append(o.offsets, m.Offset)
		o.events = append(o.events, m.Envelope)
	})
	replay(schemas.TopicAttributions, func(m eventstore.Message, ev schemas.Event) {
		brandID, orderID := orderOf(ev)
		o := get(brandID, orderID)
		if v := versionOf(ev); o.row == nil || v >= o.version {
			o.row, o.version = ev, v
		}
	})
	keys, err := r.rdb.Keys(ctx, r.cfg.Prefix+"order:*").Result()
	if err != nil || len(keys) != len(wants) || len(orders) != len(wants) {
		t.Fatalf("order keys: %d (%v), orders in the log %d, want %d", len(keys), err, len(orders), len(wants))
	}
	slices.Sort(keys)
	for i, k := range keys {
		o := orders[k]
		if o == nil || o.row == nil {
			t.Fatalf("no events or row in the log for %s", k)
		}
		if err := r.rdb.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			fields, err := worker.FormerHash(o.offsets, o.events, o.row)
			if err == nil {
				err = r.rdb.HSet(ctx, k, fields...).Err()
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		v, err := worker.FormerString(o.offsets, o.events, o.row)
		if err == nil {
			err = r.rdb.Set(ctx, k, v, 0).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	stop := r.runWorker()
	goOn(t, r, wants)
	r.waitCommitted()
	stop()

	touched := map[string]string{}
	for _, k := range keys {
		isTouched := strings.HasSuffix(k, ":o-pct") || strings.HasSuffix(k, ":o-cyr") || strings.HasSuffix(k, ":o-unknown")
		v, err := r.rdb.Get(ctx, k).Result()
		if isTouched {
			if err != nil || !attribution.IsSnapshot([]byte(v)) {
				t.Errorf("%s was touched but is not a snapshot (%v)", k, err)
			}
			touched[k] = v
			continue
		}
		if err == nil && attribution.IsSnapshot([]byte(v)) {
			t.Errorf("%s was not touched but is a snapshot", k)
		}
	}
	if len(touched) != 3 {
		t.Errorf("%d states touched, want 3", len(touched))
	}
	if err := r.w.Rebuild(ctx, nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	for k, v := range touched {
		if got, err := r.rdb.Get(ctx, k).Result(); err != nil || got != v {
			t.Errorf("%s: the migrated snapshot differs from the rebuilt one (%v)\n%x\n%x", k, err, v, got)
		}
	}
}

// orderOf returns the order of an order event or attribution row.
func orderOf(ev schemas.Event) (brandID, orderID string) {
	switch p := ev.(type) {
	case *schemas.OrderPlaced:
		return p.BrandID, p.OrderID
	case *schemas.OrderConfirmed:
		return p.BrandID, p.OrderID
	case *schemas.OrderCancelled:
		return p.BrandID, p.OrderID
	case *schemas.OrderRefunded:
		return p.BrandID, p.OrderID
	case *schemas.OrderHoldExpired:
		return p.BrandID, p.OrderID
	case *schemas.OrderAttributed:
		return p.BrandID, p.OrderID
	case *schemas.OrderEarningsAdjusted:
		return p.BrandID, p.OrderID
	case *schemas.OrderUnattributed:
		return p.BrandID, p.OrderID
	}
	return "", ""
}

// versionOf returns an attribution row's version.
func versionOf(ev schemas.Event) uint64 {
	switch p := ev.(type) {
	case *schemas.OrderAttributed:
		return p.Version
	case *schemas.OrderEarningsAdjusted:
		return p.Version
	case *schemas.OrderUnattributed:
		return p.Version
	}
	return 0
}

// TestRedisLostWrites: when Redis comes back without writes it had
// acknowledged (a crash of its machine within appendfsync's second, or a
// restore of an older backup), the worker's states are behind the
// offsets its group committed. The worker reads the partitions again from
// its applied offsets, so that the states, and the rows, end as if
// nothing had been lost.
func TestRedisLostWrites(t *testing.T) {
	t.Parallel()
	r, evs, wants := scenarioRig(t)
	half := len(evs) / 2
	ctx := context.Background()

	r.append(schemas.TopicOrders, evs[:half]...)
	stop := r.runWorker()
	r.waitCommitted()
	stop()
	// A backup of the worker's keys as they are now.
	keys, err := r.rdb.Keys(ctx, r.cfg.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v (%d)", err, len(keys))
	}
	backup := map[string]string{}
	for _, k := range keys {
		v, err := r.rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("dump %s: %v", k, err)
		}
		backup[k] = v
	}
	if !strings.Contains(dump(t, r.rdb, r.cfg.Prefix), "applied:") {
		t.Fatal("no applied offset stored")
	}

	r.append(schemas.TopicOrders, evs[half:]...)
	stop = r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitCommitted()
	stop()
	whole := dump(t, r.rdb, r.cfg.Prefix)

	// Redis comes back with the backup: the second half's writes are lost,
	// though the group committed them.
	if err := r.w.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	for k, v := range backup {
		if err := r.rdb.Restore(ctx, k, 0, v).Err(); err != nil {
			t.Fatalf("restore %s: %v", k, err)
		}
	}
	if dump(t, r.rdb, r.cfg.Prefix) == whole {
		t.Fatal("the backup is the whole state")
	}
	rewinds := counter(t, r.reg, "attrib_attribution_state_rewinds_total")
	stop = r.runWorker()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := dump(t, r.rdb, r.cfg.Prefix)
		if got == whole {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state did not come back after 30s\n--- want\n%s\n--- got\n%s", whole, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := counter(t, r.reg, "attrib_attribution_state_rewinds_total") - rewinds; n == 0 {
		t.Error("no rewind counted")
	}
	// The rows emitted again are the rows of before (final checks that a
	// version is one row), and the final rows are unchanged.
	waitRows(t, r.store, wants, 30*time.Second)
}
