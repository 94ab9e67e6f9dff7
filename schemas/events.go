package schemas

import "time"

// Topics of the event store. Every event type lives on exactly one topic;
// TopicOf names it.
const (
	// TopicCatalog holds brand, creator and analyst registrations, offer
	// events and code events. Brand-scoped events are keyed by brand id;
	// principals without a brand (creators, analysts) by their own id.
	TopicCatalog = "attrib.catalog"
	// TopicOrders holds the order events the brands' shops send, plus the
	// hold expiry the engine emits. Keyed by OrderKey(brand id, order id).
	TopicOrders = "attrib.orders"
	// TopicAttributions holds the attribution worker's output: attributed,
	// unattributed and earnings-adjusted orders. Keyed by OrderKey.
	TopicAttributions = "attrib.attributions"
)

// Event type names, as carried in Envelope.Type.
const (
	TypeBrandRegistered       = "brand.registered"
	TypeCreatorRegistered     = "creator.registered"
	TypeAnalystRegistered     = "analyst.registered"
	TypeOfferPublished        = "offer.published"
	TypeOfferChanged          = "offer.changed"
	TypeCodeRequested         = "code.requested"
	TypeCodeConfirmed         = "code.confirmed"
	TypeCodeRejected          = "code.rejected"
	TypeCodeRevoked           = "code.revoked"
	TypeOrderPlaced           = "order.placed"
	TypeOrderConfirmed        = "order.confirmed"
	TypeOrderCancelled        = "order.cancelled"
	TypeOrderRefunded         = "order.refunded"
	TypeOrderHoldExpired      = "order.hold_expired"
	TypeOrderAttributed       = "order.attributed"
	TypeOrderUnattributed     = "order.unattributed"
	TypeOrderEarningsAdjusted = "order.earnings_adjusted"
)

// Payout types of an offer.
const (
	// PayoutFixed pays Value (an amount in Currency) once per attributed order.
	PayoutFixed = "fixed"
	// PayoutPercent pays Value percent of the order's (net) amount.
	PayoutPercent = "percent"
)

// Offer statuses.
const (
	OfferActive = "active"
	OfferPaused = "paused"
)

// Order statuses as creators see them.
const (
	// StatusPending: placed, awaiting the brand or the end of the hold.
	StatusPending = "pending"
	// StatusApproved: confirmed by the brand, or the hold ran out; earnings are final.
	StatusApproved = "approved"
	// StatusRejected: cancelled or fully refunded; earnings are zero.
	StatusRejected = "rejected"
)

// Outcomes of one code on an order, recorded in Decision.Candidates, and
// (except OutcomeWon and OutcomePassedOver) reasons of OrderUnattributed.
const (
	// OutcomeWon: the first code in the order's list that was active at placed time.
	OutcomeWon = "won"
	// OutcomePassedOver: the code was active, but an earlier code on the order won.
	OutcomePassedOver = "passed_over"
	// OutcomeUnknownCode: no code with this normalised text at the brand.
	OutcomeUnknownCode = "unknown_code"
	// OutcomeCodeNotActive: the code exists but was confirmed after the order was placed.
	OutcomeCodeNotActive = "code_not_active"
	// OutcomeCodeRevoked: the code was revoked before the order was placed.
	OutcomeCodeRevoked = "code_revoked"
	// ReasonNoCode: the order carried no promo code at all (unattributed only).
	ReasonNoCode = "no_code"
)

// UnknownCountry is the ISO 3166 user-assigned code for "unknown"; the
// upcaster of order.placed v1 (which had no country) fills it in.
const UnknownCountry = "ZZ"

// Struct tags: `json` names the field; `schema` constrains it in the JSON
// Schema generated from these types (see schemagen_test.go). A `schema` tag
// is a comma-separated list of a named kind (id, name, decimal, currency,
// country, platform, sha256, event_type, email, promo_code) and key=value options
// (enum=a|b, min=N, max=N). On a slice the kind applies to its items. A field
// is required unless it is a pointer or has omitempty.

// BrandRegistered records a new brand. The API key and the webhook secret
// never enter the log: the key is stored as its hash, and the webhook secret
// is derived from a server master key and WebhookSecretSalt.
type BrandRegistered struct {
	BrandID string `json:"brand_id" schema:"id"`
	Name    string `json:"name" schema:"name"`
	// APIKeyHash is the hex SHA-256 of the brand's API key.
	APIKeyHash string `json:"api_key_hash" schema:"sha256"`
	// WebhookSecretSalt is mixed with the server master key to derive the
	// webhook secret.
	WebhookSecretSalt string `json:"webhook_secret_salt" schema:"name"`
}

// CreatorRegistered records a new creator.
type CreatorRegistered struct {
	CreatorID string `json:"creator_id" schema:"id"`
	Name      string `json:"name" schema:"name"`
	Email     string `json:"email" schema:"email"`
	// TokenHash is the hex SHA-256 of the creator's bearer token.
	TokenHash string `json:"token_hash" schema:"sha256"`
}

// AnalystRegistered records a new analyst.
type AnalystRegistered struct {
	AnalystID string `json:"analyst_id" schema:"id"`
	Name      string `json:"name" schema:"name"`
	// TokenHash is the hex SHA-256 of the analyst's bearer token.
	TokenHash string `json:"token_hash" schema:"sha256"`
}

// Payout is what an offer pays per attributed order.
type Payout struct {
	// Type is PayoutFixed or PayoutPercent.
	Type string `json:"type" schema:"enum=fixed|percent"`
	// Value is an amount ("150.00") for a fixed payout, a percent ("7.5")
	// for a percent payout.
	Value string `json:"value" schema:"decimal"`
	// Currency is the ISO 4217 code of a fixed payout's amount.
	Currency string `json:"currency" schema:"currency"`
}

// OfferPublished records a new CPA offer of a brand.
type OfferPublished struct {
	OfferID string `json:"offer_id" schema:"id"`
	BrandID string `json:"brand_id" schema:"id"`
	Name    string `json:"name" schema:"name"`
	Payout  Payout `json:"payout"`
	// Countries are ISO 3166-1 alpha-2 codes.
	Countries []string `json:"countries" schema:"country"`
	// Platforms are lowercase names (instagram, tiktok, youtube, telegram, vk, ...).
	Platforms []string `json:"platforms" schema:"platform"`
	HoldDays  int      `json:"hold_days" schema:"min=0,max=365"`
	// Status is OfferActive or OfferPaused.
	Status string `json:"status" schema:"enum=active|paused"`
}

// OfferChanged records a change of an offer's terms or status. Only the
// fields present change; a nil field keeps its value. The change is
// effective at the envelope's OccurredAt: orders placed before it keep the
// old terms, orders placed at or after it get the new ones.
type OfferChanged struct {
	OfferID   string    `json:"offer_id" schema:"id"`
	BrandID   string    `json:"brand_id" schema:"id"`
	Name      *string   `json:"name,omitempty" schema:"name"`
	Payout    *Payout   `json:"payout,omitempty"`
	Countries *[]string `json:"countries,omitempty" schema:"country"`
	Platforms *[]string `json:"platforms,omitempty" schema:"platform"`
	HoldDays  *int      `json:"hold_days,omitempty" schema:"min=0,max=365"`
	Status    *string   `json:"status,omitempty" schema:"enum=active|paused"`
}

// CodeRequested records a creator asking for a promo code for an offer; the
// request is then in moderation.
type CodeRequested struct {
	RequestID string `json:"request_id" schema:"id"`
	BrandID   string `json:"brand_id" schema:"id"`
	OfferID   string `json:"offer_id" schema:"id"`
	CreatorID string `json:"creator_id" schema:"id"`
	// Platform is where the creator will share the code.
	Platform string `json:"platform" schema:"platform"`
}

// CodeConfirmed records the brand issuing a code for a request. The code is
// active from the envelope's OccurredAt.
type CodeConfirmed struct {
	RequestID string `json:"request_id" schema:"id"`
	BrandID   string `json:"brand_id" schema:"id"`
	OfferID   string `json:"offer_id" schema:"id"`
	CreatorID string `json:"creator_id" schema:"id"`
	Platform  string `json:"platform" schema:"platform"`
	// Code is the code as the brand typed it (or as generated).
	Code string `json:"code" schema:"name"`
	// NormalizedCode is Code through the one normalisation function; codes
	// match, and are unique per brand, by it.
	NormalizedCode string `json:"normalized_code" schema:"name"`
}

// CodeRejected records the brand refusing a request, with a reason the
// creator can read.
type CodeRejected struct {
	RequestID string `json:"request_id" schema:"id"`
	BrandID   string `json:"brand_id" schema:"id"`
	OfferID   string `json:"offer_id" schema:"id"`
	CreatorID string `json:"creator_id" schema:"id"`
	Reason    string `json:"reason"`
}

// CodeRevoked records the brand revoking a code. Orders placed at or after
// the envelope's OccurredAt are not attributed to it.
type CodeRevoked struct {
	BrandID        string `json:"brand_id" schema:"id"`
	RequestID      string `json:"request_id" schema:"id"`
	Code           string `json:"code" schema:"name"`
	NormalizedCode string `json:"normalized_code" schema:"name"`
}

// OrderPlaced records an order placed on a brand's shop (schema version 2;
// version 1 had no Country). The envelope's OccurredAt is the placed time.
type OrderPlaced struct {
	OrderID string `json:"order_id" schema:"id"`
	BrandID string `json:"brand_id" schema:"id"`
	// ShopEventID is the shop's event_id; duplicates are dropped by it.
	ShopEventID string `json:"shop_event_id" schema:"id"`
	// PromoCodes are the codes as the shop sent them, in its order, each
	// through promocode.Stored; any text, matched or not.
	PromoCodes []string `json:"promo_codes" schema:"promo_code"`
	Amount     string   `json:"amount" schema:"decimal"`
	Currency   string   `json:"currency" schema:"currency"`
	// Country is ISO 3166-1 alpha-2; UnknownCountry for events written
	// before version 2.
	Country string `json:"country" schema:"country"`
}

// OrderConfirmed records the brand confirming an order (return window over).
type OrderConfirmed struct {
	OrderID     string `json:"order_id" schema:"id"`
	BrandID     string `json:"brand_id" schema:"id"`
	ShopEventID string `json:"shop_event_id" schema:"id"`
}

// OrderCancelled records the brand cancelling an order.
type OrderCancelled struct {
	OrderID     string `json:"order_id" schema:"id"`
	BrandID     string `json:"brand_id" schema:"id"`
	ShopEventID string `json:"shop_event_id" schema:"id"`
}

// OrderRefunded records a full or partial refund of an order.
type OrderRefunded struct {
	OrderID     string `json:"order_id" schema:"id"`
	BrandID     string `json:"brand_id" schema:"id"`
	ShopEventID string `json:"shop_event_id" schema:"id"`
	// RefundAmount is this refund's amount, in the order's currency.
	RefundAmount string `json:"refund_amount" schema:"decimal"`
}

// OrderHoldExpired is emitted by the engine when an attributed order's hold
// period ends without a cancellation, so replay reaches the same status.
type OrderHoldExpired struct {
	OrderID    string    `json:"order_id" schema:"id"`
	BrandID    string    `json:"brand_id" schema:"id"`
	OfferID    string    `json:"offer_id" schema:"id"`
	HoldDays   int       `json:"hold_days" schema:"min=0,max=365"`
	HoldEndsAt time.Time `json:"hold_ends_at"`
}

// Terms are the offer's terms in force when the order was placed.
type Terms struct {
	Payout
	HoldDays int `json:"hold_days" schema:"min=0,max=365"`
}

// Candidate is one code on an order and what became of it.
type Candidate struct {
	// Code is the code as the shop sent it.
	Code           string `json:"code" schema:"promo_code"`
	NormalizedCode string `json:"normalized_code"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome" schema:"enum=won|passed_over|unknown_code|code_not_active|code_revoked"`
	// CreatorID, OfferID, RequestID and ActiveFrom are set for known codes;
	// RevokedAt for revoked ones.
	CreatorID  string     `json:"creator_id,omitempty" schema:"id"`
	OfferID    string     `json:"offer_id,omitempty" schema:"id"`
	RequestID  string     `json:"request_id,omitempty" schema:"id"`
	ActiveFrom *time.Time `json:"active_from,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Decision explains an attribution: every code on the order, in list order.
type Decision struct {
	Candidates []Candidate `json:"candidates"`
}

// Attribution is the full row of an attributed order, so that a projection
// needs no lookups. OrderAttributed and OrderEarningsAdjusted carry it.
type Attribution struct {
	OrderID   string `json:"order_id" schema:"id"`
	BrandID   string `json:"brand_id" schema:"id"`
	CreatorID string `json:"creator_id" schema:"id"`
	OfferID   string `json:"offer_id" schema:"id"`
	OfferName string `json:"offer_name"`
	RequestID string `json:"request_id" schema:"id"`
	// PromoCode is the normalised winning code.
	PromoCode string `json:"promo_code" schema:"name"`
	Platform  string `json:"platform" schema:"platform"`
	Terms     Terms  `json:"terms"`
	// Amount is the order amount as placed; NetAmount is Amount less refunds.
	Amount    string `json:"amount" schema:"decimal"`
	NetAmount string `json:"net_amount" schema:"decimal"`
	Currency  string `json:"currency" schema:"currency"`
	Country   string `json:"country" schema:"country"`
	// Status is StatusPending, StatusApproved or StatusRejected.
	Status           string    `json:"status" schema:"enum=pending|approved|rejected"`
	Earnings         string    `json:"earnings" schema:"decimal"`
	EarningsCurrency string    `json:"earnings_currency" schema:"currency"`
	PlacedAt         time.Time `json:"placed_at"`
	// Version grows with every change to this order's attribution;
	// projections keep the row with the highest.
	Version  uint64   `json:"version"`
	Decision Decision `json:"decision"`
	// LastEventAt is the OccurredAt of the latest order event folded in.
	LastEventAt time.Time `json:"last_event_at"`
}

// OrderAttributed records an order attributed to a creator's code.
type OrderAttributed struct {
	Attribution
}

// OrderEarningsAdjusted records a change of an attributed order's status or
// earnings (confirmation, cancellation, refund, hold expiry), as the full row.
type OrderEarningsAdjusted struct {
	Attribution
	// Cause is the type of the event that changed the row, e.g. "order.refunded".
	Cause string `json:"cause" schema:"event_type"`
}

// OrderUnattributed records an order no creator earns from, with the reason.
// Creators never see these; analysts do.
type OrderUnattributed struct {
	OrderID    string   `json:"order_id" schema:"id"`
	BrandID    string   `json:"brand_id" schema:"id"`
	PromoCodes []string `json:"promo_codes" schema:"promo_code"`
	// Reason is ReasonNoCode or the outcome of the order's first code.
	Reason   string    `json:"reason" schema:"enum=no_code|unknown_code|code_not_active|code_revoked"`
	Decision Decision  `json:"decision"`
	Amount   string    `json:"amount" schema:"decimal"`
	Currency string    `json:"currency" schema:"currency"`
	Country  string    `json:"country" schema:"country"`
	PlacedAt time.Time `json:"placed_at"`
	// Version orders successive rows of this order, as Attribution.Version.
	Version uint64 `json:"version"`
}

// EventType returns TypeBrandRegistered.
func (BrandRegistered) EventType() string { return TypeBrandRegistered }

// EventType returns TypeCreatorRegistered.
func (CreatorRegistered) EventType() string { return TypeCreatorRegistered }

// EventType returns TypeAnalystRegistered.
func (AnalystRegistered) EventType() string { return TypeAnalystRegistered }

// EventType returns TypeOfferPublished.
func (OfferPublished) EventType() string { return TypeOfferPublished }

// EventType returns TypeOfferChanged.
func (OfferChanged) EventType() string { return TypeOfferChanged }

// EventType returns TypeCodeRequested.
func (CodeRequested) EventType() string { return TypeCodeRequested }

// EventType returns TypeCodeConfirmed.
func (CodeConfirmed) EventType() string { return TypeCodeConfirmed }

// EventType returns TypeCodeRejected.
func (CodeRejected) EventType() string { return TypeCodeRejected }

// EventType returns TypeCodeRevoked.
func (CodeRevoked) EventType() string { return TypeCodeRevoked }

// EventType returns TypeOrderPlaced.
func (OrderPlaced) EventType() string { return TypeOrderPlaced }

// EventType returns TypeOrderConfirmed.
func (OrderConfirmed) EventType() string { return TypeOrderConfirmed }

// EventType returns TypeOrderCancelled.
func (OrderCancelled) EventType() string { return TypeOrderCancelled }

// EventType returns TypeOrderRefunded.
func (OrderRefunded) EventType() string { return TypeOrderRefunded }

// EventType returns TypeOrderHoldExpired.
func (OrderHoldExpired) EventType() string { return TypeOrderHoldExpired }

// EventType returns TypeOrderAttributed.
func (OrderAttributed) EventType() string { return TypeOrderAttributed }

// EventType returns TypeOrderUnattributed.
func (OrderUnattributed) EventType() string { return TypeOrderUnattributed }

// EventType returns TypeOrderEarningsAdjusted.
func (OrderEarningsAdjusted) EventType() string { return TypeOrderEarningsAdjusted }
