package schemas

// Event types of shop connectors (API v1.2, PUT and DELETE
// /v1/connectors/{platform}).
const (
	TypeConnectorSet     = "connector.set"
	TypeConnectorRemoved = "connector.removed"
)

// ConnectorSet records a brand connecting a shop platform's order webhooks,
// or changing the connection: the secret the shop signs with, sealed, and
// what confirms an order. The secret never enters the log in the clear: it
// is sealed with a key derived from the server master key (AES-256-GCM,
// credentials.SealConnectorSecret), and identified by a keyed fingerprint.
//
// A connector.set whose fingerprint differs from the connector's current one
// rotates the secret: from the event's effective time the new secret is
// current, and the one it replaces stays valid for catalog.CredentialGrace
// from then, so deliveries the shop signed before the change still verify.
// One with the same fingerprint keeps the previous secret's grace as it was.
type ConnectorSet struct {
	BrandID string `json:"brand_id" schema:"id"`
	// Platform is the shop platform: "shopify", "woocommerce".
	Platform string `json:"platform" schema:"platform"`
	// ConfirmOn names what confirms an order: a topic (Shopify) or an order
	// status (WooCommerce).
	ConfirmOn string `json:"confirm_on" schema:"name"`
	// SecretSealed is the shop's signing secret, sealed.
	SecretSealed string `json:"secret_sealed" schema:"name"`
	// SecretFingerprint is the hex HMAC-SHA256, keyed from the master key,
	// of the secret: equal secrets have equal fingerprints, and it reveals
	// nothing of the secret without the master key.
	SecretFingerprint string `json:"secret_fingerprint" schema:"sha256"`
}

// ConnectorRemoved records a brand disconnecting a shop platform: its
// deliveries are refused from the event on, with every secret it had.
type ConnectorRemoved struct {
	BrandID  string `json:"brand_id" schema:"id"`
	Platform string `json:"platform" schema:"platform"`
}

// EventType returns TypeConnectorSet.
func (ConnectorSet) EventType() string { return TypeConnectorSet }

// EventType returns TypeConnectorRemoved.
func (ConnectorRemoved) EventType() string { return TypeConnectorRemoved }

func (e ConnectorSet) key() (string, string)     { return e.BrandID, e.BrandID }
func (e ConnectorRemoved) key() (string, string) { return e.BrandID, e.BrandID }
