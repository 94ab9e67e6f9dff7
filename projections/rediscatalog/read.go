package rediscatalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Principal is whoever holds a bearer token (or a brand's API key).
type Principal struct {
	// Role is RoleBrand, RoleCreator or RoleAnalyst.
	Role string
	// ID is the brand's, creator's or analyst's id.
	ID   string
	Name string
	// BrandID is the brand of a brand principal (= ID), empty otherwise.
	BrandID string
	// ValidUntil is when the token stops working (excluded): zero while it
	// is current; the end of its grace once a rotation replaced it. The
	// reader compares it with its clock.
	ValidUntil time.Time
}

// BrandView is a registered brand.
type BrandView struct {
	ID   string
	Name string
	// WebhookSecretSalt derives, with the server master key, the brand's
	// current webhook secret.
	WebhookSecretSalt string
	RegisteredAt      time.Time
}

// CreatorView is a registered creator.
type CreatorView struct {
	ID           string
	Name         string
	Email        string
	RegisteredAt time.Time
}

// Watermark tells how far the projection has applied one partition of the
// catalog topic.
type Watermark struct {
	// Offset is the next offset to apply: every event before it is in the
	// projection (0: nothing applied). The subscriber drops undecodable
	// records (to its dead-letter topic) before the handler sees them, so
	// while the newest records of a partition are such, Offset stays
	// before them, at the last record the projection saw.
	Offset int64
	// OccurredAt is the latest occurred_at among the events applied (zero:
	// none).
	OccurredAt time.Time
}

// exec runs a pipeline and returns the first error of its commands other
// than redis.Nil (a missing key or field, which the caller reads as such).
func exec(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return e
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Principal returns the principal whose token (or API key) hashes to
// tokenHash (hex SHA-256); ok is false for an unknown hash. One round trip.
func (p *Projection) Principal(ctx context.Context, tokenHash string) (Principal, bool, error) {
	f, err := p.client.HGetAll(ctx, p.principalKey(tokenHash)).Result()
	if err != nil {
		return Principal{}, false, fmt.Errorf("redis catalog: principal: %w", err)
	}
	if f[fRole] == "" || f[fID] == "" {
		return Principal{}, false, nil
	}
	until, err := validUntil(f)
	if err != nil {
		return Principal{}, false, fmt.Errorf("redis catalog: principal: %w", err)
	}
	return Principal{Role: f[fRole], ID: f[fID], Name: f[fName], BrandID: f[fBrandID], ValidUntil: until}, true, nil
}

// Brand returns a registered brand; ok is false for an unknown id. One
// round trip.
func (p *Projection) Brand(ctx context.Context, id string) (BrandView, bool, error) {
	f, err := p.client.HGetAll(ctx, p.brandKey(id)).Result()
	if err != nil {
		return BrandView{}, false, fmt.Errorf("redis catalog: brand %s: %w", id, err)
	}
	if _, ok := f[fName]; !ok {
		return BrandView{}, false, nil
	}
	at, err := parseTime(f[fRegisteredAt])
	if err != nil {
		return BrandView{}, false, fmt.Errorf("redis catalog: brand %s: registered_at: %w", id, err)
	}
	salts, err := foldCredential(f[fSalt], f)
	if err != nil {
		return BrandView{}, false, fmt.Errorf("redis catalog: brand %s: %w", id, err)
	}
	return BrandView{ID: id, Name: f[fName], WebhookSecretSalt: salts.Current, RegisteredAt: at}, true, nil
}

// WebhookSecretSalt returns the salt a registered brand's webhook secret
// derives from (ingest.SaltSource); ok is false for an unknown brand. One
// round trip.
func (p *Projection) WebhookSecretSalt(ctx context.Context, brandID string) (salt string, ok bool, err error) {
	b, ok, err := p.Brand(ctx, brandID)
	return b.WebhookSecretSalt, ok, err
}

// Creator returns a registered creator; ok is false for an unknown id. One
// round trip.
func (p *Projection) Creator(ctx context.Context, id string) (CreatorView, bool, error) {
	f, err := p.client.HGetAll(ctx, p.creatorKey(id)).Result()
	if err != nil {
		return CreatorView{}, false, fmt.Errorf("redis catalog: creator %s: %w", id, err)
	}
	if _, ok := f[fName]; !ok {
		return CreatorView{}, false, nil
	}
	at, err := parseTime(f[fRegisteredAt])
	if err != nil {
		return CreatorView{}, false, fmt.Errorf("redis catalog: creator %s: registered_at: %w", id, err)
	}
	return CreatorView{ID: id, Name: f[fName], Email: f[fEmail], RegisteredAt: at}, true, nil
}

// CreatorNames returns the names of the registered creators among ids,
// by id (an unknown id is left out). One round trip; never an email.
func (p *Projection) CreatorNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := p.client.Pipeline()
	cmds := make(map[string]*redis.SliceCmd, len(ids))
	for _, id := range ids {
		if cmds[id] == nil {
			cmds[id] = pipe.HMGet(ctx, p.creatorKey(id), fName)
		}
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, fmt.Errorf("redis catalog: names of %d creators: %w", len(cmds), err)
	}
	for id, cmd := range cmds {
		if vals := cmd.Val(); len(vals) > 0 && vals[0] != nil {
			out[id] = str(vals, 0)
		}
	}
	return out, nil
}

// Offer returns one offer of a brand with its history and the brand's
// name; ok is false when it was not published. One round trip.
func (p *Projection) Offer(ctx context.Context, brandID, offerID string) (OfferView, bool, error) {
	pipe := p.client.Pipeline()
	offer := pipe.HGetAll(ctx, p.offerKey(brandID, offerID))
	brand := pipe.HMGet(ctx, p.brandKey(brandID), fName)
	if err := exec(ctx, pipe); err != nil {
		return OfferView{}, false, fmt.Errorf("redis catalog: offer %s/%s: %w", brandID, offerID, err)
	}
	o, ok, err := foldOffer(brandID, offerID, offer.Val())
	if !ok || err != nil {
		return OfferView{}, false, err
	}
	o.BrandName = str(brand.Val(), 0)
	return o, true, nil
}

// Offers returns every offer of every brand, in publication order (then
// brand and offer id); the API filters them. Two round trips.
func (p *Projection) Offers(ctx context.Context) ([]OfferView, error) {
	members, err := p.client.ZRange(ctx, p.offersKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis catalog: offers: %w", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	type ref struct {
		brand, offer string
		cmd          *redis.MapStringStringCmd
	}
	refs := make([]ref, 0, len(members))
	pipe := p.client.Pipeline()
	brands := make(map[string]*redis.SliceCmd)
	for _, m := range members {
		b, o, ok := parseOfferMember(m)
		if !ok {
			return nil, fmt.Errorf("redis catalog: offers: bad member %q", m)
		}
		refs = append(refs, ref{brand: b, offer: o, cmd: pipe.HGetAll(ctx, p.offerKey(b, o))})
		if brands[b] == nil {
			brands[b] = pipe.HMGet(ctx, p.brandKey(b), fName)
		}
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, fmt.Errorf("redis catalog: offers: %w", err)
	}
	out := make([]OfferView, 0, len(refs))
	for _, r := range refs {
		o, ok, err := foldOffer(r.brand, r.offer, r.cmd.Val())
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		o.BrandName = str(brands[r.brand].Val(), 0)
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b OfferView) int {
		return cmp.Or(a.PublishedAt.Compare(b.PublishedAt), strings.Compare(a.BrandID, b.BrandID), strings.Compare(a.OfferID, b.OfferID))
	})
	return out, nil
}

// Request returns one code request with its brand's and offer's names; ok
// is false for an unknown id. Two round trips.
func (p *Projection) Request(ctx context.Context, id string) (RequestView, bool, error) {
	f, err := p.client.HGetAll(ctx, p.requestKey(id)).Result()
	if err != nil {
		return RequestView{}, false, fmt.Errorf("redis catalog: request %s: %w", id, err)
	}
	r, ok, err := parseRequest(id, f)
	if !ok || err != nil {
		return RequestView{}, false, err
	}
	rs := []RequestView{r}
	if err := p.fillNames(ctx, rs); err != nil {
		return RequestView{}, false, err
	}
	return rs[0], true, nil
}

// RequestsByCreator returns every request of a creator at any brand,
// newest first. Three round trips.
func (p *Projection) RequestsByCreator(ctx context.Context, creatorID string) ([]RequestView, error) {
	return p.requestList(ctx, p.byCreatorKey(creatorID), "creator "+creatorID)
}

// RequestsByBrand returns every request at a brand, newest first. Three
// round trips.
func (p *Projection) RequestsByBrand(ctx context.Context, brandID string) ([]RequestView, error) {
	return p.requestList(ctx, p.byBrandKey(brandID), "brand "+brandID)
}

func (p *Projection) requestList(ctx context.Context, key, what string) ([]RequestView, error) {
	ids, err := p.client.ZRevRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis catalog: requests of %s: %w", what, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := p.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, p.requestKey(id))
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, fmt.Errorf("redis catalog: requests of %s: %w", what, err)
	}
	out := make([]RequestView, 0, len(ids))
	for i, id := range ids {
		r, ok, err := parseRequest(id, cmds[i].Val())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	// The scores are microseconds; order by the exact time, newest first,
	// then by request id, newest (greatest) first as the set does.
	slices.SortStableFunc(out, func(a, b RequestView) int {
		return cmp.Or(b.RequestedAt.Compare(a.RequestedAt), strings.Compare(b.RequestID, a.RequestID))
	})
	if err := p.fillNames(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fillNames sets the brand and offer names of requests, in one round trip.
func (p *Projection) fillNames(ctx context.Context, rs []RequestView) error {
	type offerRef struct{ brand, offer string }
	pipe := p.client.Pipeline()
	brands := make(map[string]*redis.SliceCmd)
	offers := make(map[offerRef]*redis.MapStringStringCmd)
	for _, r := range rs {
		if brands[r.BrandID] == nil {
			brands[r.BrandID] = pipe.HMGet(ctx, p.brandKey(r.BrandID), fName)
		}
		k := offerRef{r.BrandID, r.OfferID}
		if offers[k] == nil {
			offers[k] = pipe.HGetAll(ctx, p.offerKey(r.BrandID, r.OfferID))
		}
	}
	if err := exec(ctx, pipe); err != nil {
		return fmt.Errorf("redis catalog: names of %d requests: %w", len(rs), err)
	}
	names := make(map[offerRef]string, len(offers))
	for k, cmd := range offers {
		o, ok, err := foldOffer(k.brand, k.offer, cmd.Val())
		if err != nil {
			return err
		}
		if ok {
			names[k] = o.Name
		}
	}
	for i := range rs {
		rs[i].BrandName = str(brands[rs[i].BrandID].Val(), 0)
		rs[i].OfferName = names[offerRef{rs[i].BrandID, rs[i].OfferID}]
	}
	return nil
}

// str returns vals[i] as a string, "" when missing.
func str(vals []any, i int) string {
	if i >= len(vals) {
		return ""
	}
	s, _ := vals[i].(string)
	return s
}

// Watermark returns how far the projection has applied one partition of
// the catalog topic (the zero Watermark if it has applied nothing). One
// round trip.
func (p *Projection) Watermark(ctx context.Context, partition int) (Watermark, error) {
	pn := strconv.Itoa(partition)
	vals, err := p.client.HMGet(ctx, p.watermarkKey(), fWMOffset+pn, fWMTime+pn).Result()
	if err != nil {
		return Watermark{}, fmt.Errorf("redis catalog: watermark of partition %d: %w", partition, err)
	}
	return parseWatermark(str(vals, 0), str(vals, 1))
}

// Watermarks returns the watermark of every partition the projection has
// applied something of (or that Rebuild reached). One round trip.
func (p *Projection) Watermarks(ctx context.Context) (map[int]Watermark, error) {
	f, err := p.client.HGetAll(ctx, p.watermarkKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis catalog: watermarks: %w", err)
	}
	out := make(map[int]Watermark)
	for k, v := range f {
		pn, ok := strings.CutPrefix(k, fWMOffset)
		if !ok {
			continue
		}
		partition, err := strconv.Atoi(pn)
		if err != nil {
			return nil, fmt.Errorf("redis catalog: watermarks: bad field %q", k)
		}
		w, err := parseWatermark(v, f[fWMTime+pn])
		if err != nil {
			return nil, err
		}
		out[partition] = w
	}
	return out, nil
}

func parseWatermark(offset, at string) (Watermark, error) {
	var w Watermark
	if offset != "" {
		o, err := parseOffset(offset)
		if err != nil {
			return Watermark{}, fmt.Errorf("redis catalog: watermark offset %q: %w", offset, err)
		}
		w.Offset = o
	}
	if at != "" {
		t, err := time.Parse(clockLayout, at)
		if err != nil {
			return Watermark{}, fmt.Errorf("redis catalog: watermark time %q: %w", at, err)
		}
		w.OccurredAt = t
	}
	return w, nil
}
