package rediscatalog_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

func testLogger() *slog.Logger { return kafkatest.Logger() }

// roundTrips counts a client's Redis round trips.
type roundTrips = testenv.RedisRoundTrips

// newProjection returns a projection on the test Redis under a key prefix
// of its own, which it drops at the end of the test, and the client's
// round-trip counter and the client.
func newProjection(t testing.TB) (*rediscatalog.Projection, *roundTrips, *redis.Client) {
	t.Helper()
	client, prefix := testenv.Redis(t)
	counter := &roundTrips{}
	client.AddHook(counter)
	p, err := rediscatalog.New(rediscatalog.Config{Client: client, Prefix: prefix, Logger: testLogger()})
	if err != nil {
		t.Fatalf("new projection: %v", err)
	}
	return p, counter, client
}

// openStore starts an embedded broker for the test and opens a store on it
// with the catalog topic in 4 partitions.
func openStore(t testing.TB) *eventstore.Store {
	t.Helper()
	return kafkatest.NewStore(t, 4, schemas.TopicCatalog)
}

// runSubscriber runs the projection's subscriber until stop is called or
// the test ends; stop waits for it to leave the group.
func runSubscriber(t testing.TB, s *eventstore.Store, p *rediscatalog.Projection) (sub *eventstore.Subscriber, stop func()) {
	t.Helper()
	return kafkatest.RunSubscriber(t, s, p.SubscriberConfig())
}

// waitCaughtUp waits until the projection's watermarks reach the end of
// every partition of the catalog topic.
func waitCaughtUp(t testing.TB, s *eventstore.Store, p *rediscatalog.Projection) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		bounds, err := s.Bounds(ctx, schemas.TopicCatalog)
		if err != nil {
			t.Fatalf("bounds: %v", err)
		}
		wms, err := p.Watermarks(ctx)
		if err != nil {
			t.Fatalf("watermarks: %v", err)
		}
		behind := 0
		for _, b := range bounds {
			if wms[b.Partition].Offset < b.End {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection not caught up after 30s: bounds %v, watermarks %v", bounds, wms)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// world is the catalog's writers in a test: it decides commands with the
// catalog deciders on the aggregates' states, wraps the events in
// envelopes stamped with its clock, evolves the states with them, and
// keeps the log. The states are what the projection must agree with.
type world struct {
	t        testing.TB
	now      time.Time
	brands   map[string]*catalog.Brand
	creators map[string]*catalog.Creator
	analysts map[string]*catalog.Analyst
	log      []schemas.Envelope
	// skew, when set, stamps the next events that much before now, as a
	// writer with a slow clock would.
	skew time.Duration
}

func newWorld(t testing.TB) *world {
	return &world{
		t: t, now: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		brands: map[string]*catalog.Brand{}, creators: map[string]*catalog.Creator{}, analysts: map[string]*catalog.Analyst{},
	}
}

// emit wraps events, evolves the states and logs them; it returns the
// envelopes.
func (w *world) emit(evs ...schemas.Event) []schemas.Envelope {
	w.t.Helper()
	var out []schemas.Envelope
	for _, ev := range evs {
		w.now = w.now.Add(time.Minute)
		env, err := schemas.NewEnvelopeFor(ev, w.now.Add(-w.skew), w.now)
		if err != nil {
			w.t.Fatalf("envelope of %T: %v", ev, err)
		}
		w.evolve(env)
		out = append(out, env)
	}
	return out
}

// evolve applies env to the states (as their adapters do: decoded
// payloads) and logs it.
func (w *world) evolve(env schemas.Envelope) {
	w.t.Helper()
	dec, err := schemas.DecodeTrusted(env)
	if err != nil {
		w.t.Fatalf("decode %s: %v", env.Type, err)
	}
	switch e := dec.(type) {
	case *schemas.CreatorRegistered:
		c := w.creators[e.CreatorID]
		if c == nil {
			c = &catalog.Creator{}
			w.creators[e.CreatorID] = c
		}
		c.Evolve(env, dec)
	case *schemas.CreatorTokenRotated:
		w.creators[e.CreatorID].Evolve(env, dec)
	case *schemas.AnalystTokenRotated:
		w.analysts[e.AnalystID].Evolve(env, dec)
	case *schemas.AnalystRegistered:
		a := w.analysts[e.AnalystID]
		if a == nil {
			a = &catalog.Analyst{}
			w.analysts[e.AnalystID] = a
		}
		a.Evolve(env, dec)
	default:
		b := w.brands[env.BrandID]
		if b == nil {
			b = &catalog.Brand{}
			w.brands[env.BrandID] = b
		}
		b.Evolve(env, dec)
	}
	w.log = append(w.log, env)
}

// redeliver logs env again, as a retried append does (same event id).
func (w *world) redeliver(env schemas.Envelope) { w.evolve(env) }

// do decides a brand command, which must succeed, and emits its events.
func (w *world) do(cmd catalog.BrandCommand) []schemas.Envelope {
	w.t.Helper()
	b := w.brands[cmd.AggregateKey()]
	evs, err := catalog.Decide(b, cmd, nil)
	if err != nil {
		w.t.Fatalf("%T: %v", cmd, err)
	}
	return w.emit(evs...)
}

func (w *world) registerCreator(id, name string) {
	w.t.Helper()
	evs, err := catalog.DecideCreator(w.creators[id], catalog.RegisterCreator{CreatorID: id, Name: name, Email: id + "@example.com", TokenHash: sha("token-" + id)})
	if err != nil {
		w.t.Fatalf("register creator %s: %v", id, err)
	}
	w.emit(evs...)
}

func (w *world) registerAnalyst(id, name string) {
	w.t.Helper()
	evs, err := catalog.DecideAnalyst(w.analysts[id], catalog.RegisterAnalyst{AnalystID: id, Name: name, TokenHash: sha("token-" + id)})
	if err != nil {
		w.t.Fatalf("register analyst %s: %v", id, err)
	}
	w.emit(evs...)
}

// rotateToken rotates a creator's or an analyst's token to the hash of
// next, with the current token, and emits the event.
func (w *world) rotateToken(id, next string) {
	w.t.Helper()
	var evs []schemas.Event
	var err error
	if c, ok := w.creators[id]; ok {
		evs, err = catalog.DecideCreatorRotation(c, catalog.RotateToken{PrincipalID: id, TokenHash: sha(next), AuthorizedBy: c.Token.Current})
	} else {
		a := w.analysts[id]
		evs, err = catalog.DecideAnalystRotation(a, catalog.RotateToken{PrincipalID: id, TokenHash: sha(next), AuthorizedBy: a.Token.Current})
	}
	if err != nil {
		w.t.Fatalf("rotate token of %s: %v", id, err)
	}
	w.emit(evs...)
}

// rotate rotates a brand's credential of kind to value (a key's hash or a
// salt), with the brand's current API key.
func (w *world) rotate(brand, kind, value string) []schemas.Envelope {
	w.t.Helper()
	return w.do(catalog.RotateCredential{BrandID: brand, Kind: kind, NewValue: value, AuthorizedBy: w.brands[brand].APIKey().Current})
}

func ptr[T any](v T) *T { return &v }

// Ids of the realistic history.
const (
	acme, bolt                    = "brand-acme", "brand-bolt"
	winter, summer, boltOffer     = "offer-winter", "offer-summer", "offer-bolt"
	anna, boris, carl             = "creator-anna", "creator-boris", "creator-carl"
	ops                           = "analyst-ops"
	r1, r2, r3, r4, r5, r6, r7    = "req-1", "req-2", "req-3", "req-4", "req-5", "req-6", "req-7"
	fixed150Value, fixed200Value  = "150.00", "200.00"
	percentValue, percentNewValue = "10", "12.5"
)

// history builds a realistic catalog: two brands with offers whose terms
// change, seven requests (confirmed, rejected, revoked, in moderation), a
// revoked text issued again (typed with a Cyrillic look-alike), the same
// text at both brands, two retried appends, and a writer whose clock runs
// an hour slow (effective times must then follow the brand's clock).
func history(t testing.TB) *world {
	w := newWorld(t)
	fixed := func(v string) schemas.Payout {
		return schemas.Payout{Type: schemas.PayoutFixed, Value: v, Currency: "RUB"}
	}
	percent := func(v string) schemas.Payout {
		return schemas.Payout{Type: schemas.PayoutPercent, Value: v, Currency: "RUB"}
	}
	w.do(catalog.RegisterBrand{BrandID: acme, Name: "Acme", APIKeyHash: sha("key-acme"), WebhookSecretSalt: "salt-acme"})
	w.do(catalog.RegisterBrand{BrandID: bolt, Name: "Bolt Shop", APIKeyHash: sha("key-bolt"), WebhookSecretSalt: "salt-bolt"})
	w.registerCreator(anna, "Anna")
	w.registerCreator(boris, "Boris")
	w.registerCreator(carl, "Carl")
	w.registerAnalyst(ops, "Ops")
	w.do(catalog.PublishOffer{BrandID: acme, OfferID: winter, Name: "Winter sale", Payout: fixed(fixed150Value),
		Countries: []string{"RU"}, Platforms: []string{"instagram", "tiktok"}, HoldDays: 30})
	w.do(catalog.PublishOffer{BrandID: acme, OfferID: summer, Name: "Summer", Payout: percent(percentValue),
		Countries: []string{"RU", "KZ"}, Platforms: []string{"youtube", "telegram"}, HoldDays: 14})
	w.do(catalog.PublishOffer{BrandID: bolt, OfferID: boltOffer, Name: "Bolt CPA", Payout: percent(percentValue),
		Countries: []string{"RU"}, Platforms: []string{"telegram", "vk"}, HoldDays: 0})

	w.do(catalog.RequestCode{BrandID: acme, OfferID: winter, RequestID: r1, CreatorID: anna, Platform: "instagram"})
	w.do(catalog.RequestCode{BrandID: acme, OfferID: winter, RequestID: r2, CreatorID: boris, Platform: "tiktok"})
	w.do(catalog.RequestCode{BrandID: acme, OfferID: summer, RequestID: r3, CreatorID: carl, Platform: "youtube"})
	w.do(catalog.RequestCode{BrandID: bolt, OfferID: boltOffer, RequestID: r4, CreatorID: anna, Platform: "telegram"})
	w.do(catalog.ConfirmCode{BrandID: acme, RequestID: r1, Code: "anna10"})
	w.do(catalog.RejectCode{BrandID: acme, RequestID: r2, Reason: "Audience too small for this offer"})
	confirmed := w.do(catalog.ConfirmCode{BrandID: acme, RequestID: r3, Code: "CARL-5"})
	w.redeliver(confirmed[0])                                               // a retried append
	w.do(catalog.ConfirmCode{BrandID: bolt, RequestID: r4, Code: "ANNA10"}) // the same text at another brand
	changed := w.do(catalog.ChangeOffer{BrandID: acme, OfferID: winter, Payout: ptr(fixed(fixed200Value))})
	w.do(catalog.ChangeOffer{BrandID: acme, OfferID: summer, Name: ptr("Summer hits"), Payout: ptr(percent(percentNewValue)), HoldDays: ptr(21)})
	w.redeliver(changed[0])
	w.do(catalog.RevokeCode{BrandID: acme, Code: "ANNA10"})
	w.do(catalog.RequestCode{BrandID: acme, OfferID: winter, RequestID: r5, CreatorID: boris, Platform: "instagram"})
	// A writer whose clock is an hour slow: the confirmation of r5 (the
	// revoked text again, typed with a Cyrillic А) and the pause of the
	// summer offer take effect at the brand's clock, not at their stamps.
	w.skew = time.Hour
	w.do(catalog.ConfirmCode{BrandID: acme, RequestID: r5, Code: "\u0410nna10"})
	w.do(catalog.ChangeOffer{BrandID: acme, OfferID: summer, Status: ptr(schemas.OfferPaused)})
	w.skew = 0
	w.do(catalog.RequestCode{BrandID: bolt, OfferID: boltOffer, RequestID: r6, CreatorID: carl, Platform: "vk"})
	w.do(catalog.ChangeOffer{BrandID: acme, OfferID: winter, HoldDays: ptr(45), Platforms: []string{"instagram", "tiktok", "vk"}})
	w.do(catalog.RequestCode{BrandID: acme, OfferID: winter, RequestID: r7, CreatorID: carl, Platform: "vk"})

	// Credential rotations: Acme's API key twice (the second, by the slow
	// writer, retires the first key at once, and its grace follows the
	// brand's clock); its webhook secret once, redelivered; Anna's token
	// twice, the analyst's once.
	w.rotate(acme, catalog.CredentialAPIKey, sha("key-acme-2"))
	w.skew = time.Hour
	w.rotate(acme, catalog.CredentialAPIKey, sha("key-acme-3"))
	w.skew = 0
	rotated := w.rotate(acme, catalog.CredentialWebhookSecret, "salt-acme-2")
	w.redeliver(rotated[0])
	w.rotateToken(anna, "token-anna-2")
	w.rotateToken(anna, "token-anna-3")
	w.rotateToken(ops, "token-ops-2")

	// Connectors: Acme's Shopify secret changed (redelivered) and then
	// its confirm_on alone; Bolt's WooCommerce removed and set again by
	// the slow writer.
	w.do(catalog.SetConnector{BrandID: acme, Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-1", SecretFingerprint: sha("secret-1")})
	set := w.do(catalog.SetConnector{BrandID: acme, Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-2", SecretFingerprint: sha("secret-2")})
	w.redeliver(set[0])
	w.do(catalog.SetConnector{BrandID: acme, Platform: "shopify", ConfirmOn: "orders/fulfilled", SecretSealed: "sealed-2b", SecretFingerprint: sha("secret-2")})
	w.do(catalog.SetConnector{BrandID: bolt, Platform: "woocommerce", ConfirmOn: "completed", SecretSealed: "sealed-w", SecretFingerprint: sha("secret-w")})
	w.do(catalog.RemoveConnector{BrandID: bolt, Platform: "woocommerce"})
	w.skew = time.Hour
	w.do(catalog.SetConnector{BrandID: bolt, Platform: "woocommerce", ConfirmOn: "processing", SecretSealed: "sealed-w2", SecretFingerprint: sha("secret-w2")})
	w.skew = 0
	return w
}

// partitionOf places an aggregate key on one of n partitions (any stable
// placement will do for batches built by hand).
func partitionOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// partitioned lays a log out on n partitions as Kafka would: by key, with
// consecutive offsets per partition.
func partitioned(log []schemas.Envelope, n int) [][]eventstore.Message {
	parts := make([][]eventstore.Message, n)
	for _, env := range log {
		p := partitionOf(env.AggregateKey, n)
		parts[p] = append(parts[p], eventstore.Message{
			Topic: schemas.TopicCatalog, Partition: p, Offset: int64(len(parts[p])),
			Key: []byte(env.AggregateKey), Time: env.RecordedAt, Envelope: env,
		})
	}
	return parts
}

func batchOf(msgs []eventstore.Message) *eventstore.Batch {
	return &eventstore.Batch{Topic: schemas.TopicCatalog, Partition: msgs[0].Partition, Messages: msgs}
}
