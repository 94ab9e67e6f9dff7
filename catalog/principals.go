package catalog

import (
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// Creator is the state of a creator's aggregate (keyed by creator id),
// which only registers. The zero value is a creator with no events.
type Creator struct {
	ID    string
	Name  string
	Email string
	// TokenHash is the hex SHA-256 of the creator's bearer token.
	TokenHash    string
	RegisteredAt time.Time
}

// Registered reports whether the creator is registered.
func (c *Creator) Registered() bool { return c.ID != "" }

// Evolve applies one event of the creator's stream (the events keyed by
// its id); a second registration (a redelivery) and any other event change
// nothing.
func (c *Creator) Evolve(env schemas.Envelope, ev schemas.Event) {
	if p, ok := ev.(*schemas.CreatorRegistered); ok {
		ev = *p
	}
	e, ok := ev.(schemas.CreatorRegistered)
	if !ok || c.ID != "" {
		return
	}
	*c = Creator{ID: e.CreatorID, Name: e.Name, Email: e.Email, TokenHash: e.TokenHash, RegisteredAt: env.OccurredAt.UTC()}
}

// DecideCreator decides a creator's registration on the creator's state c
// (nil or the zero Creator when it has no events): the creator.registered
// event, a *ValidationError, or ErrConflict when the id is registered.
func DecideCreator(c *Creator, cmd RegisterCreator) ([]schemas.Event, error) {
	if err := checkID("creator_id", cmd.CreatorID); err != nil {
		return nil, err
	}
	name, err := checkName("name", cmd.Name)
	if err != nil {
		return nil, err
	}
	email, err := checkEmail("email", cmd.Email)
	if err != nil {
		return nil, err
	}
	if err := checkSHA256("token_hash", cmd.TokenHash); err != nil {
		return nil, err
	}
	if c != nil && c.Registered() {
		return nil, conflict("creator %q is already registered", c.ID)
	}
	return []schemas.Event{schemas.CreatorRegistered{
		CreatorID: cmd.CreatorID, Name: name, Email: email, TokenHash: cmd.TokenHash,
	}}, nil
}

// Analyst is the state of an analyst's aggregate (keyed by analyst id),
// which only registers. The zero value is an analyst with no events.
type Analyst struct {
	ID   string
	Name string
	// TokenHash is the hex SHA-256 of the analyst's bearer token.
	TokenHash    string
	RegisteredAt time.Time
}

// Registered reports whether the analyst is registered.
func (a *Analyst) Registered() bool { return a.ID != "" }

// Evolve applies one event of the analyst's stream (the events keyed by
// its id); a second registration (a redelivery) and any other event change
// nothing.
func (a *Analyst) Evolve(env schemas.Envelope, ev schemas.Event) {
	if p, ok := ev.(*schemas.AnalystRegistered); ok {
		ev = *p
	}
	e, ok := ev.(schemas.AnalystRegistered)
	if !ok || a.ID != "" {
		return
	}
	*a = Analyst{ID: e.AnalystID, Name: e.Name, TokenHash: e.TokenHash, RegisteredAt: env.OccurredAt.UTC()}
}

// DecideAnalyst decides an analyst's registration on the analyst's state a
// (nil or the zero Analyst when it has no events): the analyst.registered
// event, a *ValidationError, or ErrConflict when the id is registered.
func DecideAnalyst(a *Analyst, cmd RegisterAnalyst) ([]schemas.Event, error) {
	if err := checkID("analyst_id", cmd.AnalystID); err != nil {
		return nil, err
	}
	name, err := checkName("name", cmd.Name)
	if err != nil {
		return nil, err
	}
	if err := checkSHA256("token_hash", cmd.TokenHash); err != nil {
		return nil, err
	}
	if a != nil && a.Registered() {
		return nil, conflict("analyst %q is already registered", a.ID)
	}
	return []schemas.Event{schemas.AnalystRegistered{AnalystID: cmd.AnalystID, Name: name, TokenHash: cmd.TokenHash}}, nil
}
