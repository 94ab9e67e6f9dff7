package api

import (
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/schemas"
)

// createBrand registers a brand; its API key and webhook secret are shown
// once, here, and never again.
func (s *Server) createBrand(w http.ResponseWriter, r *http.Request, _ Caller) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := required("name", body.Name); err != nil {
		return err
	}
	brandID := credentials.NewID("brd_")
	apiKey := credentials.NewToken(credentials.PrefixBrandKey)
	salt := credentials.NewID("")
	if _, err := s.send(r.Context(), catalog.RegisterBrand{
		BrandID: brandID, Name: body.Name, APIKeyHash: credentials.Hash(apiKey), WebhookSecretSalt: salt,
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{
		"brand_id":       brandID,
		"name":           strings.TrimSpace(body.Name),
		"api_key":        apiKey,
		"webhook_secret": s.cfg.MasterKey.WebhookSecret(brandID, salt),
	})
	return nil
}

func (s *Server) createCreator(w http.ResponseWriter, r *http.Request, _ Caller) error {
	var body struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := required("name", body.Name); err != nil {
		return err
	}
	if err := required("email", body.Email); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(body.Email); err != nil || a.Address != strings.TrimSpace(body.Email) {
		return badField("email", "email: %q is not an email address", body.Email)
	}
	id := credentials.NewID("crt_")
	token := credentials.NewToken(credentials.PrefixCreatorToken)
	err := s.registerCreator(r.Context(), catalog.RegisterCreator{
		CreatorID: id, Name: strings.TrimSpace(body.Name), Email: strings.TrimSpace(body.Email), TokenHash: credentials.Hash(token),
	})
	if err != nil {
		return registrationError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"creator_id": id, "token": token})
	return nil
}

func (s *Server) createAnalyst(w http.ResponseWriter, r *http.Request, _ Caller) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := required("name", body.Name); err != nil {
		return err
	}
	id := credentials.NewID("anl_")
	token := credentials.NewToken(credentials.PrefixAnalystToken)
	err := s.registerAnalyst(r.Context(), catalog.RegisterAnalyst{
		AnalystID: id, Name: strings.TrimSpace(body.Name), TokenHash: credentials.Hash(token),
	})
	if err != nil {
		return registrationError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"analyst_id": id, "token": token})
	return nil
}

// registrationError maps a refusal of a registration to its answer.
func registrationError(err error) error {
	var ve *catalog.ValidationError
	if errors.As(err, &ve) {
		if ve.Field == "occurred_at" {
			return badField(HeaderOccurredAt, "%s: %s", HeaderOccurredAt, ve.Message)
		}
		return badField(ve.Field, "%s", ve.Error())
	}
	return unavailable("the registration could not be recorded (%v); nothing was recorded, retry later", err)
}

// payoutBody is the payout as a brand sends it.
type payoutBody struct {
	Type     string `json:"type"`
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

func (s *Server) publishOffer(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		Name         string     `json:"name"`
		PricingModel string     `json:"pricing_model"`
		Payout       payoutBody `json:"payout"`
		Countries    []string   `json:"countries"`
		Platforms    []string   `json:"platforms"`
		HoldDays     *int       `json:"hold_days"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if body.PricingModel != "" && body.PricingModel != PricingCPA {
		return badField("pricing_model", "pricing_model: only %q is offered", PricingCPA)
	}
	if body.HoldDays == nil {
		return badField("hold_days", "hold_days is required (0 for no hold)")
	}
	res, err := s.send(r.Context(), catalog.PublishOffer{
		BrandID: c.ID, OfferID: credentials.NewID("ofr_"), Name: body.Name,
		Payout:    schemas.Payout(body.Payout),
		Countries: body.Countries, Platforms: body.Platforms, HoldDays: *body.HoldDays,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, offerView(*res.Offer, c.Name))
	return nil
}

func (s *Server) changeOffer(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		Name      *string     `json:"name"`
		Payout    *payoutBody `json:"payout"`
		Countries []string    `json:"countries"`
		Platforms []string    `json:"platforms"`
		HoldDays  *int        `json:"hold_days"`
		Status    *string     `json:"status"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	cmd := catalog.ChangeOffer{BrandID: c.ID, OfferID: r.PathValue("offer_id"), Name: body.Name,
		Countries: body.Countries, Platforms: body.Platforms, HoldDays: body.HoldDays, Status: body.Status}
	if body.Payout != nil {
		p := schemas.Payout(*body.Payout)
		cmd.Payout = &p
	}
	res, err := s.send(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, offerView(*res.Offer, c.Name))
	return nil
}

// listOffers: creators see every brand's active offers; a brand sees its
// own in any status; analysts see all. Filters: pricing_model, brand (id or
// part of the name, any case), status (brands and analysts).
func (s *Server) listOffers(w http.ResponseWriter, r *http.Request, c Caller) error {
	q := r.URL.Query()
	if pm := q.Get("pricing_model"); pm != "" && pm != PricingCPA {
		// Only CPA offers exist: another model matches nothing.
		writeJSON(w, http.StatusOK, map[string]any{"offers": []Offer{}})
		return nil
	}
	status := q.Get("status")
	if status != "" && status != schemas.OfferActive && status != schemas.OfferPaused {
		return badField("status", "status: want %q or %q", schemas.OfferActive, schemas.OfferPaused)
	}
	if c.Role == RoleCreator {
		status = schemas.OfferActive
	}
	brand := strings.ToLower(strings.TrimSpace(q.Get("brand")))
	all, err := s.cfg.Catalog.Offers(r.Context())
	if err != nil {
		return unavailable("offers cannot be read now (%v); retry later", err)
	}
	out := []Offer{}
	for _, o := range all {
		switch {
		case c.Role == RoleBrand && o.BrandID != c.ID:
		case status != "" && o.Status != status:
		case brand != "" && o.BrandID != brand && !strings.Contains(strings.ToLower(o.Brand), brand):
		default:
			out = append(out, o)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"offers": out})
	return nil
}

// listRequests: a creator's own requests (decided ones for RequestListWindow
// after the decision), or a brand's requests, optionally by status.
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, c Caller) error {
	status := r.URL.Query().Get("status")
	switch status {
	case "", catalog.RequestModeration, catalog.RequestConfirmed, catalog.RequestRejected:
	default:
		return badField("status", "status: want %s, %s or %s", catalog.RequestModeration, catalog.RequestConfirmed, catalog.RequestRejected)
	}
	var reqs []CodeRequest
	var err error
	if c.Role == RoleCreator {
		reqs, err = s.cfg.Catalog.RequestsByCreator(r.Context(), c.ID)
	} else {
		reqs, err = s.cfg.Catalog.RequestsByBrand(r.Context(), c.ID)
	}
	if err != nil {
		return unavailable("code requests cannot be read now (%v); retry later", err)
	}
	now := s.cfg.Now()
	out := []CodeRequest{}
	for _, q := range reqs {
		if status != "" && q.Status != status {
			continue
		}
		if c.Role == RoleCreator && q.DecidedAt != nil && now.Sub(*q.DecidedAt) > catalog.RequestListWindow {
			continue
		}
		out = append(out, q)
	}
	if c.Role == RoleBrand && len(out) > 0 {
		if err := s.nameCreators(r, out); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code_requests": out})
	return nil
}

// nameCreators fills in the creators' names of a brand's requests, with
// one catalog read.
func (s *Server) nameCreators(r *http.Request, reqs []CodeRequest) error {
	ids := make([]string, 0, len(reqs))
	for _, q := range reqs {
		ids = append(ids, q.CreatorID)
	}
	slices.Sort(ids)
	names, err := s.cfg.Catalog.CreatorNames(r.Context(), slices.Compact(ids))
	if err != nil {
		return unavailable("creators' names cannot be read now (%v); retry later", err)
	}
	for i := range reqs {
		reqs[i].Creator = names[reqs[i].CreatorID]
	}
	return nil
}

func (s *Server) requestCode(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		OfferID  string `json:"offer_id"`
		Platform string `json:"platform"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := required("offer_id", body.OfferID); err != nil {
		return err
	}
	if err := required("platform", body.Platform); err != nil {
		return err
	}
	offers, err := s.cfg.Catalog.Offers(r.Context())
	if err != nil {
		return unavailable("offers cannot be read now (%v); retry later", err)
	}
	i := slices.IndexFunc(offers, func(o Offer) bool { return o.OfferID == body.OfferID })
	if i < 0 {
		return notFound("offer %q not found", body.OfferID)
	}
	res, err := s.send(r.Context(), catalog.RequestCode{
		BrandID: offers[i].BrandID, OfferID: body.OfferID, RequestID: credentials.NewID("req_"),
		CreatorID: c.ID, Platform: strings.ToLower(strings.TrimSpace(body.Platform)),
	})
	if err != nil {
		return err
	}
	v := requestView(*res.Request)
	v.Brand, v.Offer = offers[i].Brand, offers[i].Name
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// ownRequest checks that requestID exists and belongs to the calling brand:
// 404 when it does not exist, 403 when it is another brand's.
func (s *Server) ownRequest(r *http.Request, c Caller, requestID string) (CodeRequest, error) {
	q, found, err := s.cfg.Catalog.Request(r.Context(), requestID)
	switch {
	case err != nil:
		return q, unavailable("code requests cannot be read now (%v); retry later", err)
	case !found:
		return q, notFound("code request %q not found", requestID)
	case q.BrandID != c.ID:
		return q, &apiError{status: http.StatusForbidden, code: "forbidden", message: "code request " + requestID + " belongs to another brand"}
	}
	return q, nil
}

func (s *Server) confirmRequest(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		Code string `json:"code"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
			return err
		}
	}
	return s.decideRequest(w, r, c, catalog.ConfirmCode{BrandID: c.ID, RequestID: r.PathValue("request_id"), Code: body.Code})
}

func (s *Server) rejectRequest(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	return s.decideRequest(w, r, c, catalog.RejectCode{BrandID: c.ID, RequestID: r.PathValue("request_id"), Reason: body.Reason})
}

// decideRequest sends a brand's decision on one of its requests (confirm
// or reject) and answers with the request after it.
func (s *Server) decideRequest(w http.ResponseWriter, r *http.Request, c Caller, cmd catalog.BrandCommand) error {
	q, err := s.ownRequest(r, c, r.PathValue("request_id"))
	if err != nil {
		return err
	}
	res, err := s.send(r.Context(), cmd)
	if err != nil {
		return err
	}
	v := requestView(*res.Request)
	v.Brand, v.Offer = q.Brand, q.Offer
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) revokeCode(w http.ResponseWriter, r *http.Request, c Caller) error {
	res, err := s.send(r.Context(), catalog.RevokeCode{BrandID: c.ID, Code: r.PathValue("code")})
	if err != nil {
		return err
	}
	code := res.Code
	writeJSON(w, http.StatusOK, map[string]any{
		"code": code.Code, "normalized_code": code.NormalizedCode, "request_id": code.RequestID,
		"offer_id": code.OfferID, "creator_id": code.CreatorID, "status": "revoked",
		"active_from": code.ActiveFrom, "revoked_at": code.RevokedAt,
	})
	return nil
}

// listPromoCodes: the creator's confirmed, unrevoked codes with their
// offers' current terms; a brand's codes (listBrandPromoCodes).
func (s *Server) listPromoCodes(w http.ResponseWriter, r *http.Request, c Caller) error {
	if c.Role == RoleBrand {
		return s.listBrandPromoCodes(w, r, c)
	}
	reqs, err := s.cfg.Catalog.RequestsByCreator(r.Context(), c.ID)
	if err != nil {
		return unavailable("promo codes cannot be read now (%v); retry later", err)
	}
	offers, err := s.cfg.Catalog.Offers(r.Context())
	if err != nil {
		return unavailable("offers cannot be read now (%v); retry later", err)
	}
	byID := make(map[string]Offer, len(offers))
	for _, o := range offers {
		byID[o.OfferID] = o
	}
	out := []PromoCode{}
	for _, q := range reqs {
		if q.Status != catalog.RequestConfirmed || q.RevokedAt != nil {
			continue
		}
		o := byID[q.OfferID]
		pc := PromoCode{Code: q.Code, RequestID: q.RequestID, BrandID: q.BrandID, Brand: q.Brand,
			OfferID: q.OfferID, Offer: q.Offer, Platform: q.Platform, Payout: o.Payout, HoldDays: o.HoldDays,
			OfferState: o.Status}
		if q.DecidedAt != nil {
			pc.ActiveFrom = *q.DecidedAt
		}
		out = append(out, pc)
	}
	writeJSON(w, http.StatusOK, map[string]any{"promo_codes": out})
	return nil
}
