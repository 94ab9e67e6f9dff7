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
	// TokenHash is the hex SHA-256 of the creator's bearer token: Token's
	// current value.
	TokenHash string
	// Token is the token's hashes, with the previous one after a rotation.
	Token        Credential
	RegisteredAt time.Time
}

// Registered reports whether the creator is registered.
func (c *Creator) Registered() bool { return c.ID != "" }

// Evolve applies one event of the creator's stream (the events keyed by
// its id): its registration and its token rotations (effective at their
// occurred_at). A second registration or a rotation seen again (a
// redelivery) and any other event change nothing.
func (c *Creator) Evolve(env schemas.Envelope, ev schemas.Event) {
	switch e := schemas.ValueOf(ev).(type) {
	case schemas.CreatorRegistered:
		if c.ID != "" {
			return
		}
		*c = Creator{ID: e.CreatorID, Name: e.Name, Email: e.Email, TokenHash: e.TokenHash,
			Token: Credential{Current: e.TokenHash}, RegisteredAt: env.OccurredAt.UTC()}
	case schemas.CreatorTokenRotated:
		if c.ID == e.CreatorID && c.Token.apply(e.TokenHash, e.PreviousTokenHash, env.OccurredAt.UTC()) {
			c.TokenHash = c.Token.Current
		}
	}
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
	// TokenHash is the hex SHA-256 of the analyst's bearer token: Token's
	// current value.
	TokenHash string
	// Token is the token's hashes, with the previous one after a rotation.
	Token        Credential
	RegisteredAt time.Time
}

// Registered reports whether the analyst is registered.
func (a *Analyst) Registered() bool { return a.ID != "" }

// Evolve applies one event of the analyst's stream, as Creator.Evolve
// does for creators.
func (a *Analyst) Evolve(env schemas.Envelope, ev schemas.Event) {
	switch e := schemas.ValueOf(ev).(type) {
	case schemas.AnalystRegistered:
		if a.ID != "" {
			return
		}
		*a = Analyst{ID: e.AnalystID, Name: e.Name, TokenHash: e.TokenHash,
			Token: Credential{Current: e.TokenHash}, RegisteredAt: env.OccurredAt.UTC()}
	case schemas.AnalystTokenRotated:
		if a.ID == e.AnalystID && a.Token.apply(e.TokenHash, e.PreviousTokenHash, env.OccurredAt.UTC()) {
			a.TokenHash = a.Token.Current
		}
	}
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
