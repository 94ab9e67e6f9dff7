package attribution

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/schemas"
)

// Reasons Decide gives in Outcome.Wait for emitting nothing yet.
const (
	// WaitPlacement: events of the order arrived, its placement has not;
	// they are kept and decided when it arrives.
	WaitPlacement = "awaiting placement"
	// WaitOffer: the winning code's offer is not in the offer index (yet),
	// or its terms do not parse; decide again when the index changes.
	WaitOffer = "awaiting offer terms"
)

// Outcome is what Decide says to emit for an order.
type Outcome struct {
	// Event is the payload to write to attrib.attributions:
	// schemas.OrderAttributed, schemas.OrderEarningsAdjusted or
	// schemas.OrderUnattributed (values, not pointers). Nil when there is
	// nothing to emit.
	Event schemas.Event
	// OccurredAt is the time to give the envelope: the occurred_at of the
	// latest order event folded in (the row's last_event_at), so replay
	// writes the same envelope times.
	OccurredAt time.Time
	// Wait says why nothing is emitted although the order has events not
	// yet covered by an emitted row: WaitPlacement or WaitOffer; "" otherwise.
	Wait string
}

// Envelope wraps the outcome's event for the log (schemas.NewEnvelopeFor,
// which validates it against its JSON Schema), recorded at recordedAt.
func (o Outcome) Envelope(recordedAt time.Time) (schemas.Envelope, error) {
	if o.Event == nil {
		return schemas.Envelope{}, errors.New("attribution outcome: nothing to emit")
	}
	return schemas.NewEnvelopeFor(o.Event, o.OccurredAt, recordedAt)
}

// emission is what the log already holds for the order.
type emission struct {
	// version of the latest emitted row, 0 if none.
	version uint64
	// dec is the decision of the emitted rows, nil until the first one.
	dec *decision
}

// decision is who, if anyone, the order is attributed to, and why: taken
// once and repeated in every row of the order.
type decision struct {
	attributed bool
	// reason of an unattributed order.
	reason     string
	candidates []schemas.Candidate
	winner     CodeRecord
	offerName  string
	terms      schemas.Terms
	// fixed is the parsed payout of fixed terms (fixedText its String),
	// percent of percent terms.
	fixed     money.Amount
	fixedText string
	percent   money.Percent
}

// Resolution is the first half of an order's first decision: every code's
// outcome against the code index, and the winner. Resolve takes it; Decide
// completes it with the winner's offer. The zero Resolution is "nothing to
// resolve": the order is not placed, or its decision is taken already.
type Resolution struct {
	d       decision
	brandID string
	// needed: the order awaits its first decision, d holds it.
	needed bool
}

// Resolve resolves the order's codes for its first decision: each code
// once, at the placed time. It returns the zero Resolution when the order
// needs none (not placed yet, or a row already states its decision). An
// adapter that decides many orders resolves them all, looks up the offers
// their Offer methods name at once, then Decides.
func Resolve(st *OrderState, codes Codes) Resolution {
	p := st.placed
	if p == nil || st.emitted.dec != nil {
		return Resolution{}
	}
	var d decision
	d.candidates = make([]schemas.Candidate, len(p.codes))
	for i, raw := range p.codes {
		n := p.normalized[i]
		rec, outcome, active := CodeRecord{}, schemas.OutcomeUnknownCode, false
		if n != "" {
			rec, outcome, active = resolve(codes.Lookup(st.brandID, n), p.at)
		}
		if active {
			if d.attributed {
				outcome = schemas.OutcomePassedOver
			} else {
				d.attributed, d.winner = true, rec
			}
		}
		c := schemas.Candidate{Code: raw, NormalizedCode: n, Outcome: outcome}
		if outcome != schemas.OutcomeUnknownCode {
			activeFrom := rec.ActiveFrom.UTC()
			c.CreatorID, c.OfferID, c.RequestID, c.ActiveFrom = rec.CreatorID, rec.OfferID, rec.RequestID, &activeFrom
			if outcome == schemas.OutcomeCodeRevoked {
				revokedAt := rec.RevokedAt.UTC()
				c.RevokedAt = &revokedAt
			}
		}
		if d.reason == "" && n != "" {
			d.reason = outcome // the first non-blank code's outcome
		}
		d.candidates[i] = c
	}
	switch {
	case d.attributed:
		d.reason = ""
	case d.reason == "":
		d.reason = schemas.ReasonNoCode
	}
	return Resolution{d: d, brandID: st.brandID, needed: true}
}

// Offer names the offer whose terms the decision needs: the winning code's.
// ok is false when it needs none (no code won, or nothing to resolve).
func (r *Resolution) Offer() (key OfferKey, ok bool) {
	if !r.needed || !r.d.attributed {
		return OfferKey{}, false
	}
	return OfferKey{BrandID: r.brandID, OfferID: r.d.winner.OfferID}, true
}

// Decide says which attribution row, if any, to emit for the order now. It
// emits when the order has been placed and has distinct events that no
// emitted row covers yet (Version > EmittedVersion): the first row of an
// attributed order is a schemas.OrderAttributed, later ones
// schemas.OrderEarningsAdjusted; every row of an unattributed order is a
// schemas.OrderUnattributed. Each row is complete and carries Version.
//
// The first call that returns ok resolves the codes and looks up the
// winning offer; once the adapter has recorded that row with Emitted, later
// calls repeat its decision without lookups. Decide does not change what
// st holds (it only keeps the result of folding its events): calling it
// again before Emitted returns the same outcome. It is DecideResolved of
// Resolve(st, codes).
func Decide(st *OrderState, codes Codes, offers Offers) (Outcome, bool) {
	if st.placed == nil || st.Version() <= st.emitted.version {
		return DecideResolved(st, nil, offers)
	}
	r := Resolve(st, codes)
	return DecideResolved(st, &r, offers)
}

// DecideResolved is Decide with the codes already resolved by Resolve on
// the same state (r is not used once a row states the decision, and may
// then be nil). It reads offers only for the first
// decision of an attributed order, and only the offer r.Offer names.
func DecideResolved(st *OrderState, r *Resolution, offers Offers) (Outcome, bool) {
	if st.placed == nil {
		if len(st.events) > 0 {
			return Outcome{Wait: WaitPlacement}, false
		}
		return Outcome{}, false
	}
	version := st.Version()
	if version <= st.emitted.version {
		return Outcome{}, false
	}
	dec := st.emitted.dec
	if dec == nil {
		if r == nil || !r.needed {
			panic("attribution: DecideResolved of an order awaiting its first decision without its Resolution")
		}
		d := r.d
		if d.attributed && !d.withOffer(offers, st.brandID, st.placed.at) {
			return Outcome{Wait: WaitOffer}, false
		}
		dec = &d
	}
	f := st.fold()
	p := st.placed
	out := Outcome{OccurredAt: f.lastAt}
	candidates := slices.Clone(dec.candidates)
	if candidates == nil {
		candidates = []schemas.Candidate{}
	}
	if !dec.attributed {
		codes := slices.Clone(p.codes)
		if codes == nil {
			codes = []string{}
		}
		out.Event = schemas.OrderUnattributed{
			OrderID:    st.orderID,
			BrandID:    st.brandID,
			PromoCodes: codes,
			Reason:     dec.reason,
			Decision:   schemas.Decision{Candidates: candidates},
			Amount:     p.amountText,
			Currency:   p.amount.Currency(),
			Country:    p.country,
			PlacedAt:   p.at,
			Version:    version,
		}
		return out, true
	}
	earnings := dec.earnings(f, p.amount.Currency())
	earningsText := dec.fixedText
	if dec.terms.Type != schemas.PayoutFixed || f.status == schemas.StatusRejected {
		earningsText = earnings.String()
	}
	row := schemas.Attribution{
		OrderID:          st.orderID,
		BrandID:          st.brandID,
		CreatorID:        dec.winner.CreatorID,
		OfferID:          dec.winner.OfferID,
		OfferName:        dec.offerName,
		RequestID:        dec.winner.RequestID,
		PromoCode:        dec.winner.Code,
		Platform:         dec.winner.Platform,
		Terms:            dec.terms,
		Amount:           p.amountText,
		NetAmount:        f.netText(p),
		Currency:         p.amount.Currency(),
		Country:          p.country,
		Status:           f.status,
		Earnings:         earningsText,
		EarningsCurrency: earnings.Currency(),
		PlacedAt:         p.at,
		Version:          version,
		Decision:         schemas.Decision{Candidates: candidates},
		LastEventAt:      f.lastAt,
	}
	if st.emitted.dec == nil {
		out.Event = schemas.OrderAttributed{Attribution: row}
	} else {
		out.Event = schemas.OrderEarningsAdjusted{Attribution: row, Cause: st.cause()}
	}
	return out, true
}

// cause returns the type of the newest event (by fold order) among those no
// emitted row covers yet.
func (st *OrderState) cause() string {
	for i := len(st.events) - 1; i >= 0; i-- {
		if st.events[i].seq > st.emitted.version {
			return st.events[i].typ
		}
	}
	return st.events[len(st.events)-1].typ
}

// withOffer completes an attributed decision with its winner's offer at
// placed time: the offer's name and the terms in force then (its first
// terms if it had none yet). false if the offer or its terms are not
// usable yet.
func (d *decision) withOffer(offers Offers, brandID string, placedAt time.Time) bool {
	offer, found := offers.Offer(brandID, d.winner.OfferID)
	if !found {
		return false
	}
	terms, found := offer.TermsAt(placedAt)
	if !found {
		terms, found = offer.firstTerms()
	}
	if !found {
		return false
	}
	d.offerName = offer.Name
	d.terms = schemas.Terms{Payout: terms.Payout, HoldDays: terms.HoldDays}
	return d.parseTerms() == nil
}

// parseTerms parses the payout of d.terms into d.fixed or d.percent.
func (d *decision) parseTerms() error {
	switch d.terms.Type {
	case schemas.PayoutFixed:
		a, err := money.Parse(d.terms.Value, d.terms.Currency)
		if err != nil {
			return fmt.Errorf("fixed payout: %w", err)
		}
		d.fixed, d.fixedText = a, a.String()
	case schemas.PayoutPercent:
		pct, err := money.ParsePercent(d.terms.Value)
		if err != nil {
			return fmt.Errorf("percent payout: %w", err)
		}
		d.percent = pct
	default:
		return fmt.Errorf("payout type %q is neither fixed nor percent", d.terms.Type)
	}
	return nil
}

// earnings are what an attributed order earns in the folded state f, for an
// order in orderCurrency.
func (d *decision) earnings(f folded, orderCurrency string) money.Amount {
	if d.terms.Type == schemas.PayoutFixed {
		if f.status == schemas.StatusRejected {
			return money.Zero(d.fixed.Currency())
		}
		return d.fixed
	}
	if f.status == schemas.StatusRejected {
		return money.Zero(orderCurrency)
	}
	return money.PercentOf(money.FromDecimal(f.basis, orderCurrency), d.percent)
}

// folded is the order's state derived from its events.
type folded struct {
	status string
	// net is the amount less every refund, floored at 0.
	net decimal.Decimal
	// basis is the net that percent earnings apply to: the net at approval
	// for an approved order, the current net while pending.
	basis decimal.Decimal
	// lastAt is the latest occurred_at of the order's events.
	lastAt time.Time
	// refunded says a refund was folded in (net may differ from the
	// amount).
	refunded bool
}

// netText is the row's net amount: the amount's text while no refund
// changed it.
func (f *folded) netText(p *placement) string {
	if !f.refunded {
		return p.amountText
	}
	return money.FromDecimal(f.net, p.amount.Currency()).String()
}

// fold derives status, net and earnings basis from the placed order's
// events, in fold order; see the package documentation for the rules.
func (st *OrderState) fold() folded {
	if !st.folding {
		st.folded, st.folding = st.foldEvents(), true
	}
	return st.folded
}

// foldEvents is fold without the memo.
func (st *OrderState) foldEvents() folded {
	amount := st.placed.amount.Decimal()
	net := amount
	f := folded{status: schemas.StatusPending, lastAt: st.placed.at}
	for i := range st.events {
		e := &st.events[i]
		if e.at.After(f.lastAt) {
			f.lastAt = e.at
		}
		switch e.typ {
		case schemas.TypeOrderRefunded:
			net, f.refunded = net.Sub(e.refund), true
			if f.status == schemas.StatusPending && net.Sign() <= 0 {
				f.status = schemas.StatusRejected
			}
		case schemas.TypeOrderCancelled:
			if f.status == schemas.StatusPending {
				f.status = schemas.StatusRejected
			}
		case schemas.TypeOrderConfirmed, schemas.TypeOrderHoldExpired:
			if f.status == schemas.StatusPending {
				f.status = schemas.StatusApproved
				f.basis = net
			}
		}
	}
	if net.Sign() < 0 {
		net = decimal.Zero
	}
	f.net = net
	if f.status != schemas.StatusApproved {
		f.basis = net
	}
	return f
}

// Emitted records in st a row that is now in the log for this order: call it
// after writing an Outcome's event, and, when rebuilding an order, with each
// attribution event read back from attrib.attributions (in any order
// relative to the order events). The row with the highest version sets the
// decision later rows repeat. ev is a schemas.OrderAttributed,
// schemas.OrderEarningsAdjusted or schemas.OrderUnattributed (or a pointer
// to one); anything else, or a row of another order, is an error and
// changes nothing.
func Emitted(st *OrderState, ev schemas.Event) error {
	var brandID, orderID string
	var version uint64
	var attr *schemas.Attribution
	var unattr *schemas.OrderUnattributed
	switch p := deref(ev).(type) {
	case schemas.OrderAttributed:
		brandID, orderID, version, attr = p.BrandID, p.OrderID, p.Version, &p.Attribution
	case schemas.OrderEarningsAdjusted:
		brandID, orderID, version, attr = p.BrandID, p.OrderID, p.Version, &p.Attribution
	case schemas.OrderUnattributed:
		brandID, orderID, version, unattr = p.BrandID, p.OrderID, p.Version, &p
	default:
		return fmt.Errorf("emitted: %T is not an attribution row", ev)
	}
	if brandID == "" || orderID == "" {
		return errors.New("emitted: row without brand_id or order_id")
	}
	if st.brandID != "" && (brandID != st.brandID || orderID != st.orderID) {
		return fmt.Errorf("emitted: row of order %s recorded on order %s",
			schemas.OrderKey(brandID, orderID), schemas.OrderKey(st.brandID, st.orderID))
	}
	d := st.emitted.dec
	if d == nil || !d.states(attr, unattr) {
		// A decision not recorded yet (or another one): read it from the
		// row. A later row repeats the recorded decision, which is kept.
		var nd decision
		if attr != nil {
			nd = decisionOf(*attr)
			if err := nd.parseTerms(); err != nil {
				return fmt.Errorf("emitted: row of order %s version %d: %w", schemas.OrderKey(brandID, orderID), version, err)
			}
		} else {
			nd = decision{reason: unattr.Reason, candidates: slices.Clone(unattr.Decision.Candidates)}
		}
		d = &nd
	}
	st.brandID, st.orderID = brandID, orderID
	if st.emitted.dec == nil || version > st.emitted.version {
		st.emitted.dec = d
	}
	st.emitted.version = max(st.emitted.version, version)
	return nil
}

// states reports whether the row (attr for an attributed one, unattr
// otherwise) states exactly decision d: what decisionOf would read from it.
func (d *decision) states(attr *schemas.Attribution, unattr *schemas.OrderUnattributed) bool {
	if attr == nil {
		return !d.attributed && d.reason == unattr.Reason && sameCandidates(d.candidates, unattr.Decision.Candidates)
	}
	w := &d.winner
	return d.attributed && d.reason == "" && w.BrandID == attr.BrandID && w.Code == attr.PromoCode &&
		w.CreatorID == attr.CreatorID && w.OfferID == attr.OfferID && w.RequestID == attr.RequestID &&
		w.Platform == attr.Platform && w.ActiveFrom.IsZero() && w.RevokedAt == nil &&
		d.offerName == attr.OfferName && d.terms == attr.Terms && sameCandidates(d.candidates, attr.Decision.Candidates)
}

// sameCandidates reports whether two decisions' candidates are equal.
func sameCandidates(a, b []schemas.Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	sameTime := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Code != y.Code || x.NormalizedCode != y.NormalizedCode || x.Outcome != y.Outcome || x.CreatorID != y.CreatorID ||
			x.OfferID != y.OfferID || x.RequestID != y.RequestID || !sameTime(x.ActiveFrom, y.ActiveFrom) || !sameTime(x.RevokedAt, y.RevokedAt) {
			return false
		}
	}
	return true
}

// decisionOf reads the decision back from an attribution row.
func decisionOf(a schemas.Attribution) decision {
	return decision{
		attributed: true,
		candidates: slices.Clone(a.Decision.Candidates),
		winner: CodeRecord{
			BrandID:   a.BrandID,
			Code:      a.PromoCode,
			CreatorID: a.CreatorID,
			OfferID:   a.OfferID,
			RequestID: a.RequestID,
			Platform:  a.Platform,
		},
		offerName: a.OfferName,
		terms:     a.Terms,
	}
}

// HoldDue says whether the engine must emit order.hold_expired for the
// order, and returns the event: for a placed order attributed in an emitted
// row, whose terms have hold_days > 0, that is still pending and has no
// hold expiry yet. The hold ends at placed_at + hold_days * 24h
// (HoldEndsAt). The adapter writes the event to attrib.orders, keyed like
// the order, with occurred_at = HoldEndsAt, once its clock passes HoldEndsAt,
// and feeds it back through Apply like any order event, so replay reaches
// the same status. A late cancellation that occurred before HoldEndsAt
// still rejects the order.
func HoldDue(st *OrderState) (schemas.OrderHoldExpired, bool) {
	d := st.emitted.dec
	if st.placed == nil || d == nil || !d.attributed || d.terms.HoldDays <= 0 || st.holdSeen {
		return schemas.OrderHoldExpired{}, false
	}
	if st.fold().status != schemas.StatusPending {
		return schemas.OrderHoldExpired{}, false
	}
	return schemas.OrderHoldExpired{
		OrderID:    st.orderID,
		BrandID:    st.brandID,
		OfferID:    d.winner.OfferID,
		HoldDays:   d.terms.HoldDays,
		HoldEndsAt: st.placed.at.Add(time.Duration(d.terms.HoldDays) * 24 * time.Hour),
	}, true
}

// Settled says whether nothing the engine does by itself can change the
// order any more, and since when: it is placed, its last row covers every
// event applied, no hold expiry is due for it, and it is unattributed or
// no longer pending (approved or rejected, which the package documentation
// calls final). lastAt is the latest occurred_at of its events. A later
// event of a settled order is still applied exactly (a refund after the
// approval is recorded), which is why an adapter that lets a settled
// order's state leave its hot store must be able to bring it back.
func Settled(st *OrderState) (lastAt time.Time, ok bool) {
	d := st.emitted.dec
	if st.placed == nil || d == nil || st.Version() != st.emitted.version {
		return time.Time{}, false
	}
	if _, due := HoldDue(st); due {
		return time.Time{}, false
	}
	f := st.fold()
	if d.attributed && f.status == schemas.StatusPending {
		return time.Time{}, false
	}
	return f.lastAt, true
}
