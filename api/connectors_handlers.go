package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/connectors"
)

// ConnectorReader reads a brand's shop connectors (without their secrets)
// and the last delivery each received.
type ConnectorReader interface {
	BrandConnectors(ctx context.Context, brandID string) ([]ConnectorView, error)
}

// ConnectorView is one connector as GET /v1/connectors shows it.
type ConnectorView struct {
	Platform  string
	ConfirmOn string
	UpdatedAt time.Time
	// PreviousSecretValidUntil is when the secret replaced by the last
	// change of secret stops verifying; zero when there is none.
	PreviousSecretValidUntil time.Time
	// LastDelivery is the last signed delivery received; nil when none.
	LastDelivery *Delivery
}

// Delivery is one delivery of a shop platform's webhook, as a connector's
// last delivery.
type Delivery struct {
	At    time.Time `json:"at"`
	Topic string    `json:"topic"`
	// Outcome is accepted, duplicate, error or test.
	Outcome string `json:"outcome"`
}

// maxConnectorSecretLen bounds a connector's secret: platforms' secrets
// are tens of characters (Shopify's are 64 hex digits or shpss_ and 32).
const maxConnectorSecretLen = 1024

// connectorPlatform returns the platform named in the path, or a 404.
func connectorPlatform(r *http.Request) (*connectors.Platform, error) {
	name := r.PathValue("platform")
	p, ok := connectors.Lookup(name)
	if !ok {
		return nil, notFound("no shop platform %q; the platforms are %s", name, strings.Join(connectors.Names(), ", "))
	}
	return p, nil
}

// setConnector connects the brand's shop on a platform, or changes the
// connection: PUT /v1/connectors/{platform}.
func (s *Server) setConnector(w http.ResponseWriter, r *http.Request, c Caller) error {
	p, err := connectorPlatform(r)
	if err != nil {
		return err
	}
	var body struct {
		Secret    string `json:"secret"`
		ConfirmOn string `json:"confirm_on"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if body.Secret == "" {
		return badField("secret", "secret is required: the secret the shop signs its webhooks with")
	}
	if utf8.RuneCountInString(body.Secret) > maxConnectorSecretLen {
		return badField("secret", "secret: at most %d characters", maxConnectorSecretLen)
	}
	if strings.TrimSpace(body.Secret) != body.Secret || strings.ContainsFunc(body.Secret, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return badField("secret", "secret: no surrounding white space or control characters (paste the secret alone)")
	}
	confirmOn := body.ConfirmOn
	if confirmOn == "" {
		confirmOn = p.ConfirmOn[0]
	}
	allowed := false
	for _, v := range p.ConfirmOn {
		allowed = allowed || v == confirmOn
	}
	if !allowed {
		return badField("confirm_on", "confirm_on: %s confirms orders on %s, not %q", p.Name, quoteList(p.ConfirmOn), confirmOn)
	}
	sealed, err := s.cfg.MasterKey.SealConnectorSecret(c.ID, p.Name, body.Secret)
	if err != nil {
		return err
	}
	res, err := s.send(r.Context(), catalog.SetConnector{
		BrandID: c.ID, Platform: p.Name, ConfirmOn: confirmOn, SecretSealed: sealed,
		SecretFingerprint: s.cfg.MasterKey.ConnectorSecretFingerprint(c.ID, p.Name, body.Secret),
	})
	if err != nil {
		return err
	}
	if res.Connector == nil {
		return errors.New("connector set without the connector in its result")
	}
	out := map[string]any{
		"platform":     p.Name,
		"webhook_path": connectors.WebhookPath(p.Name, c.ID),
		"confirm_on":   res.Connector.ConfirmOn,
		"updated_at":   res.Connector.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if !res.Connector.PreviousValidUntil.IsZero() {
		out["previous_secret_valid_until"] = res.Connector.PreviousValidUntil.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeConnector disconnects the brand's shop on a platform: DELETE
// /v1/connectors/{platform}.
func (s *Server) removeConnector(w http.ResponseWriter, r *http.Request, c Caller) error {
	p, err := connectorPlatform(r)
	if err != nil {
		return err
	}
	if _, err := s.send(r.Context(), catalog.RemoveConnector{BrandID: c.ID, Platform: p.Name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// connectorJSON is one connector in GET /v1/connectors.
type connectorJSON struct {
	Platform                 string    `json:"platform"`
	WebhookPath              string    `json:"webhook_path"`
	ConfirmOn                string    `json:"confirm_on"`
	UpdatedAt                string    `json:"updated_at"`
	PreviousSecretValidUntil string    `json:"previous_secret_valid_until,omitempty"`
	LastDelivery             *Delivery `json:"last_delivery"`
}

// platformJSON is one platform a brand may connect, in GET /v1/connectors.
type platformJSON struct {
	Platform    string   `json:"platform"`
	WebhookPath string   `json:"webhook_path"`
	ConfirmOn   []string `json:"confirm_on"`
	Connected   bool     `json:"connected"`
}

// listConnectors lists the brand's connectors, without secrets, with their
// last deliveries, and every platform the brand may connect with the path
// its shop posts to: GET /v1/connectors.
func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request, c Caller) error {
	if s.cfg.Connectors == nil {
		return unavailable("shop connectors cannot be read in this process")
	}
	views, err := s.cfg.Connectors.BrandConnectors(r.Context(), c.ID)
	if err != nil {
		return unavailable("connectors cannot be read now (%v); retry later", err)
	}
	out := make([]connectorJSON, 0, len(views))
	connected := make(map[string]bool, len(views))
	for _, v := range views {
		j := connectorJSON{Platform: v.Platform, WebhookPath: connectors.WebhookPath(v.Platform, c.ID), ConfirmOn: v.ConfirmOn,
			UpdatedAt: v.UpdatedAt.UTC().Format(time.RFC3339), LastDelivery: v.LastDelivery}
		if !v.PreviousSecretValidUntil.IsZero() {
			j.PreviousSecretValidUntil = v.PreviousSecretValidUntil.UTC().Format(time.RFC3339)
		}
		out = append(out, j)
		connected[v.Platform] = true
	}
	platforms := make([]platformJSON, 0)
	for _, p := range connectors.All() {
		platforms = append(platforms, platformJSON{Platform: p.Name, WebhookPath: connectors.WebhookPath(p.Name, c.ID),
			ConfirmOn: p.ConfirmOn, Connected: connected[p.Name]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"connectors": out, "platforms": platforms})
	return nil
}
