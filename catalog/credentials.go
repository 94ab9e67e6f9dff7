package catalog

import (
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// CredentialGrace is how long a replaced credential keeps working after
// the rotation's event (its effective time, not the reader's clock): the
// 24 hours of the API contract, so that a shop or a client can switch
// without losing a request. It is part of what the rotation events mean,
// so changing it changes the expiry of rotations already in the log.
const CredentialGrace = 24 * time.Hour

// Kinds of credentials a principal may rotate.
const (
	// CredentialAPIKey is a brand's API key (its bearer token).
	CredentialAPIKey = "api_key"
	// CredentialWebhookSecret is a brand's webhook signing secret.
	CredentialWebhookSecret = "webhook_secret"
	// CredentialToken is a creator's or an analyst's bearer token.
	CredentialToken = "token"
)

// Credential is one rotatable secret of a principal as the log records it:
// the current value (a token's hash, or a webhook secret's salt) and the
// value the last rotation replaced, valid until PreviousValidUntil. A
// second rotation within the grace ends the first one's grace at once:
// only the newest previous value is ever valid. The zero value is a
// credential never set.
type Credential struct {
	Current  string
	Previous string
	// PreviousValidUntil is the end (excluded) of Previous's grace; zero
	// when there is no previous value.
	PreviousValidUntil time.Time
	// RotatedAt is the effective time of the last rotation; zero if none.
	RotatedAt time.Time
}

// ValidAt reports whether value is accepted at t: the current value
// always, the previous one before PreviousValidUntil.
func (c Credential) ValidAt(value string, t time.Time) bool {
	if value == "" {
		return false
	}
	return value == c.Current || (value == c.Previous && t.Before(c.PreviousValidUntil))
}

// rotated returns the credential after a rotation to next effective at at.
func (c Credential) rotated(next string, at time.Time) Credential {
	return Credential{Current: next, Previous: c.Current, PreviousValidUntil: at.Add(CredentialGrace), RotatedAt: at}
}

// RotateCredential is a brand replacing its API key or its webhook secret.
// The caller makes the new value and keeps the secret itself out of the
// command: the new key's hash, or a new salt that the webhook secret
// derives from with the server master key.
type RotateCredential struct {
	BrandID string
	// Kind is CredentialAPIKey or CredentialWebhookSecret.
	Kind string
	// NewValue is the hex SHA-256 of the new API key, or the new webhook
	// secret salt.
	NewValue string
	// AuthorizedBy is the hex SHA-256 of the API key the call was made
	// with. Only the current key may rotate: a key in its grace period
	// (a leaked one, typically) cannot replace the key that replaced it.
	AuthorizedBy string
}

// AggregateKey returns the brand id.
func (c RotateCredential) AggregateKey() string { return c.BrandID }

func (RotateCredential) brandCommand() {}

// RotateToken is a creator or an analyst replacing their bearer token.
// Creators and analysts are aggregates of their own, decided by
// DecideCreatorRotation and DecideAnalystRotation.
type RotateToken struct {
	// PrincipalID is the creator's or analyst's id.
	PrincipalID string
	// TokenHash is the hex SHA-256 of the new token.
	TokenHash string
	// AuthorizedBy is the hex SHA-256 of the token the call was made with,
	// which must be the current one.
	AuthorizedBy string
}

// AggregateKey returns the creator's or analyst's id.
func (c RotateToken) AggregateKey() string { return c.PrincipalID }

// APIKey returns the brand's API key credential (hashes).
func (b *Brand) APIKey() Credential { return b.apiKey }

// WebhookSecret returns the brand's webhook secret credential (salts).
func (b *Brand) WebhookSecret() Credential { return b.webhookSecret }

// Credential returns the brand's credential of one kind, for results.
func (b *Brand) Credential(kind string) (Credential, bool) {
	switch kind {
	case CredentialAPIKey:
		return b.apiKey, true
	case CredentialWebhookSecret:
		return b.webhookSecret, true
	}
	return Credential{}, false
}

func (b *Brand) decideRotate(c RotateCredential) ([]schemas.Event, error) {
	switch c.Kind {
	case CredentialAPIKey:
		if err := checkSHA256("api_key_hash", c.NewValue); err != nil {
			return nil, err
		}
	case CredentialWebhookSecret:
		if err := checkID("webhook_secret_salt", c.NewValue); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("kind", "a brand rotates %q or %q, not %q", CredentialAPIKey, CredentialWebhookSecret, c.Kind)
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	if c.AuthorizedBy == "" || c.AuthorizedBy != b.apiKey.Current {
		return nil, conflict("only the current API key may rotate credentials; this one was replaced and works only until its grace ends")
	}
	cur := b.apiKey
	if c.Kind == CredentialWebhookSecret {
		cur = b.webhookSecret
	}
	if c.NewValue == cur.Current || c.NewValue == cur.Previous {
		return nil, conflict("the new %s must differ from the current and the previous one", c.Kind)
	}
	if c.Kind == CredentialAPIKey {
		return []schemas.Event{schemas.BrandAPIKeyRotated{
			BrandID: b.id, Name: b.name, APIKeyHash: c.NewValue,
			PreviousAPIKeyHash: cur.Current, RetiredAPIKeyHash: cur.Previous,
		}}, nil
	}
	return []schemas.Event{schemas.BrandWebhookSecretRotated{
		BrandID: b.id, WebhookSecretSalt: c.NewValue,
		PreviousWebhookSecretSalt: cur.Current, RetiredWebhookSecretSalt: cur.Previous,
	}}, nil
}

// decideTokenRotation is the rule shared by creators and analysts.
func decideTokenRotation(id string, token Credential, cmd RotateToken) error {
	if err := checkSHA256("token_hash", cmd.TokenHash); err != nil {
		return err
	}
	if id == "" {
		return notFound("%q is not registered", cmd.PrincipalID)
	}
	if id != cmd.PrincipalID {
		return invalid("", "rotation of %q decided on the state of %q", cmd.PrincipalID, id)
	}
	if cmd.AuthorizedBy == "" || cmd.AuthorizedBy != token.Current {
		return conflict("only the current token may rotate; this one was replaced and works only until its grace ends")
	}
	if cmd.TokenHash == token.Current || cmd.TokenHash == token.Previous {
		return conflict("the new token must differ from the current and the previous one")
	}
	return nil
}

// DecideCreatorRotation decides a creator's token rotation on the
// creator's state c (nil: not registered): a creator.token_rotated event, a
// *ValidationError, ErrNotFound for an unknown creator, or ErrConflict when
// the token the call was made with is not the current one.
func DecideCreatorRotation(c *Creator, cmd RotateToken) ([]schemas.Event, error) {
	if c == nil {
		c = &Creator{}
	}
	if err := decideTokenRotation(c.ID, c.Token, cmd); err != nil {
		return nil, err
	}
	return []schemas.Event{schemas.CreatorTokenRotated{
		CreatorID: c.ID, Name: c.Name, TokenHash: cmd.TokenHash,
		PreviousTokenHash: c.Token.Current, RetiredTokenHash: c.Token.Previous,
	}}, nil
}

// DecideAnalystRotation decides an analyst's token rotation, as
// DecideCreatorRotation does for creators.
func DecideAnalystRotation(a *Analyst, cmd RotateToken) ([]schemas.Event, error) {
	if a == nil {
		a = &Analyst{}
	}
	if err := decideTokenRotation(a.ID, a.Token, cmd); err != nil {
		return nil, err
	}
	return []schemas.Event{schemas.AnalystTokenRotated{
		AnalystID: a.ID, Name: a.Name, TokenHash: cmd.TokenHash,
		PreviousTokenHash: a.Token.Current, RetiredTokenHash: a.Token.Previous,
	}}, nil
}

// apply folds one rotation event, effective at at, into c: next becomes
// current and previous (the value the event replaced) stays valid for
// CredentialGrace. A redelivered rotation (next already current, or the
// event replacing a value that is not current) changes nothing.
func (c *Credential) apply(next, previous string, at time.Time) bool {
	if next == c.Current || previous != c.Current {
		return false
	}
	*c = c.rotated(next, at)
	return true
}
