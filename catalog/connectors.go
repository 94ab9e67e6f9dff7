package catalog

import (
	"regexp"
	"slices"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// Connector is a brand's connection of one shop platform's order webhooks,
// as the log records it: what confirms an order, the secret the shop signs
// with (sealed, and its fingerprint) and, after the secret changed, the
// one it replaced until PreviousValidUntil. A Connector holds no secret in
// the clear.
type Connector struct {
	Platform  string
	ConfirmOn string
	// SecretSealed and SecretFingerprint are the current secret's.
	SecretSealed      string `json:"-"`
	SecretFingerprint string
	// PreviousSealed is the secret the last change of secret replaced,
	// valid until PreviousValidUntil (excluded); empty when none.
	PreviousSealed     string `json:"-"`
	PreviousValidUntil time.Time
	// UpdatedAt is the effective time of the connector's latest
	// connector.set.
	UpdatedAt time.Time
}

// SetConnector is a brand connecting a shop platform, or changing its
// connection. The caller seals the secret (the command and the log never
// hold it in the clear) and has checked Platform and ConfirmOn against the
// platforms it serves.
type SetConnector struct {
	BrandID   string
	Platform  string
	ConfirmOn string
	// SecretSealed is the shop's signing secret, sealed with the server
	// master key; SecretFingerprint identifies it (see schemas.ConnectorSet).
	SecretSealed      string
	SecretFingerprint string
}

// RemoveConnector is a brand disconnecting a shop platform.
type RemoveConnector struct {
	BrandID  string
	Platform string
}

// AggregateKey returns the brand id.
func (c SetConnector) AggregateKey() string { return c.BrandID }

// AggregateKey returns the brand id.
func (c RemoveConnector) AggregateKey() string { return c.BrandID }

func (SetConnector) brandCommand()    {}
func (RemoveConnector) brandCommand() {}

// Connector returns the brand's connector of platform.
func (b *Brand) Connector(platform string) (Connector, bool) {
	c, ok := b.connectors[platform]
	if !ok {
		return Connector{}, false
	}
	return *c, true
}

// Connectors returns the brand's connectors, sorted by platform.
func (b *Brand) Connectors() []Connector {
	out := make([]Connector, 0, len(b.connectors))
	for _, c := range b.connectors {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(x, y Connector) int {
		switch {
		case x.Platform < y.Platform:
			return -1
		case x.Platform > y.Platform:
			return 1
		}
		return 0
	})
	return out
}

// decideSetConnector records the connector unless it is already set to the
// same secret and confirm_on (a repeated PUT changes nothing).
func (b *Brand) decideSetConnector(c SetConnector) ([]schemas.Event, error) {
	if err := checkShopPlatform(c.Platform); err != nil {
		return nil, err
	}
	if _, err := checkName("confirm_on", c.ConfirmOn); err != nil {
		return nil, err
	}
	if c.SecretSealed == "" {
		return nil, invalid("secret", "is required")
	}
	if err := checkSHA256("secret_fingerprint", c.SecretFingerprint); err != nil {
		return nil, err
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	if cur, ok := b.connectors[c.Platform]; ok && cur.SecretFingerprint == c.SecretFingerprint && cur.ConfirmOn == c.ConfirmOn {
		return nil, nil
	}
	return []schemas.Event{schemas.ConnectorSet{
		BrandID: c.BrandID, Platform: c.Platform, ConfirmOn: c.ConfirmOn,
		SecretSealed: c.SecretSealed, SecretFingerprint: c.SecretFingerprint,
	}}, nil
}

// decideRemoveConnector removes a connector the brand has.
func (b *Brand) decideRemoveConnector(c RemoveConnector) ([]schemas.Event, error) {
	if err := checkShopPlatform(c.Platform); err != nil {
		return nil, err
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	if _, ok := b.connectors[c.Platform]; !ok {
		return nil, notFound("no %s connector is set", c.Platform)
	}
	return []schemas.Event{schemas.ConnectorRemoved{BrandID: c.BrandID, Platform: c.Platform}}, nil
}

// ApplyConnectorSet folds a connector.set effective at at into c (nil: the
// platform has no connector) and returns the result: the one rule by which
// connector events fold, which the read models use too. A new fingerprint
// makes the current secret the previous one, valid for CredentialGrace
// from at; the same fingerprint keeps the previous secret and its grace.
// A redelivered event (the same confirm_on and sealed secret as c's)
// changes nothing: changed is false.
func ApplyConnectorSet(c *Connector, e schemas.ConnectorSet, at time.Time) (next Connector, changed bool) {
	if c != nil && c.SecretFingerprint == e.SecretFingerprint && c.ConfirmOn == e.ConfirmOn && c.SecretSealed == e.SecretSealed {
		return *c, false
	}
	next = Connector{Platform: e.Platform, ConfirmOn: e.ConfirmOn, SecretSealed: e.SecretSealed,
		SecretFingerprint: e.SecretFingerprint, UpdatedAt: at}
	switch {
	case c == nil:
	case c.SecretFingerprint != e.SecretFingerprint:
		next.PreviousSealed, next.PreviousValidUntil = c.SecretSealed, at.Add(CredentialGrace)
	default:
		next.PreviousSealed, next.PreviousValidUntil = c.PreviousSealed, c.PreviousValidUntil
	}
	return next, true
}

// applyConnectorSet folds a connector.set.
func (b *Brand) applyConnectorSet(e schemas.ConnectorSet, at time.Time) bool {
	next, changed := ApplyConnectorSet(b.connectors[e.Platform], e, at)
	if !changed {
		return false
	}
	if b.connectors == nil {
		b.connectors = make(map[string]*Connector)
	}
	b.connectors[e.Platform] = &next
	return true
}

// applyConnectorRemoved drops a connector; a redelivered removal changes
// nothing.
func (b *Brand) applyConnectorRemoved(e schemas.ConnectorRemoved) bool {
	if _, ok := b.connectors[e.Platform]; !ok {
		return false
	}
	delete(b.connectors, e.Platform)
	return true
}

// shopPlatformRE is the shape of a shop platform's name (the schema's
// "platform" kind, bounded).
var shopPlatformRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// checkShopPlatform checks the shape of a shop platform's name; which
// platforms exist is the API's to say.
func checkShopPlatform(p string) error {
	if !shopPlatformRE.MatchString(p) {
		return invalid("platform", "must be a shop platform name of 1 to 32 lowercase letters, digits and _, got %q", p)
	}
	return nil
}
