package api

import (
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// Offer is an offer as the API shows it.
type Offer struct {
	OfferID      string         `json:"offer_id"`
	BrandID      string         `json:"brand_id"`
	Brand        string         `json:"brand,omitempty"`
	Name         string         `json:"name"`
	PricingModel string         `json:"pricing_model"`
	Payout       schemas.Payout `json:"payout"`
	Countries    []string       `json:"countries"`
	Platforms    []string       `json:"platforms"`
	HoldDays     int            `json:"hold_days"`
	Status       string         `json:"status"`
	PublishedAt  time.Time      `json:"published_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
}

// PricingCPA is the only pricing model: payment for action.
const PricingCPA = "cpa"

// CodeRequest is a creator's promo-code request as the API shows it.
type CodeRequest struct {
	RequestID string `json:"request_id"`
	BrandID   string `json:"brand_id"`
	Brand     string `json:"brand,omitempty"`
	OfferID   string `json:"offer_id"`
	Offer     string `json:"offer,omitempty"`
	CreatorID string `json:"creator_id"`
	// Creator is the creator's name, in a brand's list only.
	Creator     string     `json:"creator,omitempty"`
	Platform    string     `json:"platform"`
	Status      string     `json:"status"`
	Code        string     `json:"code,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// PromoCode is a creator's confirmed code with its offer's terms.
type PromoCode struct {
	Code       string         `json:"code"`
	RequestID  string         `json:"request_id"`
	BrandID    string         `json:"brand_id"`
	Brand      string         `json:"brand,omitempty"`
	OfferID    string         `json:"offer_id"`
	Offer      string         `json:"offer,omitempty"`
	Platform   string         `json:"platform"`
	Payout     schemas.Payout `json:"payout"`
	HoldDays   int            `json:"hold_days"`
	OfferState string         `json:"offer_status"`
	ActiveFrom time.Time      `json:"active_from"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// offerView renders a decided offer.
func offerView(o catalog.Offer, brandName string) Offer {
	cur := o.History[len(o.History)-1]
	return Offer{
		OfferID: o.OfferID, BrandID: o.BrandID, Brand: brandName, Name: cur.Name, PricingModel: PricingCPA,
		Payout: cur.Payout, Countries: cur.Countries, Platforms: cur.Platforms, HoldDays: cur.HoldDays,
		Status: cur.Status, PublishedAt: o.PublishedAt, UpdatedAt: cur.EffectiveFrom,
	}
}

// requestView renders a decided request.
func requestView(q catalog.Request) CodeRequest {
	return CodeRequest{
		RequestID: q.RequestID, BrandID: q.BrandID, OfferID: q.OfferID, CreatorID: q.CreatorID,
		Platform: q.Platform, Status: q.Status, Code: q.Code, Reason: q.Reason,
		RequestedAt: q.RequestedAt, DecidedAt: timePtr(q.DecidedAt), RevokedAt: timePtr(q.RevokedAt),
	}
}
