package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The record layout: how an envelope travels as one Kafka record, with
// each field in one place.
//
//   - The record's key is the envelope's AggregateKey (it places the record
//     on its partition), and nothing else carries it.
//   - The record has no headers of its own (a dead-lettered record gets the
//     dead-letter headers).
//   - The value is the envelope's JSON without aggregate_key, and without
//     brand_id when BrandOfKey derives it from the key and the type (always,
//     for envelopes made by NewEnvelope); the payload is as before, so the
//     payload's members (order_id, brand_id, ...) and the envelope's
//     event_id, type and schema_version stay readable from the value
//     alone, by kcat, jq or ClickHouse's Kafka engine.
//
// Records written before this layout (until December 2026) have the whole
// envelope in the value, aggregate_key and brand_id included, and the
// headers event-id, event-type and schema-version; UnmarshalRecord reads
// both layouts into the same envelope: a value with an aggregate_key is of
// the old layout and is decoded as it is, headers unread.

// BrandOfKey returns the brand id that an envelope of eventType keyed by
// aggregateKey has when NewEnvelope made it (KeyOf's brand): empty for the
// events of principals without a brand (creators, analysts), otherwise the
// key up to its first '/' (brand ids have none): the brand of an order's
// key "<brand id>/<order id>", or the whole key of a brand's catalog
// events. Unknown types are derived as brands' events.
func BrandOfKey(eventType, aggregateKey string) string {
	switch eventType {
	case TypeCreatorRegistered, TypeAnalystRegistered, TypeCreatorTokenRotated, TypeAnalystTokenRotated:
		return "" // brand-less principals, keyed by their own id
	}
	if i := strings.IndexByte(aggregateKey, '/'); i >= 0 {
		return aggregateKey[:i]
	}
	return aggregateKey
}

// AppendRecordValue appends the value of e's record to dst (see the record
// layout above): the bytes MarshalEnvelope writes, less aggregate_key, and
// less brand_id when it is BrandOfKey(e.Type, e.AggregateKey). A payload
// that is not canonical JSON is written as json.Marshal would write it
// (compacted), or refused with its error, as MarshalEnvelope does.
func AppendRecordValue(dst []byte, e *Envelope) ([]byte, error) {
	payload := e.Payload
	if !e.writtenCanonical() && !canonicalPayload(payload) {
		p, err := json.Marshal(payload)
		if err != nil {
			return dst, fmt.Errorf("record of event %s: payload: %w", e.EventID, err)
		}
		payload = p
	}
	b, ok := appendEnvelope(dst, e, payload, true)
	if !ok {
		// The error json.Marshal gives for the time it cannot write.
		_, err := json.Marshal(e)
		if err == nil {
			err = fmt.Errorf("a time out of range")
		}
		return dst, fmt.Errorf("record of event %s: %w", e.EventID, err)
	}
	return b, nil
}

// UnmarshalRecord decodes a record of the log, of either layout, into e
// (which it resets): the envelope's fields from value, and, for a value of
// the current layout (no aggregate_key), the aggregate key from key and
// the brand from the value's brand_id or else BrandOfKey. The headers of
// old records repeat the value's fields and are not read. As with
// UnmarshalEnvelope, e.Payload shares value's memory. Errors are
// encoding/json's for a value that is not an envelope's JSON.
func UnmarshalRecord(key, value []byte, e *Envelope) error {
	*e = Envelope{}
	seen, ok := decodeEnvelopeMembers(value, e)
	if !ok {
		*e = Envelope{}
		var probe struct {
			AggregateKey *string `json:"aggregate_key"`
			BrandID      *string `json:"brand_id"`
		}
		if err := json.Unmarshal(value, e); err != nil {
			return err
		}
		if err := json.Unmarshal(value, &probe); err != nil {
			return err
		}
		seen = 0
		if probe.AggregateKey != nil {
			seen |= envAggregateKey
		}
		if probe.BrandID != nil {
			seen |= envBrandID
		}
	}
	if seen&envAggregateKey != 0 {
		return nil // the old layout: the value holds every field
	}
	e.AggregateKey = string(key)
	if seen&envBrandID == 0 {
		e.BrandID = BrandOfKey(e.Type, e.AggregateKey)
	}
	return nil
}
