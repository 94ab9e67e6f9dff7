package attribution

import (
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// TestDecisionStates: Emitted keeps the recorded decision for a later row
// only when the row states exactly that decision; a row that differs in
// any part of it is read again. Each case changes one part.
func TestDecisionStates(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	attr := func() schemas.Attribution {
		return schemas.Attribution{
			OrderID: "o1", BrandID: "b1", CreatorID: "c1", OfferID: "f1", OfferName: "Offer", RequestID: "r1",
			PromoCode: "ANNA10", Platform: "vk",
			Terms: schemas.Terms{Payout: schemas.Payout{Type: schemas.PayoutPercent, Value: "7.5", Currency: "RUB"}, HoldDays: 14},
			Decision: schemas.Decision{Candidates: []schemas.Candidate{
				{Code: "anna10", NormalizedCode: "ANNA10", Outcome: schemas.OutcomeWon, CreatorID: "c1", OfferID: "f1", RequestID: "r1", ActiveFrom: &at},
				{Code: "x", NormalizedCode: "X", Outcome: schemas.OutcomeCodeRevoked, CreatorID: "c2", OfferID: "f1", RequestID: "r2", ActiveFrom: &at, RevokedAt: &later},
			}},
		}
	}
	base := attr()
	d := decisionOf(base)
	if err := d.parseTerms(); err != nil {
		t.Fatal(err)
	}
	if !d.states(&base, nil) {
		t.Fatal("a decision does not state the row it was read from")
	}
	sameInstant := at.In(time.FixedZone("MSK", 3*3600))
	if a := attr(); func() bool { a.Decision.Candidates[0].ActiveFrom = &sameInstant; return !d.states(&a, nil) }() {
		t.Error("the same instant in another zone is another decision")
	}
	for name, change := range map[string]func(a *schemas.Attribution){
		"creator":          func(a *schemas.Attribution) { a.CreatorID = "c9" },
		"offer":            func(a *schemas.Attribution) { a.OfferID = "f9" },
		"offer name":       func(a *schemas.Attribution) { a.OfferName = "Other" },
		"request":          func(a *schemas.Attribution) { a.RequestID = "r9" },
		"code":             func(a *schemas.Attribution) { a.PromoCode = "BORIS" },
		"platform":         func(a *schemas.Attribution) { a.Platform = "tiktok" },
		"brand":            func(a *schemas.Attribution) { a.BrandID = "b9" },
		"payout value":     func(a *schemas.Attribution) { a.Terms.Payout.Value = "8" },
		"payout type":      func(a *schemas.Attribution) { a.Terms.Payout.Type = schemas.PayoutFixed },
		"payout currency":  func(a *schemas.Attribution) { a.Terms.Payout.Currency = "USD" },
		"hold days":        func(a *schemas.Attribution) { a.Terms.HoldDays = 30 },
		"fewer candidates": func(a *schemas.Attribution) { a.Decision.Candidates = a.Decision.Candidates[:1] },
		"candidate code":   func(a *schemas.Attribution) { a.Decision.Candidates[1].Code = "y" },
		"candidate outcome": func(a *schemas.Attribution) {
			a.Decision.Candidates[1].Outcome = schemas.OutcomePassedOver
		},
		"candidate active from": func(a *schemas.Attribution) { a.Decision.Candidates[0].ActiveFrom = &later },
		"candidate revoked at":  func(a *schemas.Attribution) { a.Decision.Candidates[1].RevokedAt = nil },
		"candidate creator":     func(a *schemas.Attribution) { a.Decision.Candidates[1].CreatorID = "c9" },
	} {
		a := attr()
		change(&a)
		if d.states(&a, nil) {
			t.Errorf("%s changed: still the same decision", name)
		}
	}
	u := schemas.OrderUnattributed{Reason: schemas.OutcomeUnknownCode, Decision: schemas.Decision{Candidates: []schemas.Candidate{{Code: "x", NormalizedCode: "X", Outcome: schemas.OutcomeUnknownCode}}}}
	du := decision{reason: u.Reason, candidates: u.Decision.Candidates}
	if !du.states(nil, &u) || d.states(nil, &u) || du.states(&base, nil) {
		t.Error("attributed and unattributed decisions mixed up")
	}
	u2 := u
	u2.Reason = schemas.OutcomeCodeNotActive
	if du.states(nil, &u2) {
		t.Error("another reason is the same decision")
	}
}
