package main

import (
	"context"

	"github.com/attrib-engine/attrib/api"
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
