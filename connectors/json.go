package connectors

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// Bounds shared with the engine's own webhook (package ingest).
const (
	maxIDLen      = 200
	maxPromoCodes = 20
)

// text is a JSON string or number kept as its text, so that an id beyond
// 2^53 or an amount sent as a number never passes through a float. null
// or absent leaves it unset.
type text struct {
	s      string
	set    bool
	number bool
}

var textType = reflect.TypeOf(text{})

// UnmarshalJSON keeps a string's value or a number's text.
func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text{s: s, set: true}
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*t = text{s: string(b), set: true, number: true}
		return nil
	}
	return &json.UnmarshalTypeError{Value: kindOf(b), Type: textType}
}

func kindOf(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "value"
}

// decode reads body into v, naming the field of a value of the wrong type.
// Unknown members are ignored: platforms add fields all the time.
func decode(body []byte, v any) *FieldError {
	if !utf8.Valid(body) {
		return bad("", "body: not valid UTF-8")
	}
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return bad("", "body: empty; the platform's JSON is required")
	}
	if trimmed[0] != '{' {
		return bad("", "body: must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return bad("", "body: invalid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			want := te.Type.String()
			switch te.Type {
			case textType:
				want = "a string or a number"
			case reflect.TypeOf(""):
				want = "a string"
			case reflect.TypeOf(false):
				want = "a boolean"
			}
			return bad(te.Field, "must be %s, got %s", want, te.Value)
		}
		return bad("", "body: %v", err)
	}
	return nil
}

// orderID checks an order's (or a refund's) id: a string, or an integer
// number kept exactly as sent, 1 to maxIDLen characters without control
// characters.
func orderID(t text, field string) (string, *FieldError) {
	if !t.set || strings.TrimSpace(t.s) == "" {
		return "", bad(field, "is required")
	}
	if t.number && strings.Trim(t.s, "0123456789") != "" {
		return "", bad(field, "must be an integer or a string, got %s", t.s)
	}
	if utf8.RuneCountInString(t.s) > maxIDLen {
		return "", bad(field, "must be at most %d characters", maxIDLen)
	}
	for _, r := range t.s {
		if r < 0x20 || r == 0x7f {
			return "", bad(field, "must not contain control characters")
		}
	}
	return t.s, nil
}

// amount reads a non-negative decimal (a string or a number) with at most
// money.MaxMinorUnits fraction digits.
func amount(t text, field string) (decimal.Decimal, *FieldError) {
	if !t.set {
		return decimal.Decimal{}, bad(field, "is required")
	}
	s := t.s
	neg := strings.HasPrefix(s, "-")
	d, err := money.ParseDecimal(strings.TrimPrefix(s, "-"), money.MaxMinorUnits)
	if err != nil {
		return decimal.Decimal{}, bad(field, "must be a decimal amount such as \"25.00\", got %q", s)
	}
	if neg {
		d = d.Neg()
	}
	return d, nil
}

// placedTime reads a time with its offset (RFC 3339), or a time without
// one, which is UTC (WooCommerce's *_gmt fields).
func placedTime(s, field string) (time.Time, *FieldError) {
	if s == "" {
		return time.Time{}, bad(field, "is required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, nil
	}
	return time.Time{}, bad(field, "must be a time such as \"2026-11-24T10:00:00+03:00\", got %q", s)
}

// laterTime reads the time of a later state: the first of fields that
// holds a time, else fallback.
func laterTime(fallback time.Time, values ...string) time.Time {
	for _, v := range values {
		if t, err := placedTime(v, ""); err == nil {
			return t
		}
	}
	return fallback
}

// currency checks a shop currency code.
func currency(s, field string) (string, *FieldError) {
	if !money.ValidCurrency(s) {
		return "", bad(field, "must be an ISO 4217 currency code (3 upper-case letters), got %q", s)
	}
	return s, nil
}

// countryOf returns the first of codes that is an ISO 3166-1 alpha-2 code
// (upper-cased), else schemas.UnknownCountry: an order without an address
// (digital goods, a point of sale) is still an order.
func countryOf(codes ...string) string {
	for _, c := range codes {
		c = strings.ToUpper(strings.TrimSpace(c))
		if len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' {
			return c
		}
	}
	return schemas.UnknownCountry
}

// promoCodes keeps the codes as sent, in order, through promocode.Stored;
// blank ones are dropped, and past maxPromoCodes the rest (a platform's
// order is never refused for its codes).
func promoCodes(codes []string) []string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if strings.TrimSpace(c) == "" || len(out) == maxPromoCodes {
			continue
		}
		out = append(out, promocode.Stored(c))
	}
	return out
}

// placeAmount checks a placement's amount in its currency and formats it
// with the currency's minor digits.
func placeAmount(d decimal.Decimal, cur, field string) (string, *FieldError) {
	if d.Sign() < 0 {
		return "", bad(field, "must not be negative, got %s", d)
	}
	s := money.FromDecimal(d, cur).String()
	if _, err := money.Parse(s, cur); err != nil {
		return "", bad(field, "%v", err)
	}
	return s, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
