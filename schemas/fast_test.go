package schemas

import (
	"bytes"
	"testing"
	"time"
)

// TestNewEnvelopeValidatedAgrees checks that NewEnvelopeValidated builds the
// same envelope as NewEnvelope (all but the random event id) for a valid
// payload of every type, and refuses what NewEnvelope refuses for reasons
// other than the JSON Schema.
func TestNewEnvelopeValidatedAgrees(t *testing.T) {
	placed := OrderPlaced{OrderID: "A", BrandID: "b1", ShopEventID: "e1", Amount: "1", Currency: "RUB", Country: "RU"}
	payloads := append(examples(), placed, &placed,
		OrderPlaced{OrderID: "A/B", BrandID: "b1", ShopEventID: "e \u00e9\U0001F600", PromoCodes: []string{"", " Anna10 ", "\u0410NNA"}, Amount: "0", Currency: "JPY", Country: "ZZ"},
		OrderRefunded{OrderID: "A", BrandID: "b1", ShopEventID: "e9", RefundAmount: "0.001"},
	)
	for _, p := range payloads {
		t.Run(p.EventType(), func(t *testing.T) {
			key, brand, _ := KeyOf(p)
			occurred := t0.In(time.FixedZone("MSK", 3*3600))
			want, err := NewEnvelope(p, key, brand, occurred, t1)
			if err != nil {
				t.Fatalf("NewEnvelope: %v", err)
			}
			got, err := NewEnvelopeValidated(p, key, brand, occurred, t1)
			if err != nil {
				t.Fatalf("NewEnvelopeValidated: %v", err)
			}
			if len(got.EventID) != 32 || got.EventID == want.EventID {
				t.Errorf("event id %q: want a fresh 32-digit hex id", got.EventID)
			}
			got.EventID = want.EventID
			if !bytes.Equal(got.Payload, want.Payload) {
				t.Errorf("payload\n got %s\nwant %s", got.Payload, want.Payload)
			}
			got.Payload, want.Payload = nil, nil
			if got.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %v: want UTC", got.OccurredAt)
			}
			if got.Type != want.Type || got.SchemaVersion != want.SchemaVersion || got.AggregateKey != want.AggregateKey ||
				got.BrandID != want.BrandID || !got.OccurredAt.Equal(want.OccurredAt) || !got.RecordedAt.Equal(want.RecordedAt) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}

	refused := []struct {
		name       string
		p          Event
		key, brand string
		occurred   time.Time
	}{
		{name: "nil payload", p: nil, occurred: t0},
		{name: "unregistered type", p: strangeEvent{}, key: "x", occurred: t0},
		{name: "wrong aggregate key", p: placed, key: "b1", brand: "b1", occurred: t0},
		{name: "wrong brand", p: placed, key: "b1/A", brand: "b2", occurred: t0},
		{name: "zero time", p: placed, key: "b1/A", brand: "b1"},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			if _, err := NewEnvelope(tc.p, tc.key, tc.brand, tc.occurred, t1); err == nil {
				t.Fatal("NewEnvelope accepted it; the case is wrong")
			}
			if _, err := NewEnvelopeValidated(tc.p, tc.key, tc.brand, tc.occurred, t1); err == nil {
				t.Error("NewEnvelopeValidated accepted it")
			}
		})
	}
}

func BenchmarkNewEnvelopeOrderPlaced(b *testing.B) {
	p := OrderPlaced{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e1", PromoCodes: []string{"anna10"}, Amount: "2500.00", Currency: "RUB", Country: "RU"}
	for _, fast := range []bool{false, true} {
		name := "schema"
		if fast {
			name = "validated"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var err error
				if fast {
					_, err = NewEnvelopeValidated(p, "b1/A-1001", "b1", t0, t1)
				} else {
					_, err = NewEnvelope(p, "b1/A-1001", "b1", t0, t1)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
