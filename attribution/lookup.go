package attribution

import (
	"time"

	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// CodeRecord is one issued promo code as the code index holds it: built from
// code.confirmed (active from its occurred_at) and code.revoked.
type CodeRecord struct {
	BrandID string
	// Code is the normalised text (promocode.Normalize).
	Code      string
	CreatorID string
	OfferID   string
	RequestID string
	Platform  string
	// ActiveFrom is the occurred_at of the code's confirmation.
	ActiveFrom time.Time
	// RevokedAt is the occurred_at of the code's revocation, nil while the
	// code is not revoked. Orders placed at or after it are not attributed.
	RevokedAt *time.Time
}

// Codes is the code index as the attribution core reads it.
type Codes interface {
	// Lookup returns every code record ever issued at the brand whose
	// normalised text is normalized (none if the text is unknown there), in
	// any order. The slice is read, never kept or modified.
	Lookup(brandID, normalized string) []CodeRecord
}

// TermsChange is an offer's complete terms from EffectiveFrom on: the
// adapter folds offer.published and each offer.changed (whose absent fields
// keep their value) into one TermsChange each, effective at the event's
// occurred_at.
type TermsChange struct {
	EffectiveFrom time.Time
	Payout        schemas.Payout
	HoldDays      int
	// Status is schemas.OfferActive or schemas.OfferPaused.
	Status string
}

// Offer is an offer with the history of its terms.
type Offer struct {
	OfferID string
	BrandID string
	// Name is the offer's current name, copied into attribution rows.
	Name string
	// Changes are the offer's terms over time, in log order.
	Changes []TermsChange
}

// TermsAt returns the terms in force at t: the change with the latest
// EffectiveFrom at or before t (of equal ones, the later in Changes). ok is
// false if every change is after t.
func (o Offer) TermsAt(t time.Time) (terms TermsChange, ok bool) {
	for _, c := range o.Changes {
		if c.EffectiveFrom.After(t) {
			continue
		}
		if !ok || !c.EffectiveFrom.Before(terms.EffectiveFrom) {
			terms, ok = c, true
		}
	}
	return terms, ok
}

// firstTerms returns the change with the earliest EffectiveFrom (of equal
// ones, the first in Changes).
func (o Offer) firstTerms() (terms TermsChange, ok bool) {
	for _, c := range o.Changes {
		if !ok || c.EffectiveFrom.Before(terms.EffectiveFrom) {
			terms, ok = c, true
		}
	}
	return terms, ok
}

// Offers is the offer index as the attribution core reads it.
type Offers interface {
	// Offer returns the brand's offer with its terms history; ok is false
	// if the index does not hold it (yet).
	Offer(brandID, offerID string) (Offer, bool)
}

// CodeKey names the code records of one normalised text at one brand.
type CodeKey struct {
	BrandID    string
	Normalized string
}

// CodeMap is an in-memory Codes: every record per (brand, normalised text).
// Not safe for concurrent writes.
type CodeMap map[CodeKey][]CodeRecord

// Add adds a record under its brand and its code's normal form.
func (m CodeMap) Add(r CodeRecord) {
	r.Code = promocode.Normalize(r.Code)
	k := CodeKey{BrandID: r.BrandID, Normalized: r.Code}
	m[k] = append(m[k], r)
}

// Lookup implements Codes.
func (m CodeMap) Lookup(brandID, normalized string) []CodeRecord {
	return m[CodeKey{BrandID: brandID, Normalized: normalized}]
}

// OfferKey names one offer of one brand.
type OfferKey struct {
	BrandID string
	OfferID string
}

// OfferMap is an in-memory Offers. Not safe for concurrent writes.
type OfferMap map[OfferKey]Offer

// Add adds or replaces an offer.
func (m OfferMap) Add(o Offer) { m[OfferKey{BrandID: o.BrandID, OfferID: o.OfferID}] = o }

// Offer implements Offers.
func (m OfferMap) Offer(brandID, offerID string) (Offer, bool) {
	o, ok := m[OfferKey{BrandID: brandID, OfferID: offerID}]
	return o, ok
}

// resolve picks, among the records of one text, the one that decides the
// outcome of a code on an order placed at t. active reports a record active
// at t; otherwise outcome is OutcomeCodeRevoked, OutcomeCodeNotActive or
// OutcomeUnknownCode (rec is then the zero value). Ties are broken by
// request id so the answer never depends on the order of recs.
func resolve(recs []CodeRecord, t time.Time) (rec CodeRecord, outcome string, active bool) {
	var act, rev, fut *CodeRecord
	for i := range recs {
		r := &recs[i]
		switch {
		case r.ActiveFrom.After(t):
			if fut == nil || r.ActiveFrom.Before(fut.ActiveFrom) ||
				(r.ActiveFrom.Equal(fut.ActiveFrom) && r.RequestID < fut.RequestID) {
				fut = r
			}
		case r.RevokedAt != nil && !t.Before(*r.RevokedAt):
			if rev == nil || r.RevokedAt.After(*rev.RevokedAt) ||
				(r.RevokedAt.Equal(*rev.RevokedAt) && r.RequestID < rev.RequestID) {
				rev = r
			}
		default:
			if act == nil || r.ActiveFrom.Before(act.ActiveFrom) ||
				(r.ActiveFrom.Equal(act.ActiveFrom) && r.RequestID < act.RequestID) {
				act = r
			}
		}
	}
	switch {
	case act != nil:
		return *act, schemas.OutcomeWon, true
	case rev != nil:
		return *rev, schemas.OutcomeCodeRevoked, false
	case fut != nil:
		return *fut, schemas.OutcomeCodeNotActive, false
	}
	return CodeRecord{}, schemas.OutcomeUnknownCode, false
}
