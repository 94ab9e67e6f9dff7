package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

const (
	placedJSON    = `{"event_id":"e1","type":"order.placed","order_id":"A-1001","occurred_at":"2026-11-24T10:00:00Z","promo_codes":["anna10"],"amount":"2500.00","currency":"RUB","country":"RU"}`
	confirmedJSON = `{"event_id":"e2","type":"order.confirmed","order_id":"A-1001","occurred_at":"2026-11-25T10:00:00Z"}`
	refundedJSON  = `{"event_id":"e3","type":"order.refunded","order_id":"A-1001","occurred_at":"2026-11-26T10:00:00+03:00","refund_amount":"500.00"}`
)

// withMember returns the JSON object obj with member name set to the raw
// JSON value (added, or replaced in place), or removed when value is "".
func withMember(t testing.TB, obj, name, value string) string {
	t.Helper()
	var m []struct {
		k string
		v json.RawMessage
	}
	dec := json.NewDecoder(strings.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("withMember: %s is not an object", obj)
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		if k == name {
			found = true
			if value == "" {
				continue
			}
			v = json.RawMessage(value)
		}
		m = append(m, struct {
			k string
			v json.RawMessage
		}{k, v})
	}
	if !found && value != "" {
		m = append(m, struct {
			k string
			v json.RawMessage
		}{name, json.RawMessage(value)})
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", kv.k, kv.v)
	}
	b.WriteByte('}')
	return b.String()
}

func batchOf(events ...string) string { return `{"events":[` + strings.Join(events, ",") + `]}` }

func TestParseBodyAccepts(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	placed := shopEvent{EventID: "e1", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at,
		PromoCodes: []string{"anna10"}, Amount: "2500.00", Currency: "RUB", Country: "RU"}
	tests := []struct {
		name string
		body string
		want []shopEvent
	}{
		{name: "one placed event", body: placedJSON, want: []shopEvent{placed}},
		{name: "one event with white space", body: " \n\t" + placedJSON + "\r\n ", want: []shopEvent{placed}},
		{name: "batch of three types", body: batchOf(placedJSON, confirmedJSON, refundedJSON), want: []shopEvent{
			placed,
			{EventID: "e2", Type: schemas.TypeOrderConfirmed, OrderID: "A-1001", OccurredAt: at.Add(24 * time.Hour)},
			{EventID: "e3", Type: schemas.TypeOrderRefunded, OrderID: "A-1001", OccurredAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("", 3*3600)), RefundAmount: "500.00"},
		}},
		{name: "unknown members tolerated everywhere",
			body: `{"shop":{"name":"x","tags":[1,2.5e-3,true,null,{"a":[]}]},"events":[` + withMember(t, placedJSON, "note", `{"deep":[[["x"]]],"n":-0.5E+2}`) + `],"v":2}`,
			want: []shopEvent{placed}},
		{name: "members of other types ignored", body: withMember(t, withMember(t, confirmedJSON, "amount", `12`), "promo_codes", `"x"`), want: []shopEvent{
			{EventID: "e2", Type: schemas.TypeOrderConfirmed, OrderID: "A-1001", OccurredAt: at.Add(24 * time.Hour)},
		}},
		{name: "escapes decoded", body: withMember(t, withMember(t, placedJSON, "event_id", `"e\u00e9\ud83d\ude00\/\"x"`), "promo_codes", `["\u0410NNA10"," bob "]`), want: []shopEvent{
			{EventID: "e\u00e9\U0001F600/\"x", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at,
				PromoCodes: []string{"\u0410NNA10", " bob "}, Amount: "2500.00", Currency: "RUB", Country: "RU"},
		}},
		{name: "codes as shoppers type them: kept as sent, never refused", body: withMember(t, placedJSON, "promo_codes",
			`["anna10\t","\u00a0ANNA10\u200b\r\n","an\u0001na","a\tb","\u007f","","  ","\ud800x","`+strings.Repeat("x", 201)+`"]`),
			want: []shopEvent{{EventID: "e1", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at,
				PromoCodes: []string{"anna10\t", "\u00a0ANNA10\u200b\r\n", "an\x01na", "a\tb", "\x7f", "", "  ", "\uFFFDx",
					strings.Repeat("x", promocode.MaxStoredLen-1) + "…"},
				Amount: "2500.00", Currency: "RUB", Country: "RU"}},
		},
		{name: "a long code of white space is stored trimmed", body: withMember(t, placedJSON, "promo_codes", `["`+strings.Repeat(" ", 300)+`ANNA10\t"]`),
			want: []shopEvent{{EventID: "e1", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at,
				PromoCodes: []string{"ANNA10"}, Amount: "2500.00", Currency: "RUB", Country: "RU"}},
		},
		{name: "escaped member name", body: strings.Replace(placedJSON, `"event_id"`, `"event\u005fid"`, 1), want: []shopEvent{placed}},
		{name: "no promo codes: absent, null or empty", body: batchOf(
			withMember(t, placedJSON, "promo_codes", ""),
			withMember(t, withMember(t, placedJSON, "promo_codes", "null"), "event_id", `"e4"`),
			withMember(t, withMember(t, placedJSON, "promo_codes", "[]"), "event_id", `"e5"`)),
			want: []shopEvent{
				{EventID: "e1", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, Amount: "2500.00", Currency: "RUB", Country: "RU"},
				{EventID: "e4", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, Amount: "2500.00", Currency: "RUB", Country: "RU"},
				{EventID: "e5", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, PromoCodes: []string{}, Amount: "2500.00", Currency: "RUB", Country: "RU"},
			}},
		{name: "amounts per currency", body: batchOf(
			withMember(t, withMember(t, placedJSON, "currency", `"JPY"`), "amount", `"1500"`),
			withMember(t, withMember(t, withMember(t, placedJSON, "currency", `"KWD"`), "amount", `"1.125"`), "event_id", `"e6"`),
			withMember(t, withMember(t, placedJSON, "amount", `"0"`), "event_id", `"e7"`)),
			want: []shopEvent{
				{EventID: "e1", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, PromoCodes: []string{"anna10"}, Amount: "1500", Currency: "JPY", Country: "RU"},
				{EventID: "e6", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, PromoCodes: []string{"anna10"}, Amount: "1.125", Currency: "KWD", Country: "RU"},
				{EventID: "e7", Type: schemas.TypeOrderPlaced, OrderID: "A-1001", OccurredAt: at, PromoCodes: []string{"anna10"}, Amount: "0", Currency: "RUB", Country: "RU"},
			}},
		{name: "fractional seconds", body: withMember(t, confirmedJSON, "occurred_at", `"2026-11-25T10:00:00.123456789Z"`), want: []shopEvent{
			{EventID: "e2", Type: schemas.TypeOrderConfirmed, OrderID: "A-1001", OccurredAt: at.Add(24*time.Hour + 123456789)},
		}},
		{name: "id of 200 characters", body: withMember(t, confirmedJSON, "order_id", `"`+strings.Repeat("я", 200)+`"`), want: []shopEvent{
			{EventID: "e2", Type: schemas.TypeOrderConfirmed, OrderID: strings.Repeat("я", 200), OccurredAt: at.Add(24 * time.Hour)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ferr := parseBody(tc.body)
			if ferr != nil {
				t.Fatalf("refused %s: field %q: %s", tc.body, ferr.field, ferr.message)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if !g.OccurredAt.Equal(w.OccurredAt) {
					t.Errorf("event %d: occurred_at %v, want %v", i, g.OccurredAt, w.OccurredAt)
				}
				g.OccurredAt, w.OccurredAt = time.Time{}, time.Time{}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("event %d:\n got %#v\nwant %#v", i, g, w)
				}
			}
		})
	}
}

func TestParseBodyRefuses(t *testing.T) {
	type tcase struct {
		name      string
		body      string
		wantField string
		wantMsg   string
	}
	tests := []tcase{
		{name: "empty body", body: "", wantField: "", wantMsg: "body: empty"},
		{name: "white space only", body: " \n", wantField: "", wantMsg: "body: empty"},
		{name: "array at top", body: "[" + placedJSON + "]", wantField: "", wantMsg: "must be a JSON object"},
		{name: "string at top", body: `"x"`, wantField: "", wantMsg: "got a string"},
		{name: "truncated", body: placedJSON[:40], wantField: "", wantMsg: "body: invalid JSON at byte 40: unexpected end"},
		{name: "trailing data", body: placedJSON + "{}", wantField: "", wantMsg: "unexpected data after the JSON value"},
		{name: "invalid UTF-8", body: withMember(t, placedJSON, "x", "\"\xff\""), wantField: "", wantMsg: "not valid UTF-8"},
		{name: "trailing comma", body: `{"event_id":"e1",}`, wantField: "", wantMsg: "expected a string as member name"},
		{name: "single quotes", body: `{'event_id':"e1"}`, wantField: "", wantMsg: "expected a string as member name"},
		{name: "bad escape", body: `{"event_id":"e\x1"}`, wantField: "", wantMsg: "invalid escape"},
		{name: "raw control character", body: "{\"event_id\":\"e\n1\"}", wantField: "", wantMsg: "control character in string"},
		{name: "bad number", body: `{"x":01}`, wantField: "", wantMsg: "expected ',' or '}'"},
		{name: "bad literal", body: `{"x":nul}`, wantField: "", wantMsg: "invalid literal"},
		{name: "too deep", body: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, wantField: "", wantMsg: "nested more than 64 levels"},
		{name: "events not an array", body: `{"events":{}}`, wantField: "events", wantMsg: "must be an array of 1 to 1000 events, got an object"},
		{name: "events null", body: `{"events":null}`, wantField: "events", wantMsg: "got null"},
		{name: "events empty", body: `{"events":[]}`, wantField: "events", wantMsg: "at least 1 event"},
		{name: "events twice", body: `{"events":[` + placedJSON + `],"events":[` + placedJSON + `]}`, wantField: "events", wantMsg: "appears more than once"},
		{name: "event not an object", body: batchOf(placedJSON, `"e2"`), wantField: "events[1]", wantMsg: "events[1]: must be an event object, got a string"},
		{name: "syntax error inside an event", body: `{"events":[` + placedJSON + `,{"event_id":"e2" "type":1}]}`, wantField: "events[1]", wantMsg: "events[1]: invalid JSON"},
		{name: "member twice", body: withMember(t, placedJSON, "x", "1")[:len(placedJSON)-1] + `,"amount":"1.00"}`, wantField: "amount", wantMsg: "amount: appears more than once"},
		{name: "first bad event is reported", body: batchOf(placedJSON, withMember(t, confirmedJSON, "order_id", "7"), withMember(t, placedJSON, "amount", "")), wantField: "events[1].order_id", wantMsg: "must be a string, got a number"},
	}
	// Every member, for a single event and for the fourth event of a batch.
	members := []struct {
		base, name, value, msg string
	}{
		{placedJSON, "event_id", "", "is required"},
		{placedJSON, "event_id", "null", "is required"},
		{placedJSON, "event_id", "12", "must be a string, got a number"},
		{placedJSON, "event_id", `["e1"]`, "must be a string, got an array"},
		{placedJSON, "event_id", `""`, "must not be empty"},
		{placedJSON, "event_id", `"  "`, "must not be empty"},
		{placedJSON, "event_id", `"` + strings.Repeat("x", 201) + `"`, "at most 200 characters, got 201"},
		{placedJSON, "event_id", `"e\u0000"`, "control characters"},
		{placedJSON, "event_id", `"e\ud800"`, "unpaired surrogate"},
		{placedJSON, "event_id", `"e\udc00\ud800"`, "unpaired surrogate"},
		{placedJSON, "type", "", "is required"},
		{placedJSON, "type", "true", "must be a string, got a boolean"},
		{placedJSON, "type", `"order.shipped"`, `must be one of order.placed, order.confirmed, order.cancelled, order.refunded, got "order.shipped"`},
		{placedJSON, "type", `"ORDER.PLACED"`, "must be one of"},
		{placedJSON, "order_id", "", "is required"},
		{placedJSON, "order_id", "{}", "must be a string, got an object"},
		{placedJSON, "order_id", `""`, "must not be empty"},
		{placedJSON, "order_id", `"` + strings.Repeat("ж", 201) + `"`, "at most 200 characters"},
		{placedJSON, "occurred_at", "", "is required"},
		{placedJSON, "occurred_at", "1732442400", "must be a string, got a number"},
		{placedJSON, "occurred_at", `"2026-11-24 10:00:00"`, "must be an RFC 3339 time"},
		{placedJSON, "occurred_at", `"2026-11-24T10:00:00"`, "must be an RFC 3339 time"},
		{placedJSON, "occurred_at", `"2026-13-24T10:00:00Z"`, "must be an RFC 3339 time"},
		{placedJSON, "occurred_at", `"0001-01-01T00:00:00Z"`, "must not be before 1970"},
		{placedJSON, "promo_codes", `"anna10"`, "must be an array of strings, got a string"},
		{placedJSON, "promo_codes", `{}`, "must be an array of strings, got an object"},
		{placedJSON, "promo_codes", `["a",1]`, "promo_codes[1]: must be a string, got a number"},
		{placedJSON, "promo_codes", `["a",null]`, "promo_codes[1]: must be a string, got null"},
		{placedJSON, "promo_codes", `[` + strings.TrimSuffix(strings.Repeat(`"c",`, 21), ",") + `]`, "more than 20 codes"},
		{placedJSON, "currency", "", "is required"},
		{placedJSON, "currency", "643", "must be a string, got a number"},
		{placedJSON, "currency", `"rub"`, `must be an ISO 4217 currency code (3 upper-case letters), got "rub"`},
		{placedJSON, "currency", `"RUBL"`, "must be an ISO 4217 currency code"},
		{placedJSON, "amount", "", "is required"},
		{placedJSON, "amount", "2500", "must be a string, got a number"},
		{placedJSON, "amount", "2500.00", "must be a string, got a number"},
		{placedJSON, "amount", `""`, "empty"},
		{placedJSON, "amount", `"-1.00"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"+1.00"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"2 500.00"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"2500,00"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"1e3"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"NaN"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"1."`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `".5"`, "must be a non-negative decimal string"},
		{placedJSON, "amount", `"2500.001"`, "more than 2 digits after the point for RUB"},
		{placedJSON, "amount", `"1234567890123456"`, "more than 15 digits before the point"},
		{placedJSON, "country", "", "is required"},
		{placedJSON, "country", "7", "must be a string, got a number"},
		{placedJSON, "country", `"ru"`, `must be an ISO 3166-1 alpha-2 country code (2 upper-case letters), got "ru"`},
		{placedJSON, "country", `"RUS"`, "must be an ISO 3166-1 alpha-2"},
		{refundedJSON, "refund_amount", "", "is required"},
		{refundedJSON, "refund_amount", "500", "must be a string, got a number"},
		{refundedJSON, "refund_amount", `"0"`, `must be positive, got "0"`},
		{refundedJSON, "refund_amount", `"0.000"`, "must be positive"},
		{refundedJSON, "refund_amount", `"-5"`, "must be a non-negative decimal string"},
		{refundedJSON, "refund_amount", `"5.0001"`, "too many digits after the point (at most 3)"},
		{confirmedJSON, "occurred_at", `false`, "must be a string, got a boolean"},
	}
	for _, m := range members {
		ev := withMember(t, m.base, m.name, m.value)
		field := m.name
		if i := strings.Index(m.msg, ": "); i > 0 && strings.HasPrefix(m.msg, m.name+"[") {
			field = m.msg[:i]
		}
		desc := m.value
		if desc == "" {
			desc = "absent"
		}
		tests = append(tests,
			tcase{name: "single " + m.name + " " + desc, body: ev, wantField: field, wantMsg: m.msg},
			tcase{name: "batch " + m.name + " " + desc, body: batchOf(placedJSON, confirmedJSON, refundedJSON, ev, `{"broken"`),
				wantField: "events[3]." + field, wantMsg: m.msg})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ferr := parseBody(tc.body)
			if ferr == nil {
				t.Fatalf("accepted %s: %+v", tc.body, got)
			}
			if got != nil {
				t.Errorf("returned events with an error")
			}
			if ferr.field != tc.wantField || !strings.Contains(ferr.message, tc.wantMsg) {
				t.Errorf("got field %q message %q\nwant field %q message containing %q", ferr.field, ferr.message, tc.wantField, tc.wantMsg)
			}
			if tc.wantField != "" && !strings.HasPrefix(ferr.message, tc.wantField+": ") {
				t.Errorf("message %q does not start with the field", ferr.message)
			}
		})
	}
}

func TestParseBodyBatchLimit(t *testing.T) {
	events := make([]string, MaxEvents+1)
	for i := range events {
		events[i] = withMember(t, confirmedJSON, "event_id", fmt.Sprintf(`"e%d"`, i))
	}
	got, ferr := parseBody(batchOf(events[:MaxEvents]...))
	if ferr != nil || len(got) != MaxEvents {
		t.Fatalf("1000 events: got %d events, error %v", len(got), ferr)
	}
	_, ferr = parseBody(batchOf(events...))
	if ferr == nil || ferr.field != "events" || !strings.Contains(ferr.message, "more than 1000 events") {
		t.Fatalf("1001 events: got %v, want an error on field events", ferr)
	}
}

// TestValidationAgreesWithSchemas cross-checks the hand validation with the
// JSON Schemas of the payloads: for every mutation of every member of valid
// events, if the payload made from the event (the webhook's member values
// copied as they are into the payload's members) fails the schema, the
// webhook refuses the event; and whenever the webhook accepts an event, the
// payload it builds passes the schema. The documented differences: absent
// or null promo_codes means no codes (the payload gets []), and each code is
// stored through promocode.Stored.
func TestValidationAgreesWithSchemas(t *testing.T) {
	values := []string{"", "null", "true", "0", "-1", "2500", "2500.00", "1e3", `""`, `" "`, `"x"`, `"RU"`, `"RUB"`,
		`"ru"`, `"rub"`, `"2500.00"`, `"2500.5"`, `"2500"`, `"-5"`, `"0"`, `"0.00"`, `"1.2.3"`, `"1,5"`, `".5"`, `"5."`, `"05"`,
		`"2500.001"`, `"e\u0000"`, `"\u00e9"`, `"order.placed"`, `"order.refunded"`, `"2026-11-24T10:00:00Z"`,
		`[]`, `["a"]`, `[1]`, `[null]`, `["a","b"]`, `{}`, `{"a":1}`, `["a\tb"]`, `[" a\u0000"]`, `["\ud800"]`,
		`["` + strings.Repeat("x", 201) + `"]`, `["` + strings.Repeat("я", 200) + `"]`}
	members := []string{"event_id", "type", "order_id", "occurred_at", "promo_codes", "amount", "currency", "country", "refund_amount", "brand_id", "shop_event_id"}
	bases := []string{placedJSON, confirmedJSON, refundedJSON, withMember(t, confirmedJSON, "type", `"order.cancelled"`)}
	checked, refusedBySchema := 0, 0
	for _, base := range bases {
		for _, name := range members {
			for _, value := range values {
				ev := withMember(t, base, name, value)
				schemaErr := schemaVerdict(t, ev)
				events, ferr := parseBody(ev)
				checked++
				if schemaErr != nil {
					refusedBySchema++
					if ferr == nil {
						t.Errorf("%s: the schema refuses it (%v), the webhook accepted it", ev, schemaErr)
					}
					continue
				}
				if ferr != nil {
					continue // stricter than the schema: fine
				}
				env, err := envelope("b1", &events[0], time.Now(), "corr")
				if err != nil {
					t.Errorf("%s: accepted, but no envelope: %v", ev, err)
					continue
				}
				if err := schemas.Validate(env.Type, env.SchemaVersion, env.Payload); err != nil {
					t.Errorf("%s: accepted, but its payload %s fails the schema: %v", ev, env.Payload, err)
				}
				if _, err := schemas.Decode(env); err != nil {
					t.Errorf("%s: accepted, but its envelope does not decode: %v", ev, err)
				}
			}
		}
	}
	if refusedBySchema < 100 {
		t.Errorf("only %d of %d cases are refused by the schemas: the table does not test much", refusedBySchema, checked)
	}
}

// schemaVerdict validates the payload a webhook event naively maps to
// against the JSON Schema of its type; an event whose type names no order
// event is refused.
func schemaVerdict(t *testing.T, ev string) error {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ev), &m); err != nil {
		t.Fatalf("%s: %v", ev, err)
	}
	var typ string
	if err := json.Unmarshal(m["type"], &typ); err != nil || schemas.TopicOf(typ) != schemas.TopicOrders || typ == schemas.TypeOrderHoldExpired {
		return fmt.Errorf("type %s is not a shop's order event", m["type"])
	}
	payload := map[string]json.RawMessage{"brand_id": json.RawMessage(`"b1"`)}
	copyMember := func(from, to string) {
		if v, ok := m[from]; ok {
			payload[to] = v
		}
	}
	copyMember("event_id", "shop_event_id")
	copyMember("order_id", "order_id")
	switch typ {
	case schemas.TypeOrderPlaced:
		for _, k := range []string{"promo_codes", "amount", "currency", "country"} {
			copyMember(k, k)
		}
		if v, ok := payload["promo_codes"]; !ok || string(v) == "null" {
			payload["promo_codes"] = json.RawMessage(`[]`)
		}
		var codes []string
		if json.Unmarshal(payload["promo_codes"], &codes) == nil {
			for i, c := range codes {
				codes[i] = promocode.Stored(c)
			}
			payload["promo_codes"], _ = json.Marshal(codes)
		}
	case schemas.TypeOrderRefunded:
		copyMember("refund_amount", "refund_amount")
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := schemas.CurrentVersion(typ)
	return schemas.Validate(typ, v, raw)
}

func TestEventIDDeterministic(t *testing.T) {
	a, b := EventID("b1", "e1"), EventID("b1", "e1")
	if a != b || len(a) != 32 {
		t.Fatalf("EventID: %q and %q, want one 32-digit hex id", a, b)
	}
	for _, other := range []string{EventID("b2", "e1"), EventID("b1", "e2"), EventID("b1\x00e", "1"), EventID("b", "1e1")} {
		if other == a {
			t.Errorf("EventID collides: %q", other)
		}
	}
}

func TestDedupeKey(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		brand, event string
		want         string
	}{
		{"b1", "e1", "b1:e1"},
		{"b1", "e:1", "b1:e:1"},
		{"b1", long, "#"},
		{"b:1", "e1", "#"},
	}
	for _, tc := range tests {
		got := DedupeKey(tc.brand, tc.event)
		if tc.want == "#" {
			if len(got) != 65 || got[0] != '#' || strings.Contains(got, ":") {
				t.Errorf("DedupeKey(%q, %q) = %q, want # and 64 hex digits", tc.brand, tc.event, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("DedupeKey(%q, %q) = %q, want %q", tc.brand, tc.event, got, tc.want)
		}
	}
	if DedupeKey("b:1", "e1") == DedupeKey("b", "1:e1") {
		t.Error("brand ids with ':' make ambiguous keys")
	}
}

// BenchmarkParseBody compares the hand-written parser and validation of a
// batch of 100 events with a plain encoding/json decode of the same body
// into structs (which checks much less).
func BenchmarkParseBody(b *testing.B) {
	events := make([]string, 100)
	for i := range events {
		events[i] = strings.Replace(placedJSON, `"e1"`, fmt.Sprintf(`"e%d"`, i), 1)
	}
	body := batchOf(events...)
	b.Run("parseBody", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ferr := parseBody(body); ferr != nil {
				b.Fatal(ferr)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		type ev struct {
			EventID    string          `json:"event_id"`
			Type       string          `json:"type"`
			OrderID    string          `json:"order_id"`
			OccurredAt time.Time       `json:"occurred_at"`
			PromoCodes []string        `json:"promo_codes"`
			Amount     json.RawMessage `json:"amount"`
			Currency   string          `json:"currency"`
			Country    string          `json:"country"`
		}
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v struct {
				Events []ev `json:"events"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
