package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(2 * time.Second)
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func ptr[T any](v T) *T { return &v }

func exampleAttribution() Attribution {
	return Attribution{
		OrderID: "A-1001", BrandID: "b1", CreatorID: "c1", OfferID: "o1", OfferName: "Winter sale",
		RequestID: "r1", PromoCode: "ANNA10", Platform: "instagram",
		Terms:  Terms{Payout: Payout{Type: PayoutPercent, Value: "7.5", Currency: "RUB"}, HoldDays: 30},
		Amount: "2500.00", NetAmount: "2000.00", Currency: "RUB", Country: "RU", Status: StatusPending,
		Earnings: "150.00", EarningsCurrency: "RUB", PlacedAt: t0, Version: 3,
		Decision: Decision{Candidates: []Candidate{
			{Code: "anna10", NormalizedCode: "ANNA10", Outcome: OutcomeWon, CreatorID: "c1", OfferID: "o1", RequestID: "r1", ActiveFrom: ptr(t0.Add(-time.Hour))},
			{Code: " bob5 ", NormalizedCode: "BOB5", Outcome: OutcomeCodeRevoked, CreatorID: "c2", OfferID: "o1", RequestID: "r2", ActiveFrom: ptr(t0.Add(-48 * time.Hour)), RevokedAt: ptr(t0.Add(-time.Hour))},
			{Code: "nope", NormalizedCode: "NOPE", Outcome: OutcomeUnknownCode},
		}},
		LastEventAt: t1,
	}
}

// examples holds one fully populated payload of every event type.
func examples() []Event {
	return []Event{
		BrandRegistered{BrandID: "b1", Name: "Acme", APIKeyHash: sha, WebhookSecretSalt: "5a1t"},
		CreatorRegistered{CreatorID: "c1", Name: "Anna", Email: "anna@example.com", TokenHash: sha},
		AnalystRegistered{AnalystID: "an1", Name: "Ops", TokenHash: sha},
		BrandAPIKeyRotated{BrandID: "b1", Name: "Acme", APIKeyHash: sha, PreviousAPIKeyHash: sha, RetiredAPIKeyHash: sha},
		BrandWebhookSecretRotated{BrandID: "b1", WebhookSecretSalt: "5a1t2", PreviousWebhookSecretSalt: "5a1t", RetiredWebhookSecretSalt: "5a1t0"},
		CreatorTokenRotated{CreatorID: "c1", Name: "Anna", TokenHash: sha, PreviousTokenHash: sha, RetiredTokenHash: sha},
		AnalystTokenRotated{AnalystID: "an1", Name: "Ops", TokenHash: sha, PreviousTokenHash: sha, RetiredTokenHash: sha},
		ConnectorSet{BrandID: "b1", Platform: "shopify", ConfirmOn: "orders/paid", SecretSealed: "c2VhbGVk", SecretFingerprint: sha},
		ConnectorRemoved{BrandID: "b1", Platform: "shopify"},
		OfferPublished{OfferID: "o1", BrandID: "b1", Name: "Winter sale",
			Payout:    Payout{Type: PayoutFixed, Value: "150.00", Currency: "RUB"},
			Countries: []string{"RU", "KZ"}, Platforms: []string{"instagram", "vk"}, HoldDays: 30, Status: OfferActive},
		OfferChanged{OfferID: "o1", BrandID: "b1", Name: ptr("Spring sale"),
			Payout:    &Payout{Type: PayoutPercent, Value: "10", Currency: "RUB"},
			Countries: &[]string{"RU"}, Platforms: &[]string{"tiktok"}, HoldDays: ptr(0), Status: ptr(OfferPaused)},
		CodeRequested{RequestID: "r1", BrandID: "b1", OfferID: "o1", CreatorID: "c1", Platform: "instagram"},
		CodeConfirmed{RequestID: "r1", BrandID: "b1", OfferID: "o1", CreatorID: "c1", Platform: "instagram", Code: "Anna10", NormalizedCode: "ANNA10"},
		CodeRejected{RequestID: "r1", BrandID: "b1", OfferID: "o1", CreatorID: "c1", Reason: "audience too small"},
		CodeRevoked{BrandID: "b1", RequestID: "r1", Code: "Anna10", NormalizedCode: "ANNA10"},
		OrderPlaced{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e1", PromoCodes: []string{"anna10", "bob5"}, Amount: "2500.00", Currency: "RUB", Country: "RU"},
		OrderConfirmed{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e2"},
		OrderCancelled{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e3"},
		OrderRefunded{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e4", RefundAmount: "500.00"},
		OrderHoldExpired{OrderID: "A-1001", BrandID: "b1", OfferID: "o1", HoldDays: 30, HoldEndsAt: t0.Add(30 * 24 * time.Hour)},
		OrderAttributed{Attribution: exampleAttribution()},
		OrderUnattributed{OrderID: "A-1002", BrandID: "b1", PromoCodes: []string{"nope"}, Reason: OutcomeUnknownCode,
			Decision: Decision{Candidates: []Candidate{{Code: "nope", NormalizedCode: "NOPE", Outcome: OutcomeUnknownCode}}},
			Amount:   "10", Currency: "USD", Country: "US", PlacedAt: t0, Version: 1},
		OrderEarningsAdjusted{Attribution: exampleAttribution(), Cause: TypeOrderRefunded},
	}
}

// pointerTo returns a pointer to a copy of the value in ev, the form Decode returns.
func pointerTo(ev Event) any {
	p := reflect.New(reflect.TypeOf(ev))
	p.Elem().Set(reflect.ValueOf(ev))
	return p.Interface()
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[string]bool{}
	for _, ev := range examples() {
		t.Run(ev.EventType(), func(t *testing.T) {
			seen[ev.EventType()] = true
			env, err := NewEnvelopeFor(ev, t0, t1)
			if err != nil {
				t.Fatalf("NewEnvelopeFor: %v", err)
			}
			wantVersion, _ := CurrentVersion(ev.EventType())
			if env.Type != ev.EventType() || env.SchemaVersion != wantVersion || env.EventID == "" {
				t.Fatalf("envelope header: got type %q v%d id %q, want type %q v%d and an id", env.Type, env.SchemaVersion, env.EventID, ev.EventType(), wantVersion)
			}
			raw, err := json.Marshal(env.WithCause("cause-1", "corr-1"))
			if err != nil {
				t.Fatal(err)
			}
			back, err := ValidateEnvelope(raw)
			if err != nil {
				t.Fatalf("ValidateEnvelope: %v", err)
			}
			if back.CausationID != "cause-1" || back.CorrelationID != "corr-1" || !back.OccurredAt.Equal(t0) || !back.RecordedAt.Equal(t1) {
				t.Errorf("envelope metadata: got %+v", back)
			}
			for name, decode := range map[string]func(Envelope) (Event, error){"Decode": Decode, "DecodeTrusted": DecodeTrusted} {
				got, err := decode(back)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if want := pointerTo(ev); !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\ngot  %#v\nwant %#v", name, got, want)
				}
			}
			if TopicOf(ev.EventType()) == "" {
				t.Errorf("TopicOf(%q) is empty", ev.EventType())
			}
		})
	}
	for _, typ := range Types() {
		if !seen[typ] {
			t.Errorf("no example of %s", typ)
		}
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		version   int
		payload   string
		want      []FieldError
	}{
		{
			name:      "three bad fields at three depths",
			eventType: TypeOfferPublished,
			version:   1,
			payload: `{"offer_id":"o1","brand_id":"b1","name":"x","payout":{"type":"fixed","value":"1,50","currency":"RUB"},
				"countries":["RU"],"platforms":["vk","tiktok","Insta Gram"],"status":"active"}`,
			want: []FieldError{
				{Path: "/hold_days", Message: "is required"},
				{Path: "/payout/value", Message: `must be a non-negative decimal string such as "2500.00", got "1,50"`},
				{Path: "/platforms/2", Message: `must be a platform name of lowercase letters, digits and _, got "Insta Gram"`},
			},
		},
		{
			name:      "order placed: wrong type, negative amount, empty id, lowercase country",
			eventType: TypeOrderPlaced,
			version:   2,
			payload:   `{"order_id":"","brand_id":"b1","shop_event_id":"e1","promo_codes":["a",7],"amount":"-1","currency":"RUB","country":"ru"}`,
			want: []FieldError{
				{Path: "/amount", Message: `must be a non-negative decimal string such as "2500.00", got "-1"`},
				{Path: "/country", Message: `must be an ISO 3166-1 alpha-2 country code (2 upper-case letters), got "ru"`},
				{Path: "/order_id", Message: "must not be empty"},
				{Path: "/promo_codes/1", Message: "got number, want string"},
			},
		},
		{
			name:      "order placed: any code text up to the stored bound",
			eventType: TypeOrderPlaced,
			version:   2,
			payload: `{"order_id":"A","brand_id":"b1","shop_event_id":"e1","promo_codes":["an\u0001na\t","","` +
				strings.Repeat("я", 200) + `","` + strings.Repeat("я", 201) + `"],"amount":"1","currency":"RUB","country":"RU"}`,
			want: []FieldError{{Path: "/promo_codes/3", Message: "must be at most 200 characters, got 201"}},
		},
		{
			name:      "integer range and date-time",
			eventType: TypeOrderHoldExpired,
			version:   1,
			payload:   `{"order_id":"A","brand_id":"b1","offer_id":"o1","hold_days":400,"hold_ends_at":"yesterday"}`,
			want: []FieldError{
				{Path: "/hold_days", Message: "maximum: got 400, want 365"},
				{Path: "/hold_ends_at", Message: "'yesterday' is not valid date-time: less than 20 characters long"},
			},
		},
		{
			name:      "enum and nested optional object",
			eventType: TypeOfferChanged,
			version:   1,
			payload:   `{"offer_id":"o1","brand_id":"b1","status":"deleted","payout":{"type":"fixed","value":"1"}}`,
			want: []FieldError{
				{Path: "/payout/currency", Message: "is required"},
				{Path: "/status", Message: "value must be one of 'active', 'paused'"},
			},
		},
		{
			name:      "not JSON",
			eventType: TypeOrderConfirmed,
			version:   1,
			payload:   `{"order_id":`,
			want:      []FieldError{{Path: "", Message: "not valid JSON: unexpected EOF"}},
		},
		{
			name:      "v1 order.placed does not need country",
			eventType: TypeOrderPlaced,
			version:   1,
			payload:   `{"order_id":"A","brand_id":"b1","shop_event_id":"e1","promo_codes":[],"amount":"1","currency":"RUB"}`,
			want:      nil,
		},
		{
			name:      "unknown fields are tolerated",
			eventType: TypeOrderConfirmed,
			version:   1,
			payload:   `{"order_id":"A","brand_id":"b1","shop_event_id":"e1","added_in_v2":true}`,
			want:      nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.eventType, tc.version, []byte(tc.payload))
			var ve *ValidationError
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Fields, tc.want) {
				t.Errorf("fields:\ngot  %q\nwant %q", ve.Fields, tc.want)
			}
			for _, f := range tc.want {
				if !strings.Contains(err.Error(), f.Path) {
					t.Errorf("Error() = %q does not name %q", err.Error(), f.Path)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	placedV2 := `{"order_id":"A","brand_id":"b1","shop_event_id":"e1","promo_codes":[],"amount":"1","currency":"RUB","country":"RU"}`
	env := func(typ string, v int, payload string) Envelope {
		return Envelope{EventID: "e", Type: typ, SchemaVersion: v, AggregateKey: "b1/A", OccurredAt: t0, RecordedAt: t1, Payload: json.RawMessage(payload)}
	}
	tests := []struct {
		name    string
		env     Envelope
		wantIs  error
		wantVE  bool
		wantMsg string
	}{
		{name: "unknown type", env: env("order.teleported", 1, placedV2), wantIs: ErrUnknownType, wantMsg: `"order.teleported"`},
		{name: "future version", env: env(TypeOrderPlaced, 3, placedV2), wantIs: ErrUnknownVersion, wantMsg: "order.placed v3 (this build reads v1 to v2)"},
		{name: "version zero", env: env(TypeOrderPlaced, 0, placedV2), wantIs: ErrUnknownVersion},
		{name: "invalid payload", env: env(TypeOrderPlaced, 2, `{"order_id":"A"}`), wantVE: true, wantMsg: "/amount: is required"},
		{name: "v1 payload that is not an object", env: env(TypeOrderPlaced, 1, `[1]`), wantMsg: "upcast order.placed v1 to v2: payload is not a JSON object"},
		{name: "v1 payload null", env: env(TypeOrderPlaced, 1, `null`), wantMsg: "payload is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.env)
			if err == nil {
				t.Fatalf("got %#v, want an error", got)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tc.wantIs)
			}
			var ve *ValidationError
			if errors.As(err, &ve) != tc.wantVE {
				t.Errorf("got %v, want *ValidationError: %v", err, tc.wantVE)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %q, want it to contain %q", err.Error(), tc.wantMsg)
			}
		})
	}
}

func TestUpcastOrderPlacedV1(t *testing.T) {
	tests := []struct {
		name        string
		payload     string
		wantCountry string
	}{
		{name: "v1 without country reads as ZZ", payload: `{"order_id":"A-1","brand_id":"b1","shop_event_id":"e1","promo_codes":["anna10"],"amount":"2500.00","currency":"RUB"}`, wantCountry: UnknownCountry},
		{name: "v1 carrying a country keeps it", payload: `{"order_id":"A-1","brand_id":"b1","shop_event_id":"e1","promo_codes":["anna10"],"amount":"2500.00","currency":"RUB","country":"KZ"}`, wantCountry: "KZ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(TypeOrderPlaced, 1, []byte(tc.payload)); err != nil {
				t.Fatalf("the v1 payload is not valid v1: %v", err)
			}
			raw, _ := json.Marshal(Envelope{EventID: "e", Type: TypeOrderPlaced, SchemaVersion: 1, AggregateKey: "b1/A-1", BrandID: "b1",
				OccurredAt: t0, RecordedAt: t1, Payload: json.RawMessage(tc.payload)})
			env, err := ValidateEnvelope(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(env)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := &OrderPlaced{OrderID: "A-1", BrandID: "b1", ShopEventID: "e1", PromoCodes: []string{"anna10"}, Amount: "2500.00", Currency: "RUB", Country: tc.wantCountry}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestValidateEnvelope(t *testing.T) {
	good := map[string]any{
		"event_id": "e1", "type": TypeOrderConfirmed, "schema_version": 1, "aggregate_key": "b1/A", "brand_id": "b1",
		"occurred_at": "2026-11-24T10:00:00Z", "recorded_at": "2026-11-24T10:00:02Z",
		"payload": map[string]any{"order_id": "A", "brand_id": "b1", "shop_event_id": "s1"},
	}
	with := func(changes map[string]any) []byte {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want []FieldError
	}{
		{name: "good", raw: with(nil)},
		{name: "future version passes here (Decode rejects it)", raw: with(map[string]any{"schema_version": 9})},
		{name: "every field missing", raw: []byte(`{}`), want: []FieldError{
			{"/event_id", "is required"}, {"/type", "is required"}, {"/schema_version", "is required"},
			{"/aggregate_key", "is required"}, {"/occurred_at", "is required"}, {"/recorded_at", "is required"},
			{"/payload", "is required"},
		}},
		{name: "bad values", raw: with(map[string]any{"event_id": "", "type": "order.teleported", "schema_version": 0,
			"occurred_at": "yesterday", "payload": "{}", "brand_id": 7}), want: []FieldError{
			{"/event_id", "must not be empty"}, {"/type", `unknown event type "order.teleported"`},
			{"/schema_version", "must be at least 1"}, {"/brand_id", "must be a string"},
			{"/occurred_at", "must be an RFC 3339 time"}, {"/payload", "must be a JSON object"},
		}},
		{name: "wrong JSON types", raw: with(map[string]any{"schema_version": "1", "aggregate_key": nil, "recorded_at": "0001-01-01T00:00:00Z"}), want: []FieldError{
			{"/schema_version", "must be an integer"}, {"/aggregate_key", "is required"}, {"/recorded_at", "must not be the zero time"},
		}},
		{name: "not an object", raw: []byte(`[1,2]`), want: []FieldError{
			{"", "not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ValidateEnvelope(tc.raw)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if env.EventID != "e1" || env.AggregateKey != "b1/A" {
					t.Errorf("got %+v", env)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Fields, tc.want) {
				t.Errorf("fields:\ngot  %q\nwant %q", ve.Fields, tc.want)
			}
		})
	}
}

func TestNewEnvelope(t *testing.T) {
	placed := OrderPlaced{OrderID: "A", BrandID: "b1", ShopEventID: "e1", Amount: "1", Currency: "RUB", Country: "RU"}
	tests := []struct {
		name      string
		p         Event
		key       string
		brand     string
		wantErr   string
		wantBody  string
		wantCheck func(Envelope) bool
	}{
		{name: "nil promo codes are written as []", p: placed, key: "b1/A", brand: "b1", wantBody: `"promo_codes":[]`},
		{name: "pointer payload", p: &placed, key: "b1/A", brand: "b1", wantBody: `"order_id":"A"`},
		{name: "creator has no brand", p: CreatorRegistered{CreatorID: "c1", Name: "Anna", Email: "a@example.com", TokenHash: sha}, key: "c1", brand: "", wantBody: `"creator_id":"c1"`},
		{name: "wrong aggregate key", p: placed, key: "b1", brand: "b1", wantErr: `aggregate key "b1" and brand "b1", want "b1/A" and "b1"`},
		{name: "wrong brand", p: placed, key: "b1/A", brand: "b2", wantErr: `want "b1/A" and "b1"`},
		{name: "invalid payload never reaches the log", p: OrderPlaced{OrderID: "A", BrandID: "b1", ShopEventID: "e1", Amount: "1.5.5", Currency: "rub", Country: "RU"},
			key: "b1/A", brand: "b1", wantErr: "invalid: /amount: must be a non-negative decimal"},
		{name: "unregistered payload type", p: strangeEvent{}, key: "x", brand: "", wantErr: "unknown event type"},
		{name: "nil payload", p: nil, wantErr: "nil payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := NewEnvelope(tc.p, tc.key, tc.brand, t0, t1)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !strings.Contains(string(env.Payload), tc.wantBody) {
				t.Errorf("payload %s does not contain %s", env.Payload, tc.wantBody)
			}
		})
	}
	t.Run("zero time", func(t *testing.T) {
		if _, err := NewEnvelope(placed, "b1/A", "b1", time.Time{}, t1); err == nil {
			t.Error("got no error for a zero occurred_at")
		}
	})
	t.Run("CausedBy", func(t *testing.T) {
		parent, _ := NewEnvelopeFor(placed, t0, t1)
		child, _ := NewEnvelopeFor(OrderConfirmed{OrderID: "A", BrandID: "b1", ShopEventID: "e2"}, t0, t1)
		child = child.CausedBy(parent)
		if child.CausationID != parent.EventID || child.CorrelationID != parent.EventID {
			t.Errorf("got causation %q correlation %q, want both %q", child.CausationID, child.CorrelationID, parent.EventID)
		}
		grandchild := Envelope{}.CausedBy(child)
		if grandchild.CausationID != child.EventID || grandchild.CorrelationID != parent.EventID {
			t.Errorf("got causation %q correlation %q, want %q and %q", grandchild.CausationID, grandchild.CorrelationID, child.EventID, parent.EventID)
		}
	})
}

type strangeEvent struct{}

func (strangeEvent) EventType() string { return "strange.happened" }

func TestRegistry(t *testing.T) {
	types := Types()
	if len(types) != 23 {
		t.Errorf("got %d types, want 23: %v", len(types), types)
	}
	wantTopics := map[string]string{
		TypeBrandRegistered: TopicCatalog, TypeCreatorRegistered: TopicCatalog, TypeAnalystRegistered: TopicCatalog,
		TypeOfferPublished: TopicCatalog, TypeOfferChanged: TopicCatalog, TypeCodeRequested: TopicCatalog,
		TypeCodeConfirmed: TopicCatalog, TypeCodeRejected: TopicCatalog, TypeCodeRevoked: TopicCatalog,
		TypeBrandAPIKeyRotated: TopicCatalog, TypeBrandWebhookSecretRotated: TopicCatalog,
		TypeCreatorTokenRotated: TopicCatalog, TypeAnalystTokenRotated: TopicCatalog,
		TypeConnectorSet: TopicCatalog, TypeConnectorRemoved: TopicCatalog,
		TypeOrderPlaced: TopicOrders, TypeOrderConfirmed: TopicOrders, TypeOrderCancelled: TopicOrders,
		TypeOrderRefunded: TopicOrders, TypeOrderHoldExpired: TopicOrders,
		TypeOrderAttributed: TopicAttributions, TypeOrderUnattributed: TopicAttributions, TypeOrderEarningsAdjusted: TopicAttributions,
		"order.teleported": "",
	}
	for typ, want := range wantTopics {
		if got := TopicOf(typ); got != want {
			t.Errorf("TopicOf(%q) = %q, want %q", typ, got, want)
		}
	}
	for _, typ := range types {
		raw, ok := SchemaJSON(typ)
		if !ok || !json.Valid(raw) {
			t.Errorf("SchemaJSON(%q): ok %v, valid JSON %v", typ, ok, json.Valid(raw))
		}
	}
	if _, ok := SchemaJSON("order.teleported"); ok {
		t.Error("SchemaJSON of an unknown type: got ok")
	}
	if v1, ok := SchemaJSONVersion(TypeOrderPlaced, 1); !ok || strings.Contains(string(v1), `"country"`) {
		t.Errorf("SchemaJSONVersion(order.placed, 1): ok %v, want a schema without country", ok)
	}
}

func BenchmarkDecodeOrderPlaced(b *testing.B) {
	env, err := NewEnvelopeFor(OrderPlaced{OrderID: "A-1001", BrandID: "b1", ShopEventID: "e1",
		PromoCodes: []string{"anna10", "bob5"}, Amount: "2500.00", Currency: "RUB", Country: "RU"}, t0, t1)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	run := func(b *testing.B, decode func(Envelope) (Event, error)) {
		b.ReportAllocs()
		for b.Loop() {
			e, err := ValidateEnvelope(raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := decode(e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("Decode", func(b *testing.B) { run(b, Decode) })
	b.Run("DecodeTrusted", func(b *testing.B) { run(b, DecodeTrusted) })
	b.Run("DecodeV1Upcast", func(b *testing.B) {
		v1 := env
		v1.SchemaVersion = 1
		v1.Payload = json.RawMessage(`{"order_id":"A-1001","brand_id":"b1","shop_event_id":"e1","promo_codes":["anna10","bob5"],"amount":"2500.00","currency":"RUB"}`)
		raw, _ = json.Marshal(v1)
		run(b, Decode)
	})
}

func BenchmarkNewEnvelopeOrderAttributed(b *testing.B) {
	ev := OrderAttributed{Attribution: exampleAttribution()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewEnvelopeFor(ev, t0, t1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestConcurrentDecode checks that the lazily compiled schemas are safe to
// share between goroutines (run with -race).
func TestConcurrentDecode(t *testing.T) {
	env, err := NewEnvelopeFor(OrderPlaced{OrderID: "A", BrandID: "b1", ShopEventID: "e1", Amount: "1", Currency: "RUB", Country: "RU"}, t0, t1)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 50 {
				if _, err = Decode(env); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("Decode: %v", err)
		}
	}
}
