package schemas

import "github.com/attrib-engine/attrib/promocode"

// stringKind is a named kind of string field, used in `schema` struct tags:
// the JSON Schema constraints its fields get, and the message a field that
// breaks them reports.
type stringKind struct {
	pattern   string
	format    string
	minLength int
	maxLength int
	message   string
}

// Patterns of the string kinds. Money and percent values are non-negative
// decimal strings; no amount in the log is signed (a refund is its own
// event with a positive refund_amount).
const (
	decimalPattern   = `^[0-9]+(\.[0-9]+)?$`
	currencyPattern  = `^[A-Z]{3}$`
	countryPattern   = `^[A-Z]{2}$`
	platformPattern  = `^[a-z0-9_]+$`
	sha256Pattern    = `^[0-9a-f]{64}$`
	eventTypePattern = `^[a-z_]+\.[a-z_]+$`
)

// stringKinds are the kinds a `schema` tag may name.
var stringKinds = map[string]stringKind{
	"id":         {minLength: 1},
	"name":       {minLength: 1},
	"decimal":    {pattern: decimalPattern, message: `must be a non-negative decimal string such as "2500.00"`},
	"currency":   {pattern: currencyPattern, message: "must be an ISO 4217 currency code (3 upper-case letters)"},
	"country":    {pattern: countryPattern, message: "must be an ISO 3166-1 alpha-2 country code (2 upper-case letters)"},
	"platform":   {pattern: platformPattern, message: "must be a platform name of lowercase letters, digits and _"},
	"sha256":     {pattern: sha256Pattern, message: "must be a hex SHA-256 (64 lowercase hex digits)"},
	"event_type": {pattern: eventTypePattern, message: `must be an event type such as "order.refunded"`},
	"email":      {format: "email", minLength: 1},
	// A promo code as a shop sent it: any text, bounded as promocode.Stored
	// bounds it.
	"promo_code": {maxLength: promocode.MaxStoredLen},
}

// patternMessages maps a pattern to the message of its kind.
var patternMessages = func() map[string]string {
	m := make(map[string]string, len(stringKinds))
	for _, k := range stringKinds {
		if k.pattern != "" {
			m[k.pattern] = k.message
		}
	}
	return m
}()
