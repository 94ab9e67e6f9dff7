package main

import (
	"context"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// catalogReader serves the API's catalog reads from the Redis projection.
type catalogReader struct{ p *rediscatalog.Projection }

func (c catalogReader) FindPrincipal(ctx context.Context, tokenHash string) (api.Caller, bool, error) {
	pr, ok, err := c.p.Principal(ctx, tokenHash)
	if err != nil || !ok {
		return api.Caller{}, ok, err
	}
	return api.Caller{Role: pr.Role, ID: pr.ID, Name: pr.Name, ValidUntil: pr.ValidUntil}, true, nil
}

// saltRing gives the webhook brands' current and previous webhook secret
// salts from the Redis projection.
type saltRing struct{ p *rediscatalog.Projection }

func (s saltRing) WebhookSecretSalt(ctx context.Context, brandID string) (string, bool, error) {
	return s.p.WebhookSecretSalt(ctx, brandID)
}

func (s saltRing) WebhookSecretSaltRing(ctx context.Context, brandID string) (ingest.SaltRing, bool, error) {
	c, ok, err := s.p.WebhookSecretSalts(ctx, brandID)
	return ingest.SaltRing{Current: c.Current, Previous: c.Previous, PreviousValidUntil: c.PreviousValidUntil}, ok, err
}

func (c catalogReader) Offers(ctx context.Context) ([]api.Offer, error) {
	views, err := c.p.Offers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Offer, len(views))
	for i, o := range views {
		out[i] = api.Offer{
			OfferID: o.OfferID, BrandID: o.BrandID, Brand: o.BrandName, Name: o.Name, PricingModel: api.PricingCPA,
			Payout: o.Payout, Countries: o.Countries, Platforms: o.Platforms, HoldDays: o.HoldDays,
			Status: o.Status, PublishedAt: o.PublishedAt, UpdatedAt: o.UpdatedAt,
		}
	}
	return out, nil
}

func (c catalogReader) Request(ctx context.Context, id string) (api.CodeRequest, bool, error) {
	q, ok, err := c.p.Request(ctx, id)
	if err != nil || !ok {
		return api.CodeRequest{}, ok, err
	}
	return requestOf(q), true, nil
}

func (c catalogReader) RequestsByCreator(ctx context.Context, creatorID string) ([]api.CodeRequest, error) {
	qs, err := c.p.RequestsByCreator(ctx, creatorID)
	return requestsOf(qs), err
}

func (c catalogReader) RequestsByBrand(ctx context.Context, brandID string) ([]api.CodeRequest, error) {
	qs, err := c.p.RequestsByBrand(ctx, brandID)
	return requestsOf(qs), err
}

func (c catalogReader) CreatorNames(ctx context.Context, ids []string) (map[string]string, error) {
	return c.p.CreatorNames(ctx, ids)
}

func requestsOf(qs []rediscatalog.RequestView) []api.CodeRequest {
	out := make([]api.CodeRequest, len(qs))
	for i, q := range qs {
		out[i] = requestOf(q)
	}
	return out
}

func requestOf(q rediscatalog.RequestView) api.CodeRequest {
	r := api.CodeRequest{
		RequestID: q.RequestID, BrandID: q.BrandID, Brand: q.BrandName, OfferID: q.OfferID, Offer: q.OfferName,
		CreatorID: q.CreatorID, Platform: q.Platform, Status: q.Status, Code: q.Code, Reason: q.Reason,
		RequestedAt: q.RequestedAt,
	}
	if !q.DecidedAt.IsZero() {
		t := q.DecidedAt
		r.DecidedAt = &t
	}
	if !q.RevokedAt.IsZero() {
		t := q.RevokedAt
		r.RevokedAt = &t
	}
	return r
}

// mailDirectory gives the email outbox the names and addresses it needs.
type mailDirectory struct{ p *rediscatalog.Projection }

func (d mailDirectory) Creator(ctx context.Context, id string) (string, string, bool, error) {
	c, ok, err := d.p.Creator(ctx, id)
	return c.Name, c.Email, ok, err
}

func (d mailDirectory) Offer(ctx context.Context, brandID, offerID string) (string, string, bool, error) {
	o, ok, err := d.p.Offer(ctx, brandID, offerID)
	return o.Name, o.BrandName, ok, err
}

func (d mailDirectory) RequestPlatform(ctx context.Context, _, requestID string) (string, bool, error) {
	q, ok, err := d.p.Request(ctx, requestID)
	return q.Platform, ok, err
}
