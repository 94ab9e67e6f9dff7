package schemas

import "time"

// NewEnvelopeValidated is NewEnvelope without the JSON Schema validation of
// the payload, for hot paths that build many envelopes per second (the
// webhook ingestion) and have already validated every field of the payload
// by hand, at least as strictly as its JSON Schema does.
//
// Only use it for payloads the caller validated field by field, with a test
// showing that the caller refuses everything the schema refuses: an event
// that bypasses validation here is trusted by every reader that uses
// DecodeTrusted. Everything else of NewEnvelope still holds: the payload
// type must be registered, aggregateKey and brandID must be the ones KeyOf
// derives from the payload, times must be set (they are stored in UTC), and
// nil lists are written as []. The EventID is a new random one; callers
// that need a deterministic id set it on the result.
func NewEnvelopeValidated(p Event, aggregateKey, brandID string, occurredAt, recordedAt time.Time) (Envelope, error) {
	env, _, err := newEnvelope(nil, p, aggregateKey, brandID, occurredAt, recordedAt, false)
	return env, err
}

// AppendEnvelopeValidated is NewEnvelopeValidated writing the payload at the
// end of buf, which it returns grown: a caller that makes many envelopes
// and is done with all of them at once (the attribution worker, once a
// batch's rows are appended to the log) reuses one buffer for their
// payloads. The payload is buf's bytes: they must not be overwritten while
// the envelope is in use. Types without a hand encoder get a payload of
// their own.
func AppendEnvelopeValidated(buf []byte, p Event, aggregateKey, brandID string, occurredAt, recordedAt time.Time) (Envelope, []byte, error) {
	return newEnvelope(buf, p, aggregateKey, brandID, occurredAt, recordedAt, false)
}
