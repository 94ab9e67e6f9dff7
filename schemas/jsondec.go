package schemas

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/internal/jsonscan"
)

// UnmarshalEnvelope decodes data into e as json.Unmarshal(data, e) does,
// with the same result and error, except that e.Payload shares data's
// memory instead of copying it: data must not change while e is in use.
func UnmarshalEnvelope(data []byte, e *Envelope) error {
	if decodeEnvelopeFast(data, e) {
		return nil
	}
	return json.Unmarshal(data, e)
}

// UnmarshalPayload decodes a payload into ev, a pointer to a zero value of
// a payload type (as Decode returns), as json.Unmarshal(data, ev) does,
// with the same result and error; by hand for the order events and
// attribution rows. (Into a value that is not zero, encoding/json would
// merge lists of structs element by element; this does not.)
func UnmarshalPayload(data []byte, ev Event) error {
	if decodePayloadFast(data, ev) {
		return nil
	}
	return json.Unmarshal(data, ev)
}

// Envelope fields, as bits of the set of fields seen.
const (
	envEventID = 1 << iota
	envType
	envSchemaVersion
	envAggregateKey
	envBrandID
	envOccurredAt
	envRecordedAt
	envCausationID
	envCorrelationID
	envPayload
)

// decodeEnvelopeFast decodes the common form of an envelope (see
// jsonenc.go); false leaves e untouched and means "ask encoding/json". Like
// json.Unmarshal, it sets only the fields present.
func decodeEnvelopeFast(data []byte, e *Envelope) bool {
	var t Envelope
	seen, ok := decodeEnvelopeMembers(data, &t)
	if !ok {
		return false
	}
	if seen == 1<<10-1 {
		*e = t
		return true
	}
	if seen&envEventID != 0 {
		e.EventID = t.EventID
	}
	if seen&envType != 0 {
		e.Type = t.Type
	}
	if seen&envSchemaVersion != 0 {
		e.SchemaVersion = t.SchemaVersion
	}
	if seen&envAggregateKey != 0 {
		e.AggregateKey = t.AggregateKey
	}
	if seen&envBrandID != 0 {
		e.BrandID = t.BrandID
	}
	if seen&envOccurredAt != 0 {
		e.OccurredAt = t.OccurredAt
	}
	if seen&envRecordedAt != 0 {
		e.RecordedAt = t.RecordedAt
	}
	if seen&envCausationID != 0 {
		e.CausationID = t.CausationID
	}
	if seen&envCorrelationID != 0 {
		e.CorrelationID = t.CorrelationID
	}
	if seen&envPayload != 0 {
		e.Payload = t.Payload
	}
	return true
}

// decodeEnvelopeMembers decodes the common form of an envelope into t (a
// zero envelope) and returns the members it held, as env* bits; false
// means "ask encoding/json".
func decodeEnvelopeMembers(data []byte, t *Envelope) (members, bool) {
	var seen members
	r := newReader(data)
	ok := r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "event_id":
			return seen.read(envEventID, r.str(&t.EventID))
		case "type":
			return seen.read(envType, r.internedStr(&t.Type, eventTypeNames))
		case "schema_version":
			return seen.read(envSchemaVersion, r.int(&t.SchemaVersion))
		case "aggregate_key":
			return seen.read(envAggregateKey, r.str(&t.AggregateKey))
		case "brand_id":
			return seen.read(envBrandID, r.str(&t.BrandID))
		case "occurred_at":
			return seen.read(envOccurredAt, r.time(&t.OccurredAt))
		case "recorded_at":
			return seen.read(envRecordedAt, r.time(&t.RecordedAt))
		case "causation_id":
			return seen.read(envCausationID, r.str(&t.CausationID))
		case "correlation_id":
			return seen.read(envCorrelationID, r.str(&t.CorrelationID))
		case "payload":
			return seen.read(envPayload, r.payload(&t.Payload))
		}
		return errUncommon
	})
	return seen, ok
}

// eventTypeNames are the event types, so that decoding an envelope's type
// does not allocate.
var eventTypeNames = func() map[string]string {
	m := make(map[string]string, len(specs))
	for t := range specs {
		m[t] = t
	}
	return m
}()

// commonValues are the values of enumerations and the usual currencies and
// countries.
var commonValues = func() map[string]string {
	m := make(map[string]string)
	for _, v := range []string{
		PayoutFixed, PayoutPercent, StatusPending, StatusApproved, StatusRejected,
		OutcomeWon, OutcomePassedOver, OutcomeUnknownCode, OutcomeCodeNotActive, OutcomeCodeRevoked, ReasonNoCode,
		"RUB", "USD", "EUR", "KZT", "BYN", "UAH", "GBP", "JPY", "CNY", "TRY",
		"RU", "KZ", "BY", "UA", "US", "DE", "GB", "FR", "TR", "CN", UnknownCountry,
	} {
		m[v] = v
	}
	return m
}()

// decodePayloadFast decodes the common form of a hot payload into a fresh
// (zero) value; false means "ask encoding/json", after resetting *ev.
func decodePayloadFast(data []byte, ev Event) bool {
	switch p := ev.(type) {
	case *OrderPlaced:
		return p != nil && fresh(p, decodeOrderPlaced(data, p))
	case *OrderConfirmed:
		return p != nil && fresh(p, decodeOrderIDs(data, &p.OrderID, &p.BrandID, &p.ShopEventID, nil))
	case *OrderCancelled:
		return p != nil && fresh(p, decodeOrderIDs(data, &p.OrderID, &p.BrandID, &p.ShopEventID, nil))
	case *OrderRefunded:
		return p != nil && fresh(p, decodeOrderIDs(data, &p.OrderID, &p.BrandID, &p.ShopEventID, &p.RefundAmount))
	case *OrderHoldExpired:
		return p != nil && fresh(p, decodeOrderHoldExpired(data, p))
	case *OrderAttributed:
		return p != nil && fresh(p, decodeAttribution(data, &p.Attribution, nil))
	case *OrderEarningsAdjusted:
		return p != nil && fresh(p, decodeAttribution(data, &p.Attribution, &p.Cause))
	case *OrderUnattributed:
		return p != nil && fresh(p, decodeOrderUnattributed(data, p))
	}
	return false
}

// fresh returns ok; when it is false it first resets *p to a zero value,
// which is what the fallback to encoding/json must start from (the fast
// decoders only run on fresh values).
func fresh[T any](p *T, ok bool) bool {
	if !ok {
		var zero T
		*p = zero
	}
	return ok
}

func decodeOrderPlaced(data []byte, p *OrderPlaced) bool {
	var seen members
	r := newReader(data)
	return r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "order_id":
			return seen.read(1<<0, r.str(&p.OrderID))
		case "brand_id":
			return seen.read(1<<1, r.str(&p.BrandID))
		case "shop_event_id":
			return seen.read(1<<2, r.str(&p.ShopEventID))
		case "promo_codes":
			return seen.read(1<<3, r.strs(&p.PromoCodes))
		case "amount":
			return seen.read(1<<4, r.str(&p.Amount))
		case "currency":
			return seen.read(1<<5, r.internedStr(&p.Currency, nil))
		case "country":
			return seen.read(1<<6, r.internedStr(&p.Country, nil))
		}
		return errUncommon
	})
}

// decodeOrderIDs decodes order.confirmed, order.cancelled and (with
// refund not nil) order.refunded.
func decodeOrderIDs(data []byte, orderID, brandID, shopEventID, refund *string) bool {
	var seen members
	r := newReader(data)
	return r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "order_id":
			return seen.read(1<<0, r.str(orderID))
		case "brand_id":
			return seen.read(1<<1, r.str(brandID))
		case "shop_event_id":
			return seen.read(1<<2, r.str(shopEventID))
		case "refund_amount":
			if refund != nil {
				return seen.read(1<<3, r.str(refund))
			}
		}
		return errUncommon
	})
}

func decodeOrderHoldExpired(data []byte, p *OrderHoldExpired) bool {
	var seen members
	r := newReader(data)
	return r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "order_id":
			return seen.read(1<<0, r.str(&p.OrderID))
		case "brand_id":
			return seen.read(1<<1, r.str(&p.BrandID))
		case "offer_id":
			return seen.read(1<<2, r.str(&p.OfferID))
		case "hold_days":
			return seen.read(1<<3, r.int(&p.HoldDays))
		case "hold_ends_at":
			return seen.read(1<<4, r.time(&p.HoldEndsAt))
		}
		return errUncommon
	})
}

// decodeAttribution decodes order.attributed and (with cause not nil)
// order.earnings_adjusted.
func decodeAttribution(data []byte, a *Attribution, cause *string) bool {
	var seen members
	r := newReader(data)
	return r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "order_id":
			return seen.read(1<<0, r.str(&a.OrderID))
		case "brand_id":
			return seen.read(1<<1, r.str(&a.BrandID))
		case "creator_id":
			return seen.read(1<<2, r.str(&a.CreatorID))
		case "offer_id":
			return seen.read(1<<3, r.str(&a.OfferID))
		case "offer_name":
			return seen.read(1<<4, r.str(&a.OfferName))
		case "request_id":
			return seen.read(1<<5, r.str(&a.RequestID))
		case "promo_code":
			return seen.read(1<<6, r.str(&a.PromoCode))
		case "platform":
			return seen.read(1<<7, r.internedStr(&a.Platform, nil))
		case "terms":
			return seen.read(1<<8, r.terms(&a.Terms))
		case "amount":
			return seen.read(1<<9, r.str(&a.Amount))
		case "net_amount":
			return seen.read(1<<10, r.str(&a.NetAmount))
		case "currency":
			return seen.read(1<<11, r.internedStr(&a.Currency, nil))
		case "country":
			return seen.read(1<<12, r.internedStr(&a.Country, nil))
		case "status":
			return seen.read(1<<13, r.internedStr(&a.Status, nil))
		case "earnings":
			return seen.read(1<<14, r.str(&a.Earnings))
		case "earnings_currency":
			return seen.read(1<<15, r.internedStr(&a.EarningsCurrency, nil))
		case "placed_at":
			return seen.read(1<<16, r.time(&a.PlacedAt))
		case "version":
			return seen.read(1<<17, r.uint(&a.Version))
		case "decision":
			return seen.read(1<<18, r.decision(&a.Decision))
		case "last_event_at":
			return seen.read(1<<19, r.time(&a.LastEventAt))
		case "cause":
			if cause != nil {
				return seen.read(1<<20, r.internedStr(cause, eventTypeNames))
			}
		}
		return errUncommon
	})
}

func decodeOrderUnattributed(data []byte, u *OrderUnattributed) bool {
	var seen members
	r := newReader(data)
	return r.document(func(key []byte, _ bool) error {
		switch string(key) {
		case "order_id":
			return seen.read(1<<0, r.str(&u.OrderID))
		case "brand_id":
			return seen.read(1<<1, r.str(&u.BrandID))
		case "promo_codes":
			return seen.read(1<<2, r.strs(&u.PromoCodes))
		case "reason":
			return seen.read(1<<3, r.internedStr(&u.Reason, nil))
		case "decision":
			return seen.read(1<<4, r.decision(&u.Decision))
		case "amount":
			return seen.read(1<<5, r.str(&u.Amount))
		case "currency":
			return seen.read(1<<6, r.internedStr(&u.Currency, nil))
		case "country":
			return seen.read(1<<7, r.internedStr(&u.Country, nil))
		case "placed_at":
			return seen.read(1<<8, r.time(&u.PlacedAt))
		case "version":
			return seen.read(1<<9, r.uint(&u.Version))
		}
		return errUncommon
	})
}

// errUncommon ends the reading of a value that leaves the common form (or
// is not valid JSON); the caller then asks encoding/json.
var errUncommon = errors.New("not the common form of the JSON")

// members is the set of the members of an object read so far, a bit each.
type members uint64

// read records the member of bit, whose value ok says was read in the
// common form; it returns errUncommon unless ok and the member is new.
func (m *members) read(bit uint64, ok bool) error {
	if !ok || uint64(*m)&bit != 0 {
		return errUncommon
	}
	*m |= members(bit)
	return nil
}

// reader reads the common form of JSON (see jsonenc.go). Each of its own
// methods returns false where the input leaves that form or is not valid
// JSON; the caller then gives up and asks encoding/json.
type reader struct {
	jsonscan.Scanner[[]byte]
}

func newReader(data []byte) reader {
	return reader{Scanner: jsonscan.Scanner[[]byte]{Src: data}}
}

// document reads the whole input as one object, calling member as
// jsonscan's Object does.
func (r *reader) document(member func(key []byte, escaped bool) error) bool {
	r.SkipSpace()
	return r.Object(member) == nil && r.End() == nil
}

func (r *reader) str(dst *string) bool {
	s, flags, err := r.Str()
	if err != nil || !plain(s, flags) {
		return false
	}
	*dst = string(s)
	return true
}

// internedStr reads a string that is usually one of a few values (names,
// commonValues when nil), sharing the one copy of a known value instead of
// allocating.
func (r *reader) internedStr(dst *string, names map[string]string) bool {
	s, flags, err := r.Str()
	if err != nil || !plain(s, flags) {
		return false
	}
	if names == nil {
		names = commonValues
	}
	if v, ok := names[string(s)]; ok {
		*dst = v
	} else {
		*dst = string(s)
	}
	return true
}

// plain reports whether a string is of the common form: without escapes,
// of valid UTF-8 (encoding/json replaces bad bytes).
func plain(s []byte, flags jsonscan.StringFlags) bool {
	return flags&jsonscan.Escaped == 0 && (flags&jsonscan.NonASCII == 0 || utf8.Valid(s))
}

func (r *reader) strs(dst *[]string) bool {
	out := make([]string, 0, 2)
	if r.Array(func() error {
		var s string
		if !r.str(&s) {
			return errUncommon
		}
		out = append(out, s)
		return nil
	}) != nil {
		return false
	}
	*dst = out
	return true
}

// integer reads an integer of the common form: no fraction, no exponent,
// at most 18 digits (so that it fits an int64 and a uint64).
func (r *reader) integer() (v uint64, negative, ok bool) {
	n, err := r.Number()
	if err != nil {
		return 0, false, false
	}
	if n[0] == '-' {
		negative, n = true, n[1:]
	}
	if len(n) > 18 {
		return 0, false, false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, negative, true
}

func (r *reader) int(dst *int) bool {
	v, negative, ok := r.integer()
	if !ok {
		return false
	}
	if negative {
		*dst = -int(v)
	} else {
		*dst = int(v)
	}
	return true
}

func (r *reader) uint(dst *uint64) bool {
	v, negative, ok := r.integer()
	if ok && !negative {
		*dst = v
	}
	return ok && !negative
}

// time reads a time as time.Time.UnmarshalJSON does (which is what
// encoding/json calls, with the raw string).
func (r *reader) time(dst *time.Time) bool {
	start := r.Pos
	if _, _, err := r.Str(); err != nil {
		return false
	}
	return dst.UnmarshalJSON(r.Src[start:r.Pos]) == nil
}

func (r *reader) timePtr(dst **time.Time) bool {
	t := new(time.Time)
	if !r.time(t) {
		return false
	}
	*dst = t
	return true
}

// payload reads an envelope's payload: only an object, since
// encoding/json hands other values to a RawMessage slightly differently
// (null). The payload shares the input's memory.
func (r *reader) payload(dst *json.RawMessage) bool {
	start := r.Pos
	if start >= len(r.Src) || r.Src[start] != '{' {
		return false
	}
	// The envelope around it is one level of encoding/json's limit.
	if _, err := r.Skip(maxNesting - 1); err != nil {
		return false
	}
	*dst = r.Src[start:r.Pos:r.Pos]
	return true
}

// maxNesting is encoding/json's limit on nested objects and arrays.
const maxNesting = 10000

func (r *reader) terms(t *Terms) bool {
	var seen members
	return r.Object(func(key []byte, _ bool) error {
		switch string(key) {
		case "type":
			return seen.read(1<<0, r.internedStr(&t.Type, nil))
		case "value":
			return seen.read(1<<1, r.internedStr(&t.Value, nil))
		case "currency":
			return seen.read(1<<2, r.internedStr(&t.Currency, nil))
		case "hold_days":
			return seen.read(1<<3, r.int(&t.HoldDays))
		}
		return errUncommon
	}) == nil
}

func (r *reader) decision(d *Decision) bool {
	var seen members
	return r.Object(func(key []byte, _ bool) error {
		if string(key) != "candidates" {
			return errUncommon
		}
		return seen.read(1, r.candidates(&d.Candidates))
	}) == nil
}

func (r *reader) candidates(dst *[]Candidate) bool {
	out := make([]Candidate, 0, 1)
	if r.Array(func() error {
		out = append(out, Candidate{})
		if !r.candidate(&out[len(out)-1]) {
			return errUncommon
		}
		return nil
	}) != nil {
		return false
	}
	*dst = out
	return true
}

func (r *reader) candidate(c *Candidate) bool {
	var seen members
	return r.Object(func(key []byte, _ bool) error {
		switch string(key) {
		case "code":
			return seen.read(1<<0, r.str(&c.Code))
		case "normalized_code":
			return seen.read(1<<1, r.str(&c.NormalizedCode))
		case "outcome":
			return seen.read(1<<2, r.internedStr(&c.Outcome, nil))
		case "creator_id":
			return seen.read(1<<3, r.str(&c.CreatorID))
		case "offer_id":
			return seen.read(1<<4, r.str(&c.OfferID))
		case "request_id":
			return seen.read(1<<5, r.str(&c.RequestID))
		case "active_from":
			return seen.read(1<<6, r.timePtr(&c.ActiveFrom))
		case "revoked_at":
			return seen.read(1<<7, r.timePtr(&c.RevokedAt))
		}
		return errUncommon
	}) == nil
}
