package catalog_test

import (
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
)

func TestCheckEffectiveTime(t *testing.T) {
	// withOffer's two events are stamped t0 and t0+1m: the brand's latest
	// change is at t0+1m.
	last := t0.Add(time.Minute)
	now := t0.Add(24 * time.Hour)
	cases := []struct {
		name  string
		brand *catalog.Brand
		at    time.Time
		err   error
		field string
	}{
		{name: "new brand, long ago", brand: &catalog.Brand{}, at: t0.Add(-400 * 24 * time.Hour)},
		{name: "nil brand", at: t0},
		{name: "at the latest change", brand: given(t, withOffer()...), at: last},
		{name: "between the latest change and now", brand: given(t, withOffer()...), at: last.Add(time.Hour)},
		{name: "now", brand: given(t, withOffer()...), at: now},
		{name: "before the latest change", brand: given(t, withOffer()...), at: last.Add(-time.Nanosecond), err: catalog.ErrConflict},
		{name: "before the brand existed", brand: given(t, withOffer()...), at: t0.Add(-time.Hour), err: catalog.ErrConflict},
		{name: "in the future", brand: given(t, withOffer()...), at: now.Add(time.Millisecond), err: errValidation, field: "occurred_at"},
		{name: "future for a new brand", brand: &catalog.Brand{}, at: now.Add(time.Hour), err: errValidation, field: "occurred_at"},
		{name: "zero", brand: &catalog.Brand{}, err: errValidation, field: "occurred_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, catalog.CheckEffectiveTime(tc.brand, tc.at, now), tc.err, tc.field)
		})
	}
}

func TestLastChange(t *testing.T) {
	if got := (&catalog.Brand{}).LastChange(); !got.IsZero() {
		t.Fatalf("LastChange of a brand with no events = %v, want zero", got)
	}
	s := givenStream(t, withAnnaCode()...)
	if got, want := s.brand.LastChange(), t0.Add(3*time.Minute); !got.Equal(want) {
		t.Fatalf("LastChange = %v, want %v (the fourth event's time)", got, want)
	}
}
