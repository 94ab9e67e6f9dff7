package schemas

import "testing"

func TestValueOfAndCatalogBrandOf(t *testing.T) {
	p := &CodeConfirmed{BrandID: "b1", RequestID: "r"}
	if v, ok := ValueOf(p).(CodeConfirmed); !ok || v.BrandID != "b1" {
		t.Fatalf("ValueOf(pointer) = %#v, want the value", ValueOf(p))
	}
	if v, ok := ValueOf(*p).(CodeConfirmed); !ok || v.RequestID != "r" {
		t.Fatalf("ValueOf(value) = %#v, want it unchanged", ValueOf(*p))
	}
	cases := []struct {
		name string
		ev   Event
		want string
		ok   bool
	}{
		{"brand event", CodeRevoked{BrandID: "b2"}, "b2", true},
		{"pointer to brand event", &OfferChanged{BrandID: "b3"}, "b3", true},
		{"creator", CreatorRegistered{CreatorID: "c"}, "", false},
		{"order event", OrderPlaced{BrandID: "b4", OrderID: "o"}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CatalogBrandOf(tc.ev)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("CatalogBrandOf = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
