package schemas

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/internal/jsonscan"
)

// The envelope and the hot payloads (order events, attribution rows) are
// encoded and decoded by hand, without reflection, since every record of
// the log passes through them. The hand code is an exact replica for the
// values it accepts, and hands everything else to encoding/json:
//
//   - Encoding writes the bytes json.Marshal writes (field order, omitempty,
//     HTML-safe string escaping, invalid UTF-8 as \ufffd, times through
//     time.Time.AppendText). An envelope's payload is copied as it is when it
//     is already compact, valid and HTML-safe JSON (which is what the engine
//     writes); any other payload, and any error, goes to json.Marshal, which
//     compacts it or reports the error.
//   - Decoding takes the common form only: an object with known, distinct,
//     exactly spelled keys, strings without escapes, integers, and no null.
//     Anything else (escapes, unknown or case-folded keys, duplicates,
//     nulls, invalid JSON) goes to json.Unmarshal, so the result and the
//     error are always json.Unmarshal's.
//
// The tests compare both directions with encoding/json for every event type
// and fuzz the decoder against it.

// MarshalEnvelope appends the JSON of e to dst: the bytes json.Marshal(e)
// returns, and its error.
func MarshalEnvelope(dst []byte, e *Envelope) ([]byte, error) {
	if !e.writtenCanonical() && !canonicalPayload(e.Payload) {
		return marshalFallback(dst, e)
	}
	b, ok := appendEnvelope(dst, e, e.Payload, false)
	if !ok {
		return marshalFallback(dst, e)
	}
	return b, nil
}

// appendEnvelope writes e with payload, a canonical payload (see
// canonicalPayload), as json.Marshal(e) does, or (record) as the value of
// its record (see AppendRecordValue); ok is false when a time cannot be
// written, with dst then as it was.
func appendEnvelope(dst []byte, e *Envelope, payload []byte, record bool) ([]byte, bool) {
	n := len(dst)
	// The keys and punctuation (about 200 bytes), two times (up to 37
	// each) and the strings (escapes may add more).
	size := 320 + len(e.EventID) + len(e.Type) + len(e.AggregateKey) + len(e.BrandID) +
		len(e.CausationID) + len(e.CorrelationID) + len(payload)
	b := slices.Grow(dst, size)
	b = append(b, `{"event_id":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	if !record {
		b = append(b, `,"aggregate_key":`...)
		b = appendString(b, e.AggregateKey)
	}
	switch {
	case !record && e.BrandID != "",
		record && e.BrandID != BrandOfKey(e.Type, e.AggregateKey):
		b = append(b, `,"brand_id":`...)
		b = appendString(b, e.BrandID)
	}
	var ok bool
	b = append(b, `,"occurred_at":`...)
	if b, ok = appendTime(b, e.OccurredAt); !ok {
		return dst[:n], false
	}
	b = append(b, `,"recorded_at":`...)
	if b, ok = appendTime(b, e.RecordedAt); !ok {
		return dst[:n], false
	}
	if e.CausationID != "" {
		b = append(b, `,"causation_id":`...)
		b = appendString(b, e.CausationID)
	}
	if e.CorrelationID != "" {
		b = append(b, `,"correlation_id":`...)
		b = appendString(b, e.CorrelationID)
	}
	b = append(b, `,"payload":`...)
	if payload == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, payload...)
	}
	return append(b, '}'), true
}

func marshalFallback(dst []byte, v any) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, out...), nil
}

// MarshalPayload returns json.Marshal(p) (p a payload value or pointer),
// written by hand for the order events and attribution rows.
func MarshalPayload(p Event) ([]byte, error) {
	b, ok := appendPayload(make([]byte, 0, payloadSize(p)), p, false)
	if !ok {
		return json.Marshal(p)
	}
	return b, nil
}

// marshalNormalized returns the JSON of p's normalized form (nil lists
// written as [], see normalizer) without making the normalized copy for
// the hot types.
func marshalNormalized(p Event) ([]byte, error) {
	b, _, err := appendNormalized(nil, p)
	return b, err
}

// appendNormalized is marshalNormalized writing at the end of buf when buf
// is not nil: it returns the payload (buf's bytes, capacity clipped) and
// buf grown. Types without a hand encoder get a payload of their own.
func appendNormalized(buf []byte, p Event) (payload, grown []byte, err error) {
	if buf == nil {
		if b, ok := appendPayload(make([]byte, 0, payloadSize(p)), p, true); ok {
			return b, nil, nil
		}
	} else {
		start := len(buf)
		if b, ok := appendPayload(slices.Grow(buf, payloadSize(p)), p, true); ok {
			return b[start:len(b):len(b)], b, nil
		}
	}
	if n, ok := p.(normalizer); ok {
		p = n.normalized()
	}
	payload, err = json.Marshal(p)
	return payload, buf, err
}

// payloadSize guesses the size of a payload's JSON, so that it is written
// into one allocation.
func payloadSize(p Event) int {
	const row, candidate = 768, 256 // a row is ~650 bytes and ~250 a candidate
	switch v := p.(type) {
	case OrderAttributed:
		return row + candidate*len(v.Decision.Candidates)
	case OrderEarningsAdjusted:
		return row + candidate*len(v.Decision.Candidates)
	case OrderUnattributed:
		return 256 + candidate*len(v.Decision.Candidates)
	case *OrderAttributed, *OrderEarningsAdjusted, *OrderUnattributed:
		return 2 * row
	}
	return 256
}

// appendPayload appends the JSON of the hot payload types, with nil lists
// as [] when normalize is set (as normalizer does); ok is false for other
// types and for values encoding/json would refuse (a time it cannot
// write), which the caller hands to json.Marshal.
func appendPayload(b []byte, p Event, normalize bool) ([]byte, bool) {
	switch v := p.(type) {
	case OrderPlaced:
		return appendOrderPlaced(b, &v, normalize), true
	case *OrderPlaced:
		if v != nil {
			return appendOrderPlaced(b, v, normalize), true
		}
	case OrderConfirmed:
		return appendOrderIDs(b, v.OrderID, v.BrandID, v.ShopEventID, '}'), true
	case *OrderConfirmed:
		if v != nil {
			return appendOrderIDs(b, v.OrderID, v.BrandID, v.ShopEventID, '}'), true
		}
	case OrderCancelled:
		return appendOrderIDs(b, v.OrderID, v.BrandID, v.ShopEventID, '}'), true
	case *OrderCancelled:
		if v != nil {
			return appendOrderIDs(b, v.OrderID, v.BrandID, v.ShopEventID, '}'), true
		}
	case OrderRefunded:
		return appendOrderRefunded(b, &v), true
	case *OrderRefunded:
		if v != nil {
			return appendOrderRefunded(b, v), true
		}
	case OrderHoldExpired:
		return appendOrderHoldExpired(b, &v)
	case *OrderHoldExpired:
		if v != nil {
			return appendOrderHoldExpired(b, v)
		}
	case OrderAttributed:
		return appendAttribution(b, &v.Attribution, nil, normalize)
	case *OrderAttributed:
		if v != nil {
			return appendAttribution(b, &v.Attribution, nil, normalize)
		}
	case OrderEarningsAdjusted:
		return appendAttribution(b, &v.Attribution, &v.Cause, normalize)
	case *OrderEarningsAdjusted:
		if v != nil {
			return appendAttribution(b, &v.Attribution, &v.Cause, normalize)
		}
	case OrderUnattributed:
		return appendOrderUnattributed(b, &v, normalize)
	case *OrderUnattributed:
		if v != nil {
			return appendOrderUnattributed(b, v, normalize)
		}
	}
	return b, false
}

// appendOrderIDs writes the fields the shop's order events share, then
// closes the object with end ('}') or continues it (',').
func appendOrderIDs(b []byte, orderID, brandID, shopEventID string, end byte) []byte {
	b = append(b, `{"order_id":`...)
	b = appendString(b, orderID)
	b = append(b, `,"brand_id":`...)
	b = appendString(b, brandID)
	b = append(b, `,"shop_event_id":`...)
	b = appendString(b, shopEventID)
	return append(b, end)
}

func appendOrderPlaced(b []byte, p *OrderPlaced, normalize bool) []byte {
	b = appendOrderIDs(b, p.OrderID, p.BrandID, p.ShopEventID, ',')
	b = append(b, `"promo_codes":`...)
	b = appendStrings(b, p.PromoCodes, normalize)
	b = append(b, `,"amount":`...)
	b = appendString(b, p.Amount)
	b = append(b, `,"currency":`...)
	b = appendString(b, p.Currency)
	b = append(b, `,"country":`...)
	b = appendString(b, p.Country)
	return append(b, '}')
}

func appendOrderRefunded(b []byte, p *OrderRefunded) []byte {
	b = appendOrderIDs(b, p.OrderID, p.BrandID, p.ShopEventID, ',')
	b = append(b, `"refund_amount":`...)
	b = appendString(b, p.RefundAmount)
	return append(b, '}')
}

func appendOrderHoldExpired(b []byte, p *OrderHoldExpired) ([]byte, bool) {
	b = append(b, `{"order_id":`...)
	b = appendString(b, p.OrderID)
	b = append(b, `,"brand_id":`...)
	b = appendString(b, p.BrandID)
	b = append(b, `,"offer_id":`...)
	b = appendString(b, p.OfferID)
	b = append(b, `,"hold_days":`...)
	b = strconv.AppendInt(b, int64(p.HoldDays), 10)
	b = append(b, `,"hold_ends_at":`...)
	b, ok := appendTime(b, p.HoldEndsAt)
	return append(b, '}'), ok
}

// appendAttribution writes an Attribution's fields, then cause (for
// OrderEarningsAdjusted) when not nil.
func appendAttribution(b []byte, a *Attribution, cause *string, normalize bool) ([]byte, bool) {
	b = append(b, `{"order_id":`...)
	b = appendString(b, a.OrderID)
	b = append(b, `,"brand_id":`...)
	b = appendString(b, a.BrandID)
	b = append(b, `,"creator_id":`...)
	b = appendString(b, a.CreatorID)
	b = append(b, `,"offer_id":`...)
	b = appendString(b, a.OfferID)
	b = append(b, `,"offer_name":`...)
	b = appendString(b, a.OfferName)
	b = append(b, `,"request_id":`...)
	b = appendString(b, a.RequestID)
	b = append(b, `,"promo_code":`...)
	b = appendString(b, a.PromoCode)
	b = append(b, `,"platform":`...)
	b = appendString(b, a.Platform)
	b = append(b, `,"terms":{"type":`...)
	b = appendString(b, a.Terms.Type)
	b = append(b, `,"value":`...)
	b = appendString(b, a.Terms.Value)
	b = append(b, `,"currency":`...)
	b = appendString(b, a.Terms.Currency)
	b = append(b, `,"hold_days":`...)
	b = strconv.AppendInt(b, int64(a.Terms.HoldDays), 10)
	b = append(b, `},"amount":`...)
	b = appendString(b, a.Amount)
	b = append(b, `,"net_amount":`...)
	b = appendString(b, a.NetAmount)
	b = append(b, `,"currency":`...)
	b = appendString(b, a.Currency)
	b = append(b, `,"country":`...)
	b = appendString(b, a.Country)
	b = append(b, `,"status":`...)
	b = appendString(b, a.Status)
	b = append(b, `,"earnings":`...)
	b = appendString(b, a.Earnings)
	b = append(b, `,"earnings_currency":`...)
	b = appendString(b, a.EarningsCurrency)
	b = append(b, `,"placed_at":`...)
	b, ok1 := appendTime(b, a.PlacedAt)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, a.Version, 10)
	b = append(b, `,"decision":`...)
	b, ok2 := appendDecision(b, &a.Decision, normalize)
	b = append(b, `,"last_event_at":`...)
	b, ok3 := appendTime(b, a.LastEventAt)
	if cause != nil {
		b = append(b, `,"cause":`...)
		b = appendString(b, *cause)
	}
	return append(b, '}'), ok1 && ok2 && ok3
}

func appendOrderUnattributed(b []byte, u *OrderUnattributed, normalize bool) ([]byte, bool) {
	b = append(b, `{"order_id":`...)
	b = appendString(b, u.OrderID)
	b = append(b, `,"brand_id":`...)
	b = appendString(b, u.BrandID)
	b = append(b, `,"promo_codes":`...)
	b = appendStrings(b, u.PromoCodes, normalize)
	b = append(b, `,"reason":`...)
	b = appendString(b, u.Reason)
	b = append(b, `,"decision":`...)
	b, ok1 := appendDecision(b, &u.Decision, normalize)
	b = append(b, `,"amount":`...)
	b = appendString(b, u.Amount)
	b = append(b, `,"currency":`...)
	b = appendString(b, u.Currency)
	b = append(b, `,"country":`...)
	b = appendString(b, u.Country)
	b = append(b, `,"placed_at":`...)
	b, ok2 := appendTime(b, u.PlacedAt)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, u.Version, 10)
	return append(b, '}'), ok1 && ok2
}

func appendDecision(b []byte, d *Decision, normalize bool) ([]byte, bool) {
	b = append(b, `{"candidates":`...)
	if d.Candidates == nil && !normalize {
		return append(b, "null}"...), true
	}
	ok := true
	b = append(b, '[')
	for i := range d.Candidates {
		if i > 0 {
			b = append(b, ',')
		}
		c := &d.Candidates[i]
		b = append(b, `{"code":`...)
		b = appendString(b, c.Code)
		b = append(b, `,"normalized_code":`...)
		b = appendString(b, c.NormalizedCode)
		b = append(b, `,"outcome":`...)
		b = appendString(b, c.Outcome)
		if c.CreatorID != "" {
			b = append(b, `,"creator_id":`...)
			b = appendString(b, c.CreatorID)
		}
		if c.OfferID != "" {
			b = append(b, `,"offer_id":`...)
			b = appendString(b, c.OfferID)
		}
		if c.RequestID != "" {
			b = append(b, `,"request_id":`...)
			b = appendString(b, c.RequestID)
		}
		var tok bool
		if c.ActiveFrom != nil {
			b = append(b, `,"active_from":`...)
			b, tok = appendTime(b, *c.ActiveFrom)
			ok = ok && tok
		}
		if c.RevokedAt != nil {
			b = append(b, `,"revoked_at":`...)
			b, tok = appendTime(b, *c.RevokedAt)
			ok = ok && tok
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), ok
}

// appendStrings writes a []string as encoding/json does: null for nil,
// unless normalize.
func appendStrings(b []byte, ss []string, normalize bool) []byte {
	if ss == nil && !normalize {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendTime writes t as time.Time.MarshalJSON does; ok is false when it
// cannot (a year outside [0,9999], an offset of 24 hours or more).
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	out, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(out, '"'), true
}

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes encoding/json writes as they are in a
// string (with HTML escaping, its default).
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string exactly as encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// canonicalPayload reports whether json.Marshal would copy a raw payload
// unchanged: valid JSON, no whitespace outside strings, and no byte its
// HTML-safe compaction rewrites ('<', '>', '&', U+2028, U+2029). nil is
// written as null by both.
func canonicalPayload(p []byte) bool {
	if p == nil {
		return true
	}
	s := jsonscan.Scanner[[]byte]{Src: p}
	canonical, err := s.Skip(maxNesting)
	return err == nil && canonical && s.Pos == len(p)
}
