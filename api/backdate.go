package api

import (
	"context"
	"net/http"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/credentials"
)

// Backdating: the operator may ask that a catalog change take effect at a
// past time instead of now, to seed an engine with a history (the demo
// does, so that its codes are confirmed before orders placed over the last
// 60 days). The request is the same request of the same caller through
// the same deciders; it adds HeaderOccurredAt, and HeaderAdminToken unless
// the caller is the operator. It is accepted only by an engine started to
// allow it (Config.Backdating set), only on the routes that record a
// catalog change (backdatableRoutes), and only for a time not in the
// future; the deciders then refuse a time before the brand's latest change
// (409). The events carry the time as occurred_at and the moment they were
// appended as recorded_at. Anywhere else, or on an engine that does not
// allow it, a request with HeaderOccurredAt is refused and records nothing.
const (
	// HeaderOccurredAt is the RFC 3339 time, in the past, at which the
	// request's change is to take effect.
	HeaderOccurredAt = "X-Occurred-At"
	// HeaderAdminToken carries the operator's token on a backdated
	// request made with another caller's token (a brand's API key, a
	// creator's token).
	HeaderAdminToken = "X-Admin-Token"
)

// Backdater records catalog changes that take effect at a past time; see
// commands.Client.SendAt and commands.Principals.RegisterCreatorAt.
type Backdater interface {
	SendAt(ctx context.Context, cmd catalog.BrandCommand, correlationID string, at time.Time) (commands.Result, error)
	RegisterCreatorAt(ctx context.Context, cmd catalog.RegisterCreator, at time.Time) error
	RegisterAnalystAt(ctx context.Context, cmd catalog.RegisterAnalyst, at time.Time) error
}

// backdatableRoutes are the routes whose change may be backdated: the
// registrations and the brand commands.
var backdatableRoutes = map[string]bool{
	"POST /v1/brands":                             true,
	"POST /v1/creators":                           true,
	"POST /v1/analysts":                           true,
	"POST /v1/offers":                             true,
	"PATCH /v1/offers/{offer_id}":                 true,
	"POST /v1/code-requests":                      true,
	"POST /v1/code-requests/{request_id}/confirm": true,
	"POST /v1/code-requests/{request_id}/reject":  true,
	"POST /v1/promo-codes/{code}/revoke":          true,
}

// backdateKey keys the request's checked backdate in its context.
type backdateKey struct{}

// backdating checks a request's HeaderOccurredAt, if any, and returns the
// request carrying its time for send and the registrations.
func (s *Server) backdating(r *http.Request, c Caller) (*http.Request, error) {
	values, asked := r.Header[http.CanonicalHeaderKey(HeaderOccurredAt)]
	if !asked {
		return r, nil
	}
	if s.cfg.Backdating == nil {
		return nil, &apiError{status: http.StatusForbidden, code: "forbidden",
			message: HeaderOccurredAt + ": this engine does not accept backdated requests (the operator starts it with --allow-backdating)"}
	}
	if !backdatableRoutes[r.Pattern] {
		return nil, badField(HeaderOccurredAt, "%s: %s cannot be backdated", HeaderOccurredAt, r.Pattern)
	}
	if c.Role != RoleAdmin && (s.cfg.AdminToken == "" || !credentials.Equal(r.Header.Get(HeaderAdminToken), s.cfg.AdminToken)) {
		return nil, &apiError{status: http.StatusForbidden, code: "forbidden",
			message: "a backdated request needs the operator's token in " + HeaderAdminToken}
	}
	if len(values) != 1 {
		return nil, badField(HeaderOccurredAt, "%s: want one RFC 3339 time, got %d values", HeaderOccurredAt, len(values))
	}
	at, err := time.Parse(time.RFC3339Nano, values[0])
	if err != nil {
		return nil, badField(HeaderOccurredAt, "%s: want an RFC 3339 time such as 2026-10-01T09:00:00Z, got %q", HeaderOccurredAt, values[0])
	}
	if now := s.cfg.Now(); at.After(now) {
		return nil, badField(HeaderOccurredAt, "%s: %s is in the future", HeaderOccurredAt, values[0])
	}
	return r.WithContext(context.WithValue(r.Context(), backdateKey{}, at)), nil
}

// backdateOf is the checked backdate of a request's context; zero for now.
func backdateOf(ctx context.Context) time.Time {
	at, _ := ctx.Value(backdateKey{}).(time.Time)
	return at
}

// sendCommand sends cmd to take effect now, or at the request's backdate.
func (s *Server) sendCommand(ctx context.Context, cmd catalog.BrandCommand) (commands.Result, error) {
	at := backdateOf(ctx)
	if at.IsZero() {
		return s.cfg.Commands.Send(ctx, cmd, "")
	}
	res, err := s.cfg.Backdating.SendAt(ctx, cmd, "", at)
	if f := res.Failure; f != nil && f.Field == "occurred_at" {
		f.Field = HeaderOccurredAt // the deciders' name for the header's time
	}
	return res, err
}

// registerCreator records a creator now, or at the request's backdate.
func (s *Server) registerCreator(ctx context.Context, cmd catalog.RegisterCreator) error {
	if at := backdateOf(ctx); !at.IsZero() {
		return s.cfg.Backdating.RegisterCreatorAt(ctx, cmd, at)
	}
	return s.cfg.Registrar.RegisterCreator(ctx, cmd)
}

// registerAnalyst records an analyst now, or at the request's backdate.
func (s *Server) registerAnalyst(ctx context.Context, cmd catalog.RegisterAnalyst) error {
	if at := backdateOf(ctx); !at.IsZero() {
		return s.cfg.Backdating.RegisterAnalystAt(ctx, cmd, at)
	}
	return s.cfg.Registrar.RegisterAnalyst(ctx, cmd)
}
