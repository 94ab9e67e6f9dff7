package rediscatalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// kConnectors is the key of a brand's connector events:
// connectors:<brand>, a hash with one field per event, set:<offset> or
// del:<offset> (20 digits), folded at read time in offset order with
// catalog.ApplyConnectorSet, as catalog.Brand.Evolve folds them.
const kConnectors = "connectors:"

// Fields of the connectors hash.
const (
	fConnectorSetPrefix = "set:"
	fConnectorDelPrefix = "del:"
)

// connectorRecord is one connector event with its effective time.
type connectorRecord struct {
	Platform          string    `json:"platform"`
	ConfirmOn         string    `json:"confirm_on,omitempty"`
	SecretSealed      string    `json:"secret_sealed,omitempty"`
	SecretFingerprint string    `json:"secret_fingerprint,omitempty"`
	At                time.Time `json:"at"`
}

func (p *Projection) connectorsKey(brand string) string {
	return p.prefix + kConnectors + rediskey.Seg(brand)
}

// writeConnector queues the command of one connector event, effective at
// at; handled is false for any other event.
func (p *Projection) writeConnector(ctx context.Context, pipe redis.Pipeliner, it item, at time.Time) (handled bool, err error) {
	var (
		brand, field string
		rec          connectorRecord
	)
	switch e := it.ev.(type) {
	case schemas.ConnectorSet:
		brand, field = e.BrandID, fConnectorSetPrefix
		rec = connectorRecord{Platform: e.Platform, ConfirmOn: e.ConfirmOn, SecretSealed: e.SecretSealed, SecretFingerprint: e.SecretFingerprint, At: at}
	case schemas.ConnectorRemoved:
		brand, field = e.BrandID, fConnectorDelPrefix
		rec = connectorRecord{Platform: e.Platform, At: at}
	default:
		return false, nil
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return true, fmt.Errorf("redis catalog: encode %s of event %s: %w", it.env.Type, it.env.EventID, err)
	}
	pipe.HSetNX(ctx, p.connectorsKey(brand), field+fmt.Sprintf("%020d", it.offset), string(v))
	return true, nil
}

// Connectors returns a brand's connectors, sorted by platform, with their
// sealed secrets: the current one and, after a change of secret, the
// previous one until the end of its grace. One round trip.
func (p *Projection) Connectors(ctx context.Context, brandID string) ([]catalog.Connector, error) {
	f, err := p.client.HGetAll(ctx, p.connectorsKey(brandID)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis catalog: connectors of %s: %w", brandID, err)
	}
	out, err := foldConnectors(f)
	if err != nil {
		return nil, fmt.Errorf("redis catalog: connectors of %s: %w", brandID, err)
	}
	return out, nil
}

// foldConnectors folds a connectors hash's records in offset order.
func foldConnectors(fields map[string]string) ([]catalog.Connector, error) {
	type event struct {
		offset string // 20 digits: text order is offset order
		del    bool
		rec    connectorRecord
	}
	evs := make([]event, 0, len(fields))
	for f, v := range fields {
		var e event
		if o, ok := strings.CutPrefix(f, fConnectorSetPrefix); ok {
			e.offset = o
		} else if o, ok := strings.CutPrefix(f, fConnectorDelPrefix); ok {
			e.offset, e.del = o, true
		} else {
			continue
		}
		if err := json.Unmarshal([]byte(v), &e.rec); err != nil {
			return nil, fmt.Errorf("field %q: %w", f, err)
		}
		evs = append(evs, e)
	}
	slices.SortFunc(evs, func(a, b event) int { return strings.Compare(a.offset, b.offset) })
	byPlatform := make(map[string]*catalog.Connector)
	for _, e := range evs {
		if e.del {
			delete(byPlatform, e.rec.Platform)
			continue
		}
		next, _ := catalog.ApplyConnectorSet(byPlatform[e.rec.Platform], schemas.ConnectorSet{
			Platform: e.rec.Platform, ConfirmOn: e.rec.ConfirmOn, SecretSealed: e.rec.SecretSealed, SecretFingerprint: e.rec.SecretFingerprint,
		}, e.rec.At)
		byPlatform[e.rec.Platform] = &next
	}
	out := make([]catalog.Connector, 0, len(byPlatform))
	for _, c := range byPlatform {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b catalog.Connector) int { return strings.Compare(a.Platform, b.Platform) })
	return out, nil
}
