package catalog_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

var (
	fpA = strings.Repeat("a1", 32)
	fpB = strings.Repeat("b2", 32)
)

func connectorSet(platform, confirmOn, sealed, fp string) schemas.ConnectorSet {
	return schemas.ConnectorSet{BrandID: brandA, Platform: platform, ConfirmOn: confirmOn, SecretSealed: sealed, SecretFingerprint: fp}
}

func TestDecideConnectors(t *testing.T) {
	set := func(platform, confirmOn, sealed, fp string) catalog.SetConnector {
		return catalog.SetConnector{BrandID: brandA, Platform: platform, ConfirmOn: confirmOn, SecretSealed: sealed, SecretFingerprint: fp}
	}
	shopify := connectorSet("shopify", "orders/paid", "sealed-a", fpA)
	runDecide(t, []decideCase{
		{name: "first set", given: []schemas.Event{registered(brandA)},
			cmd: set("shopify", "orders/paid", "sealed-a", fpA), want: []schemas.Event{shopify}},
		{name: "same secret and confirm_on again: nothing", given: []schemas.Event{registered(brandA), shopify},
			cmd: set("shopify", "orders/paid", "sealed-a-again", fpA)},
		{name: "another confirm_on", given: []schemas.Event{registered(brandA), shopify},
			cmd:  set("shopify", "orders/fulfilled", "sealed-a2", fpA),
			want: []schemas.Event{connectorSet("shopify", "orders/fulfilled", "sealed-a2", fpA)}},
		{name: "another secret", given: []schemas.Event{registered(brandA), shopify},
			cmd:  set("shopify", "orders/paid", "sealed-b", fpB),
			want: []schemas.Event{connectorSet("shopify", "orders/paid", "sealed-b", fpB)}},
		{name: "a second platform", given: []schemas.Event{registered(brandA), shopify},
			cmd:  set("woocommerce", "completed", "sealed-a", fpA),
			want: []schemas.Event{connectorSet("woocommerce", "completed", "sealed-a", fpA)}},
		{name: "remove", given: []schemas.Event{registered(brandA), shopify},
			cmd:  catalog.RemoveConnector{BrandID: brandA, Platform: "shopify"},
			want: []schemas.Event{schemas.ConnectorRemoved{BrandID: brandA, Platform: "shopify"}}},
		{name: "remove one never set", given: []schemas.Event{registered(brandA), shopify},
			cmd: catalog.RemoveConnector{BrandID: brandA, Platform: "woocommerce"}, err: catalog.ErrNotFound},
		{name: "remove one removed", given: []schemas.Event{registered(brandA), shopify, schemas.ConnectorRemoved{BrandID: brandA, Platform: "shopify"}},
			cmd: catalog.RemoveConnector{BrandID: brandA, Platform: "shopify"}, err: catalog.ErrNotFound},
		{name: "bad platform", given: []schemas.Event{registered(brandA)},
			cmd: set("Shop ify", "orders/paid", "sealed-a", fpA), err: errValidation, field: "platform"},
		{name: "no confirm_on", given: []schemas.Event{registered(brandA)},
			cmd: set("shopify", "", "sealed-a", fpA), err: errValidation, field: "confirm_on"},
		{name: "no secret", given: []schemas.Event{registered(brandA)},
			cmd: set("shopify", "orders/paid", "", fpA), err: errValidation, field: "secret"},
		{name: "bad fingerprint", given: []schemas.Event{registered(brandA)},
			cmd: set("shopify", "orders/paid", "sealed-a", "abc"), err: errValidation, field: "secret_fingerprint"},
		{name: "unknown brand",
			cmd: set("shopify", "orders/paid", "sealed-a", fpA), err: catalog.ErrNotFound},
	})
}

// TestConnectorEvolve: a new secret keeps the one it replaced for the
// grace from the change's effective time; a change of confirm_on alone
// keeps that grace as it was; a removal forgets every secret; a rebuild
// gives the same state.
func TestConnectorEvolve(t *testing.T) {
	s := givenStream(t, registered(brandA))
	first := s.must(catalog.SetConnector{BrandID: brandA, Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-a", SecretFingerprint: fpA}, nil)
	if len(first) != 1 {
		t.Fatalf("set decided %v", first)
	}
	setAt := s.now
	want := catalog.Connector{Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-a", SecretFingerprint: fpA, UpdatedAt: setAt}
	if c, ok := s.brand.Connector("shopify"); !ok || c != want {
		t.Fatalf("after set: %+v %v, want %+v", c, ok, want)
	}

	rotatedAt := s.tick(time.Hour)
	s.must(catalog.SetConnector{BrandID: brandA, Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-b", SecretFingerprint: fpB}, nil)
	want = catalog.Connector{Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-b", SecretFingerprint: fpB,
		PreviousSealed: "sealed-a", PreviousValidUntil: rotatedAt.Add(catalog.CredentialGrace), UpdatedAt: rotatedAt}
	if c, _ := s.brand.Connector("shopify"); c != want {
		t.Fatalf("after a new secret: %+v, want %+v", c, want)
	}

	// Redelivery of the last event changes nothing.
	s.brand.Evolve(s.log[len(s.log)-1], connectorSet("shopify", "orders/paid", "sealed-b", fpB))
	if c, _ := s.brand.Connector("shopify"); c != want {
		t.Fatalf("after a redelivery: %+v, want %+v", c, want)
	}

	changedAt := s.tick(time.Hour)
	s.must(catalog.SetConnector{BrandID: brandA, Platform: "shopify", ConfirmOn: "orders/fulfilled", SecretSealed: "sealed-b2", SecretFingerprint: fpB}, nil)
	want.ConfirmOn, want.SecretSealed, want.UpdatedAt = "orders/fulfilled", "sealed-b2", changedAt
	if c, _ := s.brand.Connector("shopify"); c != want {
		t.Fatalf("after a change of confirm_on: %+v, want %+v (the grace of the previous secret unchanged)", c, want)
	}
	if got := rebuild(t, s.log); !reflect.DeepEqual(got.Connectors(), s.brand.Connectors()) {
		t.Fatalf("rebuilt %+v, want %+v", got.Connectors(), s.brand.Connectors())
	}

	s.tick(time.Minute)
	s.must(catalog.RemoveConnector{BrandID: brandA, Platform: "shopify"}, nil)
	if c, ok := s.brand.Connector("shopify"); ok {
		t.Fatalf("after removal: %+v", c)
	}
	s.tick(time.Minute)
	s.must(catalog.SetConnector{BrandID: brandA, Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "sealed-c", SecretFingerprint: fpA}, nil)
	if c, _ := s.brand.Connector("shopify"); c.PreviousSealed != "" {
		t.Fatalf("set after a removal kept a previous secret: %+v", c)
	}
}
