package attribution

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

func TestResolve(t *testing.T) {
	rec := func(req string, from time.Duration, revoked *time.Duration) CodeRecord {
		r := CodeRecord{Code: "X", RequestID: req, ActiveFrom: at(from)}
		if revoked != nil {
			r.RevokedAt = ptr(at(*revoked))
		}
		return r
	}
	tests := []struct {
		name    string
		recs    []CodeRecord
		outcome string
		request string
	}{
		{"none", nil, schemas.OutcomeUnknownCode, ""},
		{"active", []CodeRecord{rec("a", -day, nil)}, schemas.OutcomeWon, "a"},
		{"revoked after placement is active", []CodeRecord{rec("a", -day, ptr(time.Second))}, schemas.OutcomeWon, "a"},
		{"latest revocation reported", []CodeRecord{rec("a", -9*day, ptr(-8*day)), rec("b", -5*day, ptr(-2*day))}, schemas.OutcomeCodeRevoked, "b"},
		{"revoked beats not yet active", []CodeRecord{rec("f", day, nil), rec("a", -9*day, ptr(-8*day))}, schemas.OutcomeCodeRevoked, "a"},
		{"earliest future reported", []CodeRecord{rec("f2", 2*day, nil), rec("f1", day, nil)}, schemas.OutcomeCodeNotActive, "f1"},
		{"two active (broken index): earliest wins", []CodeRecord{rec("b", -day, nil), rec("a", -2*day, nil)}, schemas.OutcomeWon, "a"},
		{"two active at one instant: smallest request id", []CodeRecord{rec("b", -day, nil), rec("a", -day, nil)}, schemas.OutcomeWon, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The answer must not depend on the index's order.
			for _, recs := range [][]CodeRecord{tc.recs, reversed(tc.recs)} {
				r, outcome, active := resolve(recs, t0)
				if outcome != tc.outcome || r.RequestID != tc.request || active != (tc.outcome == schemas.OutcomeWon) {
					t.Fatalf("resolve = %s %q %v, want %s %q", outcome, r.RequestID, active, tc.outcome, tc.request)
				}
			}
		})
	}
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestTermsAt(t *testing.T) {
	o := Offer{Changes: []TermsChange{
		{EffectiveFrom: at(-day), HoldDays: 1},
		{EffectiveFrom: at(day), HoldDays: 3},
		{EffectiveFrom: at(-2 * day), HoldDays: 0},
		{EffectiveFrom: at(-day), HoldDays: 2}, // same instant, later in the log
	}}
	tests := []struct {
		name string
		at   time.Time
		want int
		ok   bool
	}{
		{"before every change", at(-3 * day), 0, false},
		{"first terms", at(-2 * day), 0, true},
		{"later of two at one instant", at(-day), 2, true},
		{"between", t0, 2, true},
		{"after the last change", at(2 * day), 3, true},
	}
	for _, tc := range tests {
		got, ok := o.TermsAt(tc.at)
		if ok != tc.ok || (ok && got.HoldDays != tc.want) {
			t.Errorf("%s: TermsAt = %d %v, want %d %v", tc.name, got.HoldDays, ok, tc.want, tc.ok)
		}
	}
	if first, _ := o.firstTerms(); first.HoldDays != 0 {
		t.Errorf("firstTerms = %d", first.HoldDays)
	}
}

// askedOffers is an Offers that records what Decide asks it for.
type askedOffers struct {
	offers OfferMap
	asked  []OfferKey
}

func (a *askedOffers) Offer(brandID, offerID string) (Offer, bool) {
	a.asked = append(a.asked, OfferKey{BrandID: brandID, OfferID: offerID})
	return a.offers.Offer(brandID, offerID)
}

// TestResolveOffer checks that a Resolution's Offer names the offer Decide
// asks for, and only when it asks, and that DecideResolved of it says what
// Decide says, for placements with every pair of the world's
// codes (and unknown, blank and other brands' ones) and at several times.
func TestResolveOffer(t *testing.T) {
	codes, offers := world()
	texts := []string{"", " ", "nope", "ANNA10", "anna10", "BOB", "BOBBY", "OLD", "EDGE", "SOON", "NOW", "LEO", "PAST", "EARLY", "PAUSE", "GHOST", "OTHER"}
	asked := 0
	for _, when := range []time.Time{t0, at(-3 * day), at(2 * time.Hour)} {
		for _, a := range texts {
			for _, b := range texts {
				var st OrderState
				in := placed("p", when, "100.00", a, b)
				if _, err := Apply(&st, in.env, in.ev); err != nil {
					t.Fatal(err)
				}
				probe := &askedOffers{offers: offers}
				want, wantOK := Decide(&st, codes, probe)
				r := Resolve(&st, codes)
				got, ok := r.Offer()
				switch {
				case len(probe.asked) == 0 && ok:
					t.Errorf("codes %q, %q at %v: Offer says %v, Decide asked for nothing", a, b, when, got)
				case len(probe.asked) > 0 && (!ok || got != probe.asked[0]):
					t.Errorf("codes %q, %q at %v: Offer says %v (%v), Decide asked for %v", a, b, when, got, ok, probe.asked)
				}
				resolved := &askedOffers{offers: offers}
				out, outOK := DecideResolved(&st, &r, resolved)
				if outOK != wantOK || !reflect.DeepEqual(out, want) || !slices.Equal(resolved.asked, probe.asked) {
					t.Errorf("codes %q, %q at %v: DecideResolved says %+v, %v and asked %v; Decide %+v, %v and asked %v",
						a, b, when, out, outOK, resolved.asked, want, wantOK, probe.asked)
				}
				if ok {
					asked++
				}
				// Once a decision is recorded, no offer is needed.
				if out, decided := Decide(&st, codes, offers); decided {
					if err := Emitted(&st, out.Event); err != nil {
						t.Fatal(err)
					}
					r := Resolve(&st, codes)
					if k, ok := r.Offer(); ok {
						t.Errorf("codes %q, %q: Offer says %v after the decision", a, b, k)
					}
				}
			}
		}
	}
	if asked < 100 {
		t.Errorf("only %d placements had a winning code", asked)
	}
}
