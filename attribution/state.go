package attribution

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// PoisonError is an order event the core cannot process: the adapter sends
// it to the dead-letter topic with Reason and moves on. Apply leaves the
// state unchanged when it returns one.
type PoisonError struct {
	// EventID and Type identify the refused envelope.
	EventID string
	Type    string
	// Reason says what is wrong, for the dead-letter record.
	Reason string
}

// Error returns "poison <type> event <id>: <reason>".
func (e *PoisonError) Error() string {
	return fmt.Sprintf("poison %s event %s: %s", e.Type, e.EventID, e.Reason)
}

// Fold precedence of event types at equal occurred_at: see the package
// documentation.
const (
	precPlaced = iota
	precRefunded
	precCancelled
	precConfirmed
	precHoldExpired
)

// orderEvent is one distinct order event as the fold needs it.
type orderEvent struct {
	// id is IDHash of the envelope's event id; 0 when the event came back
	// from a snapshot, which keeps only its shop id's hash when it has one
	// (see AppendSnapshot).
	id   uint64
	typ  string
	prec int
	// at is the occurred_at (hold_ends_at for a hold expiry).
	at time.Time
	// seq numbers the distinct events in arrival order, from 1.
	seq uint64
	// refund is the refund_amount of an order.refunded.
	refund decimal.Decimal
	// shop is IDHash of the event's shop_event_id, 0 without one.
	shop uint64
}

// key identifies the event among the order's: its shop_event_id's hash if
// it has one, else its event id's.
func (e *orderEvent) key() uint64 {
	if e.shop != 0 {
		return e.shop
	}
	return e.id
}

// less is the fold order: occurred_at, then type precedence, then key.
// Two events equal in time and type fold to the same status, net and cause
// in either order, so the last key only makes the order total.
func (e *orderEvent) less(o *orderEvent) bool {
	if !e.at.Equal(o.at) {
		return e.at.Before(o.at)
	}
	if e.prec != o.prec {
		return e.prec < o.prec
	}
	return e.key() < o.key()
}

// placement holds the facts of the order's placement.
type placement struct {
	at         time.Time
	codes      []string // as the shop sent them
	normalized []string // promocode.Normalize of each
	amount     money.Amount
	// amountText is amount.String(), which every row shows.
	amountText string
	country    string
}

// sameFacts reports whether two placements state the same order. The codes
// are compared as sent: they are shown in the decision, so a placement that
// spells them differently is not the same fact.
func (p *placement) sameFacts(o *placement) bool {
	return p.at.Equal(o.at) && p.amount.Equal(o.amount) && p.country == o.country &&
		slices.Equal(p.codes, o.codes)
}

// OrderState is everything the core knows about one order: the distinct
// order events seen, from which status and earnings are derived, and what was
// last emitted for it. The zero value is an empty order, ready for Apply.
// An OrderState is not safe for concurrent use; the worker keeps one per
// order key, and orders of one key arrive on one partition.
type OrderState struct {
	brandID, orderID string
	// events are the distinct events, placement included, in fold order.
	events []orderEvent
	// seen holds the IDHash of the envelope event id of every event
	// applied (but those restored from a snapshot with a shop_event_id,
	// which shopEvents recognises).
	seen hashMap
	// shopEvents maps the IDHash of each shop_event_id to the IDHash of
	// its event's fingerprint.
	shopEvents hashMap
	placed     *placement
	holdSeen   bool
	emitted    emission
	// folded is fold's result, kept while folding is set: Decide and
	// HoldDue ask for it several times per event, and only Apply changes
	// what it derives from.
	folded  folded
	folding bool
}

// BrandID returns the order's brand, "" before the first event.
func (st *OrderState) BrandID() string { return st.brandID }

// OrderID returns the shop's order id, "" before the first event.
func (st *OrderState) OrderID() string { return st.orderID }

// Placed reports whether the order's placement has been applied.
func (st *OrderState) Placed() bool { return st.placed != nil }

// PlacedAt returns the placed time; ok is false before the placement.
func (st *OrderState) PlacedAt() (t time.Time, ok bool) {
	if st.placed == nil {
		return time.Time{}, false
	}
	return st.placed.at, true
}

// AppendPromoCodes appends the normalised codes of the placement to dst, in
// its order (none before the placement): the texts whose index entries
// decide it. A caller going through many orders can reuse one slice.
func (st *OrderState) AppendPromoCodes(dst []string) []string {
	if st.placed == nil {
		return dst
	}
	return append(dst, st.placed.normalized...)
}

// Version returns the number of distinct events applied: the version of the
// next row Decide emits.
func (st *OrderState) Version() uint64 { return uint64(len(st.events)) }

// EmittedVersion returns the version of the latest row emitted for the
// order (0 if none), as recorded by Emitted.
func (st *OrderState) EmittedVersion() uint64 { return st.emitted.version }

// Apply adds one order event (order.placed, order.confirmed,
// order.cancelled, order.refunded or order.hold_expired) to the order's
// state. ev is env's decoded payload (schemas.Decode returns a pointer;
// values work too). changed is false for a duplicate, which leaves the state
// as it was. An event that cannot be processed yields a *PoisonError and no
// change. Apply never looks anything up and never emits: Decide does.
func Apply(st *OrderState, env schemas.Envelope, ev schemas.Event) (changed bool, err error) {
	poison := func(format string, args ...any) error {
		return &PoisonError{EventID: env.EventID, Type: env.Type, Reason: fmt.Sprintf(format, args...)}
	}
	if ev = pointer(ev); ev == nil {
		return false, poison("no payload")
	}
	if env.Type != ev.EventType() {
		return false, poison("envelope type %q carries a %s payload", env.Type, ev.EventType())
	}
	if env.EventID == "" {
		return false, poison("no event id")
	}
	id := IDHash(env.EventID)
	if _, dup := st.seen.get(id); dup {
		return false, nil
	}
	e := orderEvent{id: id, typ: env.Type, at: env.OccurredAt.UTC()}
	var brandID, orderID, shopID string
	var fingerprint uint64
	var place *placement
	switch p := ev.(type) {
	case *schemas.OrderPlaced:
		brandID, orderID, shopID, e.prec = p.BrandID, p.OrderID, p.ShopEventID, precPlaced
		if !money.ValidCurrency(p.Currency) {
			return false, poison("currency %q is not an ISO 4217 code", p.Currency)
		}
		amount, err := money.Parse(p.Amount, p.Currency)
		if err != nil {
			return false, poison("amount: %v", err)
		}
		// The codes as sent and normalised, in one allocation.
		n := len(p.PromoCodes)
		codes := make([]string, 2*n)
		copy(codes, p.PromoCodes)
		place = &placement{at: e.at, codes: codes[:n:n], normalized: codes[n:], amount: amount, amountText: amount.String(), country: p.Country}
		if p.PromoCodes == nil {
			place.codes = nil
		}
		for i, c := range p.PromoCodes {
			place.normalized[i] = promocode.Normalize(c)
		}
		fingerprint = placedFingerprint(place, e.at)
	case *schemas.OrderConfirmed:
		brandID, orderID, shopID, e.prec = p.BrandID, p.OrderID, p.ShopEventID, precConfirmed
	case *schemas.OrderCancelled:
		brandID, orderID, shopID, e.prec = p.BrandID, p.OrderID, p.ShopEventID, precCancelled
	case *schemas.OrderRefunded:
		brandID, orderID, shopID, e.prec = p.BrandID, p.OrderID, p.ShopEventID, precRefunded
		// The refund has no currency of its own: it is in the order's. Its
		// precision is checked against the widest minor unit, not the
		// order's, because the placement may not have arrived yet and the
		// verdict must not depend on arrival order; an odd digit only makes
		// the exact net finer than the currency's minor unit.
		r, err := money.ParseDecimal(p.RefundAmount, money.MaxMinorUnits)
		if err != nil {
			return false, poison("refund_amount: %v", err)
		}
		e.refund = r
		fingerprint = shopFingerprint(e.typ, r.String(), e.at)
	case *schemas.OrderHoldExpired:
		brandID, orderID, e.prec = p.BrandID, p.OrderID, precHoldExpired
		if p.HoldEndsAt.IsZero() {
			return false, poison("hold_ends_at is zero")
		}
		// The payload's hold end is the hold event's time in the fold.
		e.at = p.HoldEndsAt.UTC()
	default:
		return false, poison("not an order event")
	}
	if e.at.IsZero() {
		return false, poison("occurred_at is zero")
	}
	if brandID == "" || orderID == "" {
		return false, poison("brand_id and order_id must be set")
	}
	if st.brandID != "" && (brandID != st.brandID || orderID != st.orderID) {
		return false, poison("event of order %s applied to order %s",
			schemas.OrderKey(brandID, orderID), schemas.OrderKey(st.brandID, st.orderID))
	}
	if env.AggregateKey != "" && env.AggregateKey != schemas.OrderKey(brandID, orderID) {
		return false, poison("aggregate key %q is not the order's %q", env.AggregateKey, schemas.OrderKey(brandID, orderID))
	}
	if env.BrandID != "" && env.BrandID != brandID {
		return false, poison("envelope brand %q differs from the payload's %q", env.BrandID, brandID)
	}
	var shop uint64
	if shopID != "" {
		shop = IDHash(shopID)
		if fingerprint == 0 {
			fingerprint = shopFingerprint(e.typ, "", e.at)
		}
		if prev, ok := st.shopEvents.get(shop); ok {
			if prev != fingerprint {
				return false, poison("shop_event_id %q was already used for a different event", shopID)
			}
			return false, nil
		}
	}
	switch {
	case place != nil && st.placed != nil:
		if !st.placed.sameFacts(place) {
			return false, poison("a second placement with different facts (placed at %s, amount %s %s)",
				place.at.Format(time.RFC3339), place.amount, place.amount.Currency())
		}
		st.markShop(shop, fingerprint)
		return false, nil
	case e.typ == schemas.TypeOrderHoldExpired && st.holdSeen:
		return false, nil
	}

	// Valid and new: from here on, nothing fails.
	st.folding = false
	st.brandID, st.orderID = brandID, orderID
	st.seen.set(id, 0)
	st.markShop(shop, fingerprint)
	e.shop = shop
	if place != nil {
		st.placed = place
	}
	if e.typ == schemas.TypeOrderHoldExpired {
		st.holdSeen = true
	}
	e.seq = uint64(len(st.events)) + 1
	if st.events == nil {
		// Room for an order's usual events (placement, refund, status,
		// hold expiry) at once.
		st.events = make([]orderEvent, 0, 4)
	}
	i, _ := slices.BinarySearchFunc(st.events, &e, func(a orderEvent, b *orderEvent) int {
		if a.less(b) {
			return -1
		}
		return 1 // event ids are unique, so never equal
	})
	st.events = slices.Insert(st.events, i, e)
	return true, nil
}

func (st *OrderState) markShop(shop, fingerprint uint64) {
	if shop == 0 {
		return
	}
	st.shopEvents.set(shop, fingerprint)
}

// IDHash is the 64-bit hash an order's state keeps of an event id or a
// shop_event_id instead of the text: the first 8 bytes of its SHA-256,
// never 0. Two ids of one order's events share a hash with a probability
// of about 2^-64 per pair, and ids are not chosen to collide with SHA-256.
func IDHash(s string) uint64 { return bytesHash([]byte(s)) }

// hashMap maps hashes to hashes. An order has a handful of events, so its
// sets are slices searched in turn, which cost far less to build and to
// keep (the worker caches many states, which the garbage collector scans)
// than maps; past smallMapMax entries it switches to a map.
type hashMap struct {
	kv []uint64 // key, value, key, value...
	m  map[uint64]uint64
}

const smallMapMax = 16

func (s *hashMap) get(k uint64) (uint64, bool) {
	if s.m != nil {
		v, ok := s.m[k]
		return v, ok
	}
	for i := 0; i < len(s.kv); i += 2 {
		if s.kv[i] == k {
			return s.kv[i+1], true
		}
	}
	return 0, false
}

func (s *hashMap) set(k, v uint64) {
	if s.m != nil {
		s.m[k] = v
		return
	}
	for i := 0; i < len(s.kv); i += 2 {
		if s.kv[i] == k {
			s.kv[i+1] = v
			return
		}
	}
	if len(s.kv) < 2*smallMapMax {
		if s.kv == nil {
			s.kv = make([]uint64, 0, 8)
		}
		s.kv = append(s.kv, k, v)
		return
	}
	s.m = make(map[uint64]uint64, 2*smallMapMax)
	for i := 0; i < len(s.kv); i += 2 {
		s.m[s.kv[i]] = s.kv[i+1]
	}
	s.m[k] = v
	s.kv = nil
}

// each calls f for every entry, in no particular order.
func (s *hashMap) each(f func(k, v uint64)) {
	if s.m != nil {
		for k, v := range s.m {
			f(k, v)
		}
		return
	}
	for i := 0; i < len(s.kv); i += 2 {
		f(s.kv[i], s.kv[i+1])
	}
}

// placedFingerprint identifies a placement's facts and time, for a reused
// shop_event_id.
func placedFingerprint(p *placement, at time.Time) uint64 {
	var buf [160]byte
	b := append(buf[:0], schemas.TypeOrderPlaced...)
	b = append(b, '|')
	b = append(b, p.amountText...)
	b = append(b, '|')
	b = append(b, p.amount.Currency()...)
	b = append(b, '|')
	b = append(b, p.country...)
	b = append(b, '|')
	for i, c := range p.codes {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, c...)
	}
	b = append(b, '|')
	b = at.AppendFormat(b, time.RFC3339Nano)
	return bytesHash(b)
}

// shopFingerprint identifies another event for a reused shop_event_id: its
// type, its facts (if it has any) and its time.
func shopFingerprint(typ, facts string, at time.Time) uint64 {
	var buf [96]byte
	b := append(buf[:0], typ...)
	if facts != "" {
		b = append(b, '|')
		b = append(b, facts...)
	}
	b = append(b, '|')
	b = at.AppendFormat(b, time.RFC3339Nano)
	return bytesHash(b)
}

// bytesHash is IDHash of b.
func bytesHash(b []byte) uint64 {
	sum := sha256.Sum256(b)
	h := binary.BigEndian.Uint64(sum[:8])
	if h == 0 {
		h = 1
	}
	return h
}

// deref returns the value a pointer payload points to, so that Apply and
// Emitted accept both *T (as schemas.Decode returns) and T; a nil pointer
// gives nil.
func deref(ev schemas.Event) schemas.Event {
	switch p := ev.(type) {
	case *schemas.OrderPlaced:
		return value(p)
	case *schemas.OrderConfirmed:
		return value(p)
	case *schemas.OrderCancelled:
		return value(p)
	case *schemas.OrderRefunded:
		return value(p)
	case *schemas.OrderHoldExpired:
		return value(p)
	case *schemas.OrderAttributed:
		return value(p)
	case *schemas.OrderEarningsAdjusted:
		return value(p)
	case *schemas.OrderUnattributed:
		return value(p)
	}
	return ev
}

// pointer returns the pointer form of an order event payload, so that Apply
// takes both *T (as schemas.Decode returns, without a copy) and T; a nil
// pointer gives nil.
func pointer(ev schemas.Event) schemas.Event {
	switch p := ev.(type) {
	case *schemas.OrderPlaced:
		return nonNil(p)
	case *schemas.OrderConfirmed:
		return nonNil(p)
	case *schemas.OrderCancelled:
		return nonNil(p)
	case *schemas.OrderRefunded:
		return nonNil(p)
	case *schemas.OrderHoldExpired:
		return nonNil(p)
	case *schemas.OrderAttributed: // not order events: Apply refuses them
		return nonNil(p)
	case *schemas.OrderEarningsAdjusted:
		return nonNil(p)
	case *schemas.OrderUnattributed:
		return nonNil(p)
	case schemas.OrderPlaced:
		return &p
	case schemas.OrderConfirmed:
		return &p
	case schemas.OrderCancelled:
		return &p
	case schemas.OrderRefunded:
		return &p
	case schemas.OrderHoldExpired:
		return &p
	}
	return ev
}

// nonNil returns p, or nil (not a typed nil) when p is nil.
func nonNil[P interface {
	comparable
	schemas.Event
}](p P) schemas.Event {
	var none P
	if p == none {
		return nil
	}
	return p
}

func value[T schemas.Event](p *T) schemas.Event {
	if p == nil {
		return nil
	}
	return *p
}
