package catalog_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// Fixtures: brand A with offer O1 (150.00 RUB fixed, RU, instagram and
// tiktok, 30 days) and creators C1 and C2.
const (
	brandA = "brand-a"
	brandB = "brand-b"
	offer1 = "offer-1"
	offer2 = "offer-2"
	anna   = "creator-anna"
	boris  = "creator-boris"
)

var (
	t0       = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	keyHash  = strings.Repeat("ab", 32)
	fixed150 = schemas.Payout{Type: schemas.PayoutFixed, Value: "150.00", Currency: "RUB"}
	pct10    = schemas.Payout{Type: schemas.PayoutPercent, Value: "10", Currency: "RUB"}
)

func registered(brandID string) schemas.BrandRegistered {
	return schemas.BrandRegistered{BrandID: brandID, Name: "Acme", APIKeyHash: keyHash, WebhookSecretSalt: "salt-" + brandID}
}

func published(brandID, offerID string) schemas.OfferPublished {
	return schemas.OfferPublished{
		OfferID: offerID, BrandID: brandID, Name: "Winter sale", Payout: fixed150,
		Countries: []string{"RU"}, Platforms: []string{"instagram", "tiktok"}, HoldDays: 30, Status: schemas.OfferActive,
	}
}

func paused(brandID, offerID string) schemas.OfferChanged {
	s := schemas.OfferPaused
	return schemas.OfferChanged{OfferID: offerID, BrandID: brandID, Status: &s}
}

func requested(brandID, requestID, creatorID, platform string) schemas.CodeRequested {
	return schemas.CodeRequested{RequestID: requestID, BrandID: brandID, OfferID: offer1, CreatorID: creatorID, Platform: platform}
}

func confirmed(brandID, requestID, creatorID, platform, code, normalized string) schemas.CodeConfirmed {
	return schemas.CodeConfirmed{
		RequestID: requestID, BrandID: brandID, OfferID: offer1, CreatorID: creatorID, Platform: platform,
		Code: code, NormalizedCode: normalized,
	}
}

func rejected(brandID, requestID, creatorID, reason string) schemas.CodeRejected {
	return schemas.CodeRejected{RequestID: requestID, BrandID: brandID, OfferID: offer1, CreatorID: creatorID, Reason: reason}
}

func revoked(brandID, requestID, code, normalized string) schemas.CodeRevoked {
	return schemas.CodeRevoked{BrandID: brandID, RequestID: requestID, Code: code, NormalizedCode: normalized}
}

// withOffer is brand A registered with offer 1 published.
func withOffer(more ...schemas.Event) []schemas.Event {
	return append([]schemas.Event{registered(brandA), published(brandA, offer1)}, more...)
}

// withAnnaCode is withOffer plus Anna's request r1 on instagram confirmed
// as ANNA10.
func withAnnaCode(more ...schemas.Event) []schemas.Event {
	return withOffer(append([]schemas.Event{
		requested(brandA, "r1", anna, "instagram"),
		confirmed(brandA, "r1", anna, "instagram", "ANNA10", "ANNA10"),
	}, more...)...)
}

// stream is one brand's single writer in a test: it decides commands on
// its state, wraps the events in envelopes (validated against their JSON
// Schemas), evolves the state with them, and keeps the log.
type stream struct {
	t     *testing.T
	brand *catalog.Brand
	log   []schemas.Envelope
	now   time.Time
}

func newStream(t *testing.T) *stream {
	t.Helper()
	return &stream{t: t, brand: &catalog.Brand{}, now: t0}
}

// append stamps events with s.now, evolves the state with them and logs
// them; with decode, Evolve gets the payloads as schemas.DecodeTrusted
// returns them (pointers), as the adapter will.
func (s *stream) append(decode bool, evs ...schemas.Event) {
	s.t.Helper()
	for _, ev := range evs {
		env, err := schemas.NewEnvelopeFor(ev, s.now, s.now)
		if err != nil {
			s.t.Fatalf("envelope for %T: %v", ev, err)
		}
		if decode {
			if ev, err = schemas.DecodeTrusted(env); err != nil {
				s.t.Fatalf("decode %s: %v", env.Type, err)
			}
		}
		s.brand.Evolve(env, ev)
		s.log = append(s.log, env)
	}
}

// do decides cmd and appends its events.
func (s *stream) do(cmd catalog.BrandCommand, gen catalog.CodeGenerator) ([]schemas.Event, error) {
	s.t.Helper()
	evs, err := catalog.Decide(s.brand, cmd, gen)
	if err == nil {
		s.append(true, evs...)
	}
	return evs, err
}

// must decides cmd, which must succeed, and returns its events.
func (s *stream) must(cmd catalog.BrandCommand, gen catalog.CodeGenerator) []schemas.Event {
	s.t.Helper()
	evs, err := s.do(cmd, gen)
	if err != nil {
		s.t.Fatalf("%T: %v", cmd, err)
	}
	return evs
}

func (s *stream) tick(d time.Duration) time.Time {
	s.now = s.now.Add(d)
	return s.now
}

// given builds a brand's state from events one minute apart from t0.
func given(t *testing.T, evs ...schemas.Event) *catalog.Brand {
	t.Helper()
	return givenStream(t, evs...).brand
}

// givenStream is given, keeping the log; its clock is one minute after the
// last event.
func givenStream(t *testing.T, evs ...schemas.Event) *stream {
	t.Helper()
	s := newStream(t)
	for _, ev := range evs {
		s.append(false, ev)
		s.tick(time.Minute)
	}
	return s
}

// rebuild evolves a new state from a log, decoding each payload.
func rebuild(t *testing.T, log []schemas.Envelope) *catalog.Brand {
	t.Helper()
	b := &catalog.Brand{}
	for _, env := range log {
		ev, err := schemas.Decode(env)
		if err != nil {
			t.Fatalf("decode %s: %v", env.Type, err)
		}
		b.Evolve(env, ev)
	}
	return b
}

// errValidation stands for "a *catalog.ValidationError" in test tables.
var errValidation = errors.New("validation error")

// checkErr compares err with the wanted kind (nil, errValidation with its
// field, or a sentinel found by errors.Is).
func checkErr(t *testing.T, err, want error, field string) {
	t.Helper()
	switch {
	case want == nil:
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
	case want == errValidation:
		var ve *catalog.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v, want a *ValidationError for %q", err, field)
		}
		if ve.Field != field {
			t.Fatalf("ValidationError for field %q (%v), want %q", ve.Field, ve, field)
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("error %v, want %v", err, want)
		}
		var ve *catalog.ValidationError
		if errors.As(err, &ve) {
			t.Fatalf("error %v is a ValidationError too", err)
		}
	}
}

func checkEvents(t *testing.T, got, want []schemas.Event) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %#v\nwant %#v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// seq is a CodeGenerator proposing texts in turn.
func seq(texts ...string) catalog.CodeGenerator {
	return func(attempt int) string { return texts[min(attempt, len(texts)-1)] }
}
