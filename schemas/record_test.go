package schemas

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// sameEnvelope reports the first field in which two envelopes differ, or
// "" when they are the same (payloads compared as bytes).
func sameEnvelope(got, want Envelope) string {
	switch {
	case got.EventID != want.EventID:
		return "event_id"
	case got.Type != want.Type:
		return "type"
	case got.SchemaVersion != want.SchemaVersion:
		return "schema_version"
	case got.AggregateKey != want.AggregateKey:
		return "aggregate_key"
	case got.BrandID != want.BrandID:
		return "brand_id"
	case !got.OccurredAt.Equal(want.OccurredAt) || got.OccurredAt.Location() != want.OccurredAt.Location():
		return "occurred_at"
	case !got.RecordedAt.Equal(want.RecordedAt) || got.RecordedAt.Location() != want.RecordedAt.Location():
		return "recorded_at"
	case got.CausationID != want.CausationID:
		return "causation_id"
	case got.CorrelationID != want.CorrelationID:
		return "correlation_id"
	case !bytes.Equal(got.Payload, want.Payload):
		return "payload"
	}
	return ""
}

// TestRecordEveryType writes an envelope of every event type as a record
// and reads it back: the same envelope, with the aggregate key only in the
// record's key and the brand derived from it (BrandOfKey agrees with
// KeyOf for every type), and the payload as MarshalEnvelope writes it.
func TestRecordEveryType(t *testing.T) {
	for _, ev := range examples() {
		t.Run(ev.EventType(), func(t *testing.T) {
			env, err := NewEnvelopeFor(ev, t0, t1)
			if err != nil {
				t.Fatal(err)
			}
			env = env.WithCause("cause-1", "corr-1")
			if got := BrandOfKey(env.Type, env.AggregateKey); got != env.BrandID {
				t.Errorf("BrandOfKey(%q, %q) = %q, want %q", env.Type, env.AggregateKey, got, env.BrandID)
			}
			value, err := AppendRecordValue(nil, &env)
			if err != nil {
				t.Fatal(err)
			}
			full, err := MarshalEnvelope(nil, &env)
			if err != nil {
				t.Fatal(err)
			}
			var members map[string]json.RawMessage
			if err := json.Unmarshal(value, &members); err != nil {
				t.Fatalf("value %s: %v", value, err)
			}
			for _, name := range []string{"aggregate_key", "brand_id"} {
				if _, ok := members[name]; ok {
					t.Errorf("value %s has %s", value, name)
				}
			}
			saved := len(`,"aggregate_key":""`) + len(env.AggregateKey)
			if env.BrandID != "" {
				saved += len(`,"brand_id":""`) + len(env.BrandID)
			}
			if len(full)-len(value) != saved {
				t.Errorf("value %d bytes, the envelope's JSON %d: want %d less (the key and the brand)", len(value), len(full), saved)
			}
			if _, ok := decodeEnvelopeMembers(value, &Envelope{}); !ok {
				t.Errorf("value %s is left to encoding/json", value)
			}
			var back Envelope
			if err := UnmarshalRecord([]byte(env.AggregateKey), value, &back); err != nil {
				t.Fatal(err)
			}
			if f := sameEnvelope(back, env); f != "" {
				t.Errorf("read back with another %s:\ngot  %+v\nwant %+v", f, back, env)
			}
			if _, err := DecodeTrusted(back); err != nil {
				t.Errorf("DecodeTrusted: %v", err)
			}
		})
	}
}

// TestRecordLayouts reads records of both layouts, and envelopes the
// record's key and type do not describe, in the common form and through
// encoding/json.
func TestRecordLayouts(t *testing.T) {
	placed := OrderPlaced{OrderID: "o-1", BrandID: "b-1", ShopEventID: "s-1", PromoCodes: []string{"A"}, Amount: "10.00", Currency: "RUB", Country: "RU"}
	base, err := NewEnvelopeFor(placed, t0, t1)
	if err != nil {
		t.Fatal(err)
	}
	base = base.WithCause("cause-1", "corr-1")
	oldValue, err := MarshalEnvelope(nil, &base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  func(Envelope) Envelope
	}{
		{"made by NewEnvelope", func(e Envelope) Envelope { return e }},
		{"no brand on a brand's event", func(e Envelope) Envelope { e.BrandID = ""; return e }},
		{"another brand than the key's", func(e Envelope) Envelope { e.BrandID = "b-2"; return e }},
		{"no causation", func(e Envelope) Envelope { return e.WithCause("", "") }},
		{"an escaped id (encoding/json decodes it)", func(e Envelope) Envelope { e.EventID = "id<\"1\">"; return e }},
		{"a brand-less principal's event", func(e Envelope) Envelope {
			e.Type, e.AggregateKey, e.BrandID = TypeCreatorRegistered, "crt-1", ""
			return e
		}},
		{"a brand on a brand-less principal's event", func(e Envelope) Envelope {
			e.Type, e.AggregateKey, e.BrandID = TypeCreatorRegistered, "crt-1", "b-1"
			return e
		}},
		{"an unknown type", func(e Envelope) Envelope { e.Type = "thing.happened"; return e }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env(base)
			value, err := AppendRecordValue(nil, &env)
			if err != nil {
				t.Fatal(err)
			}
			var back Envelope
			if err := UnmarshalRecord([]byte(env.AggregateKey), value, &back); err != nil {
				t.Fatal(err)
			}
			if f := sameEnvelope(back, env); f != "" {
				t.Errorf("value %s read back with another %s:\ngot  %+v\nwant %+v", value, f, back, env)
			}
		})
	}
	t.Run("the old layout, whatever the key", func(t *testing.T) {
		var want Envelope
		if err := UnmarshalEnvelope(oldValue, &want); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{base.AggregateKey, "", "other/key"} {
			back := Envelope{EventID: "left over"}
			if err := UnmarshalRecord([]byte(key), oldValue, &back); err != nil {
				t.Fatal(err)
			}
			if f := sameEnvelope(back, want); f != "" {
				t.Errorf("key %q: read back with another %s", key, f)
			}
		}
	})
	t.Run("a payload not in canonical form", func(t *testing.T) {
		env := base
		env.Payload = json.RawMessage("{ \"order_id\" : \"o-1\" }")
		value, err := AppendRecordValue(nil, &env)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(value), `"payload":{"order_id":"o-1"}}`) {
			t.Errorf("value %s: want the payload compacted", value)
		}
		env.Payload = json.RawMessage("{")
		if _, err := AppendRecordValue(nil, &env); err == nil {
			t.Error("invalid payload: want an error")
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		var back Envelope
		if err := UnmarshalRecord([]byte("k"), []byte("nope"), &back); err == nil {
			t.Error("want an error")
		}
	})
}

// FuzzUnmarshalRecord checks the record decoder against encoding/json on
// arbitrary values: the same error, the value's fields, the aggregate key
// from the record's key unless the value has one, and the brand from the
// key unless the value has one or an aggregate key; and that what
// AppendRecordValue writes of the result reads back the same.
func FuzzUnmarshalRecord(f *testing.F) {
	for _, env := range codecEnvelopes(f) {
		if raw, err := json.Marshal(env); err == nil {
			f.Add([]byte(env.AggregateKey), raw)
		}
		if value, err := AppendRecordValue(nil, &env); err == nil {
			f.Add([]byte(env.AggregateKey), value)
		}
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		var want Envelope
		wantErr := json.Unmarshal(value, &want)
		var probe struct {
			AggregateKey *string `json:"aggregate_key"`
			BrandID      *string `json:"brand_id"`
		}
		_ = json.Unmarshal(value, &probe)
		var got Envelope
		err := UnmarshalRecord(key, value, &got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("key %q value %q: error %v, encoding/json's %v", key, value, err, wantErr)
		}
		if err != nil {
			return
		}
		if probe.AggregateKey == nil {
			want.AggregateKey = string(key)
			if probe.BrandID == nil {
				want.BrandID = BrandOfKey(want.Type, want.AggregateKey)
			}
		}
		if f := sameEnvelope(got, want); f != "" {
			t.Fatalf("key %q value %q: %s differs:\ngot  %+v\nwant %+v", key, value, f, got, want)
		}
		again, err := AppendRecordValue(nil, &got)
		if err != nil {
			return // a payload or time encoding/json cannot write either
		}
		var back Envelope
		if err := UnmarshalRecord([]byte(got.AggregateKey), again, &back); err != nil {
			t.Fatalf("%s: %v", again, err)
		}
		// The payload is written compacted: every other field is the same.
		if f := sameEnvelope(back, got); f != "" && f != "payload" {
			t.Fatalf("%s read back with another %s:\ngot  %+v\nwant %+v", again, f, back, got)
		}
	})
}
