package schemas

// Event types of credential rotation (API v1.1, POST /v1/credentials/rotate).
const (
	TypeBrandAPIKeyRotated        = "brand.api_key_rotated"
	TypeBrandWebhookSecretRotated = "brand.webhook_secret_rotated"
	TypeCreatorTokenRotated       = "creator.token_rotated"
	TypeAnalystTokenRotated       = "analyst.token_rotated"
)

// Rotation events share one rule: from the event's effective time t (its
// occurred_at, made monotonic per aggregate as the catalog does), the new
// value is current; the value it replaces (Previous...) stays valid until
// t + catalog.CredentialGrace; the value that was still in its grace when
// the rotation happened (Retired..., absent when none) is valid no longer
// than t. Validity only ever shrinks, so replaying the events in log order
// gives the same credentials and the same expiries.

// BrandAPIKeyRotated records a brand replacing its API key. Only hashes
// are recorded.
type BrandAPIKeyRotated struct {
	BrandID string `json:"brand_id" schema:"id"`
	// Name is the brand's name, copied so that the principal of the new
	// key derives from this event alone.
	Name string `json:"name" schema:"name"`
	// APIKeyHash is the hex SHA-256 of the new API key.
	APIKeyHash string `json:"api_key_hash" schema:"sha256"`
	// PreviousAPIKeyHash is the key replaced, valid for the grace period.
	PreviousAPIKeyHash string `json:"previous_api_key_hash" schema:"sha256"`
	// RetiredAPIKeyHash is the key before that, when this rotation ends
	// its grace early.
	RetiredAPIKeyHash string `json:"retired_api_key_hash,omitempty" schema:"sha256"`
}

// BrandWebhookSecretRotated records a brand replacing its webhook secret:
// a new salt, from which, with the server master key, the new secret
// derives.
type BrandWebhookSecretRotated struct {
	BrandID string `json:"brand_id" schema:"id"`
	// WebhookSecretSalt is the salt of the new secret.
	WebhookSecretSalt string `json:"webhook_secret_salt" schema:"name"`
	// PreviousWebhookSecretSalt is the salt replaced, whose secret stays
	// valid for the grace period.
	PreviousWebhookSecretSalt string `json:"previous_webhook_secret_salt" schema:"name"`
	// RetiredWebhookSecretSalt is the salt before that, when this rotation
	// ends its grace early.
	RetiredWebhookSecretSalt string `json:"retired_webhook_secret_salt,omitempty" schema:"name"`
}

// CreatorTokenRotated records a creator replacing their bearer token. Only
// hashes are recorded.
type CreatorTokenRotated struct {
	CreatorID string `json:"creator_id" schema:"id"`
	// Name is the creator's name, copied so that the principal of the new
	// token derives from this event alone.
	Name string `json:"name" schema:"name"`
	// TokenHash is the hex SHA-256 of the new token.
	TokenHash string `json:"token_hash" schema:"sha256"`
	// PreviousTokenHash is the token replaced, valid for the grace period.
	PreviousTokenHash string `json:"previous_token_hash" schema:"sha256"`
	// RetiredTokenHash is the token before that, when this rotation ends
	// its grace early.
	RetiredTokenHash string `json:"retired_token_hash,omitempty" schema:"sha256"`
}

// AnalystTokenRotated records an analyst replacing their bearer token, as
// CreatorTokenRotated does for creators.
type AnalystTokenRotated struct {
	AnalystID         string `json:"analyst_id" schema:"id"`
	Name              string `json:"name" schema:"name"`
	TokenHash         string `json:"token_hash" schema:"sha256"`
	PreviousTokenHash string `json:"previous_token_hash" schema:"sha256"`
	RetiredTokenHash  string `json:"retired_token_hash,omitempty" schema:"sha256"`
}

// EventType returns TypeBrandAPIKeyRotated.
func (BrandAPIKeyRotated) EventType() string { return TypeBrandAPIKeyRotated }

// EventType returns TypeBrandWebhookSecretRotated.
func (BrandWebhookSecretRotated) EventType() string { return TypeBrandWebhookSecretRotated }

// EventType returns TypeCreatorTokenRotated.
func (CreatorTokenRotated) EventType() string { return TypeCreatorTokenRotated }

// EventType returns TypeAnalystTokenRotated.
func (AnalystTokenRotated) EventType() string { return TypeAnalystTokenRotated }

func (e BrandAPIKeyRotated) key() (string, string)        { return e.BrandID, e.BrandID }
func (e BrandWebhookSecretRotated) key() (string, string) { return e.BrandID, e.BrandID }
func (e CreatorTokenRotated) key() (string, string)       { return e.CreatorID, "" }
func (e AnalystTokenRotated) key() (string, string)       { return e.AnalystID, "" }
