package catalog_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// TestConfirmRace: two brand managers confirm different requests with the
// same text at once. The brand's single writer decides them one after the
// other, each on the state that includes the events before it: the first
// wins, the second gets ErrConflict, whatever the order.
func TestConfirmRace(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second catalog.ConfirmCode
	}{
		{"anna first", catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "SALE10"}, catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "sale10"}},
		{"boris first", catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "sale10"}, catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "SАLE10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := givenStream(t, withOffer(requested(brandA, "r1", anna, "instagram"), requested(brandA, "r2", boris, "tiktok"))...)
			s.must(tc.first, nil)
			_, err := s.do(tc.second, nil)
			checkErr(t, err, catalog.ErrConflict, "")
			c, ok := s.brand.ActiveCode("SALE10", s.tick(time.Second))
			if !ok || c.RequestID != tc.first.RequestID {
				t.Fatalf("active code %+v, %v; want the first confirm's (%s)", c, ok, tc.first.RequestID)
			}
			if r, _ := s.brand.Request(tc.second.RequestID); r.Status != catalog.RequestModeration {
				t.Fatalf("loser's request is %s, want it still in moderation", r.Status)
			}
		})
	}
}

// TestDecidedOnce: a confirm and a reject of one request race; whichever
// the writer decides first wins and the other gets ErrConflict.
func TestDecidedOnce(t *testing.T) {
	confirm := catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "ANNA10"}
	reject := catalog.RejectCode{BrandID: brandA, RequestID: "r1", Reason: "no"}
	for _, tc := range []struct {
		name          string
		first, second catalog.BrandCommand
		status        string
	}{
		{"confirm wins", confirm, reject, catalog.RequestConfirmed},
		{"reject wins", reject, confirm, catalog.RequestRejected},
		{"confirm twice", confirm, catalog.ConfirmCode{BrandID: brandA, RequestID: "r1"}, catalog.RequestConfirmed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := givenStream(t, withOffer(requested(brandA, "r1", anna, "instagram"))...)
			s.must(tc.first, nil)
			_, err := s.do(tc.second, seq("GEN2345"))
			checkErr(t, err, catalog.ErrConflict, "")
			if r, _ := s.brand.Request("r1"); r.Status != tc.status {
				t.Fatalf("request is %s, want %s", r.Status, tc.status)
			}
		})
	}
}

// TestDecideEvolveDecide: the state Evolve builds from the emitted events,
// encoded and decoded as the log carries them, is the state Decide
// assumed: deciding the same command again is refused.
func TestDecideEvolveDecide(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given []schemas.Event
		cmd   catalog.BrandCommand
	}{
		{"register brand", nil, catalog.RegisterBrand{BrandID: brandA, Name: "Acme", APIKeyHash: keyHash, WebhookSecretSalt: "s"}},
		{"publish offer", []schemas.Event{registered(brandA)}, catalog.PublishOffer{
			BrandID: brandA, OfferID: offer1, Name: "Sale", Payout: pct10, Countries: []string{"RU"}, Platforms: []string{"vk"}}},
		{"request code", withOffer(), catalog.RequestCode{BrandID: brandA, OfferID: offer1, RequestID: "r1", CreatorID: anna, Platform: "instagram"}},
		{"confirm code", withOffer(requested(brandA, "r1", anna, "instagram")), catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "ANNA10"}},
		{"reject code", withOffer(requested(brandA, "r1", anna, "instagram")), catalog.RejectCode{BrandID: brandA, RequestID: "r1", Reason: "no"}},
		{"revoke code", withAnnaCode(), catalog.RevokeCode{BrandID: brandA, Code: "ANNA10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := givenStream(t, tc.given...)
			s.must(tc.cmd, nil)
			_, err := catalog.Decide(s.brand, tc.cmd, nil)
			checkErr(t, err, catalog.ErrConflict, "")
		})
	}
	t.Run("change offer", func(t *testing.T) {
		s := givenStream(t, withOffer()...)
		change := catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, Payout: &pct10}
		if evs := s.must(change, nil); len(evs) != 1 {
			t.Fatalf("events %v, want one", evs)
		}
		evs, err := catalog.Decide(s.brand, change, nil)
		if err != nil || evs != nil {
			t.Fatalf("repeated change: %v, %v; want no events", evs, err)
		}
	})
}

// scenario runs a brand through every kind of command, with time passing,
// and returns its stream.
func scenario(t *testing.T) *stream {
	t.Helper()
	s := newStream(t)
	s.must(catalog.RegisterBrand{BrandID: brandA, Name: "Acme", APIKeyHash: keyHash, WebhookSecretSalt: "s"}, nil)
	s.tick(time.Hour)
	s.must(catalog.PublishOffer{BrandID: brandA, OfferID: offer1, Name: "Sale", Payout: fixed150,
		Countries: []string{"RU"}, Platforms: []string{"instagram", "tiktok"}, HoldDays: 30}, nil)
	s.must(catalog.PublishOffer{BrandID: brandA, OfferID: offer2, Name: "Sale 2", Payout: pct10,
		Countries: []string{"RU", "KZ"}, Platforms: []string{"vk"}, HoldDays: 14}, nil)
	s.tick(time.Hour)
	s.must(catalog.RequestCode{BrandID: brandA, OfferID: offer1, RequestID: "r1", CreatorID: anna, Platform: "instagram"}, nil)
	s.must(catalog.RequestCode{BrandID: brandA, OfferID: offer1, RequestID: "r2", CreatorID: boris, Platform: "tiktok"}, nil)
	s.must(catalog.RequestCode{BrandID: brandA, OfferID: offer2, RequestID: "r3", CreatorID: anna, Platform: "vk"}, nil)
	s.tick(time.Hour)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "ANNA10"}, nil)
	s.must(catalog.RejectCode{BrandID: brandA, RequestID: "r2", Reason: "no audience"}, nil)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r3"}, seq("ANNA10", "ANNAVK7"))
	s.tick(time.Hour)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, Payout: &pct10, HoldDays: ptr(7)}, nil)
	s.tick(time.Hour)
	s.must(catalog.RevokeCode{BrandID: brandA, Code: "anna10"}, nil)
	s.must(catalog.RequestCode{BrandID: brandA, OfferID: offer1, RequestID: "r4", CreatorID: boris, Platform: "tiktok"}, nil)
	s.tick(time.Hour)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r4", Code: "АNNА10"}, nil)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, Status: ptr(schemas.OfferPaused)}, nil)
	return s
}

// TestRebuildFromLog: replaying the log into an empty state gives the
// state the writer built command by command.
func TestRebuildFromLog(t *testing.T) {
	s := scenario(t)
	if got := rebuild(t, s.log); !reflect.DeepEqual(got, s.brand) {
		t.Fatalf("rebuilt state\n%+v\nwant\n%+v", got, s.brand)
	}
	if c, ok := s.brand.ActiveCode("anna10", s.now); !ok || c.RequestID != "r4" || c.CreatorID != boris {
		t.Fatalf("ANNA10 now %+v, %v; want boris's r4", c, ok)
	}
}

// TestEvolveIdempotent: a redelivered event changes nothing, whether
// redelivered at once, after later events, or as a whole log replayed
// into a live state.
func TestEvolveIdempotent(t *testing.T) {
	log := scenario(t).log
	once := rebuild(t, log)
	for _, tc := range []struct {
		name string
		log  []schemas.Envelope
	}{
		{"every event twice in a row", func() (l []schemas.Envelope) {
			for _, e := range log {
				l = append(l, e, e)
			}
			return l
		}()},
		{"the whole log twice", append(append([]schemas.Envelope{}, log...), log...)},
		{"each prefix replayed after it", func() (l []schemas.Envelope) {
			for i := range log {
				l = append(l, log[:i+1]...)
			}
			return l
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebuild(t, tc.log); !reflect.DeepEqual(got, once) {
				t.Fatalf("state after redeliveries\n%+v\nwant\n%+v", got, once)
			}
		})
	}
}

// TestEvolveRedeliveredChangeAfterALaterOne: an offer change redelivered
// after a later change must not bring its values back.
func TestEvolveRedeliveredChangeAfterALaterOne(t *testing.T) {
	s := givenStream(t, withOffer()...)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, HoldDays: ptr(7)}, nil)
	first := s.log[len(s.log)-1]
	s.tick(time.Hour)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, HoldDays: ptr(14)}, nil)
	ev, err := schemas.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	s.brand.Evolve(first, ev)
	o, _ := s.brand.Offer(offer1)
	if n, d := len(o.History), o.Current().HoldDays; n != 3 || d != 14 {
		t.Fatalf("%d versions, current hold %d days; want 3 and 14", n, d)
	}
}

// TestEvolveIgnoresOtherStreams: events that are not this brand's change
// nothing.
func TestEvolveIgnoresOtherStreams(t *testing.T) {
	s := givenStream(t, withAnnaCode()...)
	want := rebuild(t, s.log)
	other := []schemas.Event{
		registered(brandB),
		published(brandB, offer2),
		requested(brandB, "r9", anna, "instagram"),
		confirmed(brandB, "r1", anna, "instagram", "OTHER1", "OTHER1"),
		revoked(brandB, "r1", "ANNA10", "ANNA10"),
		schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash},
		schemas.OrderPlaced{OrderID: "o1", BrandID: brandA, ShopEventID: "e1", PromoCodes: []string{"ANNA10"}, Amount: "1.00", Currency: "RUB", Country: "RU"},
		// Events of this brand that do not fit its state.
		confirmed(brandA, "r9", boris, "tiktok", "GHOST1", "GHOST1"),
		rejected(brandA, "r1", anna, "too late"),
		schemas.OfferChanged{BrandID: brandA, OfferID: "nope", HoldDays: ptr(1)},
		registered(brandA),
	}
	s.append(false, other...)
	if !reflect.DeepEqual(s.brand, want) {
		t.Fatalf("state changed by other streams' events\n%+v\nwant\n%+v", s.brand, want)
	}

	// Before its registration a brand takes no other event.
	fresh := newStream(t)
	fresh.append(false, published(brandA, offer1), requested(brandA, "r1", anna, "vk"))
	if !reflect.DeepEqual(fresh.brand, &catalog.Brand{}) {
		t.Fatalf("unregistered brand took events: %+v", fresh.brand)
	}
}

// TestEffectiveTimesMonotonic: an event stamped before its predecessor
// (writers whose clocks disagree) takes effect at the predecessor's time,
// so a re-issued text never overlaps its revoked predecessor.
func TestEffectiveTimesMonotonic(t *testing.T) {
	s := givenStream(t, withAnnaCode(requested(brandA, "r2", boris, "tiktok"))...)
	s.tick(time.Hour)
	s.must(catalog.RevokeCode{BrandID: brandA, Code: "ANNA10"}, nil)
	revokedAt := s.now
	s.now = s.now.Add(-30 * time.Minute) // the next writer's clock is behind
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "ANNA10"}, nil)

	codes := s.brand.Codes("ANNA10")
	if len(codes) != 2 {
		t.Fatalf("codes %+v, want two", codes)
	}
	if !codes[1].ActiveFrom.Equal(revokedAt) {
		t.Fatalf("re-issued code active from %v, want the revocation's %v", codes[1].ActiveFrom, revokedAt)
	}
	for _, at := range []time.Time{revokedAt.Add(-31 * time.Minute), revokedAt.Add(-time.Nanosecond), revokedAt, revokedAt.Add(time.Hour)} {
		n := 0
		for _, c := range codes {
			if c.ActiveAt(at) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d codes active at %v, want 1", n, at)
		}
	}
	if got := rebuild(t, s.log); !reflect.DeepEqual(got, s.brand) {
		t.Fatal("replay gives other effective times")
	}
}

// TestRefusalMessages: refusals carry a message meant for the API caller,
// without the sentinel's prefix.
func TestRefusalMessages(t *testing.T) {
	b := given(t, withAnnaCode(requested(brandA, "r2", boris, "tiktok"))...)
	_, err := catalog.Decide(b, catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "anna10"}, nil)
	if want := `code "anna10" is taken at this brand by "ANNA10"`; err == nil || err.Error() != want {
		t.Fatalf("message %v, want %q", err, want)
	}
	_, err = catalog.Decide(b, catalog.RejectCode{BrandID: brandA, RequestID: "r2"}, nil)
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || ve.Error() != "reason: must not be empty" {
		t.Fatalf("message %v, want %q", err, "reason: must not be empty")
	}
}
