package catalog

import "github.com/attrib-engine/attrib/schemas"

// Command is a request to change the catalog. AggregateKey names the
// aggregate that decides it (and the Kafka key its events are written
// with): the brand id for brand commands, the creator's or analyst's own
// id for their registrations.
type Command interface {
	AggregateKey() string
}

// BrandCommand is a Command that the Brand aggregate decides with Decide.
type BrandCommand interface {
	Command
	brandCommand()
}

// RegisterBrand registers a new brand. The caller makes the brand id, the
// API key (keeping only its hash here) and the webhook secret salt, and
// returns the secrets to the operator once.
type RegisterBrand struct {
	BrandID string
	Name    string
	// APIKeyHash is the hex SHA-256 of the brand's API key.
	APIKeyHash string
	// WebhookSecretSalt is mixed with the server master key to derive the
	// brand's webhook secret.
	WebhookSecretSalt string
}

// RegisterCreator registers a new creator; the caller makes the id and the
// token and keeps only the token's hash here.
type RegisterCreator struct {
	CreatorID string
	Name      string
	Email     string
	// TokenHash is the hex SHA-256 of the creator's bearer token.
	TokenHash string
}

// RegisterAnalyst registers a new analyst; the caller makes the id and the
// token and keeps only the token's hash here.
type RegisterAnalyst struct {
	AnalystID string
	Name      string
	// TokenHash is the hex SHA-256 of the analyst's bearer token.
	TokenHash string
}

// PublishOffer publishes a new CPA offer of a brand; it starts active. The
// caller makes the offer id.
type PublishOffer struct {
	BrandID string
	OfferID string
	Name    string
	// Payout is a fixed amount per order in Payout.Currency, or a percent
	// (0 < value <= 100) of the order's amount.
	Payout schemas.Payout
	// Countries are ISO 3166-1 alpha-2 codes, at least one.
	Countries []string
	// Platforms are names from Platforms, at least one.
	Platforms []string
	// HoldDays is the hold period of an order, 0 to MaxHoldDays.
	HoldDays int
}

// ChangeOffer changes an offer's terms or status from the moment its event
// is appended; orders placed before keep the old terms. A nil field keeps
// its value; at least one must be set. Fields set to the value they already
// have are not changes: a command that changes nothing decides no events.
type ChangeOffer struct {
	BrandID string
	OfferID string
	Name    *string
	// Payout replaces the whole payout (type, value and currency).
	Payout *schemas.Payout
	// Countries, when not nil, replaces the list (which must not be empty).
	Countries []string
	// Platforms, when not nil, replaces the list (which must not be empty).
	Platforms []string
	HoldDays  *int
	// Status is schemas.OfferActive or schemas.OfferPaused.
	Status *string
}

// RequestCode is a creator asking the brand for a promo code for one of its
// offers, to share on Platform. The caller makes the request id and has
// checked that the creator is registered (creators are another aggregate).
type RequestCode struct {
	BrandID   string
	OfferID   string
	RequestID string
	CreatorID string
	Platform  string
}

// ConfirmCode is the brand issuing a code for a request in moderation: Code
// as the brand chose it, or, when Code is empty, a text from the
// CodeGenerator passed to Decide.
type ConfirmCode struct {
	BrandID   string
	RequestID string
	Code      string
}

// RejectCode is the brand refusing a request in moderation, with a reason
// the creator reads (1 to MaxReasonLen characters).
type RejectCode struct {
	BrandID   string
	RequestID string
	Reason    string
}

// RevokeCode is the brand revoking its active code with this text (matched
// as codes are, through promocode.Normalize). Orders placed from then on
// are not attributed to it, and the text may be issued again.
type RevokeCode struct {
	BrandID string
	Code    string
}

// AggregateKey returns the brand id.
func (c RegisterBrand) AggregateKey() string { return c.BrandID }

// AggregateKey returns the creator id.
func (c RegisterCreator) AggregateKey() string { return c.CreatorID }

// AggregateKey returns the analyst id.
func (c RegisterAnalyst) AggregateKey() string { return c.AnalystID }

// AggregateKey returns the brand id.
func (c PublishOffer) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c ChangeOffer) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c RequestCode) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c ConfirmCode) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c RejectCode) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c RevokeCode) AggregateKey() string { return c.BrandID }

func (RegisterBrand) brandCommand() {}
func (PublishOffer) brandCommand()  {}
func (ChangeOffer) brandCommand()   {}
func (RequestCode) brandCommand()   {}
func (ConfirmCode) brandCommand()   {}
func (RejectCode) brandCommand()    {}
func (RevokeCode) brandCommand()    {}
