package rediscatalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
)

// LookupCodes fetches the code records of many (brand, normalised text)
// keys in one pipelined round trip and returns them as an
// attribution.CodeMap, which implements attribution.Codes for the batch the
// worker is deciding. Each key's Normalized must be promocode.Normalize's
// output. A key with no records has no entry. Each key's records are in
// order of ActiveFrom, then request id.
func (p *Projection) LookupCodes(ctx context.Context, keys []attribution.CodeKey) (attribution.CodeMap, error) {
	out := make(attribution.CodeMap, len(keys))
	cmds, err := hashes(ctx, p.client, keys, func(k attribution.CodeKey) string { return p.codeKey(k.BrandID, k.Normalized) })
	if err != nil {
		return nil, fmt.Errorf("redis catalog: look up %d codes: %w", len(cmds), err)
	}
	for k, cmd := range cmds {
		recs, err := p.codes.parseCodes(k, cmd.Val())
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			out[k] = recs
		}
	}
	return out, nil
}

// hashes reads the hash of each distinct key of keys, whose Redis key
// name gives, in one pipelined round trip (none for no keys). It returns
// the commands by key, also with an error.
func hashes[K comparable](ctx context.Context, c redis.UniversalClient, keys []K, name func(K) string) (map[K]*redis.MapStringStringCmd, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := c.Pipeline()
	cmds := make(map[K]*redis.MapStringStringCmd, len(keys))
	for _, k := range keys {
		if cmds[k] == nil {
			cmds[k] = pipe.HGetAll(ctx, name(k))
		}
	}
	return cmds, exec(ctx, pipe)
}

// parseCodes reads the code index hash of one key: a record per confirmed
// request, with its revocation when there is one.
func (m *codeMemo) parseCodes(k attribution.CodeKey, fields map[string]string) ([]attribution.CodeRecord, error) {
	var recs []attribution.CodeRecord
	for f, v := range fields {
		reqID, ok := strings.CutPrefix(f, fCodePrefix)
		if !ok {
			continue
		}
		c, err := m.decode(v)
		if err != nil {
			return nil, fmt.Errorf("redis catalog: code %s/%s of request %s: %w", k.BrandID, k.Normalized, reqID, err)
		}
		r := attribution.CodeRecord{
			BrandID: k.BrandID, Code: k.Normalized, CreatorID: c.CreatorID, OfferID: c.OfferID,
			RequestID: reqID, Platform: c.Platform, ActiveFrom: c.ActiveFrom,
		}
		if rv, ok := fields[fRevokePrefix+reqID]; ok {
			t, err := parseTime(rv)
			if err != nil {
				return nil, fmt.Errorf("redis catalog: code %s/%s of request %s: revoked_at: %w", k.BrandID, k.Normalized, reqID, err)
			}
			r.RevokedAt = &t
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b attribution.CodeRecord) int {
		if c := a.ActiveFrom.Compare(b.ActiveFrom); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	return recs, nil
}

// LookupOffers fetches many offers with their terms history in one
// pipelined round trip and returns them as an attribution.OfferMap, which
// implements attribution.Offers: one TermsChange per version of the offer
// (see OfferView.History), and the offer's current name. An offer not
// published (yet) has no entry.
func (p *Projection) LookupOffers(ctx context.Context, keys []attribution.OfferKey) (attribution.OfferMap, error) {
	out := make(attribution.OfferMap, len(keys))
	cmds, err := hashes(ctx, p.client, keys, func(k attribution.OfferKey) string { return p.offerKey(k.BrandID, k.OfferID) })
	if err != nil {
		return nil, fmt.Errorf("redis catalog: look up %d offers: %w", len(cmds), err)
	}
	for k, cmd := range cmds {
		o, ok, err := foldOffer(k.BrandID, k.OfferID, cmd.Val())
		if err != nil {
			return nil, err
		}
		if ok {
			out.Add(o.AttributionOffer())
		}
	}
	return out, nil
}

// AttributionOffer returns the offer as the attribution core reads it: its
// current name and one TermsChange per version.
func (o OfferView) AttributionOffer() attribution.Offer {
	a := attribution.Offer{OfferID: o.OfferID, BrandID: o.BrandID, Name: o.Name, Changes: make([]attribution.TermsChange, len(o.History))}
	for i, v := range o.History {
		a.Changes[i] = attribution.TermsChange{EffectiveFrom: v.EffectiveFrom, Payout: v.Payout, HoldDays: v.HoldDays, Status: v.Status}
	}
	return a
}

// codeMemo remembers the code records it decoded, by their stored JSON:
// the worker looks up the codes of every batch's placements, mostly the
// same few thousand, and decoding them with encoding/json cost more than
// the rest of the lookup. The same bytes always decode to the same record,
// so what is remembered is never stale: a record that changes in Redis
// comes back as other bytes. The zero value is ready; safe for concurrent
// use.
type codeMemo struct {
	mu sync.Mutex
	m  map[string]codeRecord
}

// maxCodeMemo bounds the records a codeMemo keeps (about 300 bytes each);
// past it, it starts over.
const maxCodeMemo = 1 << 14

func (m *codeMemo) decode(v string) (codeRecord, error) {
	m.mu.Lock()
	c, ok := m.m[v]
	m.mu.Unlock()
	if ok {
		return c, nil
	}
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return codeRecord{}, err
	}
	m.mu.Lock()
	if m.m == nil || len(m.m) >= maxCodeMemo {
		m.m = make(map[string]codeRecord)
	}
	m.m[v] = c
	m.mu.Unlock()
	return c, nil
}
