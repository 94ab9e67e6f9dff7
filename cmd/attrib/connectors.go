package main

import (
	"context"
	"fmt"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// connectorReader is the API's ConnectorReader: the connectors from the
// catalog's Redis projection, the last deliveries from the webhook's.
type connectorReader struct {
	p          *rediscatalog.Projection
	deliveries *ingest.RedisDeliveries
}

// BrandConnectors implements api.ConnectorReader.
func (r connectorReader) BrandConnectors(ctx context.Context, brandID string) ([]api.ConnectorView, error) {
	conns, err := r.p.Connectors(ctx, brandID)
	if err != nil {
		return nil, err
	}
	last, err := r.deliveries.LastDeliveries(ctx, brandID)
	if err != nil {
		return nil, err
	}
	out := make([]api.ConnectorView, 0, len(conns))
	for _, c := range conns {
		v := api.ConnectorView{Platform: c.Platform, ConfirmOn: c.ConfirmOn, UpdatedAt: c.UpdatedAt}
		if c.PreviousSealed != "" {
			v.PreviousSecretValidUntil = c.PreviousValidUntil
		}
		if d, ok := last[c.Platform]; ok {
			v.LastDelivery = &api.Delivery{At: d.At, Topic: d.Topic, Outcome: d.Outcome}
		}
		out = append(out, v)
	}
	return out, nil
}

// connectorSource is the shop webhook's ConnectorSource: the connector
// from the catalog's Redis projection, its secrets opened with the master
// key.
type connectorSource struct {
	p   *rediscatalog.Projection
	key credentials.MasterKey
}

// Connector implements ingest.ConnectorSource. A secret the master key
// cannot open (the key was changed) is an error, not an unknown
// connector: the platform retries while the operator restores the key, or
// the brand sets the secret again.
func (s connectorSource) Connector(ctx context.Context, brandID, platform string) (ingest.Connector, bool, error) {
	conns, err := s.p.Connectors(ctx, brandID)
	if err != nil {
		return ingest.Connector{}, false, err
	}
	for _, c := range conns {
		if c.Platform != platform {
			continue
		}
		cur, err := s.key.OpenConnectorSecret(brandID, platform, c.SecretSealed)
		if err != nil {
			return ingest.Connector{}, false, fmt.Errorf("%s connector of %s: %w", platform, brandID, err)
		}
		ring := ingest.Keyring{Current: cur}
		if c.PreviousSealed != "" {
			prev, err := s.key.OpenConnectorSecret(brandID, platform, c.PreviousSealed)
			if err != nil {
				return ingest.Connector{}, false, fmt.Errorf("%s connector of %s, previous secret: %w", platform, brandID, err)
			}
			ring.Previous, ring.PreviousValidUntil = prev, c.PreviousValidUntil
		}
		return ingest.Connector{Keyring: ring, ConfirmOn: c.ConfirmOn}, true, nil
	}
	return ingest.Connector{}, false, nil
}
