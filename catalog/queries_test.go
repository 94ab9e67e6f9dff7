package catalog_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

func TestTermsAt(t *testing.T) {
	s := newStream(t)
	s.must(catalog.RegisterBrand{BrandID: brandA, Name: "Acme", APIKeyHash: keyHash, WebhookSecretSalt: "s"}, nil)
	published := s.tick(time.Hour)
	s.must(catalog.PublishOffer{BrandID: brandA, OfferID: offer1, Name: "Sale", Payout: fixed150,
		Countries: []string{"RU"}, Platforms: []string{"vk"}, HoldDays: 30}, nil)
	changed := s.tick(24 * time.Hour)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, Payout: &pct10, HoldDays: ptr(7)}, nil)
	pausedAt := s.tick(24 * time.Hour)
	s.must(catalog.ChangeOffer{BrandID: brandA, OfferID: offer1, Status: ptr(schemas.OfferPaused)}, nil)

	oldTerms := schemas.Terms{Payout: fixed150, HoldDays: 30}
	newTerms := schemas.Terms{Payout: pct10, HoldDays: 7}
	for _, tc := range []struct {
		name   string
		offer  string
		at     time.Time
		ok     bool
		terms  schemas.Terms
		status string
	}{
		{"before publication", offer1, published.Add(-time.Nanosecond), false, schemas.Terms{}, ""},
		{"at publication", offer1, published, true, oldTerms, schemas.OfferActive},
		{"just before the change", offer1, changed.Add(-time.Nanosecond), true, oldTerms, schemas.OfferActive},
		{"at the change", offer1, changed, true, newTerms, schemas.OfferActive},
		{"after the change", offer1, changed.Add(time.Hour), true, newTerms, schemas.OfferActive},
		{"after the pause", offer1, pausedAt.Add(time.Hour), true, newTerms, schemas.OfferPaused},
		{"unknown offer", offer2, pausedAt, false, schemas.Terms{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			terms, status, ok := s.brand.TermsAt(tc.offer, tc.at)
			if ok != tc.ok || terms != tc.terms || status != tc.status {
				t.Fatalf("TermsAt = %+v, %q, %v; want %+v, %q, %v", terms, status, ok, tc.terms, tc.status, tc.ok)
			}
		})
	}

	o, _ := s.brand.Offer(offer1)
	if len(o.History) != 3 || !o.PublishedAt.Equal(published) || !o.History[1].EffectiveFrom.Equal(changed) {
		t.Fatalf("history %+v", o)
	}
	v, ok := s.brand.OfferAt(offer1, changed.Add(-time.Second))
	if !ok || v.Name != "Sale" || v.HoldDays != 30 {
		t.Fatalf("OfferAt before the change = %+v, %v", v, ok)
	}
	// Copies: changing what a query returned does not change the state.
	o.History[0].Countries[0] = "KZ"
	v.Platforms[0] = "tiktok"
	if o2, _ := s.brand.Offer(offer1); o2.History[0].Countries[0] != "RU" || o2.History[0].Platforms[0] != "vk" {
		t.Fatal("a query's result shares memory with the state")
	}
	if offers := s.brand.Offers(); len(offers) != 1 || offers[0].OfferID != offer1 {
		t.Fatalf("Offers() = %+v", offers)
	}
}

func TestVisibleRequests(t *testing.T) {
	s := newStream(t)
	s.append(false, withOffer(
		requested(brandA, "r1", anna, "instagram"),
		requested(brandA, "r2", anna, "tiktok"),
		requested(brandA, "r3", boris, "tiktok"),
	)...)
	s.append(false, schemas.OfferPublished{OfferID: offer2, BrandID: brandA, Name: "Other", Payout: pct10,
		Countries: []string{"RU"}, Platforms: []string{"vk"}, Status: schemas.OfferActive})
	s.append(false, schemas.CodeRequested{RequestID: "r4", BrandID: brandA, OfferID: offer2, CreatorID: anna, Platform: "vk"})
	decided := s.tick(time.Hour)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "ANNA10"}, nil)
	s.must(catalog.RejectCode{BrandID: brandA, RequestID: "r2", Reason: "no"}, nil)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r3", Code: "BORIS10"}, nil)
	revokedAt := s.tick(time.Hour)
	s.must(catalog.RevokeCode{BrandID: brandA, Code: "ANNA10"}, nil)

	end := decided.Add(catalog.RequestListWindow)
	for _, tc := range []struct {
		name    string
		creator string
		now     time.Time
		want    []string
	}{
		{"right after the decisions", anna, decided.Add(time.Minute), []string{"r1", "r2", "r4"}},
		{"last instant of the window", anna, end.Add(-time.Nanosecond), []string{"r1", "r2", "r4"}},
		{"14 days after the decisions", anna, end, []string{"r4"}},
		{"a year later, moderation still shows", anna, decided.AddDate(1, 0, 0), []string{"r4"}},
		{"another creator's list", boris, decided.Add(time.Minute), []string{"r3"}},
		{"a creator with no requests", "nobody", decided, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range s.brand.VisibleRequests(tc.creator, tc.now) {
				got = append(got, r.RequestID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("visible %v, want %v", got, tc.want)
			}
		})
	}

	r1, _ := s.brand.Request("r1")
	want := catalog.Request{
		RequestID: "r1", BrandID: brandA, OfferID: offer1, CreatorID: anna, Platform: "instagram",
		Status: catalog.RequestConfirmed, RequestedAt: t0, DecidedAt: decided, Code: "ANNA10", NormalizedCode: "ANNA10", RevokedAt: revokedAt,
	}
	if r1 != want {
		t.Fatalf("request r1\n got %+v\nwant %+v", r1, want)
	}
	if r2, _ := s.brand.Request("r2"); r2.Status != catalog.RequestRejected || r2.Reason != "no" || !r2.DecidedAt.Equal(decided) {
		t.Fatalf("request r2 %+v", r2)
	}
	if _, ok := s.brand.Request("r9"); ok {
		t.Fatal("unknown request found")
	}

	ids := func(rs []catalog.Request) (out []string) {
		for _, r := range rs {
			out = append(out, r.RequestID)
		}
		return out
	}
	for _, tc := range []struct {
		status string
		want   []string
	}{
		{"", []string{"r1", "r2", "r3", "r4"}},
		{catalog.RequestModeration, []string{"r4"}},
		{catalog.RequestConfirmed, []string{"r1", "r3"}},
		{catalog.RequestRejected, []string{"r2"}},
	} {
		if got := ids(s.brand.Requests(tc.status)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Requests(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}
	if got := ids(s.brand.CreatorRequests(anna)); !reflect.DeepEqual(got, []string{"r1", "r2", "r4"}) {
		t.Errorf("CreatorRequests(anna) = %v", got)
	}

	codes := s.brand.CreatorCodes(anna)
	if len(codes) != 1 || codes[0].Code != "ANNA10" || !codes[0].Revoked() || !codes[0].RevokedAt.Equal(revokedAt) {
		t.Fatalf("anna's codes %+v, want ANNA10 revoked", codes)
	}
	if codes := s.brand.CreatorCodes(boris); len(codes) != 1 || codes[0].Code != "BORIS10" || codes[0].Revoked() {
		t.Fatalf("boris's codes %+v, want BORIS10 active", codes)
	}
}

func TestActiveCodeAndMatchAt(t *testing.T) {
	s := givenStream(t, withOffer(
		requested(brandA, "r1", anna, "instagram"),
		requested(brandA, "r2", boris, "tiktok"),
	)...)
	confirmed1 := s.tick(time.Hour)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r1", Code: "Anna10"}, nil)
	revoked1 := s.tick(time.Hour)
	s.must(catalog.RevokeCode{BrandID: brandA, Code: "ANNA10"}, nil)
	confirmed2 := s.tick(time.Hour)
	s.must(catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "ANNA10"}, nil)

	for _, tc := range []struct {
		name    string
		code    string
		at      time.Time
		active  string // request id of the active code, "" for none
		outcome string
		request string
	}{
		{"before any confirmation", "ANNA10", confirmed1.Add(-time.Second), "", schemas.OutcomeCodeNotActive, "r1"},
		{"at the first confirmation", "anna10", confirmed1, "r1", schemas.OutcomeWon, "r1"},
		{"matched through look-alikes", " ＡNNА10", confirmed1.Add(time.Minute), "r1", schemas.OutcomeWon, "r1"},
		{"at the revocation", "ANNA10", revoked1, "", schemas.OutcomeCodeRevoked, "r1"},
		{"between revocation and re-issue", "ANNA10", confirmed2.Add(-time.Second), "", schemas.OutcomeCodeRevoked, "r1"},
		{"after the re-issue", "ANNA10", confirmed2, "r2", schemas.OutcomeWon, "r2"},
		{"unknown text", "BORIS10", confirmed2, "", schemas.OutcomeUnknownCode, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := s.brand.ActiveCode(tc.code, tc.at)
			if ok != (tc.active != "") || c.RequestID != tc.active {
				t.Fatalf("ActiveCode = %+v, %v; want request %q", c, ok, tc.active)
			}
			m, outcome := s.brand.MatchAt(tc.code, tc.at)
			if outcome != tc.outcome || m.RequestID != tc.request {
				t.Fatalf("MatchAt = %q (request %q), want %q (request %q)", outcome, m.RequestID, tc.outcome, tc.request)
			}
		})
	}

	want := catalog.Code{
		Code: "Anna10", NormalizedCode: "ANNA10", BrandID: brandA, OfferID: offer1, CreatorID: anna, RequestID: "r1",
		Platform: "instagram", ActiveFrom: confirmed1, RevokedAt: revoked1,
	}
	if codes := s.brand.Codes("anna10"); len(codes) != 2 || codes[0] != want || codes[1].RequestID != "r2" {
		t.Fatalf("Codes = %+v", codes)
	}
}

// TestSameTextAtTwoBrands: a text is unique per brand only.
func TestSameTextAtTwoBrands(t *testing.T) {
	for _, brand := range []string{brandA, brandB} {
		b := given(t,
			registered(brand), published(brand, offer1),
			requested(brand, "r1", anna, "instagram"),
		)
		if _, err := catalog.Decide(b, catalog.ConfirmCode{BrandID: brand, RequestID: "r1", Code: "ANNA10"}, nil); err != nil {
			t.Fatalf("brand %s: %v", brand, err)
		}
	}
	// And with brand A's code confirmed, brand B still decides on its own
	// state, which has no ANNA10.
	b := given(t, registered(brandB), published(brandB, offer1), requested(brandB, "r1", anna, "instagram"))
	a := given(t, withAnnaCode()...)
	if _, ok := a.ActiveCode("ANNA10", t0.Add(time.Hour)); !ok {
		t.Fatal("brand A's ANNA10 not active")
	}
	if _, err := catalog.Decide(b, catalog.ConfirmCode{BrandID: brandB, RequestID: "r1", Code: "anna10"}, nil); err != nil {
		t.Fatalf("brand B: %v", err)
	}
}

func TestBrandAccessors(t *testing.T) {
	var empty catalog.Brand
	if empty.Registered() || empty.ID() != "" {
		t.Fatal("zero Brand is registered")
	}
	b := given(t, registered(brandA))
	if !b.Registered() || b.ID() != brandA || b.Name() != "Acme" || b.APIKeyHash() != keyHash ||
		b.WebhookSecretSalt() != "salt-"+brandA || !b.RegisteredAt().Equal(t0) {
		t.Fatalf("accessors of %+v", b)
	}
	if evs, err := catalog.Decide(nil, catalog.RegisterBrand{BrandID: brandA, Name: "Acme", APIKeyHash: keyHash, WebhookSecretSalt: "s"}, nil); err != nil || len(evs) != 1 {
		t.Fatalf("Decide on a nil state: %v, %v", evs, err)
	}
}
