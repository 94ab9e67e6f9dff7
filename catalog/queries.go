package catalog

import (
	"slices"
	"time"

	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// RequestListWindow is how long a decided (confirmed or rejected) request
// stays on the creator's request list after the decision.
const RequestListWindow = 14 * 24 * time.Hour

// ID returns the brand id; empty until the brand is registered.
func (b *Brand) ID() string { return b.id }

// Registered reports whether the brand is registered.
func (b *Brand) Registered() bool { return b.id != "" }

// Name returns the brand's name.
func (b *Brand) Name() string { return b.name }

// RegisteredAt returns when the brand was registered.
func (b *Brand) RegisteredAt() time.Time { return b.registeredAt }

// APIKeyHash returns the hex SHA-256 of the brand's API key.
func (b *Brand) APIKeyHash() string { return b.apiKey.Current }

// WebhookSecretSalt returns the salt of the brand's webhook secret.
func (b *Brand) WebhookSecretSalt() string { return b.webhookSecret.Current }

// Offer returns a copy of one offer with its history.
func (b *Brand) Offer(offerID string) (Offer, bool) {
	o, ok := b.offers[offerID]
	if !ok {
		return Offer{}, false
	}
	return o.clone(), true
}

// Offers returns copies of every offer of the brand, in publication order.
func (b *Brand) Offers() []Offer {
	out := make([]Offer, 0, len(b.offerOrder))
	for _, id := range b.offerOrder {
		out = append(out, b.offers[id].clone())
	}
	return out
}

func (o *Offer) clone() Offer {
	c := *o
	c.History = make([]OfferVersion, len(o.History))
	for i, v := range o.History {
		v.Countries, v.Platforms = slices.Clone(v.Countries), slices.Clone(v.Platforms)
		c.History[i] = v
	}
	return c
}

// Current returns the offer's latest version.
func (o Offer) Current() OfferVersion { return o.History[len(o.History)-1] }

// At returns the version in force at t: the latest one effective at or
// before t. ok is false before the offer was published.
func (o Offer) At(t time.Time) (OfferVersion, bool) {
	// The first version effective after t; the one before it is in force.
	i, _ := slices.BinarySearchFunc(o.History, t, func(v OfferVersion, t time.Time) int {
		if v.EffectiveFrom.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return OfferVersion{}, false
	}
	return o.History[i-1], true
}

// OfferAt returns the version of an offer in force at t (its name, terms
// and status then). ok is false for an unknown offer or a t before its
// publication.
func (b *Brand) OfferAt(offerID string, t time.Time) (OfferVersion, bool) {
	o, ok := b.offers[offerID]
	if !ok {
		return OfferVersion{}, false
	}
	v, ok := o.At(t)
	if !ok {
		return OfferVersion{}, false
	}
	v.Countries, v.Platforms = slices.Clone(v.Countries), slices.Clone(v.Platforms)
	return v, true
}

// TermsAt returns the terms of an offer in force at t, which apply to an
// order placed at t, and the offer's status then (schemas.OfferActive or
// schemas.OfferPaused). ok is false for an unknown offer or a t before its
// publication.
func (b *Brand) TermsAt(offerID string, t time.Time) (terms schemas.Terms, status string, ok bool) {
	o, ok := b.offers[offerID]
	if !ok {
		return schemas.Terms{}, "", false
	}
	v, ok := o.At(t)
	if !ok {
		return schemas.Terms{}, "", false
	}
	return schemas.Terms{Payout: v.Payout, HoldDays: v.HoldDays}, v.Status, true
}

// Request returns one request of the brand.
func (b *Brand) Request(requestID string) (Request, bool) {
	r, ok := b.requests[requestID]
	if !ok {
		return Request{}, false
	}
	return *r, true
}

// Requests returns the brand's requests with the given status (every
// request when status is empty), in the order they were made.
func (b *Brand) Requests(status string) []Request {
	var out []Request
	for _, id := range b.requestOrder {
		if r := b.requests[id]; status == "" || r.Status == status {
			out = append(out, *r)
		}
	}
	return out
}

// CreatorRequests returns every request a creator made at this brand, in
// the order they were made.
func (b *Brand) CreatorRequests(creatorID string) []Request {
	var out []Request
	for _, id := range b.byCreator[creatorID] {
		out = append(out, *b.requests[id])
	}
	return out
}

// VisibleRequests returns the creator's requests that their request list
// shows at now: every request in moderation, and decided ones for
// RequestListWindow after the decision.
func (b *Brand) VisibleRequests(creatorID string, now time.Time) []Request {
	var out []Request
	for _, id := range b.byCreator[creatorID] {
		r := b.requests[id]
		if r.Status == RequestModeration || now.Before(r.DecidedAt.Add(RequestListWindow)) {
			out = append(out, *r)
		}
	}
	return out
}

// CreatorCodes returns every code issued to a creator at this brand, in
// confirmation order, revoked ones included (with RevokedAt set) so the
// creator can see why a code stopped earning.
func (b *Brand) CreatorCodes(creatorID string) []Code {
	var out []Code
	for _, id := range b.byCreator[creatorID] {
		if r := b.requests[id]; r.Status == RequestConfirmed {
			out = append(out, r.code())
		}
	}
	slices.SortStableFunc(out, func(x, y Code) int { return x.ActiveFrom.Compare(y.ActiveFrom) })
	return out
}

func (r *Request) code() Code {
	return Code{
		Code:           r.Code,
		NormalizedCode: r.NormalizedCode,
		BrandID:        r.BrandID,
		OfferID:        r.OfferID,
		CreatorID:      r.CreatorID,
		RequestID:      r.RequestID,
		Platform:       r.Platform,
		ActiveFrom:     r.DecidedAt,
		RevokedAt:      r.RevokedAt,
	}
}

// ActiveCode returns the brand's code with this text that was active at t.
// code is matched through promocode.Normalize (it may be raw or already
// normalised). At most one code of a brand is active with a text at any
// instant.
func (b *Brand) ActiveCode(code string, t time.Time) (Code, bool) {
	for _, id := range slices.Backward(b.codes[promocode.Normalize(code)]) {
		if c := b.requests[id].code(); c.ActiveAt(t) {
			return c, true
		}
	}
	return Code{}, false
}

// Codes returns every code the brand issued with this text (matched
// through promocode.Normalize), in confirmation order: all but the last
// are revoked.
func (b *Brand) Codes(code string) []Code {
	var out []Code
	for _, id := range b.codes[promocode.Normalize(code)] {
		out = append(out, b.requests[id].code())
	}
	return out
}

// MatchAt classifies a code text on an order placed at t, for the
// attribution and its explanation. It returns the code and
// schemas.OutcomeWon when a code with the text was active at t (it wins
// unless an earlier code of the order does); else
// schemas.OutcomeCodeRevoked and the latest code with the text revoked at
// or before t; else schemas.OutcomeCodeNotActive and the first code with
// the text confirmed after t; else schemas.OutcomeUnknownCode and no code.
func (b *Brand) MatchAt(code string, t time.Time) (Code, string) {
	codes := b.Codes(code)
	for _, c := range slices.Backward(codes) {
		if c.ActiveAt(t) {
			return c, schemas.OutcomeWon
		}
	}
	for _, c := range slices.Backward(codes) {
		if c.Revoked() && !t.Before(c.RevokedAt) {
			return c, schemas.OutcomeCodeRevoked
		}
	}
	for _, c := range codes {
		if t.Before(c.ActiveFrom) {
			return c, schemas.OutcomeCodeNotActive
		}
	}
	return Code{}, schemas.OutcomeUnknownCode
}

// activeCode returns the code with this normalised text that is not
// revoked: in the log's order, the one a new confirmation would collide
// with.
func (b *Brand) activeCode(normalized string) (Code, bool) {
	ids := b.codes[normalized]
	if len(ids) == 0 {
		return Code{}, false
	}
	r := b.requests[ids[len(ids)-1]]
	if !r.RevokedAt.IsZero() {
		return Code{}, false
	}
	return r.code(), true
}
