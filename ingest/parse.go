package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/internal/jsonscan"
	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// Limits of a webhook body.
const (
	// MaxEvents is the most events one request may carry.
	MaxEvents = 1000
	// MaxIDLen is the longest event_id and order_id, in characters.
	MaxIDLen = 200
	// MaxPromoCodes is the most promo codes one order may carry.
	MaxPromoCodes = 20
	// MaxPromoCodeLen is the longest promo code text the log keeps, in
	// characters; a longer one is cut (promocode.Stored), never refused.
	MaxPromoCodeLen = promocode.MaxStoredLen
	// maxDepth bounds the nesting of the unknown fields the parser skips.
	maxDepth = 64
)

// earliestOccurredAt is the earliest occurred_at accepted: anything before
// is a broken clock or a zero value.
var earliestOccurredAt = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// shopEvent is one validated event of a webhook body.
type shopEvent struct {
	EventID    string
	Type       string
	OrderID    string
	OccurredAt time.Time
	// order.placed only.
	PromoCodes []string
	Amount     string
	Currency   string
	Country    string
	// order.refunded only.
	RefundAmount string
}

// fieldError is bad input: the field it is about (a path such as
// "events[3].amount", "" for the body as a whole) and what is wrong.
type fieldError struct {
	field   string
	message string
}

func (e *fieldError) Error() string { return e.message }

// badField makes a fieldError whose message starts with the field's path.
func badField(field, format string, args ...any) *fieldError {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &fieldError{field: field, message: msg}
}

// scanner reads a webhook body.
type scanner = jsonscan.Scanner[string]

// syntaxError reports err at the scanner's position as bad input of field
// ("" for the body as a whole); a *fieldError is returned as it is.
func syntaxError(p *scanner, field string, err error) *fieldError {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe
	}
	where := field
	if where == "" {
		where = "body"
	}
	return &fieldError{field: field, message: where + ": invalid JSON at byte " + strconv.Itoa(p.Pos) + ": " + err.Error()}
}

// memberName returns the text of a member's name as jsonscan's Object
// passes it. An unpaired surrogate in a name cannot match a known member:
// such a name is "".
func memberName(name string, escaped bool) string {
	if escaped {
		name, _ = jsonscan.Unescape(name)
	}
	return name
}

// parseBody parses and validates a webhook body: one event object, or an
// object whose "events" member is an array of 1 to MaxEvents events, in a
// single pass that names every bad field precisely. Unknown members
// are tolerated at every level, but must be valid JSON; known members must
// have the right type and format; a member known to this parser may not
// appear twice in one object (a signed body must not mean two things to two
// parsers). The first bad event (in body order) and its first bad field (in
// the contract's order) is reported; nothing of a bad body is returned.
func parseBody(body string) ([]shopEvent, *fieldError) {
	if !utf8.ValidString(body) {
		return nil, badField("", "body: not valid UTF-8")
	}
	p := scanner{Src: body}
	p.SkipSpace()
	if p.Pos == len(body) {
		return nil, badField("", `body: empty; one event, or {"events": [...]}, is required`)
	}
	if body[p.Pos] != '{' {
		start := p.Pos
		if _, err := p.Skip(maxDepth); err != nil {
			return nil, syntaxError(&p, "", err)
		}
		return nil, badField("", `body: must be a JSON object (one event, or {"events": [...]}), got %s`, kindOf(body[start:]))
	}
	var (
		fields    eventFields
		events    []shopEvent
		sawEvents bool
	)
	err := p.Object(func(key string, escaped bool) error {
		key = memberName(key, escaped)
		if key == "events" {
			if sawEvents {
				return badField("events", "appears more than once")
			}
			sawEvents = true
			var ferr *fieldError
			events, ferr = parseEvents(&p)
			if ferr != nil {
				return ferr
			}
			return nil
		}
		return fields.member(&p, key, single)
	})
	if err == nil {
		err = p.End()
	}
	if err != nil {
		return nil, syntaxError(&p, "", err)
	}
	if sawEvents {
		return events, nil
	}
	ev, ferr := fields.event(body, single)
	if ferr != nil {
		return nil, ferr
	}
	return []shopEvent{ev}, nil
}

// parseEvents parses the array of the "events" member.
func parseEvents(p *scanner) ([]shopEvent, *fieldError) {
	start := p.Pos
	if p.Pos >= len(p.Src) || p.Src[p.Pos] != '[' {
		if _, err := p.Skip(maxDepth); err != nil {
			return nil, syntaxError(p, "events", err)
		}
		return nil, badField("events", "must be an array of 1 to %d events, got %s", MaxEvents, kindOf(p.Src[start:]))
	}
	// Sized for events of about 150 bytes; more just grow it.
	events := make([]shopEvent, 0, min(MaxEvents, (len(p.Src)-start)/150+1))
	n := 0
	err := p.Array(func() error {
		if n == MaxEvents {
			return badField("events", "more than %d events; send at most %d per request", MaxEvents, MaxEvents)
		}
		at := eventPath(n)
		n++
		if p.Src[p.Pos] != '{' {
			vs := p.Pos
			if _, err := p.Skip(maxDepth); err != nil {
				return syntaxError(p, at.String(), err)
			}
			return badField(at.String(), "must be an event object, got %s", kindOf(p.Src[vs:]))
		}
		var fields eventFields
		if err := p.Object(func(key string, escaped bool) error {
			return fields.member(p, memberName(key, escaped), at)
		}); err != nil {
			if _, ok := err.(*fieldError); ok {
				return err
			}
			return syntaxError(p, at.String(), err)
		}
		ev, ferr := fields.event(p.Src, at)
		if ferr != nil {
			return ferr
		}
		events = append(events, ev)
		return nil
	})
	if err != nil {
		if fe, ok := err.(*fieldError); ok {
			return nil, fe
		}
		return nil, syntaxError(p, "events", err)
	}
	if len(events) == 0 {
		return nil, badField("events", "must hold at least 1 event")
	}
	return events, nil
}

// eventPath names where an event is in the body: its index in "events",
// or single for a body that is one event.
type eventPath int

// single is the path of the event of a one-event body.
const single eventPath = -1

// String returns "events[i]", or "" for single.
func (at eventPath) String() string {
	if at == single {
		return ""
	}
	return "events[" + strconv.Itoa(int(at)) + "]"
}

// member returns the path of one member of the event.
func (at eventPath) member(name string) path { return path{at: at, name: name, item: -1} }

// path names a member of an event, or an item of an array member; its
// string is built only for an error message.
type path struct {
	at   eventPath
	name string
	item int // -1: the member itself
}

// String returns "events[3].promo_codes[1]", or "promo_codes[1]" in a
// one-event body.
func (p path) String() string {
	s := p.name
	if p.at != single {
		s = p.at.String() + "." + s
	}
	if p.item >= 0 {
		s += "[" + strconv.Itoa(p.item) + "]"
	}
	return s
}

// bad makes the fieldError of p.
func (p path) bad(format string, args ...any) *fieldError {
	return badField(p.String(), format, args...)
}

// Members of an event, in the order the contract lists them (and the order
// in which their errors are reported).
const (
	fEventID = iota
	fType
	fOrderID
	fOccurredAt
	fPromoCodes
	fCurrency // before amount: the amount's precision depends on it
	fAmount
	fCountry
	fRefundAmount
	nFields
)

// fieldIndex returns the index of a known member name, or -1.
func fieldIndex(key string) int {
	switch key {
	case "event_id":
		return fEventID
	case "type":
		return fType
	case "order_id":
		return fOrderID
	case "occurred_at":
		return fOccurredAt
	case "promo_codes":
		return fPromoCodes
	case "currency":
		return fCurrency
	case "amount":
		return fAmount
	case "country":
		return fCountry
	case "refund_amount":
		return fRefundAmount
	}
	return -1
}

// eventFields records where each known member's value lies in the body;
// end == 0 means absent.
type eventFields struct {
	start, end [nFields]int
}

// member skips the value of member key, recording its place when it is a
// known one.
func (f *eventFields) member(p *scanner, key string, at eventPath) error {
	idx := fieldIndex(key)
	start := p.Pos
	if _, err := p.Skip(maxDepth); err != nil {
		return err
	}
	if idx < 0 {
		return nil
	}
	if f.end[idx] != 0 {
		return at.member(key).bad("appears more than once")
	}
	f.start[idx], f.end[idx] = start, p.Pos
	return nil
}

// event validates the recorded members as one event.
func (f *eventFields) event(s string, at eventPath) (shopEvent, *fieldError) {
	var ev shopEvent
	var err *fieldError
	raw := func(i int) string {
		if f.end[i] == 0 {
			return ""
		}
		return s[f.start[i]:f.end[i]]
	}
	if ev.EventID, err = idValue(raw(fEventID), at.member("event_id")); err != nil {
		return ev, err
	}
	typ, err := stringValue(raw(fType), at.member("type"), true)
	if err != nil {
		return ev, err
	}
	switch typ {
	case schemas.TypeOrderPlaced:
		ev.Type = schemas.TypeOrderPlaced
	case schemas.TypeOrderConfirmed:
		ev.Type = schemas.TypeOrderConfirmed
	case schemas.TypeOrderCancelled:
		ev.Type = schemas.TypeOrderCancelled
	case schemas.TypeOrderRefunded:
		ev.Type = schemas.TypeOrderRefunded
	default:
		return ev, at.member("type").bad("must be one of order.placed, order.confirmed, order.cancelled, order.refunded, got %q", typ)
	}
	if ev.OrderID, err = idValue(raw(fOrderID), at.member("order_id")); err != nil {
		return ev, err
	}
	when, err := stringValue(raw(fOccurredAt), at.member("occurred_at"), true)
	if err != nil {
		return ev, err
	}
	t, perr := time.Parse(time.RFC3339, when)
	if perr != nil {
		return ev, at.member("occurred_at").bad(`must be an RFC 3339 time such as "2026-11-24T10:00:00Z", got %q`, when)
	}
	if t.Before(earliestOccurredAt) {
		return ev, at.member("occurred_at").bad("must not be before 1970, got %q", when)
	}
	ev.OccurredAt = t

	switch ev.Type {
	case schemas.TypeOrderPlaced:
		if ev.PromoCodes, err = promoCodes(raw(fPromoCodes), at.member("promo_codes")); err != nil {
			return ev, err
		}
		if ev.Currency, err = stringValue(raw(fCurrency), at.member("currency"), true); err != nil {
			return ev, err
		}
		if !money.ValidCurrency(ev.Currency) {
			return ev, at.member("currency").bad("must be an ISO 4217 currency code (3 upper-case letters), got %q", ev.Currency)
		}
		if ev.Amount, err = stringValue(raw(fAmount), at.member("amount"), true); err != nil {
			return ev, err
		}
		if _, perr := money.Parse(ev.Amount, ev.Currency); perr != nil {
			return ev, at.member("amount").bad("%s", moneyMessage(perr))
		}
		if ev.Country, err = stringValue(raw(fCountry), at.member("country"), true); err != nil {
			return ev, err
		}
		if !validCountry(ev.Country) {
			return ev, at.member("country").bad("must be an ISO 3166-1 alpha-2 country code (2 upper-case letters), got %q", ev.Country)
		}
	case schemas.TypeOrderRefunded:
		if ev.RefundAmount, err = stringValue(raw(fRefundAmount), at.member("refund_amount"), true); err != nil {
			return ev, err
		}
		// The order's currency is not on the refund: its precision is
		// checked against the most any currency has; the attribution
		// worker knows the order's currency.
		d, perr := money.ParseDecimal(ev.RefundAmount, money.MaxMinorUnits)
		if perr != nil {
			return ev, at.member("refund_amount").bad("%s", moneyMessage(perr))
		}
		if d.Sign() <= 0 {
			return ev, at.member("refund_amount").bad("must be positive, got %q", ev.RefundAmount)
		}
	}
	return ev, nil
}

// moneyMessage is a money parse error without its "invalid amount: "
// prefix, which the field name replaces.
func moneyMessage(err error) string {
	return strings.TrimPrefix(err.Error(), money.ErrInvalid.Error()+": ")
}

// validCountry reports whether s has the shape of an ISO 3166-1 alpha-2
// code: two upper-case ASCII letters.
func validCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// stringValue returns the string a member's raw JSON holds; absent or null
// is an error when required, "" otherwise.
func stringValue(raw string, field path, required bool) (string, *fieldError) {
	if raw == "" || raw == "null" {
		if required {
			return "", field.bad("is required")
		}
		return "", nil
	}
	if raw[0] != '"' {
		return "", field.bad("must be a string, got %s", kindOf(raw))
	}
	s, ok := jsonscan.Unescape(raw[1 : len(raw)-1])
	if !ok {
		return "", field.bad("must be a string of valid Unicode (it has an unpaired surrogate escape)")
	}
	return s, nil
}

// idValue returns an id member: a required string of 1 to MaxIDLen
// characters, not blank, without control characters.
func idValue(raw string, field path) (string, *fieldError) {
	s, err := stringValue(raw, field, true)
	if err != nil {
		return "", err
	}
	return s, checkText(s, field, MaxIDLen)
}

// checkText refuses texts that are blank, too long or hold control
// characters.
func checkText(s string, field path, maxLen int) *fieldError {
	if strings.TrimSpace(s) == "" {
		return field.bad("must not be empty")
	}
	if len(s) > maxLen && utf8.RuneCountInString(s) > maxLen {
		return field.bad("must be at most %d characters, got %d", maxLen, utf8.RuneCountInString(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return field.bad("must not contain control characters")
		}
	}
	return nil
}

// promoCodes returns the promo_codes member: an array of at most
// MaxPromoCodes strings; absent or null is no codes. A code's text is never
// an error: it is kept as sent (promocode.Stored bounds its length), and
// one that matches no code makes the order unattributed, not the event
// refused. An unpaired surrogate escape in it becomes U+FFFD.
func promoCodes(raw string, field path) ([]string, *fieldError) {
	if raw == "" || raw == "null" {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, field.bad("must be an array of strings, got %s", kindOf(raw))
	}
	p := scanner{Src: raw}
	var codes []string
	err := p.Array(func() error {
		item := field
		item.item = len(codes)
		if len(codes) == MaxPromoCodes {
			return field.bad("more than %d codes", MaxPromoCodes)
		}
		start := p.Pos
		if _, err := p.Skip(maxDepth); err != nil {
			return err // unreachable: the whole body was scanned already
		}
		s, ferr := codeValue(raw[start:p.Pos], item)
		if ferr != nil {
			return ferr
		}
		codes = append(codes, promocode.Stored(s))
		return nil
	})
	if err != nil {
		if fe, ok := err.(*fieldError); ok {
			return nil, fe
		}
		return nil, field.bad("invalid JSON: %v", err)
	}
	if codes == nil {
		codes = []string{}
	}
	return codes, nil
}

// codeValue returns the text of one promo code: a string, whose unpaired
// surrogate escapes become U+FFFD.
func codeValue(raw string, field path) (string, *fieldError) {
	if raw == "null" {
		return "", field.bad("must be a string, got null")
	}
	s, ferr := stringValue(raw, field, true)
	if ferr == nil || raw[0] != '"' {
		return s, ferr
	}
	return lenientString(raw, field)
}

// lenientString decodes the JSON string raw as encoding/json does, with
// U+FFFD for what jsonscan refuses (unpaired surrogates). It is apart from
// codeValue so that only this rare path allocates its result.
func lenientString(raw string, field path) (string, *fieldError) {
	var s string
	// The body was scanned already, so this is a well-formed string.
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", field.bad("must be a string: %v", err)
	}
	return s, nil
}

// kindOf names the JSON type of the value raw starts with, for messages.
func kindOf(raw string) string {
	if raw == "" {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
