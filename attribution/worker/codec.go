package worker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// The worker's state is read back on every batch that touches an order, so
// it is stored in a compact binary form rather than as JSON envelopes,
// which cost far more to decode (docs/performance.md). Both codecs are
// lossless (the tests check
// it), and the state is derived from the log, so a change of format is a
// Rebuild away.
//
// An event: 'E', format 1, the envelope's fields, then its payload as is
// (JSON). A row: 'R', format 1, the kind ('A' attributed, 'J' adjusted,
// 'U' unattributed), then the row's fields. Strings are length-prefixed
// (uvarint), times are time.Time's binary form (zone offset included),
// length-prefixed.

const (
	eventMagic, rowMagic = 'E', 'R'
	codecFormat          = 1
)

// encoder appends the binary forms.
type encoder struct{ b []byte }

func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) time(t time.Time) {
	// MarshalBinary's form (15 or 16 bytes), appended in place after its
	// length, which as a uvarint is one byte.
	at := len(e.b)
	b, err := t.AppendBinary(append(e.b, 0))
	if err != nil {
		// Only a zone offset beyond the binary form's range fails, which no
		// time read from JSON or made by the core has.
		b, _ = t.UTC().AppendBinary(e.b[:at+1])
	}
	n := len(b) - at - 1
	if n >= 0x80 {
		panic("worker: binary time of more than 127 bytes") // time's forms have 15 or 16
	}
	b[at] = byte(n)
	e.b = b
}

func (e *encoder) timePtr(t *time.Time) {
	if t == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.time(*t)
}

func (e *encoder) strs(ss []string) {
	if ss == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// decoder reads the binary forms; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail(errShort)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) time() time.Time {
	var t time.Time
	if p := d.raw(); d.err == nil {
		if err := t.UnmarshalBinary(p); err != nil {
			d.fail(err)
		}
	}
	return t
}

func (d *decoder) timePtr() *time.Time {
	if d.byte() == 0 {
		return nil
	}
	t := d.time()
	return &t
}

func (d *decoder) strs() []string {
	if d.byte() == 0 {
		return nil
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

// encodeEvent is the stored form of an order event's envelope.
func encodeEvent(env *schemas.Envelope) []byte {
	return appendEvent(make([]byte, 0, 128+len(env.Payload)), env)
}

// appendEvent appends encodeEvent's output to dst.
func appendEvent(dst []byte, env *schemas.Envelope) []byte {
	e := encoder{b: dst}
	e.byte(eventMagic)
	e.byte(codecFormat)
	e.str(env.EventID)
	e.str(env.Type)
	e.varint(int64(env.SchemaVersion))
	e.str(env.AggregateKey)
	e.str(env.BrandID)
	e.time(env.OccurredAt)
	e.time(env.RecordedAt)
	e.str(env.CausationID)
	e.str(env.CorrelationID)
	e.b = append(e.b, env.Payload...)
	return e.b
}

// decodeEvent reads encodeEvent's output.
func decodeEvent(b []byte) (schemas.Envelope, error) {
	d := decoder{b: b}
	var env schemas.Envelope
	if d.byte() != eventMagic || d.byte() != codecFormat {
		return env, errors.New("stored event: unknown format")
	}
	env.EventID = d.str()
	env.Type = d.str()
	env.SchemaVersion = int(d.varint())
	env.AggregateKey = d.str()
	env.BrandID = d.str()
	env.OccurredAt = d.time()
	env.RecordedAt = d.time()
	env.CausationID = d.str()
	env.CorrelationID = d.str()
	if d.err != nil {
		return env, fmt.Errorf("stored event: %w", d.err)
	}
	env.Payload = d.b
	return env, nil
}

// Row kinds.
const (
	kindAttributed   = 'A'
	kindAdjusted     = 'J'
	kindUnattributed = 'U'
)

// encodeRow is the stored form of an attribution row (a value or pointer
// of schemas.OrderAttributed, OrderEarningsAdjusted or OrderUnattributed).
func encodeRow(ev schemas.Event) ([]byte, error) {
	return appendRow(make([]byte, 0, 512), ev)
}

// appendRow appends encodeRow's output to dst.
func appendRow(dst []byte, ev schemas.Event) ([]byte, error) {
	e := encoder{b: dst}
	e.byte(rowMagic)
	e.byte(codecFormat)
	switch p := ev.(type) {
	case schemas.OrderAttributed:
		e.byte(kindAttributed)
		e.attribution(&p.Attribution)
	case *schemas.OrderAttributed:
		e.byte(kindAttributed)
		e.attribution(&p.Attribution)
	case schemas.OrderEarningsAdjusted:
		e.byte(kindAdjusted)
		e.attribution(&p.Attribution)
		e.str(p.Cause)
	case *schemas.OrderEarningsAdjusted:
		e.byte(kindAdjusted)
		e.attribution(&p.Attribution)
		e.str(p.Cause)
	case schemas.OrderUnattributed:
		e.byte(kindUnattributed)
		e.unattributed(&p)
	case *schemas.OrderUnattributed:
		e.byte(kindUnattributed)
		e.unattributed(p)
	default:
		return nil, fmt.Errorf("encode row: %T is not an attribution row", ev)
	}
	return e.b, nil
}

// decodeRow reads encodeRow's output; the event is a pointer, as
// schemas.Decode returns.
func decodeRow(b []byte) (schemas.Event, error) {
	d := decoder{b: b}
	if d.byte() != rowMagic || d.byte() != codecFormat {
		return nil, errors.New("stored row: unknown format")
	}
	var ev schemas.Event
	switch k := d.byte(); k {
	case kindAttributed:
		p := &schemas.OrderAttributed{}
		d.attribution(&p.Attribution)
		ev = p
	case kindAdjusted:
		p := &schemas.OrderEarningsAdjusted{}
		d.attribution(&p.Attribution)
		p.Cause = d.str()
		ev = p
	case kindUnattributed:
		p := &schemas.OrderUnattributed{}
		d.unattributed(p)
		ev = p
	default:
		d.fail(fmt.Errorf("unknown kind %q", k))
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(errors.New("trailing bytes"))
	}
	if d.err != nil {
		return nil, fmt.Errorf("stored row: %w", d.err)
	}
	return ev, nil
}

func (e *encoder) attribution(a *schemas.Attribution) {
	for _, s := range [...]string{a.OrderID, a.BrandID, a.CreatorID, a.OfferID, a.OfferName, a.RequestID, a.PromoCode, a.Platform,
		a.Terms.Type, a.Terms.Value, a.Terms.Currency, a.Amount, a.NetAmount, a.Currency, a.Country, a.Status, a.Earnings, a.EarningsCurrency} {
		e.str(s)
	}
	e.varint(int64(a.Terms.HoldDays))
	e.time(a.PlacedAt)
	e.uvarint(a.Version)
	e.decision(&a.Decision)
	e.time(a.LastEventAt)
}

func (d *decoder) attribution(a *schemas.Attribution) {
	for _, s := range [...]*string{&a.OrderID, &a.BrandID, &a.CreatorID, &a.OfferID, &a.OfferName, &a.RequestID, &a.PromoCode, &a.Platform,
		&a.Terms.Type, &a.Terms.Value, &a.Terms.Currency, &a.Amount, &a.NetAmount, &a.Currency, &a.Country, &a.Status, &a.Earnings, &a.EarningsCurrency} {
		*s = d.str()
	}
	a.Terms.HoldDays = int(d.varint())
	a.PlacedAt = d.time()
	a.Version = d.uvarint()
	d.decision(&a.Decision)
	a.LastEventAt = d.time()
}

func (e *encoder) unattributed(u *schemas.OrderUnattributed) {
	for _, s := range [...]string{u.OrderID, u.BrandID, u.Reason, u.Amount, u.Currency, u.Country} {
		e.str(s)
	}
	e.strs(u.PromoCodes)
	e.decision(&u.Decision)
	e.time(u.PlacedAt)
	e.uvarint(u.Version)
}

func (d *decoder) unattributed(u *schemas.OrderUnattributed) {
	for _, s := range [...]*string{&u.OrderID, &u.BrandID, &u.Reason, &u.Amount, &u.Currency, &u.Country} {
		*s = d.str()
	}
	u.PromoCodes = d.strs()
	d.decision(&u.Decision)
	u.PlacedAt = d.time()
	u.Version = d.uvarint()
}

func (e *encoder) decision(dec *schemas.Decision) {
	if dec.Candidates == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.uvarint(uint64(len(dec.Candidates)))
	for i := range dec.Candidates {
		c := &dec.Candidates[i]
		for _, s := range [...]string{c.Code, c.NormalizedCode, c.Outcome, c.CreatorID, c.OfferID, c.RequestID} {
			e.str(s)
		}
		e.timePtr(c.ActiveFrom)
		e.timePtr(c.RevokedAt)
	}
}

func (d *decoder) decision(dec *schemas.Decision) {
	if d.byte() == 0 {
		return
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return
	}
	dec.Candidates = make([]schemas.Candidate, n)
	for i := range dec.Candidates {
		c := &dec.Candidates[i]
		for _, s := range [...]*string{&c.Code, &c.NormalizedCode, &c.Outcome, &c.CreatorID, &c.OfferID, &c.RequestID} {
			*s = d.str()
		}
		c.ActiveFrom = d.timePtr()
		c.RevokedAt = d.timePtr()
	}
}
