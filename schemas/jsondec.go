package schemas

import (
	"encoding/json"
	"time"
	"unicode/utf8"
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
	var seen uint32
	r := reader{b: data}
	ok := r.object(func(key []byte) bool {
		var bit uint32
		ok := false
		switch string(key) {
		case "event_id":
			bit, ok = envEventID, r.str(&t.EventID)
		case "type":
			bit, ok = envType, r.internedStr(&t.Type, eventTypeNames)
		case "schema_version":
			bit, ok = envSchemaVersion, r.int(&t.SchemaVersion)
		case "aggregate_key":
			bit, ok = envAggregateKey, r.str(&t.AggregateKey)
		case "brand_id":
			bit, ok = envBrandID, r.str(&t.BrandID)
		case "occurred_at":
			bit, ok = envOccurredAt, r.time(&t.OccurredAt)
		case "recorded_at":
			bit, ok = envRecordedAt, r.time(&t.RecordedAt)
		case "causation_id":
			bit, ok = envCausationID, r.str(&t.CausationID)
		case "correlation_id":
			bit, ok = envCorrelationID, r.str(&t.CorrelationID)
		case "payload":
			// Only an object: encoding/json hands other values to
			// RawMessage slightly differently (null).
			if r.i < len(r.b) && r.b[r.i] == '{' {
				end, _, valid := scanValue(r.b, r.i, 0)
				if valid {
					t.Payload = r.b[r.i:end:end]
					r.i = end
					bit, ok = envPayload, true
				}
			}
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}) && r.end()
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

// field records one field of an object as seen; false for a duplicate.
func field(seen *uint64, bit uint64) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func decodeOrderPlaced(data []byte, p *OrderPlaced) bool {
	var seen uint64
	r := reader{b: data}
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "order_id":
			return field(&seen, 1<<0) && r.str(&p.OrderID)
		case "brand_id":
			return field(&seen, 1<<1) && r.str(&p.BrandID)
		case "shop_event_id":
			return field(&seen, 1<<2) && r.str(&p.ShopEventID)
		case "promo_codes":
			return field(&seen, 1<<3) && r.strs(&p.PromoCodes)
		case "amount":
			return field(&seen, 1<<4) && r.str(&p.Amount)
		case "currency":
			return field(&seen, 1<<5) && r.internedStr(&p.Currency, nil)
		case "country":
			return field(&seen, 1<<6) && r.internedStr(&p.Country, nil)
		}
		return false
	}) && r.end()
}

// decodeOrderIDs decodes order.confirmed, order.cancelled and (with
// refund not nil) order.refunded.
func decodeOrderIDs(data []byte, orderID, brandID, shopEventID, refund *string) bool {
	var seen uint64
	r := reader{b: data}
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "order_id":
			return field(&seen, 1<<0) && r.str(orderID)
		case "brand_id":
			return field(&seen, 1<<1) && r.str(brandID)
		case "shop_event_id":
			return field(&seen, 1<<2) && r.str(shopEventID)
		case "refund_amount":
			return refund != nil && field(&seen, 1<<3) && r.str(refund)
		}
		return false
	}) && r.end()
}

func decodeOrderHoldExpired(data []byte, p *OrderHoldExpired) bool {
	var seen uint64
	r := reader{b: data}
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "order_id":
			return field(&seen, 1<<0) && r.str(&p.OrderID)
		case "brand_id":
			return field(&seen, 1<<1) && r.str(&p.BrandID)
		case "offer_id":
			return field(&seen, 1<<2) && r.str(&p.OfferID)
		case "hold_days":
			return field(&seen, 1<<3) && r.int(&p.HoldDays)
		case "hold_ends_at":
			return field(&seen, 1<<4) && r.time(&p.HoldEndsAt)
		}
		return false
	}) && r.end()
}

// decodeAttribution decodes order.attributed and (with cause not nil)
// order.earnings_adjusted.
func decodeAttribution(data []byte, a *Attribution, cause *string) bool {
	var seen uint64
	r := reader{b: data}
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "order_id":
			return field(&seen, 1<<0) && r.str(&a.OrderID)
		case "brand_id":
			return field(&seen, 1<<1) && r.str(&a.BrandID)
		case "creator_id":
			return field(&seen, 1<<2) && r.str(&a.CreatorID)
		case "offer_id":
			return field(&seen, 1<<3) && r.str(&a.OfferID)
		case "offer_name":
			return field(&seen, 1<<4) && r.str(&a.OfferName)
		case "request_id":
			return field(&seen, 1<<5) && r.str(&a.RequestID)
		case "promo_code":
			return field(&seen, 1<<6) && r.str(&a.PromoCode)
		case "platform":
			return field(&seen, 1<<7) && r.internedStr(&a.Platform, nil)
		case "terms":
			return field(&seen, 1<<8) && r.terms(&a.Terms)
		case "amount":
			return field(&seen, 1<<9) && r.str(&a.Amount)
		case "net_amount":
			return field(&seen, 1<<10) && r.str(&a.NetAmount)
		case "currency":
			return field(&seen, 1<<11) && r.internedStr(&a.Currency, nil)
		case "country":
			return field(&seen, 1<<12) && r.internedStr(&a.Country, nil)
		case "status":
			return field(&seen, 1<<13) && r.internedStr(&a.Status, nil)
		case "earnings":
			return field(&seen, 1<<14) && r.str(&a.Earnings)
		case "earnings_currency":
			return field(&seen, 1<<15) && r.internedStr(&a.EarningsCurrency, nil)
		case "placed_at":
			return field(&seen, 1<<16) && r.time(&a.PlacedAt)
		case "version":
			return field(&seen, 1<<17) && r.uint(&a.Version)
		case "decision":
			return field(&seen, 1<<18) && r.decision(&a.Decision)
		case "last_event_at":
			return field(&seen, 1<<19) && r.time(&a.LastEventAt)
		case "cause":
			return cause != nil && field(&seen, 1<<20) && r.internedStr(cause, eventTypeNames)
		}
		return false
	}) && r.end()
}

func decodeOrderUnattributed(data []byte, u *OrderUnattributed) bool {
	var seen uint64
	r := reader{b: data}
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "order_id":
			return field(&seen, 1<<0) && r.str(&u.OrderID)
		case "brand_id":
			return field(&seen, 1<<1) && r.str(&u.BrandID)
		case "promo_codes":
			return field(&seen, 1<<2) && r.strs(&u.PromoCodes)
		case "reason":
			return field(&seen, 1<<3) && r.internedStr(&u.Reason, nil)
		case "decision":
			return field(&seen, 1<<4) && r.decision(&u.Decision)
		case "amount":
			return field(&seen, 1<<5) && r.str(&u.Amount)
		case "currency":
			return field(&seen, 1<<6) && r.internedStr(&u.Currency, nil)
		case "country":
			return field(&seen, 1<<7) && r.internedStr(&u.Country, nil)
		case "placed_at":
			return field(&seen, 1<<8) && r.time(&u.PlacedAt)
		case "version":
			return field(&seen, 1<<9) && r.uint(&u.Version)
		}
		return false
	}) && r.end()
}

// reader reads the common form of JSON (see jsonenc.go). Each method
// returns false where the input leaves that form or is not valid JSON; the
// caller then gives up and asks encoding/json.
type reader struct {
	b []byte
	i int
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (r *reader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// object reads an object, calling value for each key with the reader at
// the key's value, which value must consume.
func (r *reader) object(value func(key []byte) bool) bool {
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '{' {
		return false
	}
	r.i++
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		return true
	}
	for {
		r.ws()
		key, ok := r.rawStr()
		if !ok {
			return false
		}
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return false
		}
		r.i++
		r.ws()
		if !value(key) {
			return false
		}
		r.ws()
		if r.i >= len(r.b) {
			return false
		}
		c := r.b[r.i]
		r.i++
		switch c {
		case ',':
		case '}':
			return true
		default:
			return false
		}
	}
}

// rawStr reads a string without escapes, of valid UTF-8, and returns its
// contents.
func (r *reader) rawStr() ([]byte, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	start := r.i + 1
	ascii := true
	for j := start; j < len(r.b); j++ {
		c := r.b[j]
		switch {
		case c == '"':
			s := r.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false // encoding/json replaces bad bytes
			}
			r.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (r *reader) str(dst *string) bool {
	s, ok := r.rawStr()
	if ok {
		*dst = string(s)
	}
	return ok
}

// internedStr reads a string that is usually one of a few values (names,
// commonValues when nil), sharing the one copy of a known value instead of
// allocating.
func (r *reader) internedStr(dst *string, names map[string]string) bool {
	s, ok := r.rawStr()
	if !ok {
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

func (r *reader) strs(dst *[]string) bool {
	if r.i >= len(r.b) || r.b[r.i] != '[' {
		return false
	}
	r.i++
	out := make([]string, 0, 2)
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		*dst = out
		return true
	}
	for {
		r.ws()
		var s string
		if !r.str(&s) {
			return false
		}
		out = append(out, s)
		r.ws()
		if r.i >= len(r.b) {
			return false
		}
		c := r.b[r.i]
		r.i++
		switch c {
		case ',':
		case ']':
			*dst = out
			return true
		default:
			return false
		}
	}
}

// digits reads the digits of a JSON integer (no fraction, no exponent, at
// most 18 digits so that it fits an int64 and a uint64).
func (r *reader) digits() (v uint64, ok bool) {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		v = v*10 + uint64(r.b[r.i]-'0')
		r.i++
	}
	n := r.i - start
	if n == 0 || n > 18 || (n > 1 && r.b[start] == '0') {
		return 0, false
	}
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return v, true
}

func (r *reader) int(dst *int) bool {
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	v, ok := r.digits()
	if !ok {
		return false
	}
	if neg {
		*dst = -int(v)
	} else {
		*dst = int(v)
	}
	return true
}

func (r *reader) uint(dst *uint64) bool {
	v, ok := r.digits()
	if ok {
		*dst = v
	}
	return ok
}

// time reads a time as time.Time.UnmarshalJSON does (which is what
// encoding/json calls, with the raw string).
func (r *reader) time(dst *time.Time) bool {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return false
	}
	end, _, ok := scanValue(r.b, r.i, 0)
	if !ok {
		return false
	}
	if err := dst.UnmarshalJSON(r.b[r.i:end]); err != nil {
		return false
	}
	r.i = end
	return true
}

func (r *reader) timePtr(dst **time.Time) bool {
	t := new(time.Time)
	if !r.time(t) {
		return false
	}
	*dst = t
	return true
}

func (r *reader) terms(t *Terms) bool {
	var seen uint64
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "type":
			return field(&seen, 1<<0) && r.internedStr(&t.Type, nil)
		case "value":
			return field(&seen, 1<<1) && r.internedStr(&t.Value, nil)
		case "currency":
			return field(&seen, 1<<2) && r.internedStr(&t.Currency, nil)
		case "hold_days":
			return field(&seen, 1<<3) && r.int(&t.HoldDays)
		}
		return false
	})
}

func (r *reader) decision(d *Decision) bool {
	var seen uint64
	return r.object(func(key []byte) bool {
		if string(key) != "candidates" || !field(&seen, 1) {
			return false
		}
		if r.i >= len(r.b) || r.b[r.i] != '[' {
			return false
		}
		r.i++
		d.Candidates = make([]Candidate, 0, 1)
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == ']' {
			r.i++
			return true
		}
		for {
			r.ws()
			d.Candidates = append(d.Candidates, Candidate{})
			if !r.candidate(&d.Candidates[len(d.Candidates)-1]) {
				return false
			}
			r.ws()
			if r.i >= len(r.b) {
				return false
			}
			c := r.b[r.i]
			r.i++
			switch c {
			case ',':
			case ']':
				return true
			default:
				return false
			}
		}
	})
}

func (r *reader) candidate(c *Candidate) bool {
	var seen uint64
	return r.object(func(key []byte) bool {
		switch string(key) {
		case "code":
			return field(&seen, 1<<0) && r.str(&c.Code)
		case "normalized_code":
			return field(&seen, 1<<1) && r.str(&c.NormalizedCode)
		case "outcome":
			return field(&seen, 1<<2) && r.internedStr(&c.Outcome, nil)
		case "creator_id":
			return field(&seen, 1<<3) && r.str(&c.CreatorID)
		case "offer_id":
			return field(&seen, 1<<4) && r.str(&c.OfferID)
		case "request_id":
			return field(&seen, 1<<5) && r.str(&c.RequestID)
		case "active_from":
			return field(&seen, 1<<6) && r.timePtr(&c.ActiveFrom)
		case "revoked_at":
			return field(&seen, 1<<7) && r.timePtr(&c.RevokedAt)
		}
		return false
	})
}

// scanValue checks the JSON value that starts at b[i] (no leading
// whitespace) and returns the index after it; canonical is false if the
// value has whitespace outside strings or a byte that json.Marshal's
// HTML-safe compaction rewrites. It is iterative (depth counts open
// objects and arrays) and refuses nesting deeper than encoding/json's.
func scanValue(b []byte, i, depth int) (end int, canonical, ok bool) {
	const maxDepth = 10000
	canonical = true
	var stack []byte // the open containers: '{' or '['
	for {
		// A value.
		if i >= len(b) {
			return 0, false, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth+len(stack) >= maxDepth {
				return 0, false, false
			}
			stack = append(stack, c)
			i++
			j := skipWS(b, i)
			if j != i {
				canonical = false
			}
			i = j
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				var can bool
				if i, can, ok = scanKey(b, i); !ok {
					return 0, false, false
				}
				canonical = canonical && can
			}
			continue
		case c == '"':
			var can bool
			if i, can, ok = scanString(b, i); !ok {
				return 0, false, false
			}
			canonical = canonical && can
		case c == '-' || c >= '0' && c <= '9':
			if i, ok = scanNumber(b, i); !ok {
				return 0, false, false
			}
		case c == 't':
			if i, ok = scanLiteral(b, i, "true"); !ok {
				return 0, false, false
			}
		case c == 'f':
			if i, ok = scanLiteral(b, i, "false"); !ok {
				return 0, false, false
			}
		case c == 'n':
			if i, ok = scanLiteral(b, i, "null"); !ok {
				return 0, false, false
			}
		default:
			return 0, false, false
		}
		// After a value: close containers or go on to the next value.
		for {
			if len(stack) == 0 {
				return i, canonical, true
			}
			j := skipWS(b, i)
			if j != i {
				canonical = false
			}
			i = j
			if i >= len(b) {
				return 0, false, false
			}
			top := stack[len(stack)-1]
			c := b[i]
			i++
			if c == ',' {
				j := skipWS(b, i)
				if j != i {
					canonical = false
				}
				i = j
				if top == '{' {
					var can bool
					if i, can, ok = scanKey(b, i); !ok {
						return 0, false, false
					}
					canonical = canonical && can
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				stack = stack[:len(stack)-1]
				continue
			}
			return 0, false, false
		}
	}
}

// scanKey reads an object key and its colon, and the whitespace after it.
func scanKey(b []byte, i int) (end int, canonical, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	i, canonical, ok = scanString(b, i)
	if !ok {
		return 0, false, false
	}
	j := skipWS(b, i)
	if j != i {
		canonical = false
	}
	if j >= len(b) || b[j] != ':' {
		return 0, false, false
	}
	j++
	k := skipWS(b, j)
	if k != j {
		canonical = false
	}
	return k, canonical, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString checks the string at b[i] == '"' as encoding/json's scanner
// does (escapes; no control characters; any other bytes).
func scanString(b []byte, i int) (end int, canonical, ok bool) {
	canonical = true
	for i++; i < len(b); i++ {
		for i < len(b) && plainInString[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, canonical, true
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				i += 4
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		case c == '<' || c == '>' || c == '&':
			canonical = false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
			canonical = false
		}
	}
	return 0, false, false
}

// plainInString marks the bytes scanString passes without a look: all but
// the quote, the backslash, control characters and the bytes HTML-safe
// compaction rewrites (or starts a rewrite at).
var plainInString = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c != 0xE2
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber checks a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	return i, true
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}
