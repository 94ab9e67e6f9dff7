package catalog

import (
	"slices"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// Statuses of a code request.
const (
	// RequestModeration: the brand has not decided yet.
	RequestModeration = "moderation"
	// RequestConfirmed: the brand issued a code; the request stays
	// confirmed after the code is revoked (see Request.RevokedAt).
	RequestConfirmed = "confirmed"
	// RequestRejected: the brand refused, with a reason.
	RequestRejected = "rejected"
)

// Brand is the state of one brand's aggregate: the brand, its offers with
// their terms history, its code requests and its codes. The zero value is
// a brand with no events; only Evolve changes it. A Brand is not safe for
// concurrent use: its single writer evolves it, and readers on other
// goroutines need their own copy or a lock.
type Brand struct {
	id   string
	name string
	// apiKey holds hashes, webhookSecret salts.
	apiKey        Credential
	webhookSecret Credential
	registeredAt  time.Time
	// clock is the effective time of the latest event that changed the
	// state; effective times never go below it.
	clock time.Time

	offers     map[string]*Offer
	offerOrder []string
	requests   map[string]*Request
	// requestOrder and byCreator list request ids in log order.
	requestOrder []string
	byCreator    map[string][]string
	// codes maps a normalised text to the requests that were issued it, in
	// confirmation order; at most the last one is not revoked.
	codes map[string][]string
	// connectors maps a shop platform to the brand's connector of it.
	connectors map[string]*Connector
}

// Offer is one offer of a brand with every version of its terms.
type Offer struct {
	OfferID     string
	BrandID     string
	PublishedAt time.Time
	// History holds every version, oldest first; it is never empty. Each
	// version is in force from its EffectiveFrom until the next one's.
	History []OfferVersion
}

// OfferVersion is an offer's name, terms and status from one instant on.
type OfferVersion struct {
	// EffectiveFrom is the effective time of the event that made this
	// version (see the package doc on effective times).
	EffectiveFrom time.Time
	Name          string
	Payout        schemas.Payout
	Countries     []string
	Platforms     []string
	HoldDays      int
	// Status is schemas.OfferActive or schemas.OfferPaused.
	Status string
	// eventID is the event that made this version: offer.changed, the one
	// event whose apply is not idempotent by itself, is deduplicated by it.
	eventID string
}

// Request is a creator's code request and, once confirmed, its code.
type Request struct {
	RequestID string
	BrandID   string
	OfferID   string
	CreatorID string
	Platform  string
	// Status is RequestModeration, RequestConfirmed or RequestRejected.
	Status      string
	RequestedAt time.Time
	// DecidedAt is when the brand confirmed or rejected; zero in moderation.
	DecidedAt time.Time
	// Reason is the rejection reason.
	Reason string
	// Code and NormalizedCode are the issued code of a confirmed request.
	Code           string
	NormalizedCode string
	// RevokedAt is when the code was revoked; zero while it is not.
	RevokedAt time.Time
}

// Code is an issued promo code: a confirmed request seen from its code.
type Code struct {
	// Code is the text as the brand typed it (or as generated);
	// NormalizedCode is it through promocode.Normalize.
	Code           string
	NormalizedCode string
	BrandID        string
	OfferID        string
	CreatorID      string
	RequestID      string
	Platform       string
	// ActiveFrom is the confirmation's effective time.
	ActiveFrom time.Time
	// RevokedAt is when the code was revoked; zero while it is not.
	RevokedAt time.Time
}

// Revoked reports whether the code has been revoked.
func (c Code) Revoked() bool { return !c.RevokedAt.IsZero() }

// ActiveAt reports whether the code attributes an order placed at t:
// confirmed at or before t, and not revoked at or before t.
func (c Code) ActiveAt(t time.Time) bool {
	return !t.Before(c.ActiveFrom) && (c.RevokedAt.IsZero() || t.Before(c.RevokedAt))
}

// Evolve applies one event of the brand's stream: env carries its id and
// occurred_at, ev its decoded payload (a value or a pointer, as
// schemas.Decode returns). Feed it the brand's stream in log order. Events
// of other brands, of creators and analysts, of orders, any event before
// the brand's registration, and events that do not fit the state (which
// Decide never emits, such as a confirmation of an unknown request) change
// nothing.
//
// Evolve is idempotent for a redelivered event, by making each apply
// idempotent: brand.registered, offer.published and code.requested for a
// known id, code.confirmed and code.rejected for a request no longer in
// moderation, code.revoked for a revoked code, and a rotation whose
// replaced value is not the current one change nothing. The one
// event not idempotent by its content, offer.changed (a partial change
// applied to whatever version is current), is deduplicated by its event
// id, which the offer's history keeps; an offer.changed that would not
// change the current version adds none either.
func (b *Brand) Evolve(env schemas.Envelope, ev schemas.Event) {
	ev = schemas.ValueOf(ev)
	brandID, ok := schemas.CatalogBrandOf(ev)
	if !ok || brandID != b.id {
		// Until the brand is registered only its registration applies;
		// after, only its own events.
		if _, reg := ev.(schemas.BrandRegistered); !ok || !reg || b.id != "" {
			return
		}
	}
	at := env.OccurredAt.UTC()
	if at.Before(b.clock) {
		at = b.clock
	}
	var changed bool
	switch e := ev.(type) {
	case schemas.BrandRegistered:
		changed = b.applyBrandRegistered(e, at)
	case schemas.OfferPublished:
		changed = b.applyOfferPublished(e, at, env.EventID)
	case schemas.OfferChanged:
		changed = b.applyOfferChanged(e, at, env.EventID)
	case schemas.CodeRequested:
		changed = b.applyCodeRequested(e, at)
	case schemas.CodeConfirmed:
		changed = b.applyCodeConfirmed(e, at)
	case schemas.CodeRejected:
		changed = b.applyCodeRejected(e, at)
	case schemas.CodeRevoked:
		changed = b.applyCodeRevoked(e, at)
	case schemas.BrandAPIKeyRotated:
		changed = b.apiKey.apply(e.APIKeyHash, e.PreviousAPIKeyHash, at)
	case schemas.BrandWebhookSecretRotated:
		changed = b.webhookSecret.apply(e.WebhookSecretSalt, e.PreviousWebhookSecretSalt, at)
	case schemas.ConnectorSet:
		changed = b.applyConnectorSet(e, at)
	case schemas.ConnectorRemoved:
		changed = b.applyConnectorRemoved(e)
	}
	if changed {
		b.clock = at
	}
}

func (b *Brand) applyBrandRegistered(e schemas.BrandRegistered, at time.Time) bool {
	if b.id != "" {
		return false
	}
	b.id, b.name = e.BrandID, e.Name
	b.apiKey, b.webhookSecret = Credential{Current: e.APIKeyHash}, Credential{Current: e.WebhookSecretSalt}
	b.registeredAt = at
	return true
}

func (b *Brand) applyOfferPublished(e schemas.OfferPublished, at time.Time, eventID string) bool {
	if _, ok := b.offers[e.OfferID]; ok {
		return false
	}
	if b.offers == nil {
		b.offers = make(map[string]*Offer)
	}
	b.offers[e.OfferID] = &Offer{
		OfferID:     e.OfferID,
		BrandID:     e.BrandID,
		PublishedAt: at,
		History: []OfferVersion{{
			EffectiveFrom: at,
			Name:          e.Name,
			Payout:        e.Payout,
			Countries:     slices.Clone(e.Countries),
			Platforms:     slices.Clone(e.Platforms),
			HoldDays:      e.HoldDays,
			Status:        e.Status,
			eventID:       eventID,
		}},
	}
	b.offerOrder = append(b.offerOrder, e.OfferID)
	return true
}

func (b *Brand) applyOfferChanged(e schemas.OfferChanged, at time.Time, eventID string) bool {
	o, ok := b.offers[e.OfferID]
	if !ok {
		return false
	}
	if eventID != "" && slices.ContainsFunc(o.History, func(v OfferVersion) bool { return v.eventID == eventID }) {
		return false
	}
	cur := o.History[len(o.History)-1]
	next := WithChange(cur, e)
	if SameTerms(cur, next) {
		return false
	}
	next.EffectiveFrom, next.eventID = at, eventID
	o.History = append(o.History, next)
	return true
}

// WithChange returns v with the fields e sets replaced; its lists are
// never shared with v. It is the one rule by which an offer.changed folds
// into an offer's terms; the read models use it too.
func WithChange(v OfferVersion, e schemas.OfferChanged) OfferVersion {
	if e.Name != nil {
		v.Name = *e.Name
	}
	if e.Payout != nil {
		v.Payout = *e.Payout
	}
	if e.Countries != nil {
		v.Countries = slices.Clone(*e.Countries)
	}
	if e.Platforms != nil {
		v.Platforms = slices.Clone(*e.Platforms)
	}
	if e.HoldDays != nil {
		v.HoldDays = *e.HoldDays
	}
	if e.Status != nil {
		v.Status = *e.Status
	}
	return v
}

// SameTerms reports whether two versions have the same name, terms and
// status: a change to the same terms makes no new version.
func SameTerms(a, b OfferVersion) bool {
	return a.Name == b.Name && a.Payout == b.Payout && slices.Equal(a.Countries, b.Countries) &&
		slices.Equal(a.Platforms, b.Platforms) && a.HoldDays == b.HoldDays && a.Status == b.Status
}

func (b *Brand) applyCodeRequested(e schemas.CodeRequested, at time.Time) bool {
	if _, ok := b.requests[e.RequestID]; ok {
		return false
	}
	if b.requests == nil {
		b.requests = make(map[string]*Request)
		b.byCreator = make(map[string][]string)
	}
	b.requests[e.RequestID] = &Request{
		RequestID:   e.RequestID,
		BrandID:     e.BrandID,
		OfferID:     e.OfferID,
		CreatorID:   e.CreatorID,
		Platform:    e.Platform,
		Status:      RequestModeration,
		RequestedAt: at,
	}
	b.requestOrder = append(b.requestOrder, e.RequestID)
	b.byCreator[e.CreatorID] = append(b.byCreator[e.CreatorID], e.RequestID)
	return true
}

func (b *Brand) applyCodeConfirmed(e schemas.CodeConfirmed, at time.Time) bool {
	r, ok := b.requests[e.RequestID]
	if !ok || r.Status != RequestModeration {
		return false
	}
	r.Status, r.DecidedAt = RequestConfirmed, at
	r.Code, r.NormalizedCode = e.Code, e.NormalizedCode
	if b.codes == nil {
		b.codes = make(map[string][]string)
	}
	b.codes[e.NormalizedCode] = append(b.codes[e.NormalizedCode], e.RequestID)
	return true
}

func (b *Brand) applyCodeRejected(e schemas.CodeRejected, at time.Time) bool {
	r, ok := b.requests[e.RequestID]
	if !ok || r.Status != RequestModeration {
		return false
	}
	r.Status, r.DecidedAt, r.Reason = RequestRejected, at, e.Reason
	return true
}

func (b *Brand) applyCodeRevoked(e schemas.CodeRevoked, at time.Time) bool {
	r, ok := b.requests[e.RequestID]
	if !ok || r.Status != RequestConfirmed || !r.RevokedAt.IsZero() {
		return false
	}
	r.RevokedAt = at
	return true
}
