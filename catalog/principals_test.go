package catalog_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

func TestDecideCreator(t *testing.T) {
	reg := catalog.RegisterCreator{CreatorID: anna, Name: " Anna ", Email: "anna@example.com", TokenHash: keyHash}
	with := func(f func(*catalog.RegisterCreator)) catalog.RegisterCreator { c := reg; f(&c); return c }
	done := &catalog.Creator{}
	env, _ := schemas.NewEnvelopeFor(schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash}, t0, t0)
	done.Evolve(env, schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash})
	for _, tc := range []struct {
		name  string
		state *catalog.Creator
		cmd   catalog.RegisterCreator
		want  []schemas.Event
		err   error
		field string
	}{
		{name: "registers", cmd: reg, want: []schemas.Event{schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash}}},
		{name: "registers on a zero state", state: &catalog.Creator{}, cmd: reg, want: []schemas.Event{schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash}}},
		{name: "twice", state: done, cmd: reg, err: catalog.ErrConflict},
		{name: "empty id", cmd: with(func(c *catalog.RegisterCreator) { c.CreatorID = "" }), err: errValidation, field: "creator_id"},
		{name: "empty name", cmd: with(func(c *catalog.RegisterCreator) { c.Name = "" }), err: errValidation, field: "name"},
		{name: "empty email", cmd: with(func(c *catalog.RegisterCreator) { c.Email = "" }), err: errValidation, field: "email"},
		{name: "email without domain", cmd: with(func(c *catalog.RegisterCreator) { c.Email = "anna" }), err: errValidation, field: "email"},
		{name: "email with display name", cmd: with(func(c *catalog.RegisterCreator) { c.Email = "Anna <anna@example.com>" }), err: errValidation, field: "email"},
		{name: "bad token hash", cmd: with(func(c *catalog.RegisterCreator) { c.TokenHash = strings.ToUpper(keyHash) }), err: errValidation, field: "token_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.DecideCreator(tc.state, tc.cmd)
			checkErr(t, err, tc.err, tc.field)
			if tc.err == nil {
				checkEvents(t, got, tc.want)
			}
		})
	}
}

func TestDecideAnalyst(t *testing.T) {
	reg := catalog.RegisterAnalyst{AnalystID: "analyst-1", Name: "Ops", TokenHash: keyHash}
	ev := schemas.AnalystRegistered{AnalystID: "analyst-1", Name: "Ops", TokenHash: keyHash}
	done := &catalog.Analyst{}
	env, _ := schemas.NewEnvelopeFor(ev, t0, t0)
	done.Evolve(env, &ev)
	for _, tc := range []struct {
		name  string
		state *catalog.Analyst
		cmd   catalog.RegisterAnalyst
		err   error
		field string
	}{
		{name: "registers", cmd: reg},
		{name: "twice", state: done, cmd: reg, err: catalog.ErrConflict},
		{name: "empty id", cmd: catalog.RegisterAnalyst{Name: "Ops", TokenHash: keyHash}, err: errValidation, field: "analyst_id"},
		{name: "empty name", cmd: catalog.RegisterAnalyst{AnalystID: "a", TokenHash: keyHash}, err: errValidation, field: "name"},
		{name: "bad token hash", cmd: catalog.RegisterAnalyst{AnalystID: "a", Name: "Ops"}, err: errValidation, field: "token_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.DecideAnalyst(tc.state, tc.cmd)
			checkErr(t, err, tc.err, tc.field)
			if tc.err == nil {
				checkEvents(t, got, []schemas.Event{ev})
			}
		})
	}
}

// TestPrincipalsEvolve: registration applies once; a redelivery, another
// principal's registration and other events change nothing.
func TestPrincipalsEvolve(t *testing.T) {
	creator := schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash}
	env, err := schemas.NewEnvelopeFor(creator, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	var c catalog.Creator
	c.Evolve(env, &creator)
	want := catalog.Creator{ID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash,
		Token: catalog.Credential{Current: keyHash}, RegisteredAt: t0}
	if !reflect.DeepEqual(c, want) || !c.Registered() {
		t.Fatalf("creator %+v, want %+v", c, want)
	}
	other := creator
	other.CreatorID, other.Name = boris, "Boris"
	c.Evolve(env, creator)
	c.Evolve(env, other)
	c.Evolve(env, registered(brandA))
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("creator after redelivery %+v, want %+v", c, want)
	}

	analyst := schemas.AnalystRegistered{AnalystID: "analyst-1", Name: "Ops", TokenHash: keyHash}
	var a catalog.Analyst
	a.Evolve(env, creator)
	if a.Registered() {
		t.Fatal("analyst registered by a creator's event")
	}
	a.Evolve(env, analyst)
	a.Evolve(env, schemas.AnalystRegistered{AnalystID: "analyst-2", Name: "Other", TokenHash: keyHash})
	if want := (catalog.Analyst{ID: "analyst-1", Name: "Ops", TokenHash: keyHash, Token: catalog.Credential{Current: keyHash}, RegisteredAt: t0}); a != want {
		t.Fatalf("analyst %+v, want %+v", a, want)
	}
}
