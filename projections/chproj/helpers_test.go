package chproj_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/schemas"
)

func testLogger() *slog.Logger { return kafkatest.Logger() }

func newProjector(t testing.TB, conn driver.Conn, db string, tune ...func(*chproj.Config)) *chproj.Projector {
	t.Helper()
	cfg := chproj.Config{Conn: conn, Database: db, BatchWait: 20 * time.Millisecond, Logger: testLogger(), Registerer: prometheus.NewRegistry()}
	for _, f := range tune {
		f(&cfg)
	}
	p, err := chproj.New(cfg)
	if err != nil {
		t.Fatalf("new projector: %v", err)
	}
	return p
}

// rig is an embedded broker with the projector's topics.
type rig struct {
	t     testing.TB
	store *eventstore.Store
}

func newRig(t testing.TB, partitions int) *rig {
	t.Helper()
	return &rig{t: t, store: kafkatest.NewStore(t, partitions, schemas.TopicAttributions, schemas.TopicCatalog)}
}

func (r *rig) append(topic string, envs ...schemas.Envelope) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.Append(ctx, topic, envs...); err != nil {
		r.t.Fatalf("append %d events to %s: %v", len(envs), topic, err)
	}
}

// run runs a subscriber of the projector until the returned stop is called
// (or the test ends).
func (r *rig) run(p *chproj.Projector) (*eventstore.Subscriber, func()) {
	r.t.Helper()
	cfg := p.SubscriberConfig()
	cfg.Logger = testLogger()
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 300*time.Millisecond
	return kafkatest.RunSubscriber(r.t, r.store, cfg)
}

// waitApplied waits until the projector's watermarks reach the end of
// every partition of its topics.
func (r *rig) waitApplied(p *chproj.Projector) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range chproj.Topics() {
		bounds, err := r.store.Bounds(ctx, topic)
		if err != nil {
			r.t.Fatalf("bounds of %s: %v", topic, err)
		}
		for _, b := range bounds {
			if b.End == 0 {
				continue
			}
			if err := p.WaitFor(ctx, topic, b.Partition, b.End-1); err != nil {
				r.t.Fatalf("projection did not catch up: %v", err)
			}
		}
	}
}

// Event builders.

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func envelope(t testing.TB, p schemas.Event, occurred time.Time) schemas.Envelope {
	t.Helper()
	env, err := schemas.NewEnvelopeFor(p, occurred, occurred.Add(time.Second))
	if err != nil {
		t.Fatalf("envelope of %T: %v", p, err)
	}
	return env
}

// order describes one attributed order's row.
type order struct {
	brand, id, creator      string
	status, earnings, net   string
	version                 uint64
	placed                  time.Time
	amount, currency, cause string
}

func (o order) attribution() schemas.Attribution {
	if o.amount == "" {
		o.amount = "2500.00"
	}
	if o.net == "" {
		o.net = o.amount
	}
	if o.currency == "" {
		o.currency = "RUB"
	}
	if o.placed.IsZero() {
		o.placed = t0
	}
	return schemas.Attribution{
		OrderID: o.id, BrandID: o.brand, CreatorID: o.creator, OfferID: "offer-1", OfferName: "Winter sale",
		RequestID: "req-1", PromoCode: "ANNA10", Platform: "instagram",
		Terms:  schemas.Terms{Payout: schemas.Payout{Type: schemas.PayoutPercent, Value: "10", Currency: o.currency}, HoldDays: 30},
		Amount: o.amount, NetAmount: o.net, Currency: o.currency, Country: "RU",
		Status: o.status, Earnings: o.earnings, EarningsCurrency: o.currency,
		PlacedAt: o.placed, Version: o.version, LastEventAt: o.placed.Add(time.Duration(o.version) * time.Hour),
		Decision: schemas.Decision{Candidates: []schemas.Candidate{{Code: "anna10", NormalizedCode: "ANNA10", Outcome: schemas.OutcomeWon,
			CreatorID: o.creator, OfferID: "offer-1", RequestID: "req-1"}}},
	}
}

// envelope returns the row as order.attributed (version 1) or
// order.earnings_adjusted.
func (o order) envelope(t testing.TB) schemas.Envelope {
	t.Helper()
	a := o.attribution()
	if o.version <= 1 {
		return envelope(t, schemas.OrderAttributed{Attribution: a}, a.LastEventAt)
	}
	cause := o.cause
	if cause == "" {
		cause = schemas.TypeOrderConfirmed
	}
	return envelope(t, schemas.OrderEarningsAdjusted{Attribution: a, Cause: cause}, a.LastEventAt)
}

func unattributed(t testing.TB, brand, id, reason string, version uint64, codes ...string) schemas.Envelope {
	t.Helper()
	return envelope(t, schemas.OrderUnattributed{
		OrderID: id, BrandID: brand, PromoCodes: codes, Reason: reason,
		Decision: schemas.Decision{}, Amount: "100.00", Currency: "USD", Country: "US", PlacedAt: t0, Version: version,
	}, t0)
}

// batch makes a batch of one partition from envelopes, as the subscriber
// would hand it, with offsets from first.
func batch(topic string, partition int, first int64, envs ...schemas.Envelope) *eventstore.Batch {
	b := &eventstore.Batch{Topic: topic, Partition: partition, Next: first + int64(len(envs))}
	for i, e := range envs {
		b.Messages = append(b.Messages, eventstore.Message{Topic: topic, Partition: partition, Offset: first + int64(i), Envelope: e, Time: e.RecordedAt})
	}
	return b
}

// Queries.

// orderState is what the report sees of one order.
type orderState struct {
	Order, Status, Earnings, Net string
	Version                      uint64
}

func ordersFinal(t testing.TB, conn driver.Conn, db string) map[string]orderState {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT order_id, status, earnings, net_amount, version FROM "+db+".orders FINAL")
	if err != nil {
		t.Fatalf("select orders: %v", err)
	}
	defer rows.Close()
	out := make(map[string]orderState)
	for rows.Next() {
		var (
			s             orderState
			earnings, net decimal.Decimal
		)
		if err := rows.Scan(&s.Order, &s.Status, &earnings, &net, &s.Version); err != nil {
			t.Fatalf("scan orders: %v", err)
		}
		s.Earnings, s.Net = earnings.StringFixed(2), net.StringFixed(2)
		if _, dup := out[s.Order]; dup {
			t.Errorf("order %s has two rows after FINAL", s.Order)
		}
		out[s.Order] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("orders: %v", err)
	}
	return out
}

// checkByBrand fails unless orders_by_brand FINAL holds the same orders,
// at the same versions and with the same report columns, as orders FINAL.
func checkByBrand(t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	read := func(table string) []string {
		rows, err := conn.Query(context.Background(), "SELECT concat(brand_id, '/', order_id, '/', creator_id, '/', toString(placed_at), '/', offer_id, '/', "+
			"offer_name, '/', promo_code, '/', status, '/', toString(amount), currency, '/', country, '/', toString(earnings), earnings_currency, '/', "+
			"toString(updated_at), '/', toString(version)) AS r FROM "+db+"."+table+" FINAL ORDER BY r")
		if err != nil {
			t.Fatalf("select %s: %v", table, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			out = append(out, r)
		}
		return out
	}
	if got, want := read("orders_by_brand"), read("orders"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("orders_by_brand FINAL:\n got %v\nwant (as orders) %v", got, want)
	}
}

// totals are the report's totals: orders and earnings per currency and
// status, and the roll-up view's sums.
func totals(t testing.TB, conn driver.Conn, db string) string {
	t.Helper()
	q := func(query string) string {
		rows, err := conn.Query(context.Background(), query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var s string
		for rows.Next() {
			var (
				k string
				n uint64
				e decimal.Decimal
			)
			if err := rows.Scan(&k, &n, &e); err != nil {
				t.Fatalf("scan: %v", err)
			}
			s += fmt.Sprintf("%s:%d:%s ", k, n, e.StringFixed(3))
		}
		return s
	}
	return "orders[" + q("SELECT concat(status, '/', earnings_currency), count(), sum(earnings) FROM "+db+".orders FINAL GROUP BY status, earnings_currency ORDER BY status, earnings_currency") +
		"] daily[" + q("SELECT concat(toString(day), '/', creator_id, '/', status), sum(orders), sum(earnings) FROM "+db+".earnings_daily GROUP BY day, creator_id, status ORDER BY day, creator_id, status") +
		"] unattributed[" + q("SELECT reason, count(), sum(amount) FROM "+db+".unattributed_orders FINAL GROUP BY reason ORDER BY reason") + "]"
}

func count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
