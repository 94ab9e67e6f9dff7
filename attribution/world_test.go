package attribution

import (
	"strconv"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// The test world: one brand, its codes and offers, around the placed time t0.
const (
	brand = "b1"
	order = "A-1001"
)

var (
	t0  = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	day = 24 * time.Hour
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

func payout(typ, value, currency string) schemas.Payout {
	return schemas.Payout{Type: typ, Value: value, Currency: currency}
}

// world returns the code and offer indexes every test reads.
func world() (CodeMap, OfferMap) {
	codes := CodeMap{}
	for _, r := range []CodeRecord{
		{Code: "ANNA10", CreatorID: "c-anna", OfferID: "off-pct", RequestID: "r-anna", Platform: "instagram", ActiveFrom: at(-10 * day)},
		{Code: "BOB", CreatorID: "c-bob", OfferID: "off-fixed", RequestID: "r-bob", Platform: "tiktok", ActiveFrom: at(-10 * day)},
		{Code: "BOBBY", CreatorID: "c-bobby", OfferID: "off-fixed", RequestID: "r-bobby", Platform: "vk", ActiveFrom: at(-10 * day)},
		{Code: "OLD", CreatorID: "c-old", OfferID: "off-pct", RequestID: "r-old", Platform: "youtube", ActiveFrom: at(-10 * day), RevokedAt: ptr(at(-1 * day))},
		{Code: "EDGE", CreatorID: "c-edge", OfferID: "off-pct", RequestID: "r-edge", Platform: "youtube", ActiveFrom: at(-10 * day), RevokedAt: ptr(t0)},
		{Code: "SOON", CreatorID: "c-soon", OfferID: "off-pct", RequestID: "r-soon", Platform: "telegram", ActiveFrom: at(time.Hour)},
		{Code: "NOW", CreatorID: "c-now", OfferID: "off-pct", RequestID: "r-now", Platform: "telegram", ActiveFrom: t0},
		// LEO was revoked, then its text was issued again to another creator.
		{Code: "LEO", CreatorID: "c-leo1", OfferID: "off-pct", RequestID: "r-leo1", Platform: "vk", ActiveFrom: at(-20 * day), RevokedAt: ptr(at(-5 * day))},
		{Code: "LEO", CreatorID: "c-leo2", OfferID: "off-fixed", RequestID: "r-leo2", Platform: "vk", ActiveFrom: at(-2 * day)},
		{Code: "PAST", CreatorID: "c-past", OfferID: "off-changed", RequestID: "r-past", Platform: "instagram", ActiveFrom: at(-10 * day)},
		{Code: "EARLY", CreatorID: "c-early", OfferID: "off-late", RequestID: "r-early", Platform: "instagram", ActiveFrom: at(-10 * day)},
		{Code: "PAUSE", CreatorID: "c-pause", OfferID: "off-paused", RequestID: "r-pause", Platform: "instagram", ActiveFrom: at(-10 * day)},
		{Code: "NOHOLD", CreatorID: "c-nohold", OfferID: "off-nohold", RequestID: "r-nohold", Platform: "instagram", ActiveFrom: at(-10 * day)},
		{Code: "GHOST", CreatorID: "c-ghost", OfferID: "off-missing", RequestID: "r-ghost", Platform: "instagram", ActiveFrom: at(-10 * day)},
		// The same text at another brand must not match.
		{BrandID: "b2", Code: "OTHER", CreatorID: "c-other", OfferID: "off-x", RequestID: "r-other", Platform: "vk", ActiveFrom: at(-10 * day)},
	} {
		if r.BrandID == "" {
			r.BrandID = brand
		}
		codes.Add(r)
	}
	offers := OfferMap{}
	for _, o := range []Offer{
		// 10% with a 30-day hold; raised to 20% an hour after t0 (too late for orders at t0).
		{OfferID: "off-pct", Name: "Winter sale", Changes: []TermsChange{
			{EffectiveFrom: at(-30 * day), Payout: payout("percent", "10", "RUB"), HoldDays: 30, Status: "active"},
			{EffectiveFrom: at(time.Hour), Payout: payout("percent", "20", "RUB"), HoldDays: 30, Status: "active"},
		}},
		{OfferID: "off-fixed", Name: "Fixed 150", Changes: []TermsChange{
			{EffectiveFrom: at(-30 * day), Payout: payout("fixed", "150.00", "RUB"), HoldDays: 14, Status: "active"},
		}},
		// 5%, changed to 7.5% an hour before t0: orders at t0 get 7.5%.
		{OfferID: "off-changed", Name: "Spring", Changes: []TermsChange{
			{EffectiveFrom: at(-30 * day), Payout: payout("percent", "5", "RUB"), HoldDays: 30, Status: "active"},
			{EffectiveFrom: at(-time.Hour), Payout: payout("percent", "7.5", "RUB"), HoldDays: 30, Status: "active"},
		}},
		// Published (by its event's time) after t0: the first terms apply.
		{OfferID: "off-late", Name: "Late", Changes: []TermsChange{
			{EffectiveFrom: at(time.Minute), Payout: payout("fixed", "99.99", "USD"), HoldDays: 7, Status: "active"},
		}},
		{OfferID: "off-paused", Name: "Paused", Changes: []TermsChange{
			{EffectiveFrom: at(-30 * day), Payout: payout("fixed", "50.00", "RUB"), HoldDays: 7, Status: "active"},
			{EffectiveFrom: at(-day), Payout: payout("fixed", "50.00", "RUB"), HoldDays: 7, Status: "paused"},
		}},
		{OfferID: "off-nohold", Name: "No hold", Changes: []TermsChange{
			{EffectiveFrom: at(-30 * day), Payout: payout("percent", "10", "RUB"), HoldDays: 0, Status: "active"},
		}},
	} {
		o.BrandID = brand
		offers.Add(o)
	}
	return codes, offers
}

// input is one order event as the worker reads it.
type input struct {
	env schemas.Envelope
	ev  schemas.Event
}

// mk builds an input through schemas.NewEnvelopeFor (so every test event is
// schema-valid) with a deterministic event id.
func mk(id string, ev schemas.Event, occurred time.Time) input {
	env, err := schemas.NewEnvelopeFor(ev, occurred, occurred.Add(time.Second))
	if err != nil {
		panic(err)
	}
	env.EventID = "ev-" + id
	return input{env: env, ev: ev}
}

func placedOn(orderID, id string, when time.Time, amount, currency string, codes ...string) input {
	if codes == nil {
		codes = []string{}
	}
	return mk(id, &schemas.OrderPlaced{OrderID: orderID, BrandID: brand, ShopEventID: id,
		PromoCodes: codes, Amount: amount, Currency: currency, Country: "RU"}, when)
}

func placed(id string, when time.Time, amount string, codes ...string) input {
	return placedOn(order, id, when, amount, "RUB", codes...)
}

func confirmed(id string, when time.Time) input {
	return mk(id, &schemas.OrderConfirmed{OrderID: order, BrandID: brand, ShopEventID: id}, when)
}

func cancelled(id string, when time.Time) input {
	return mk(id, &schemas.OrderCancelled{OrderID: order, BrandID: brand, ShopEventID: id}, when)
}

func refunded(id string, when time.Time, amount string) input {
	return mk(id, &schemas.OrderRefunded{OrderID: order, BrandID: brand, ShopEventID: id, RefundAmount: amount}, when)
}

func holdExpired(id string, offerID string, days int) input {
	ends := t0.Add(time.Duration(days) * day)
	return mk(id, &schemas.OrderHoldExpired{OrderID: order, BrandID: brand, OfferID: offerID, HoldDays: days, HoldEndsAt: ends}, ends)
}

// withEventID is in with another envelope event id: the same shop event
// delivered twice through two ingest requests.
func withEventID(in input, id string) input {
	in.env.EventID = id
	return in
}

// summary is what tests compare of an emitted row.
type summary struct {
	kind             string
	status           string
	amount, net      string
	earnings         string
	earningsCurrency string
	winner           string // creator id
	promoCode        string
	terms            string // "type value currency/hold"
	reason           string
	version          uint64
}

func summarize(ev schemas.Event) summary {
	row := func(kind string, a schemas.Attribution) summary {
		return summary{kind: kind, status: a.Status, amount: a.Amount, net: a.NetAmount, earnings: a.Earnings,
			earningsCurrency: a.EarningsCurrency, winner: a.CreatorID, promoCode: a.PromoCode,
			terms:   a.Terms.Type + " " + a.Terms.Value + " " + a.Terms.Currency + "/" + strconv.Itoa(a.Terms.HoldDays),
			version: a.Version}
	}
	switch p := ev.(type) {
	case schemas.OrderAttributed:
		return row("attributed", p.Attribution)
	case schemas.OrderEarningsAdjusted:
		return row("adjusted", p.Attribution)
	case schemas.OrderUnattributed:
		return summary{kind: "unattributed", amount: p.Amount, reason: p.Reason, version: p.Version}
	}
	return summary{kind: "none"}
}

// worker plays the adapter: Apply, Decide, write, Emitted, for each input.
type worker struct {
	st      OrderState
	codes   Codes
	offers  Offers
	emitted []Outcome
	// viaSnapshot: after every step the state is replaced by its snapshot
	// restored (roundTrip), as a worker that evicts and reloads it would.
	viaSnapshot bool
}

func newWorker() *worker {
	codes, offers := world()
	return &worker{codes: codes, offers: offers}
}

// feed applies inputs in order and records every outcome; it fails the
// test on a poison error and on an outcome that would not pass NewEnvelope.
func (w *worker) feed(t testing.TB, validate bool, ins ...input) {
	t.Helper()
	for _, in := range ins {
		if _, err := Apply(&w.st, in.env, in.ev); err != nil {
			t.Fatalf("Apply(%s): %v", in.env.EventID, err)
		}
		if w.viaSnapshot {
			w.st = roundTrip(t, &w.st)
		}
		out, ok := Decide(&w.st, w.codes, w.offers)
		if !ok {
			continue
		}
		if validate {
			if _, err := out.Envelope(t0.Add(365 * day)); err != nil {
				t.Fatalf("outcome of %s does not pass NewEnvelope: %v\n%#v", in.env.EventID, err, out.Event)
			}
		}
		if err := Emitted(&w.st, out.Event); err != nil {
			t.Fatalf("Emitted: %v", err)
		}
		if w.viaSnapshot {
			w.st = roundTrip(t, &w.st)
		}
		w.emitted = append(w.emitted, out)
	}
}

func (w *worker) last() Outcome {
	if len(w.emitted) == 0 {
		return Outcome{}
	}
	return w.emitted[len(w.emitted)-1]
}

func candidatesOf(ev schemas.Event) []schemas.Candidate {
	switch p := ev.(type) {
	case schemas.OrderAttributed:
		return p.Decision.Candidates
	case schemas.OrderEarningsAdjusted:
		return p.Decision.Candidates
	case schemas.OrderUnattributed:
		return p.Decision.Candidates
	}
	return nil
}
