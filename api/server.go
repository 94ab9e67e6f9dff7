package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/connectors"
	"github.com/attrib-engine/attrib/credentials"
)

// CommandSender sends a brand command to its decider and returns the
// decision (see package commands).
type CommandSender interface {
	Send(ctx context.Context, cmd catalog.BrandCommand, correlationID string) (commands.Result, error)
}

// Registrar records creators' and analysts' registrations, returning once
// they are durable and visible to reads.
type Registrar interface {
	RegisterCreator(ctx context.Context, cmd catalog.RegisterCreator) error
	RegisterAnalyst(ctx context.Context, cmd catalog.RegisterAnalyst) error
}

// CatalogReader reads the catalog's read model.
type CatalogReader interface {
	PrincipalFinder
	Offers(ctx context.Context) ([]Offer, error)
	Request(ctx context.Context, requestID string) (CodeRequest, bool, error)
	RequestsByCreator(ctx context.Context, creatorID string) ([]CodeRequest, error)
	RequestsByBrand(ctx context.Context, brandID string) ([]CodeRequest, error)
	// CreatorNames returns the names of the known creators among ids, by
	// id; an unknown id is left out.
	CreatorNames(ctx context.Context, ids []string) (map[string]string, error)
}

// Config configures a Server.
type Config struct {
	Commands   CommandSender
	Registrar  Registrar
	Catalog    CatalogReader
	Principals PrincipalFinder
	// Webhook handles POST /v1/webhooks/orders (package ingest); nil
	// answers 503.
	Webhook http.Handler
	// Reports reads the reports (package reports); nil answers 503.
	Reports ReportReader
	// Freshness, when set, makes reports wait (bounded) until the tables
	// hold every event appended before the request arrived: the
	// read-your-writes of reports.
	Freshness FreshnessWaiter
	// AdminToken authorises the bootstrap endpoints; empty refuses them all.
	AdminToken string
	// MasterKey derives brands' webhook secrets.
	MasterKey credentials.MasterKey
	// Limiter, when set, limits each caller's requests to every route
	// that takes a bearer token (the webhook limits brands itself); a
	// refused request gets 429 with Retry-After. Nil: no limit.
	Limiter Limiter
	// MaxBodyBytes limits request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	// Rotator records creators' and analysts' token rotations; nil answers
	// their rotations with 503.
	Rotator TokenRotator

	// Connectors reads brands' shop connectors; nil answers GET
	// /v1/connectors with 503.
	Connectors ConnectorReader
	// ShopWebhook handles POST /v1/webhooks/{platform}/{brand_id} of every
	// shop platform (ingest.ShopWebhook); nil answers 503.
	ShopWebhook http.Handler
}

// Server serves the v1 API.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Commands == nil || cfg.Registrar == nil || cfg.Catalog == nil {
		return nil, errors.New("api: commands, registrar and catalog are required")
	}
	if len(cfg.MasterKey) == 0 {
		return nil, errors.New("api: a master key is required")
	}
	if cfg.Principals == nil {
		cfg.Principals = cfg.Catalog
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// Register adds the v1 endpoints to mux.
func (s *Server) Register(mux *Mux) {
	mux.HandleFunc("POST /v1/brands", s.as(s.createBrand, RoleAdmin))
	mux.HandleFunc("POST /v1/creators", s.as(s.createCreator, RoleAdmin))
	mux.HandleFunc("POST /v1/analysts", s.as(s.createAnalyst, RoleAdmin))

	mux.HandleFunc("GET /v1/offers", s.as(s.listOffers, RoleCreator, RoleBrand, RoleAnalyst))
	mux.HandleFunc("POST /v1/offers", s.as(s.publishOffer, RoleBrand))
	mux.HandleFunc("PATCH /v1/offers/{offer_id}", s.as(s.changeOffer, RoleBrand))
	mux.HandleFunc("GET /v1/offers/{offer_id}", s.as(s.getOffer, RoleCreator, RoleBrand, RoleAnalyst))
	mux.HandleFunc("GET /v1/brands", s.as(s.listBrands, RoleCreator, RoleAnalyst))

	mux.HandleFunc("GET /v1/code-requests", s.as(s.listRequests, RoleCreator, RoleBrand))
	mux.HandleFunc("POST /v1/code-requests", s.as(s.requestCode, RoleCreator))
	mux.HandleFunc("POST /v1/code-requests/{request_id}/confirm", s.as(s.confirmRequest, RoleBrand))
	mux.HandleFunc("POST /v1/code-requests/{request_id}/reject", s.as(s.rejectRequest, RoleBrand))

	mux.HandleFunc("GET /v1/promo-codes", s.as(s.listPromoCodes, RoleCreator, RoleBrand))
	if s.cfg.Webhook != nil {
		mux.Handle("POST /v1/webhooks/orders", s.cfg.Webhook)
	} else {
		mux.HandleFunc("POST /v1/webhooks/orders", func(w http.ResponseWriter, r *http.Request) {
			s.respondError(w, r, unavailable("order ingestion is not running in this process"))
		})
	}
	mux.HandleFunc("POST /v1/promo-codes/{code}/revoke", s.as(s.revokeCode, RoleBrand))
	mux.HandleFunc("POST /v1/credentials/rotate", s.as(s.rotateCredential, RoleBrand, RoleCreator, RoleAnalyst))

	mux.HandleFunc("GET /v1/reports/orders", s.as(s.fresh(s.reportOrders), RoleCreator, RoleBrand, RoleAnalyst))
	mux.HandleFunc("GET /v1/reports/orders.csv", s.as(s.fresh(s.reportOrdersCSV), RoleCreator, RoleBrand, RoleAnalyst))
	mux.HandleFunc("GET /v1/reports/earnings", s.as(s.fresh(s.reportEarnings), RoleCreator, RoleBrand, RoleAnalyst))
	mux.HandleFunc("GET /v1/analytics/unattributed", s.as(s.fresh(s.unattributed), RoleAnalyst))
	mux.HandleFunc("GET /v1/analytics/summary", s.as(s.fresh(s.analyticsSummary), RoleAnalyst))
	mux.HandleFunc("GET /v1/analytics/orders/{brand_id}/{order_id}", s.as(s.fresh(s.explainOrder), RoleAnalyst))
	s.registerConnectors(mux)
}

// registerConnectors adds the shop connectors' settings and the webhook of
// every shop platform (API v1.2).
func (s *Server) registerConnectors(mux *Mux) {
	mux.HandleFunc("GET /v1/connectors", s.as(s.listConnectors, RoleBrand))
	mux.HandleFunc("PUT /v1/connectors/{platform}", s.as(s.setConnector, RoleBrand))
	mux.HandleFunc("DELETE /v1/connectors/{platform}", s.as(s.removeConnector, RoleBrand))
	for _, p := range connectors.Names() {
		pattern := "POST /v1/webhooks/" + p + "/{brand_id}"
		if s.cfg.ShopWebhook != nil {
			mux.Handle(pattern, s.cfg.ShopWebhook)
			continue
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.respondError(w, r, unavailable("shop webhooks are not received in this process"))
		})
	}
}

// send sends cmd and turns a refusal or an outage into an API error.
func (s *Server) send(ctx context.Context, cmd catalog.BrandCommand) (commands.Result, error) {
	res, err := s.cfg.Commands.Send(ctx, cmd, "")
	switch {
	case errors.Is(err, commands.ErrUnavailable):
		return res, unavailable("the event log is unavailable; nothing was recorded, retry later")
	case errors.Is(err, commands.ErrNoAnswer):
		return res, unavailable("the command was recorded but not decided in time; check its effect before retrying")
	case err != nil:
		return res, err
	}
	if f := res.Failure; f != nil {
		switch f.Kind {
		case commands.FailInvalid:
			return res, badField(f.Field, "%s", f.Message)
		case commands.FailNotFound:
			return res, notFound("%s", f.Message)
		case commands.FailConflict:
			return res, conflict("%s", f.Message)
		default:
			return res, errors.New(f.Message)
		}
	}
	return res, nil
}
