// Package schemas defines every event of the domain: the envelope that carries
// them through the log, their payload types, their JSON Schemas, validation
// and upcasting of older schema versions.
//
// The envelope is the unit of the event store: one Kafka record holds one
// envelope, keyed by its AggregateKey so that the events of one aggregate
// (a brand's catalog, one order) keep their order, with the rest of the
// envelope as JSON in the value (AppendRecordValue and UnmarshalRecord:
// the record layout, where each field has one place).
//
// Writers build envelopes with NewEnvelope, which validates the payload
// against its JSON Schema, so nothing invalid enters the log. Readers check
// a record with ValidateEnvelope, then Decode it (upcast, validate, unmarshal)
// or, on hot paths reading events the engine wrote itself, DecodeTrusted
// (upcast, unmarshal). Each event type's schema lives in
// json/<type>.v<version>.json, generated from the Go types by
// `go test ./schemas -update`; a test fails when they drift apart. Older
// versions' files are frozen and read through upcasters.
package schemas

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Envelope wraps one domain event with the metadata every consumer needs.
// Payload is the event's body, encoded as JSON and described by the JSON
// Schema of (Type, SchemaVersion).
//
// An envelope made by NewEnvelope carries an unexported mark of the payload
// it wrote, so that encoding it skips a check; as with time.Time, compare
// envelopes by their fields, not with == or reflect.DeepEqual.
type Envelope struct {
	// EventID is unique per event; consumers dedupe on it.
	EventID string `json:"event_id"`
	// Type names the event, e.g. "order.placed".
	Type string `json:"type"`
	// SchemaVersion is the version of the payload's schema the producer wrote.
	SchemaVersion int `json:"schema_version"`
	// AggregateKey is the partition key: the brand id for catalog and code
	// events, "<brand id>/<order id>" for order and attribution events.
	AggregateKey string `json:"aggregate_key"`
	// BrandID is the brand the event belongs to, empty for brand-less
	// principals (creators, analysts).
	BrandID string `json:"brand_id,omitempty"`
	// OccurredAt is when the fact happened in the world (for an order event,
	// the shop's occurred_at).
	OccurredAt time.Time `json:"occurred_at"`
	// RecordedAt is when the engine accepted the event.
	RecordedAt time.Time `json:"recorded_at"`
	// CausationID is the id of the event or request that caused this one.
	CausationID string `json:"causation_id,omitempty"`
	// CorrelationID ties together every event of one flow (one HTTP request,
	// one order).
	CorrelationID string `json:"correlation_id,omitempty"`
	// Payload is the event body as JSON.
	Payload json.RawMessage `json:"payload"`

	// written is the Payload newEnvelope wrote (its first byte and length):
	// canonical JSON, which MarshalEnvelope copies without scanning it
	// again as long as Payload is still that slice.
	written payloadRef
}

// payloadRef identifies a payload slice.
type payloadRef struct {
	first *byte
	n     int
}

func refOf(p []byte) payloadRef {
	if len(p) == 0 {
		return payloadRef{}
	}
	return payloadRef{first: &p[0], n: len(p)}
}

// writtenCanonical reports whether e.Payload is the canonical JSON
// newEnvelope wrote.
func (e *Envelope) writtenCanonical() bool {
	return e.written.first != nil && e.written == refOf(e.Payload)
}

// NewEventID returns a random 128-bit identifier in hex.
func NewEventID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
	}
	return hex.EncodeToString(b[:])
}

// OrderKey is the aggregate key of an order: its brand and the shop's order id.
func OrderKey(brandID, orderID string) string { return brandID + "/" + orderID }

// NewEnvelope wraps a payload for the log: a new EventID, the payload's
// type and current schema version, and the payload as JSON, validated
// against its JSON Schema so that nothing invalid enters the log (which is
// what lets readers of the engine's own events use DecodeTrusted).
// aggregateKey and brandID must be the ones KeyOf derives from the payload:
// a wrong key would break the per-aggregate order of the log. Times are
// stored in UTC and must not be zero. Nil lists of the payload are written
// as [].
func NewEnvelope(p Event, aggregateKey, brandID string, occurredAt, recordedAt time.Time) (Envelope, error) {
	env, _, err := newEnvelope(nil, p, aggregateKey, brandID, occurredAt, recordedAt, true)
	return env, err
}

// newEnvelope builds an envelope; validate runs the payload's JSON Schema.
// With buf, the payload is written at its end (see AppendEnvelopeValidated)
// and buf is returned grown.
func newEnvelope(buf []byte, p Event, aggregateKey, brandID string, occurredAt, recordedAt time.Time, validate bool) (Envelope, []byte, error) {
	if p == nil {
		return Envelope{}, buf, errors.New("new envelope: nil payload")
	}
	t := p.EventType()
	s, err := lookup(t, 1)
	if err != nil {
		return Envelope{}, buf, fmt.Errorf("new envelope: %w", err)
	}
	wantKey, wantBrand, ok := KeyOf(p)
	if !ok {
		return Envelope{}, buf, fmt.Errorf("new envelope: %w: payload type %T", ErrUnknownType, p)
	}
	if aggregateKey != wantKey || brandID != wantBrand {
		return Envelope{}, buf, fmt.Errorf("new envelope %s: aggregate key %q and brand %q, want %q and %q",
			t, aggregateKey, brandID, wantKey, wantBrand)
	}
	if occurredAt.IsZero() || recordedAt.IsZero() {
		return Envelope{}, buf, fmt.Errorf("new envelope %s: occurred_at and recorded_at must be set", t)
	}
	payload, grown, err := appendNormalized(buf, p)
	if err != nil {
		return Envelope{}, buf, fmt.Errorf("new envelope %s: %w", t, err)
	}
	if validate {
		cs, err := schemaOf(t, s.version)
		if err != nil {
			return Envelope{}, buf, fmt.Errorf("new envelope %s: %w", t, err)
		}
		if err := validateAgainst(cs.schema, payload); err != nil {
			return Envelope{}, buf, fmt.Errorf("new envelope %s: %w", t, err)
		}
	}
	return Envelope{
		EventID:       NewEventID(),
		Type:          t,
		SchemaVersion: s.version,
		AggregateKey:  aggregateKey,
		BrandID:       brandID,
		OccurredAt:    occurredAt.UTC(),
		RecordedAt:    recordedAt.UTC(),
		Payload:       payload,
		written:       refOf(payload),
	}, grown, nil
}

// NewEnvelopeFor is NewEnvelope with the aggregate key and brand derived
// from the payload by KeyOf.
func NewEnvelopeFor(p Event, occurredAt, recordedAt time.Time) (Envelope, error) {
	if p == nil {
		return Envelope{}, errors.New("new envelope: nil payload")
	}
	key, brand, _ := KeyOf(p)
	return NewEnvelope(p, key, brand, occurredAt, recordedAt)
}

// WithCause returns a copy of e with its causation and correlation ids set.
func (e Envelope) WithCause(causationID, correlationID string) Envelope {
	e.CausationID = causationID
	e.CorrelationID = correlationID
	return e
}

// CausedBy returns a copy of e caused by parent: the causation id is the
// parent's event id and the correlation id the parent's (or, if the parent
// starts the flow, the parent's event id).
func (e Envelope) CausedBy(parent Envelope) Envelope {
	corr := parent.CorrelationID
	if corr == "" {
		corr = parent.EventID
	}
	return e.WithCause(parent.EventID, corr)
}

// ValidateEnvelope parses an envelope's whole JSON (MarshalEnvelope's form,
// which the log's records of the old layout hold) and checks its fields: event_id, type (a known one), schema_version (>= 1),
// aggregate_key, occurred_at and recorded_at (RFC 3339, not zero) and
// payload (a JSON object) must be present. A bad envelope gives a
// *ValidationError with every bad field ("/event_id", ...). The payload
// itself is checked by Decode, which also rejects versions newer than this
// build knows.
func ValidateEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err == nil && envelopeOK(&env) {
		return env, nil // the common case: one pass
	}
	// Slow path: find every bad field.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		msg := "not a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return Envelope{}, &ValidationError{Fields: []FieldError{{Path: "", Message: msg}}}
	}
	var bad []FieldError
	fail := func(name, msg string) { bad = append(bad, FieldError{Path: "/" + name, Message: msg}) }
	present := func(name string, required bool) (json.RawMessage, bool) {
		r, ok := fields[name]
		if !ok || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			if required {
				fail(name, "is required")
			}
			return nil, false
		}
		return r, true
	}
	str := func(name string, required bool) string {
		r, ok := present(name, required)
		if !ok {
			return ""
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			fail(name, "must be a string")
			return ""
		}
		if required && s == "" {
			fail(name, "must not be empty")
		}
		return s
	}
	when := func(name string) {
		r, ok := present(name, true)
		if !ok {
			return
		}
		var t time.Time
		if err := json.Unmarshal(r, &t); err != nil {
			fail(name, "must be an RFC 3339 time")
		} else if t.IsZero() {
			fail(name, "must not be the zero time")
		}
	}
	str("event_id", true)
	if t := str("type", true); t != "" {
		if _, ok := specs[t]; !ok {
			fail("type", fmt.Sprintf("unknown event type %q", t))
		}
	}
	if r, ok := present("schema_version", true); ok {
		var v int
		if err := json.Unmarshal(r, &v); err != nil {
			fail("schema_version", "must be an integer")
		} else if v < 1 {
			fail("schema_version", "must be at least 1")
		}
	}
	str("aggregate_key", true)
	str("brand_id", false)
	str("causation_id", false)
	str("correlation_id", false)
	when("occurred_at")
	when("recorded_at")
	if r, ok := present("payload", true); ok && bytes.TrimSpace(r)[0] != '{' {
		fail("payload", "must be a JSON object")
	}
	if len(bad) == 0 {
		// Unreachable unless envelopeOK and this walk disagree.
		return Envelope{}, &ValidationError{Fields: []FieldError{{Path: "", Message: "invalid envelope"}}}
	}
	return Envelope{}, &ValidationError{Fields: bad}
}

// envelopeOK reports whether a parsed envelope passes every check of
// ValidateEnvelope.
func envelopeOK(e *Envelope) bool {
	_, known := specs[e.Type]
	p := bytes.TrimSpace(e.Payload)
	return e.EventID != "" && known && e.SchemaVersion >= 1 && e.AggregateKey != "" &&
		!e.OccurredAt.IsZero() && !e.RecordedAt.IsZero() && len(p) > 0 && p[0] == '{'
}
