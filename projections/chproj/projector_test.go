package chproj_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// catalogEvents is a small catalog history of brand b1.
func catalogEvents(t *testing.T) []schemas.Envelope {
	renamed := "Winter sale 2026"
	newPayout := schemas.Payout{Type: schemas.PayoutPercent, Value: "12", Currency: "RUB"}
	return []schemas.Envelope{
		envelope(t, schemas.BrandRegistered{BrandID: "b1", Name: "Acme Cosmetics", APIKeyHash: strings.Repeat("a", 64), WebhookSecretSalt: "salt"}, t0),
		envelope(t, schemas.OfferPublished{OfferID: "offer-1", BrandID: "b1", Name: "Winter sale", Payout: schemas.Payout{Type: schemas.PayoutPercent, Value: "10", Currency: "RUB"},
			Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 30, Status: schemas.OfferActive}, t0.Add(time.Minute)),
		envelope(t, schemas.OfferChanged{OfferID: "offer-1", BrandID: "b1", Name: &renamed}, t0.Add(2*time.Minute)),
		envelope(t, schemas.OfferChanged{OfferID: "offer-1", BrandID: "b1", Payout: &newPayout}, t0.Add(3*time.Minute)),
		envelope(t, schemas.CodeRequested{RequestID: "req-1", BrandID: "b1", OfferID: "offer-1", CreatorID: "c1", Platform: "instagram"}, t0.Add(4*time.Minute)),
		envelope(t, schemas.CodeConfirmed{RequestID: "req-1", BrandID: "b1", OfferID: "offer-1", CreatorID: "c1", Platform: "instagram", Code: "anna10", NormalizedCode: "ANNA10"}, t0.Add(5*time.Minute)),
		envelope(t, schemas.CodeRequested{RequestID: "req-2", BrandID: "b1", OfferID: "offer-1", CreatorID: "c2", Platform: "tiktok"}, t0.Add(6*time.Minute)),
		envelope(t, schemas.CodeRejected{RequestID: "req-2", BrandID: "b1", OfferID: "offer-1", CreatorID: "c2", Reason: "audience too small"}, t0.Add(7*time.Minute)),
		envelope(t, schemas.CodeRequested{RequestID: "req-3", BrandID: "b1", OfferID: "offer-1", CreatorID: "c3", Platform: "vk"}, t0.Add(8*time.Minute)),
		envelope(t, schemas.CodeRevoked{BrandID: "b1", RequestID: "req-1", Code: "anna10", NormalizedCode: "ANNA10"}, t0.Add(9*time.Minute)),
	}
}

func principals(t *testing.T) []schemas.Envelope {
	return []schemas.Envelope{
		envelope(t, schemas.CreatorRegistered{CreatorID: "c1", Name: "Anna", Email: "anna@example.com", TokenHash: strings.Repeat("b", 64)}, t0),
		envelope(t, schemas.AnalystRegistered{AnalystID: "a1", Name: "Ops", TokenHash: strings.Repeat("c", 64)}, t0),
		// Rotations change no read model, and are no poison either.
		envelope(t, schemas.CreatorTokenRotated{CreatorID: "c1", Name: "Anna", TokenHash: strings.Repeat("d", 64), PreviousTokenHash: strings.Repeat("b", 64)}, t0),
		envelope(t, schemas.AnalystTokenRotated{AnalystID: "a1", Name: "Ops", TokenHash: strings.Repeat("e", 64), PreviousTokenHash: strings.Repeat("c", 64)}, t0),
		envelope(t, schemas.BrandAPIKeyRotated{BrandID: "b1", Name: "Acme Cosmetics", APIKeyHash: strings.Repeat("f", 64), PreviousAPIKeyHash: strings.Repeat("a", 64)}, t0),
		envelope(t, schemas.BrandWebhookSecretRotated{BrandID: "b1", WebhookSecretSalt: "salt2", PreviousWebhookSecretSalt: "salt"}, t0),
		envelope(t, schemas.ConnectorSet{BrandID: "b1", Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed", SecretFingerprint: strings.Repeat("0", 64)}, t0),
		envelope(t, schemas.ConnectorRemoved{BrandID: "b1", Platform: "shopify"}, t0),
	}
}

// poison returns envelopes the projection must dead-letter: an unknown
// type, an order event on the attributions topic, and an amount that does
// not fit the money columns exactly.
func poison(t *testing.T) []schemas.Envelope {
	unknown := schemas.Envelope{EventID: schemas.NewEventID(), Type: "order.teleported", SchemaVersion: 1, AggregateKey: "b1/X",
		OccurredAt: t0, RecordedAt: t0, Payload: json.RawMessage(`{}`)}
	placed := envelope(t, schemas.OrderPlaced{OrderID: "P1", BrandID: "b1", ShopEventID: "s1", PromoCodes: []string{"anna10"}, Amount: "1.00", Currency: "RUB", Country: "RU"}, t0)
	a := order{brand: "b1", id: "BAD", creator: "c1", status: schemas.StatusPending, earnings: "0.12345", version: 1}.attribution()
	payload, err := json.Marshal(schemas.OrderAttributed{Attribution: a})
	if err != nil {
		t.Fatal(err)
	}
	precise := schemas.Envelope{EventID: schemas.NewEventID(), Type: schemas.TypeOrderAttributed, SchemaVersion: 1, AggregateKey: "b1/BAD", BrandID: "b1",
		OccurredAt: t0, RecordedAt: t0, Payload: payload}
	return []schemas.Envelope{unknown, placed, precise}
}

func TestProjectorEndToEnd(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	r := newRig(t, 2)
	reg := prometheus.NewRegistry()
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.Registerer = reg })
	r.run(p)

	// Order A: pending -> partly refunded -> approved. Order B's version 2
	// arrives before its version 1. Order K in a currency with 3 minor
	// digits, order J in one with none.
	a1 := order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "250.00", version: 1}.envelope(t)
	a2 := order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, net: "2000.00", earnings: "200.00", version: 2, cause: schemas.TypeOrderRefunded}.envelope(t)
	a3 := order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusApproved, net: "2000.00", earnings: "200.00", version: 3}.envelope(t)
	b2 := order{brand: "b1", id: "B", creator: "c2", status: schemas.StatusRejected, earnings: "0.00", version: 2, cause: schemas.TypeOrderCancelled}.envelope(t)
	b1 := order{brand: "b1", id: "B", creator: "c2", status: schemas.StatusPending, earnings: "250.00", version: 1}.envelope(t)
	k1 := order{brand: "b2", id: "K", creator: "c1", status: schemas.StatusApproved, amount: "12.345", currency: "KWD", earnings: "1.235", version: 1}.envelope(t)
	j1 := order{brand: "b2", id: "J", creator: "c1", status: schemas.StatusPending, amount: "1501", currency: "JPY", earnings: "150", version: 1, placed: t0.Add(-48 * time.Hour)}.envelope(t)
	u1 := unattributed(t, "b1", "U1", schemas.OutcomeUnknownCode, 1, "nope")
	u2 := unattributed(t, "b1", "U2", schemas.ReasonNoCode, 1)

	r.append(schemas.TopicCatalog, catalogEvents(t)...)
	r.append(schemas.TopicCatalog, principals(t)...)
	r.append(schemas.TopicAttributions, a1, b2, k1, j1, u1, u2)
	r.append(schemas.TopicAttributions, poison(t)...)
	r.waitApplied(p)
	r.append(schemas.TopicAttributions, a2, a3, b1)
	r.waitApplied(p)

	want := map[string]orderState{
		"A": {Order: "A", Status: "approved", Earnings: "200.00", Net: "2000.00", Version: 3},
		"B": {Order: "B", Status: "rejected", Earnings: "0.00", Net: "2500.00", Version: 2},
		"K": {Order: "K", Status: "approved", Earnings: "1.24", Net: "12.35", Version: 1}, // StringFixed(2) of 1.235 and 12.345
		"J": {Order: "J", Status: "pending", Earnings: "150.00", Net: "1501.00", Version: 1},
	}
	if got := ordersFinal(t, conn, db); !maps.Equal(got, want) {
		t.Errorf("orders FINAL:\n got %v\nwant %v", got, want)
	}
	checkByBrand(t, conn, db)
	// Exact decimals: 3 minor digits survive the round trip.
	var kwd decimal.Decimal
	if err := conn.QueryRow(context.Background(), "SELECT earnings FROM "+db+".orders FINAL WHERE order_id = 'K'").Scan(&kwd); err != nil {
		t.Fatal(err)
	}
	if !kwd.Equal(decimal.RequireFromString("1.235")) {
		t.Errorf("KWD earnings %s, want 1.235", kwd)
	}

	before := totals(t, conn, db)
	wantTotals := "orders[approved/KWD:1:1.235 approved/RUB:1:200.000 pending/JPY:1:150.000 rejected/RUB:1:0.000 ] " +
		"daily[2026-10-30/c1/pending:1:150.000 2026-11-01/c1/approved:2:201.235 2026-11-01/c2/rejected:1:0.000 ] " +
		"unattributed[no_code:1:100.000 unknown_code:1:100.000 ]"
	if before != wantTotals {
		t.Errorf("totals:\n got %s\nwant %s", before, wantTotals)
	}

	// The catalog tables.
	var brand, offer string
	if err := conn.QueryRow(context.Background(), "SELECT name FROM "+db+".brands FINAL WHERE brand_id = 'b1'").Scan(&brand); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT name FROM "+db+".offer_names FINAL WHERE offer_id = 'offer-1'").Scan(&offer); err != nil {
		t.Fatal(err)
	}
	if brand != "Acme Cosmetics" || offer != "Winter sale 2026" {
		t.Errorf("brand %q offer %q, want Acme Cosmetics and the renamed Winter sale 2026", brand, offer)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".creators FINAL WHERE name = 'Anna'"); n != 1 {
		t.Errorf("creators named Anna: %d, want 1", n)
	}
	requests := codeRequests(t, conn, db)
	wantRequests := "req-1:c1:revoked:anna10:;req-2:c2:rejected::audience too small;req-3:c3:moderation::"
	if requests != wantRequests {
		t.Errorf("code_requests:\n got %s\nwant %s", requests, wantRequests)
	}

	// Poison went to the dead-letter topic; nothing of it is in the tables.
	if n := deadLetters(t, r); n != 3 {
		t.Errorf("dead letters: %d, want 3", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".orders WHERE order_id = 'BAD'"); n != 0 {
		t.Errorf("the order with a 5-digit amount was inserted")
	}

	// Watermarks equal the ends of the partitions, in ClickHouse and in the gauge.
	marks, err := p.Watermarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range marks {
		bounds, err := r.store.Bounds(context.Background(), w.Topic)
		if err != nil {
			t.Fatal(err)
		}
		if end := bounds[w.Partition].End; w.Next != end {
			t.Errorf("watermark %s/%d = %d, want the partition end %d", w.Topic, w.Partition, w.Next, end)
		}
		if g := gauge(t, reg, "attrib_clickhouse_watermark_offset", w.Topic, w.Partition); g != float64(w.Next) {
			t.Errorf("gauge of %s/%d = %v, want %d", w.Topic, w.Partition, g, w.Next)
		}
		if w.LastRecordedAt.IsZero() {
			t.Errorf("watermark %s/%d has no recorded_at", w.Topic, w.Partition)
		}
	}
	if len(marks) == 0 {
		t.Errorf("no watermarks")
	}

	// Redelivery: the same events again (a retried append, a replay)
	// change no count and no sum, before and after the merges.
	r.append(schemas.TopicAttributions, a1, a2, a3, b1, b2, k1, j1, u1, u2)
	r.append(schemas.TopicCatalog, catalogEvents(t)[9], catalogEvents(t)[2])
	r.waitApplied(p)
	if got := totals(t, conn, db); got != before {
		t.Errorf("after redelivery:\n got %s\nwant %s", got, before)
	}
	if got := ordersFinal(t, conn, db); !maps.Equal(got, want) {
		t.Errorf("orders FINAL after redelivery:\n got %v\nwant %v", got, want)
	}
	checkByBrand(t, conn, db)
	optimize(t, conn, db)
	if got := totals(t, conn, db); got != before {
		t.Errorf("after OPTIMIZE FINAL:\n got %s\nwant %s", got, before)
	}
	if got := codeRequests(t, conn, db); got != wantRequests {
		t.Errorf("code_requests after redelivery:\n got %s\nwant %s", got, wantRequests)
	}
}

func codeRequests(t *testing.T, conn driver.Conn, db string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT request_id, creator_id, status, code, reject_reason FROM "+db+".code_requests ORDER BY request_id")
	if err != nil {
		t.Fatalf("code_requests: %v", err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var id, creator, status, code, reason string
		if err := rows.Scan(&id, &creator, &status, &code, &reason); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, strings.Join([]string{id, creator, status, code, reason}, ":"))
	}
	return strings.Join(parts, ";")
}

func deadLetters(t *testing.T, r *rig) int64 {
	t.Helper()
	bounds, err := r.store.Bounds(context.Background(), "attrib.dlq."+chproj.Group)
	if err != nil {
		t.Fatalf("dead-letter topic: %v", err)
	}
	var n int64
	for _, b := range bounds {
		n += b.End - b.First
	}
	return n
}

func optimize(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	for _, table := range []string{readmodel.TableOrders, readmodel.TableUnattributed, readmodel.TableCodeRequestEvents, readmodel.TableOfferNames} {
		if err := conn.Exec(context.Background(), "OPTIMIZE TABLE "+db+"."+table+" FINAL"); err != nil {
			t.Fatalf("optimize %s: %v", table, err)
		}
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name, topic string, partition int) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["topic"] == topic && labels["partition"] == fmt.Sprint(partition) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// A batch handled twice (its commit was lost) changes no count and no sum.
func TestRedeliveredBatchChangesNothing(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db)
	ctx := context.Background()
	first := batch(schemas.TopicAttributions, 0, 0,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "250.00", version: 1}.envelope(t),
		order{brand: "b1", id: "B", creator: "c1", status: schemas.StatusPending, earnings: "100.00", version: 1}.envelope(t),
		unattributed(t, "b1", "U", schemas.OutcomeCodeRevoked, 1, "old"),
	)
	second := batch(schemas.TopicAttributions, 0, 3,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusApproved, earnings: "250.00", version: 2}.envelope(t),
		order{brand: "b1", id: "B", creator: "c1", status: schemas.StatusRejected, earnings: "0.00", version: 2, cause: schemas.TypeOrderCancelled}.envelope(t),
	)
	for _, b := range []*eventstore.Batch{first, second} {
		if err := p.Handle(ctx, b); err != nil {
			t.Fatalf("handle: %v", err)
		}
	}
	want := totals(t, conn, db)
	for i, b := range []*eventstore.Batch{second, first, second} {
		if err := p.Handle(ctx, b); err != nil {
			t.Fatalf("redeliver %d: %v", i, err)
		}
		if got := totals(t, conn, db); got != want {
			t.Fatalf("after redelivery %d:\n got %s\nwant %s", i, got, want)
		}
	}
	optimize(t, conn, db)
	if got := totals(t, conn, db); got != want {
		t.Errorf("after OPTIMIZE FINAL:\n got %s\nwant %s", got, want)
	}
	if next, err := p.Watermark(ctx, schemas.TopicAttributions, 0); err != nil || next != 5 {
		t.Errorf("watermark = %d, %v; want 5", next, err)
	}
}

// Whatever the order and the batch boundaries in which an order's rows
// arrive, the table ends with the highest version (property-style).
func TestVersionsInAnyOrder(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchWait = time.Millisecond })
	statuses := []string{schemas.StatusPending, schemas.StatusPending, schemas.StatusPending, schemas.StatusApproved}
	earnings := []string{"250.00", "200.00", "150.00", "150.00"}
	rng := rand.New(rand.NewPCG(1, 2))
	const trials = 20
	want := map[string]orderState{}
	offset := int64(0)
	for trial := range trials {
		id := fmt.Sprintf("P%02d", trial)
		var envs []schemas.Envelope
		for v := range 4 {
			o := order{brand: "b1", id: id, creator: "c1", status: statuses[v], earnings: earnings[v], net: "1500.00", version: uint64(v + 1), cause: schemas.TypeOrderRefunded}
			envs = append(envs, o.envelope(t))
			if rng.IntN(3) == 0 { // sometimes twice
				envs = append(envs, o.envelope(t))
			}
		}
		rng.Shuffle(len(envs), func(i, j int) { envs[i], envs[j] = envs[j], envs[i] })
		for len(envs) > 0 {
			n := 1 + rng.IntN(len(envs))
			if err := p.Handle(context.Background(), batch(schemas.TopicAttributions, 0, offset, envs[:n]...)); err != nil {
				t.Fatalf("handle: %v", err)
			}
			offset += int64(n)
			envs = envs[n:]
		}
		want[id] = orderState{Order: id, Status: "approved", Earnings: "150.00", Net: "1500.00", Version: 4}
	}
	if got := ordersFinal(t, conn, db); !maps.Equal(got, want) {
		t.Errorf("orders FINAL:\n got %v\nwant %v", got, want)
	}
	if got, want := totals(t, conn, db), fmt.Sprintf("orders[approved/RUB:%d:%d.000 ] daily[2026-11-01/c1/approved:%d:%d.000 ] unattributed[]", trials, trials*150, trials, trials*150); got != want {
		t.Errorf("totals:\n got %s\nwant %s", got, want)
	}
}

// The reads rely on FINAL applying WHERE to the merged rows, not to every
// version: a filter on a column that changes (status) must not find a
// replaced row. This pins the server behaviour (18.16 and current).
func TestFinalFiltersTheLatestVersion(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db)
	ctx := context.Background()
	// Two flushes: two parts, not merged yet.
	for i, o := range []order{
		{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "250.00", version: 1},
		{brand: "b1", id: "A", creator: "c1", status: schemas.StatusApproved, earnings: "250.00", version: 2},
	} {
		if err := p.Handle(ctx, batch(schemas.TopicAttributions, 0, int64(i), o.envelope(t))); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, "SELECT count() FROM system.parts WHERE database = ? AND table = 'orders' AND active", db); n < 2 {
		t.Logf("only %d active parts: the server merged already; the check below is weaker", n)
	}
	for _, tc := range []struct {
		query string
		want  uint64
	}{
		{"SELECT count() FROM " + db + ".orders FINAL WHERE status = 'pending'", 0},
		{"SELECT count() FROM " + db + ".orders FINAL WHERE creator_id = 'c1' AND status = 'pending'", 0},
		{"SELECT count() FROM " + db + ".orders FINAL WHERE creator_id = 'c1' AND status = 'approved'", 1},
		{"SELECT count() FROM " + db + ".orders FINAL WHERE status = 'pending' SETTINGS optimize_move_to_prewhere = 1", 0},
	} {
		if got := count(t, conn, tc.query); got != tc.want {
			t.Errorf("%s = %d, want %d", tc.query, got, tc.want)
		}
	}
}

// ClickHouse down: the handler fails, nothing is committed, nothing is
// lost; once it is back, everything arrives.
func TestClickHouseDown(t *testing.T) {
	_, db := readmodeltest.Migrated(t)
	opts := testenv.ClickHouseOptions(t)
	out := &testenv.Outage{}
	opts.DialContext = out.DialAddr(opts.Addr[0])
	conn := testenv.ClickHouseConn(t, opts)
	check := testenv.ClickHouseConn(t, testenv.ClickHouseOptions(t))
	reg := prometheus.NewRegistry()
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.Registerer = reg; c.InsertTimeout = 2 * time.Second })
	r := newRig(t, 2)

	out.Down.Store(true)
	sub, _ := r.run(p)
	var envs []schemas.Envelope
	for i := range 20 {
		envs = append(envs, order{brand: "b1", id: fmt.Sprintf("O%02d", i), creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}.envelope(t))
	}
	r.append(schemas.TopicAttributions, envs...)
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, reg, "attrib_clickhouse_flush_errors_total") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the projector never failed an insert while ClickHouse was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := sub.Committed()[schemas.TopicAttributions]; len(c) != 0 {
		t.Errorf("committed %v while ClickHouse was down, want nothing", c)
	}
	lag, err := r.store.GroupLag(context.Background(), chproj.Group, schemas.TopicAttributions)
	if err != nil {
		t.Fatal(err)
	}
	var behind int64
	for _, l := range lag {
		behind += l
	}
	if behind != int64(len(envs)) {
		t.Errorf("group lag %d, want all %d events uncommitted", behind, len(envs))
	}
	if n := count(t, check, "SELECT count() FROM "+db+".orders"); n != 0 {
		t.Errorf("%d orders inserted while down", n)
	}

	out.Down.Store(false)
	r.waitApplied(p)
	if n := count(t, check, "SELECT count() FROM "+db+".orders FINAL"); n != uint64(len(envs)) {
		t.Errorf("after recovery: %d orders, want %d", n, len(envs))
	}
}

// Batches of several partitions handed in within BatchWait share one
// insert; a flush that reaches BatchRows does not wait.
func TestFlushesAcrossPartitions(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	t.Run("shared", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p := newProjector(t, conn, db, func(c *chproj.Config) { c.Registerer = reg; c.BatchWait = 500 * time.Millisecond })
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for part := range 4 {
			b := batch(schemas.TopicAttributions, part, 0,
				order{brand: "b1", id: fmt.Sprintf("S%d", part), creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}.envelope(t))
			wg.Go(func() { errs <- p.Handle(context.Background(), b) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := counter(t, reg, "attrib_clickhouse_flushes_total"); n != 1 {
			t.Errorf("%v flushes, want 1", n)
		}
		if n := counter(t, reg, "attrib_clickhouse_rows_inserted_total"); n != 12 {
			t.Errorf("%v rows inserted, want 4 orders + 4 day marks + 4 watermarks", n)
		}
	})
	t.Run("full", func(t *testing.T) {
		p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchRows = 2; c.BatchWait = time.Hour })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b := batch(schemas.TopicAttributions, 5, 0,
			order{brand: "b1", id: "F1", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}.envelope(t),
			order{brand: "b1", id: "F2", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}.envelope(t))
		if err := p.Handle(ctx, b); err != nil {
			t.Fatalf("a full flush waited for BatchWait: %v", err)
		}
	})
}

func TestNewRefusesBadDatabaseNames(t *testing.T) {
	for _, db := range []string{"", "1abc", "a-b", "a`b", "x; DROP DATABASE default", "a.b"} {
		// A connection that is never called: the name must be refused first.
		if _, err := chproj.New(chproj.Config{Conn: nilConn{}, Database: db}); err == nil {
			t.Errorf("New with database %q succeeded, want an error", db)
		}
	}
}

// nilConn is a driver.Conn that is never called.
type nilConn struct{ driver.Conn }
