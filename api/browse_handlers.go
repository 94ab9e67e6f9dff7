package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// BrandOffers is a brand with its active offers (GET /v1/brands).
type BrandOffers struct {
	BrandID string  `json:"brand_id"`
	Name    string  `json:"name"`
	Offers  []Offer `json:"offers"`
}

// OfferDetail is the answer of GET /v1/offers/{offer_id}: the offer and,
// for a creator, their requests for it (never nil then, never set for
// anyone else).
type OfferDetail struct {
	Offer
	MyRequests *[]MyRequest `json:"my_requests,omitempty"`
}

// MyRequest is one of the calling creator's requests for an offer. Code,
// reason and decided_at are always present: empty (null) until decided.
type MyRequest struct {
	RequestID   string     `json:"request_id"`
	Platform    string     `json:"platform"`
	Status      string     `json:"status"`
	Code        string     `json:"code"`
	Reason      string     `json:"reason"`
	RequestedAt time.Time  `json:"requested_at"`
	DecidedAt   *time.Time `json:"decided_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// BrandPromoCode is a code a brand issued (GET /v1/promo-codes as a
// brand): the creator's id and name, never more of the creator.
type BrandPromoCode struct {
	Code      string     `json:"code"`
	RequestID string     `json:"request_id"`
	CreatorID string     `json:"creator_id"`
	Creator   string     `json:"creator"`
	OfferID   string     `json:"offer_id"`
	Offer     string     `json:"offer"`
	Platform  string     `json:"platform"`
	Status    string     `json:"status"`
	IssuedAt  time.Time  `json:"issued_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Statuses of a brand's promo codes.
const (
	CodeActive  = "active"
	CodeRevoked = "revoked"
)

// listBrands: GET /v1/brands (creators, analysts), the brands with at
// least one active offer and those offers, by name. q matches the brand id
// exactly or any part of its name, in any case; a pricing model other than
// CPA matches nothing.
func (s *Server) listBrands(w http.ResponseWriter, r *http.Request, _ Caller) error {
	q := r.URL.Query()
	out := []BrandOffers{}
	if pm := q.Get("pricing_model"); pm != "" && pm != PricingCPA {
		writeJSON(w, http.StatusOK, map[string]any{"brands": out})
		return nil
	}
	part := strings.ToLower(strings.TrimSpace(q.Get("q")))
	all, err := s.cfg.Catalog.Offers(r.Context())
	if err != nil {
		return unavailable("offers cannot be read now (%v); retry later", err)
	}
	at := map[string]int{}
	for _, o := range all {
		if o.Status != schemas.OfferActive {
			continue
		}
		if part != "" && o.BrandID != part && !strings.Contains(strings.ToLower(o.Brand), part) {
			continue
		}
		i, ok := at[o.BrandID]
		if !ok {
			i = len(out)
			at[o.BrandID] = i
			out = append(out, BrandOffers{BrandID: o.BrandID, Name: o.Brand, Offers: []Offer{}})
		}
		out[i].Offers = append(out[i].Offers, o)
	}
	slices.SortFunc(out, func(a, b BrandOffers) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.BrandID, b.BrandID))
	})
	writeJSON(w, http.StatusOK, map[string]any{"brands": out})
	return nil
}

// getOffer: GET /v1/offers/{offer_id}. A brand reads only its own offers,
// an analyst any; a creator an active offer, or a paused one they have
// requested a code for (the marketplace shows only active offers), with
// their requests for it (decided ones for catalog.RequestListWindow, as
// in their requests list). Any other offer is a 404, whether or not it
// exists.
func (s *Server) getOffer(w http.ResponseWriter, r *http.Request, c Caller) error {
	id := r.PathValue("offer_id")
	all, err := s.cfg.Catalog.Offers(r.Context())
	if err != nil {
		return unavailable("offers cannot be read now (%v); retry later", err)
	}
	i := slices.IndexFunc(all, func(o Offer) bool { return o.OfferID == id })
	if i < 0 || (c.Role == RoleBrand && all[i].BrandID != c.ID) {
		return notFound("offer %q not found", id)
	}
	out := OfferDetail{Offer: all[i]}
	if c.Role == RoleCreator {
		reqs, err := s.cfg.Catalog.RequestsByCreator(r.Context(), c.ID)
		if err != nil {
			return unavailable("code requests cannot be read now (%v); retry later", err)
		}
		now, requested := s.cfg.Now(), false
		mine := []MyRequest{}
		for _, q := range reqs {
			if q.OfferID != id || q.BrandID != out.BrandID {
				continue
			}
			requested = true
			if q.DecidedAt != nil && now.Sub(*q.DecidedAt) > catalog.RequestListWindow {
				continue
			}
			mine = append(mine, MyRequest{RequestID: q.RequestID, Platform: q.Platform, Status: q.Status, Code: q.Code,
				Reason: q.Reason, RequestedAt: q.RequestedAt, DecidedAt: q.DecidedAt, RevokedAt: q.RevokedAt})
		}
		if out.Status != schemas.OfferActive && !requested {
			return notFound("offer %q not found", id)
		}
		out.MyRequests = &mine
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listBrandPromoCodes: GET /v1/promo-codes as a brand, every code it
// issued, newest issued first, optionally by status (active or revoked),
// each with its creator's id and name.
func (s *Server) listBrandPromoCodes(w http.ResponseWriter, r *http.Request, c Caller) error {
	status := r.URL.Query().Get("status")
	if status != "" && status != CodeActive && status != CodeRevoked {
		return badField("status", "status: want %s or %s", CodeActive, CodeRevoked)
	}
	reqs, err := s.cfg.Catalog.RequestsByBrand(r.Context(), c.ID)
	if err != nil {
		return unavailable("promo codes cannot be read now (%v); retry later", err)
	}
	out := []BrandPromoCode{}
	var creators []string
	for _, q := range reqs {
		if q.Status != catalog.RequestConfirmed || q.BrandID != c.ID {
			continue
		}
		pc := BrandPromoCode{Code: q.Code, RequestID: q.RequestID, CreatorID: q.CreatorID, OfferID: q.OfferID,
			Offer: q.Offer, Platform: q.Platform, Status: CodeActive, RevokedAt: q.RevokedAt}
		if q.RevokedAt != nil {
			pc.Status = CodeRevoked
		}
		if q.DecidedAt != nil {
			pc.IssuedAt = *q.DecidedAt
		}
		if status != "" && pc.Status != status {
			continue
		}
		out = append(out, pc)
		creators = append(creators, q.CreatorID)
	}
	names, err := s.cfg.Catalog.CreatorNames(r.Context(), creators)
	if err != nil {
		return unavailable("creators cannot be read now (%v); retry later", err)
	}
	for i := range out {
		out[i].Creator = names[out[i].CreatorID]
	}
	slices.SortStableFunc(out, func(a, b BrandPromoCode) int {
		return cmp.Or(b.IssuedAt.Compare(a.IssuedAt), strings.Compare(b.RequestID, a.RequestID))
	})
	writeJSON(w, http.StatusOK, map[string]any{"promo_codes": out})
	return nil
}
