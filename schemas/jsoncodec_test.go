package schemas

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// codecVariants returns every example payload, plus variants that exercise
// the encoder's edges: escapes, non-ASCII and invalid UTF-8, nil and empty
// lists, optional fields, zones and fractions of times.
func codecVariants() []Event {
	odd := "a\"b\\c</tag>&\u2028\u2029\x01\b\f\n\r\t é \xff\xfe end"
	msk := time.FixedZone("MSK", 3*3600)
	at := t0.Add(123456789 * time.Nanosecond).In(msk)
	attr := exampleAttribution()
	attr.OfferName = odd
	attr.PlacedAt = at
	attr.Decision.Candidates = append(attr.Decision.Candidates,
		Candidate{Code: odd, NormalizedCode: "X", Outcome: OutcomeCodeRevoked, RevokedAt: &at},
		Candidate{Code: "", NormalizedCode: "", Outcome: OutcomeUnknownCode})
	nilDecision := exampleAttribution()
	nilDecision.Decision.Candidates = nil
	emptyDecision := exampleAttribution()
	emptyDecision.Decision.Candidates = []Candidate{}
	out := examples()
	out = append(out,
		OrderPlaced{OrderID: odd, BrandID: "b/1", ShopEventID: "\u0410NNA", PromoCodes: nil, Amount: "1", Currency: "RUB", Country: "RU"},
		OrderPlaced{PromoCodes: []string{}},
		OrderPlaced{PromoCodes: []string{"", odd, "АННА10"}},
		OrderRefunded{},
		OrderHoldExpired{HoldDays: -3, HoldEndsAt: at},
		OrderHoldExpired{},
		OrderAttributed{Attribution: attr},
		OrderAttributed{Attribution: nilDecision},
		OrderEarningsAdjusted{Attribution: emptyDecision, Cause: odd},
		OrderEarningsAdjusted{},
		OrderUnattributed{},
		OrderUnattributed{PromoCodes: []string{}, Decision: Decision{Candidates: []Candidate{}}, Version: 1<<63 + 5},
	)
	return out
}

// TestMarshalPayloadMatchesEncodingJSON checks that the hand encoder writes
// the bytes of json.Marshal for every event type, as value and pointer.
func TestMarshalPayloadMatchesEncodingJSON(t *testing.T) {
	for _, ev := range codecVariants() {
		for _, v := range []Event{ev, pointerTo(ev).(Event)} {
			want, wantErr := json.Marshal(v)
			got, err := MarshalPayload(v)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("%T:\n got %s (%v)\nwant %s (%v)", v, got, err, want, wantErr)
			}
		}
	}
	// Times encoding/json refuses: the same error.
	bad := OrderHoldExpired{HoldEndsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, wantErr := json.Marshal(bad)
	if _, err := MarshalPayload(bad); err == nil || wantErr == nil || err.Error() != wantErr.Error() {
		t.Errorf("year 10000: got %v, want %v", err, wantErr)
	}
	var nilPlaced *OrderPlaced
	if got, err := MarshalPayload(nilPlaced); err != nil || string(got) != "null" {
		t.Errorf("nil pointer: got %s, %v", got, err)
	}
}

// TestMarshalNormalizedMatchesEncodingJSON checks the payloads of new
// envelopes: json.Marshal of the normalized value (nil lists as []).
func TestMarshalNormalizedMatchesEncodingJSON(t *testing.T) {
	for _, ev := range append(codecVariants(), strangeEvent{}) {
		for _, v := range []Event{ev, pointerTo(ev).(Event)} {
			n := v
			if nz, ok := v.(normalizer); ok {
				n = nz.normalized()
			}
			want, wantErr := json.Marshal(n)
			got, err := marshalNormalized(v)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("%T:\n got %s (%v)\nwant %s (%v)", v, got, err, want, wantErr)
			}
			// MarshalEnvelope trusts newEnvelope's payloads to be canonical.
			if err == nil && !canonicalPayload(got) {
				t.Errorf("%T: payload %s is not canonical", v, got)
			}
		}
	}
}

// TestMarshalEnvelopeWrittenPayload: an envelope's payload written by
// newEnvelope is copied as is; one replaced since is checked again (and
// compacted by the fallback when it is not canonical).
func TestMarshalEnvelopeWrittenPayload(t *testing.T) {
	env, err := NewEnvelopeFor(OrderConfirmed{OrderID: "o-1", BrandID: "b-1", ShopEventID: "s-1"}, time.Unix(1, 0), time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !env.writtenCanonical() {
		t.Fatal("a new envelope's payload is not marked as written")
	}
	copied := env.CausedBy(Envelope{EventID: "parent"})
	if !copied.writtenCanonical() {
		t.Error("a copy of the envelope lost the mark")
	}
	replaced := env
	replaced.Payload = json.RawMessage(`{ "order_id" : "o-1" }`)
	if replaced.writtenCanonical() {
		t.Error("a replaced payload is still marked as written")
	}
	got, err := MarshalEnvelope(nil, &replaced)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"payload":{"order_id":"o-1"}`)) {
		t.Errorf("replaced payload not compacted: %s", got)
	}
	shortened := env
	shortened.Payload = env.Payload[:len(env.Payload)-1]
	if shortened.writtenCanonical() {
		t.Error("a shortened payload is still marked as written")
	}
}

// TestUnmarshalPayloadMatchesEncodingJSON decodes json.Marshal's output of
// every variant with the hand decoder and with encoding/json.
func TestUnmarshalPayloadMatchesEncodingJSON(t *testing.T) {
	for _, ev := range codecVariants() {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		checkPayloadDecode(t, ev.EventType(), data)
	}
}

// checkPayloadDecode compares UnmarshalPayload with json.Unmarshal on data
// for the payload type of eventType.
func checkPayloadDecode(t *testing.T, eventType string, data []byte) {
	t.Helper()
	s := specs[eventType]
	want, got := s.newEvent(), s.newEvent()
	wantErr := json.Unmarshal(data, want)
	err := UnmarshalPayload(data, got)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("%s %q: error %v, want %v", eventType, data, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\n got %#v\nwant %#v", eventType, data, got, want)
	}
}

// TestUnmarshalPayloadOddInputs covers the inputs the fast path hands to
// encoding/json, and some it takes.
func TestUnmarshalPayloadOddInputs(t *testing.T) {
	cases := []struct{ name, typ, data string }{
		{"whitespace", TypeOrderPlaced, " {\n \"order_id\" : \"A\" ,\"promo_codes\":[ \"x\" , \"y\" ] }\t"},
		{"escape", TypeOrderPlaced, `{"order_id":"A\u0041\n"}`},
		{"case-folded key", TypeOrderPlaced, `{"Order_ID":"A"}`},
		{"unknown key", TypeOrderPlaced, `{"order_id":"A","extra":{"a":[1,2,{"b":null}]}}`},
		{"duplicate key", TypeOrderPlaced, `{"order_id":"A","order_id":"B"}`},
		{"null string", TypeOrderPlaced, `{"order_id":null}`},
		{"null list", TypeOrderPlaced, `{"promo_codes":null}`},
		{"empty list", TypeOrderPlaced, `{"promo_codes":[]}`},
		{"number for string", TypeOrderPlaced, `{"order_id":5}`},
		{"invalid utf-8", TypeOrderPlaced, "{\"order_id\":\"a\xffb\"}"},
		{"trailing garbage", TypeOrderPlaced, `{"order_id":"A"}x`},
		{"truncated", TypeOrderPlaced, `{"order_id":"A"`},
		{"not an object", TypeOrderPlaced, `["A"]`},
		{"empty", TypeOrderPlaced, ``},
		{"control character", TypeOrderPlaced, "{\"order_id\":\"a\x01\"}"},
		{"empty object", TypeOrderConfirmed, `{}`},
		{"refund on confirmed", TypeOrderConfirmed, `{"refund_amount":"1"}`},
		{"int forms", TypeOrderHoldExpired, `{"hold_days":-0}`},
		{"int fraction", TypeOrderHoldExpired, `{"hold_days":1.0}`},
		{"int exponent", TypeOrderHoldExpired, `{"hold_days":1e2}`},
		{"int leading zero", TypeOrderHoldExpired, `{"hold_days":01}`},
		{"int overflow", TypeOrderHoldExpired, `{"hold_days":99999999999999999999}`},
		{"int 19 digits", TypeOrderHoldExpired, `{"hold_days":1234567890123456789}`},
		{"negative version", TypeOrderUnattributed, `{"version":-1}`},
		{"max version", TypeOrderUnattributed, `{"version":18446744073709551615}`},
		{"bad time", TypeOrderHoldExpired, `{"hold_ends_at":"2026-13-01T00:00:00Z"}`},
		{"time with offset", TypeOrderHoldExpired, `{"hold_ends_at":"2026-11-01T00:00:00.5+03:00"}`},
		{"time escaped", TypeOrderHoldExpired, `{"hold_ends_at":"2026-11-01T00:00:00\u005a"}`},
		{"time null", TypeOrderHoldExpired, `{"hold_ends_at":null}`},
		{"candidate times", TypeOrderAttributed, `{"decision":{"candidates":[{"active_from":"2026-11-01T00:00:00Z","revoked_at":"2026-11-02T00:00:00Z"},{}]}}`},
		{"candidate null time", TypeOrderAttributed, `{"decision":{"candidates":[{"active_from":null}]}}`},
		{"decision unknown key", TypeOrderAttributed, `{"decision":{"x":1}}`},
		{"terms", TypeOrderEarningsAdjusted, `{"terms":{"type":"fixed","value":"1","currency":"RUB","hold_days":3},"cause":"order.refunded"}`},
		{"cause on attributed", TypeOrderAttributed, `{"cause":"order.refunded"}`},
		{"deep", TypeOrderPlaced, `{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkPayloadDecode(t, tc.typ, []byte(tc.data)) })
	}
}

// codecEnvelopes are envelopes of every variant, with and without the
// optional fields, and with payloads the encoder must hand to
// encoding/json (not compact, HTML characters, invalid, nil, empty).
func codecEnvelopes(t testing.TB) []Envelope {
	var out []Envelope
	for i, ev := range codecVariants() {
		env, err := NewEnvelopeValidated(ev, "k", "", t0, t1)
		if err != nil {
			key, brand, _ := KeyOf(ev)
			if env, err = NewEnvelopeValidated(ev, key, brand, t0.Add(time.Duration(i)*time.Millisecond), t1); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, env, env.WithCause("cause-1", "corr-<&>"))
	}
	base := out[0]
	for _, p := range []string{"", " {}", `{"a" : 1}`, `{"a":"<b>"}`, "{\"a\":\"\u2028\"}", `{"a":`, `[1,2]`, `"s"`, `null`, `{}`} {
		e := base
		e.Payload = json.RawMessage(p)
		out = append(out, e)
	}
	e := base
	e.Payload = nil
	e.BrandID, e.AggregateKey, e.EventID = "x\u2028", "a\xffb", ""
	e.OccurredAt = time.Time{}
	out = append(out, e)
	e.RecordedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	out = append(out, e)
	e.RecordedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))
	out = append(out, e)
	return out
}

// TestMarshalEnvelopeMatchesEncodingJSON compares MarshalEnvelope with
// json.Marshal, bytes and errors.
func TestMarshalEnvelopeMatchesEncodingJSON(t *testing.T) {
	for i, env := range codecEnvelopes(t) {
		want, wantErr := json.Marshal(env)
		prefix := []byte("prefix")
		got, err := MarshalEnvelope(prefix, &env)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("envelope %d: error %v, want %v", i, err, wantErr)
			continue
		}
		if err != nil {
			if string(got) != "prefix" {
				t.Errorf("envelope %d: failed with %q appended", i, got)
			}
			continue
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("envelope %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}

// TestUnmarshalEnvelopeMatchesEncodingJSON decodes every envelope's JSON,
// and odd forms of envelopes, both ways.
func TestUnmarshalEnvelopeMatchesEncodingJSON(t *testing.T) {
	var inputs [][]byte
	for _, env := range codecEnvelopes(t) {
		if raw, err := json.Marshal(env); err == nil {
			inputs = append(inputs, raw)
		}
	}
	for _, s := range []string{
		`{}`, `{"event_id":"a"}`, ` {"payload" : {"a":[1, 2]} } `, `{"payload":null}`, `{"payload":[1]}`,
		`{"schema_version":"1"}`, `{"schema_version":1.5}`, `{"type":"order.placed","type":"x"}`,
		`{"Event_Id":"a"}`, `{"event_id":"a\"b"}`, `{"occurred_at":"bad"}`, `{"payload":{"a":}}`,
		`{"event_id":"a"} {}`, `not json`, `{"payload":{"a":"<"}}`,
	} {
		inputs = append(inputs, []byte(s))
	}
	for _, raw := range inputs {
		checkEnvelopeDecode(t, raw)
	}
}

// TestUnmarshalEnvelopeNestingLimit: the envelope counts in
// encoding/json's limit on nesting, so its payload may nest one level less
// than a value of its own.
func TestUnmarshalEnvelopeNestingLimit(t *testing.T) {
	for _, depth := range []int{9998, 9999, 10000} {
		raw := `{"event_id":"e","payload":{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
		checkEnvelopeDecode(t, []byte(raw))
	}
}

// checkEnvelopeDecode compares UnmarshalEnvelope with json.Unmarshal on
// raw, into a zero envelope and into one with every field set (both merge
// what the input has into what the target had).
func checkEnvelopeDecode(t *testing.T, raw []byte) {
	t.Helper()
	full := Envelope{EventID: "old", Type: "old", SchemaVersion: 9, AggregateKey: "old", BrandID: "old",
		OccurredAt: t0, RecordedAt: t1, CausationID: "old", CorrelationID: "old", Payload: json.RawMessage(`{"old":1}`)}
	for _, start := range []Envelope{{}, full} {
		want, got := start, start
		wantErr := json.Unmarshal(raw, &want)
		err := UnmarshalEnvelope(raw, &got)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%q: error %v, want %v", raw, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", raw, got, want)
		}
	}
}

// FuzzUnmarshalPayload checks the hand decoder against encoding/json on
// arbitrary bytes, for every hot payload type.
func FuzzUnmarshalPayload(f *testing.F) {
	for _, ev := range codecVariants() {
		data, _ := json.Marshal(ev)
		f.Add(data)
	}
	f.Add([]byte(`{"order_id":"A\u0041","promo_codes":[ "x" ],"hold_days":-12}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []string{TypeOrderPlaced, TypeOrderConfirmed, TypeOrderRefunded, TypeOrderHoldExpired,
			TypeOrderAttributed, TypeOrderEarningsAdjusted, TypeOrderUnattributed} {
			checkPayloadDecode(t, typ, data)
		}
	})
}

// FuzzUnmarshalEnvelope checks the envelope decoder against encoding/json
// on arbitrary bytes, and, for what json.Marshal can write back, the
// encoder too.
func FuzzUnmarshalEnvelope(f *testing.F) {
	for _, env := range codecEnvelopes(f) {
		if raw, err := json.Marshal(env); err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkEnvelopeDecode(t, raw)
		var env Envelope
		if json.Unmarshal(raw, &env) != nil {
			return
		}
		want, wantErr := json.Marshal(env)
		got, err := MarshalEnvelope(nil, &env)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%q: marshal\n got %s (%v)\nwant %s (%v)", raw, got, err, want, wantErr)
		}
	})
}

func BenchmarkEnvelopeCodec(b *testing.B) {
	env, err := NewEnvelopeFor(OrderAttributed{Attribution: exampleAttribution()}, t0, t1)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	b.Run("marshal/encoding-json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&env)
		}
	})
	b.Run("marshal/hand", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = MarshalEnvelope(buf[:0], &env)
		}
	})
	b.Run("unmarshal/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var e Envelope
			_ = json.Unmarshal(raw, &e)
		}
	})
	b.Run("unmarshal/hand", func(b *testing.B) {
		for b.Loop() {
			var e Envelope
			_ = UnmarshalEnvelope(raw, &e)
		}
	})
	key := []byte(env.AggregateKey)
	value, err := AppendRecordValue(nil, &env)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("record/marshal", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = AppendRecordValue(buf[:0], &env)
		}
	})
	b.Run("record/unmarshal", func(b *testing.B) {
		for b.Loop() {
			var e Envelope
			_ = UnmarshalRecord(key, value, &e)
		}
	})
	b.Run("record/unmarshal-old-layout", func(b *testing.B) {
		for b.Loop() {
			var e Envelope
			_ = UnmarshalRecord(key, raw, &e)
		}
	})
	b.Run("payload/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var p OrderAttributed
			_ = json.Unmarshal(env.Payload, &p)
		}
	})
	b.Run("payload/hand", func(b *testing.B) {
		for b.Loop() {
			var p OrderAttributed
			_ = UnmarshalPayload(env.Payload, &p)
		}
	})
}

// TestFastPathTakesTheEnginesOwnForm checks that what the engine writes
// (json.Marshal of its envelopes and payloads) is decoded by the hand
// decoders, not handed to encoding/json.
func TestFastPathTakesTheEnginesOwnForm(t *testing.T) {
	for _, ev := range examples() {
		env, err := NewEnvelopeFor(ev, t0.In(time.FixedZone("MSK", 3*3600)), t1)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := MarshalEnvelope(nil, &env)
		if err != nil {
			t.Fatal(err)
		}
		var back Envelope
		if !decodeEnvelopeFast(raw, &back) {
			t.Errorf("%s: envelope not decoded by the fast path: %s", ev.EventType(), raw)
		}
		if _, hot := appendPayload(nil, ev, false); !hot {
			continue
		}
		if !decodePayloadFast(back.Payload, specs[ev.EventType()].newEvent()) {
			t.Errorf("%s: payload not decoded by the fast path: %s", ev.EventType(), back.Payload)
		}
	}
}

// TestAppendEnvelopeValidated: payloads written into a shared buffer are
// the ones NewEnvelopeValidated writes, each its own slice of the buffer,
// unchanged by the envelopes written after it.
func TestAppendEnvelopeValidated(t *testing.T) {
	buf := []byte{}
	var envs []Envelope
	var want [][]byte
	for _, ev := range append(codecVariants(), strangeEvent{}) {
		key, brand, ok := KeyOf(ev)
		if !ok {
			continue
		}
		ref, err := NewEnvelopeValidated(ev, key, brand, time.Unix(1, 0), time.Unix(2, 0))
		if err != nil {
			continue // refused alike below
		}
		var env Envelope
		env, buf, err = AppendEnvelopeValidated(buf, ev, key, brand, time.Unix(1, 0), time.Unix(2, 0))
		if err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		if !env.writtenCanonical() {
			t.Errorf("%T: payload not marked as written", ev)
		}
		envs, want = append(envs, env), append(want, ref.Payload)
	}
	if len(envs) < 5 {
		t.Fatalf("only %d variants encoded", len(envs))
	}
	for _, env := range envs {
		_ = append(env.Payload, "overwrite?"...) // must not reach another payload
	}
	for i, env := range envs {
		if !bytes.Equal(env.Payload, want[i]) {
			t.Errorf("%s:\n got %s\nwant %s", env.Type, env.Payload, want[i])
		}
	}
}
