package schemas

import "fmt"

// Decode reads an envelope's payload as the current version of its type:
// it upcasts older versions, validates the result against the current JSON
// Schema and unmarshals it into a new payload value, returned as a pointer
// (e.g. *OrderPlaced). An unknown type wraps ErrUnknownType; a version
// newer than this build knows wraps ErrUnknownVersion; a bad payload wraps
// a *ValidationError. Use it for events from outside the engine's own
// writers, or when in doubt.
func Decode(env Envelope) (Event, error) { return decode(env, true) }

// DecodeTrusted is Decode without the JSON Schema validation, for the hot
// paths that read events the engine itself wrote with NewEnvelope (which
// validated them before they entered the log). It still upcasts, rejects
// unknown types and versions, and fails on payloads that do not unmarshal
// into the Go type.
func DecodeTrusted(env Envelope) (Event, error) { return decode(env, false) }

func decode(env Envelope, validate bool) (Event, error) {
	s, err := lookup(env.Type, env.SchemaVersion)
	if err != nil {
		return nil, fmt.Errorf("decode event %s: %w", env.EventID, err)
	}
	payload := env.Payload
	for v := env.SchemaVersion; v < s.version; v++ {
		payload, err = s.upcasters[v-1](payload)
		if err != nil {
			return nil, fmt.Errorf("decode event %s: upcast %s v%d to v%d: %w", env.EventID, env.Type, v, v+1, err)
		}
	}
	if validate {
		cs, err := schemaOf(env.Type, s.version)
		if err != nil {
			return nil, fmt.Errorf("decode event %s: %w", env.EventID, err)
		}
		if err := validateAgainst(cs.schema, payload); err != nil {
			return nil, fmt.Errorf("decode event %s: %s v%d: %w", env.EventID, env.Type, env.SchemaVersion, err)
		}
	}
	ev := s.newEvent()
	if err := UnmarshalPayload(payload, ev); err != nil {
		return nil, fmt.Errorf("decode event %s: %s v%d: %w", env.EventID, env.Type, env.SchemaVersion, err)
	}
	return ev, nil
}
