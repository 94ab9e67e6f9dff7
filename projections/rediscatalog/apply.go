package rediscatalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// Stored values: JSON in hash fields, each derived from one event.
type (
	publishedRecord struct {
		EventID   string         `json:"event_id"`
		Offset    int64          `json:"offset"`
		At        time.Time      `json:"at"`
		Name      string         `json:"name"`
		Payout    schemas.Payout `json:"payout"`
		Countries []string       `json:"countries"`
		Platforms []string       `json:"platforms"`
		HoldDays  int            `json:"hold_days"`
		Status    string         `json:"status"`
	}
	changeRecord struct {
		EventID string               `json:"event_id"`
		At      time.Time            `json:"at"`
		Change  schemas.OfferChanged `json:"change"`
	}
	requestedRecord struct {
		BrandID   string    `json:"brand_id"`
		OfferID   string    `json:"offer_id"`
		CreatorID string    `json:"creator_id"`
		Platform  string    `json:"platform"`
		At        time.Time `json:"at"`
	}
	decisionRecord struct {
		Status         string    `json:"status"`
		At             time.Time `json:"at"`
		Code           string    `json:"code,omitempty"`
		NormalizedCode string    `json:"normalized_code,omitempty"`
		Reason         string    `json:"reason,omitempty"`
	}
	codeRecord struct {
		CreatorID  string    `json:"creator_id"`
		OfferID    string    `json:"offer_id"`
		Platform   string    `json:"platform"`
		Code       string    `json:"code"`
		ActiveFrom time.Time `json:"active_from"`
	}
)

// maxCachedClocks bounds the brand clocks a partition handler keeps; past
// it the cache starts over (and reads the clocks again).
const maxCachedClocks = 100_000

// Handler returns the handler factory of the projection's subscriber on
// schemas.TopicCatalog (see SubscriberConfig). Each partition handler keeps
// the clocks of the brands it has seen for as long as its group generation
// lasts, which saves the clock read on all but the first batch of a brand.
func (p *Projection) Handler() eventstore.HandlerFactory {
	return func(_ context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		return p.newApplier(), nil
	}
}

// Apply applies one batch of catalog events, as the subscriber's handler
// does, without a clock cache. An event that does not decode or is not a
// catalog event is rejected in b (it goes to the dead-letter topic); a
// Redis error is returned, and the batch may be applied again: applying is
// idempotent. Messages already rejected in b are skipped.
func (p *Projection) Apply(ctx context.Context, b *eventstore.Batch) error {
	return p.newApplier().Handle(ctx, b)
}

// applier applies the batches of one partition, in order. It caches brand
// clocks as of offset next: valid for a batch that starts there, which is
// the next batch of the same partition handler.
type applier struct {
	p      *Projection
	next   int64
	clocks map[string]time.Time
}

func (p *Projection) newApplier() *applier { return &applier{p: p, next: -1} }

// item is one applicable event of a batch.
type item struct {
	env    *schemas.Envelope
	offset int64
	ev     schemas.Event
	brand  string // "" for creators and analysts
}

// Handle implements eventstore.PartitionHandler.
func (a *applier) Handle(ctx context.Context, b *eventstore.Batch) error {
	if len(b.Messages) == 0 {
		// Only undecodable records (already dead-lettered): move the
		// watermark past them.
		if b.Next > 0 {
			return a.p.setWatermark(ctx, b.Partition, b.Next, time.Time{})
		}
		return nil
	}
	items := decodeBatch(b)
	first := b.Messages[0].Offset
	if a.next != first {
		a.clocks = nil
	}

	// The clocks of the batch's brands as of its first offset: cached, or
	// read in one round trip.
	clocks := make(map[string]time.Time)
	var missing []string
	for _, it := range items {
		if it.brand == "" {
			continue
		}
		if _, ok := clocks[it.brand]; ok {
			continue
		}
		if c, ok := a.clocks[it.brand]; ok {
			clocks[it.brand] = c
			continue
		}
		clocks[it.brand] = time.Time{}
		missing = append(missing, it.brand)
	}
	if len(missing) > 0 {
		read, err := a.p.readClocks(ctx, missing, first)
		if err != nil {
			return err
		}
		for brand, c := range read {
			clocks[brand] = c
		}
	}

	pipe := a.p.client.Pipeline()
	var latest time.Time
	for _, it := range items {
		occurred := it.env.OccurredAt.UTC()
		if occurred.After(latest) {
			latest = occurred
		}
		at := occurred
		if it.brand != "" {
			// The effective time, as catalog.Brand.Evolve makes it.
			switch c := clocks[it.brand]; {
			case at.Before(c):
				at = c
			case at.After(c):
				clocks[it.brand] = at
				pipe.ZAdd(ctx, a.p.clockKey(it.brand), redis.Z{Score: float64(it.offset), Member: at.Format(clockLayout)})
			}
		}
		if err := a.p.write(ctx, pipe, it, at); err != nil {
			return err
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis catalog: apply %d events of %s/%d at %d: %w", len(items), b.Topic, b.Partition, first, err)
		}
	}
	next := max(b.Messages[len(b.Messages)-1].Offset+1, b.Next)
	if err := a.p.setWatermark(ctx, b.Partition, next, latest); err != nil {
		return err
	}

	if a.clocks == nil || len(a.clocks)+len(clocks) > maxCachedClocks {
		a.clocks = make(map[string]time.Time, len(clocks))
	}
	for brand, c := range clocks {
		a.clocks[brand] = c
	}
	a.next = next
	return nil
}

// decodeBatch decodes the batch's messages, rejecting those that are not
// catalog events.
func decodeBatch(b *eventstore.Batch) []item {
	items := make([]item, 0, len(b.Messages))
	for i := range b.Messages {
		if _, rejected := b.Rejected(i); rejected {
			continue
		}
		m := &b.Messages[i]
		ev, err := schemas.DecodeTrusted(m.Envelope)
		if err != nil {
			b.Reject(i, err.Error())
			continue
		}
		ev = schemas.ValueOf(ev)
		brand, ok := catalogBrandOf(ev)
		if !ok {
			b.Reject(i, fmt.Sprintf("event %s: %s is not a catalog event", m.Envelope.EventID, m.Envelope.Type))
			continue
		}
		if m.Envelope.OccurredAt.IsZero() {
			b.Reject(i, fmt.Sprintf("event %s: occurred_at is zero", m.Envelope.EventID))
			continue
		}
		items = append(items, item{env: &m.Envelope, offset: m.Offset, ev: ev, brand: brand})
	}
	return items
}

// catalogBrandOf returns the brand whose clock a catalog event follows (""
// for creators and analysts); ok is false for an event of another topic.
func catalogBrandOf(ev schemas.Event) (brand string, ok bool) {
	if b, ok := schemas.CatalogBrandOf(ev); ok {
		return b, true
	}
	switch ev.(type) {
	case schemas.CreatorRegistered, schemas.AnalystRegistered, schemas.CreatorTokenRotated, schemas.AnalystTokenRotated:
		return "", true
	}
	return "", false
}

// readClocks returns the clocks of brands as of offset before: the latest
// entry of each clock below it (zero when none), in one round trip.
func (p *Projection) readClocks(ctx context.Context, brands []string, before int64) (map[string]time.Time, error) {
	pipe := p.client.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(brands))
	for i, b := range brands {
		cmds[i] = pipe.ZRevRangeByScore(ctx, p.clockKey(b), &redis.ZRangeBy{
			Max: "(" + strconv.FormatInt(before, 10), Min: "-inf", Count: 1,
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis catalog: read clocks of %d brands: %w", len(brands), err)
	}
	out := make(map[string]time.Time, len(brands))
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue
		}
		t, err := time.Parse(clockLayout, cmd.Val()[0])
		if err != nil {
			return nil, fmt.Errorf("redis catalog: clock of brand %s: %w", brands[i], err)
		}
		out[brands[i]] = t
	}
	return out, nil
}

// write queues the commands of one event, effective at at.
func (p *Projection) write(ctx context.Context, pipe redis.Pipeliner, it item, at time.Time) error {
	hsetnx := func(key string, fv ...string) {
		for i := 0; i+1 < len(fv); i += 2 {
			pipe.HSetNX(ctx, key, fv[i], fv[i+1])
		}
	}
	jsonOf := func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("redis catalog: encode %s of event %s: %w", it.env.Type, it.env.EventID, err)
		}
		return string(b), nil
	}
	if handled, err := p.writeRotation(ctx, pipe, it, at); handled || err != nil {
		return err
	}
	if handled, err := p.writeConnector(ctx, pipe, it, at); handled || err != nil {
		return err
	}
	switch e := it.ev.(type) {
	case schemas.BrandRegistered:
		hsetnx(p.brandKey(e.BrandID), fName, e.Name, fAPIKeyHash, e.APIKeyHash, fSalt, e.WebhookSecretSalt,
			fRegisteredAt, fmtTime(at))
		hsetnx(p.principalKey(e.APIKeyHash), fRole, RoleBrand, fID, e.BrandID, fName, e.Name, fBrandID, e.BrandID)
	case schemas.CreatorRegistered:
		hsetnx(p.creatorKey(e.CreatorID), fName, e.Name, fEmail, e.Email, fRegisteredAt, fmtTime(at), fToken, e.TokenHash)
		hsetnx(p.principalKey(e.TokenHash), fRole, RoleCreator, fID, e.CreatorID, fName, e.Name)
	case schemas.AnalystRegistered:
		hsetnx(p.analystKey(e.AnalystID), fName, e.Name, fRegisteredAt, fmtTime(at), fToken, e.TokenHash)
		hsetnx(p.principalKey(e.TokenHash), fRole, RoleAnalyst, fID, e.AnalystID, fName, e.Name)
	case schemas.OfferPublished:
		v, err := jsonOf(publishedRecord{
			EventID: it.env.EventID, Offset: it.offset, At: at, Name: e.Name, Payout: e.Payout,
			Countries: nonNil(e.Countries), Platforms: nonNil(e.Platforms), HoldDays: e.HoldDays, Status: e.Status,
		})
		if err != nil {
			return err
		}
		hsetnx(p.offerKey(e.BrandID, e.OfferID), fPublished, v)
		pipe.ZAddNX(ctx, p.offersKey(), redis.Z{Score: score(at), Member: offerMember(e.BrandID, e.OfferID)})
	case schemas.OfferChanged:
		v, err := jsonOf(changeRecord{EventID: it.env.EventID, At: at, Change: e})
		if err != nil {
			return err
		}
		hsetnx(p.offerKey(e.BrandID, e.OfferID), changeField(it.offset), v)
	case schemas.CodeRequested:
		v, err := jsonOf(requestedRecord{BrandID: e.BrandID, OfferID: e.OfferID, CreatorID: e.CreatorID, Platform: e.Platform, At: at})
		if err != nil {
			return err
		}
		hsetnx(p.requestKey(e.RequestID), fRequested, v)
		z := redis.Z{Score: score(at), Member: e.RequestID}
		pipe.ZAddNX(ctx, p.byCreatorKey(e.CreatorID), z)
		pipe.ZAddNX(ctx, p.byBrandKey(e.BrandID), z)
	case schemas.CodeConfirmed:
		v, err := jsonOf(decisionRecord{Status: catalog.RequestConfirmed, At: at, Code: e.Code, NormalizedCode: e.NormalizedCode})
		if err != nil {
			return err
		}
		hsetnx(p.requestKey(e.RequestID), fDecision, v)
		c, err := jsonOf(codeRecord{CreatorID: e.CreatorID, OfferID: e.OfferID, Platform: e.Platform, Code: e.Code, ActiveFrom: at})
		if err != nil {
			return err
		}
		hsetnx(p.codeKey(e.BrandID, e.NormalizedCode), fCodePrefix+e.RequestID, c)
	case schemas.CodeRejected:
		v, err := jsonOf(decisionRecord{Status: catalog.RequestRejected, At: at, Reason: e.Reason})
		if err != nil {
			return err
		}
		hsetnx(p.requestKey(e.RequestID), fDecision, v)
	case schemas.CodeRevoked:
		hsetnx(p.requestKey(e.RequestID), fRevokedAt, fmtTime(at))
		hsetnx(p.codeKey(e.BrandID, e.NormalizedCode), fRevokePrefix+e.RequestID, fmtTime(at))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// watermarkScript moves a partition's watermark forward only: a late
// redelivery of an older batch (a former owner draining) never moves it
// back. KEYS[1] the watermark hash; ARGV partition, next offset, latest
// occurred_at in clockLayout ("" for none).
var watermarkScript = redis.NewScript(`
local of = 'o:' .. ARGV[1]
local tf = 't:' .. ARGV[1]
local cur = tonumber(redis.call('HGET', KEYS[1], of) or '-1')
if tonumber(ARGV[2]) > cur then
  redis.call('HSET', KEYS[1], of, ARGV[2])
end
if ARGV[3] ~= '' then
  local t = redis.call('HGET', KEYS[1], tf)
  if not t or ARGV[3] > t then
    redis.call('HSET', KEYS[1], tf, ARGV[3])
  end
end
return 1
`)

// setWatermark records that partition has been applied up to next (the
// next offset to apply) and up to events that occurred at latest.
func (p *Projection) setWatermark(ctx context.Context, partition int, next int64, latest time.Time) error {
	at := ""
	if !latest.IsZero() {
		at = latest.UTC().Format(clockLayout)
	}
	err := watermarkScript.Run(ctx, p.client, []string{p.watermarkKey()}, partition, next, at).Err()
	if err != nil {
		return fmt.Errorf("redis catalog: set watermark of partition %d to %d: %w", partition, next, err)
	}
	return nil
}
