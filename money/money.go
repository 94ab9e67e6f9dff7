// Package money holds the engine's decimal money: parsing amounts from API
// and webhook input, the minor units of currencies, the one rounding rule,
// percent payouts and per-currency totals. Nothing here uses floating point;
// every value is a github.com/shopspring/decimal.Decimal.
package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/shopspring/decimal"
)

// MaxIntegerDigits is the most digits an amount may have before the decimal
// point (999 trillion and change: more than any order, and well inside
// ClickHouse's Decimal128 and JavaScript's exact integers of minor units).
const MaxIntegerDigits = 15

// MaxMinorUnits is the most minor-unit digits of any currency in the table
// (BHD, KWD, ... have 3).
const MaxMinorUnits = 3

// ErrInvalid is wrapped by every parse error of this package; callers map it
// to 400 naming their field.
var ErrInvalid = errors.New("invalid amount")

// minorUnits lists the currencies whose minor unit is not the hundredth
// (ISO 4217); every other currency has 2 digits.
var minorUnits = map[string]int{
	// No minor unit in use.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	// Thousandths.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// MinorUnits returns how many digits after the decimal point an amount in
// currency has: 0 for JPY, KRW, VND, CLP, ISK and the other currencies
// without a minor unit, 3 for BHD, KWD, OMR, JOD, TND, IQD and LYD, and 2 for
// every other currency (an unknown code included).
func MinorUnits(currency string) int {
	if n, ok := minorUnits[currency]; ok {
		return n
	}
	return 2
}

// ValidCurrency reports whether s has the shape of an ISO 4217 code: three
// upper-case ASCII letters.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Amount is a sum of money in one currency. Its zero value is zero in no
// currency. Amounts from Parse are non-negative and have at most the
// currency's minor digits; arithmetic may yield negative amounts or more
// digits (an exact net amount), which String shows without rounding.
type Amount struct {
	value    decimal.Decimal
	currency string
}

// Parse reads a money amount from API or webhook input: a non-negative
// decimal string of ASCII digits with an optional '.' and fraction, at most
// MaxIntegerDigits digits before the point and at most MinorUnits(currency)
// after it ("2500.00", "2500.5", "2500" for RUB; "1500" for JPY). It refuses
// signs, exponents, spaces, commas, "NaN" and the empty string. currency must
// be three upper-case letters. Errors wrap ErrInvalid.
func Parse(s, currency string) (Amount, error) {
	if !ValidCurrency(currency) {
		return Amount{}, fmt.Errorf("%w: currency %q is not an ISO 4217 code (3 upper-case letters)", ErrInvalid, currency)
	}
	d, err := ParseDecimal(s, MinorUnits(currency))
	if err != nil {
		if minor := MinorUnits(currency); errors.Is(err, errTooManyFractionDigits) {
			return Amount{}, fmt.Errorf("%w: %q has more than %d digits after the point for %s", ErrInvalid, s, minor, currency)
		}
		return Amount{}, err
	}
	return Amount{value: d, currency: currency}, nil
}

// MustParse is Parse for constants in tests and tables; it panics on error.
func MustParse(s, currency string) Amount {
	a, err := Parse(s, currency)
	if err != nil {
		panic(err)
	}
	return a
}

var errTooManyFractionDigits = errors.New("too many digits after the point")

// ParseDecimal checks the syntax every money and percent string of the
// engine shares, then returns its exact value: ASCII digits, an optional '.'
// followed by at least one digit, at most MaxIntegerDigits digits before the
// point and at most maxFraction after it. Errors wrap ErrInvalid.
func ParseDecimal(s string, maxFraction int) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasPoint && !allDigits(frac)) {
		return decimal.Decimal{}, fmt.Errorf("%w: %q must be a non-negative decimal string such as \"2500.00\"", ErrInvalid, s)
	}
	if len(intPart) > MaxIntegerDigits {
		return decimal.Decimal{}, fmt.Errorf("%w: %q has more than %d digits before the point", ErrInvalid, s, MaxIntegerDigits)
	}
	if len(frac) > maxFraction {
		return decimal.Decimal{}, fmt.Errorf("%w: %q: %w (at most %d)", ErrInvalid, s, errTooManyFractionDigits, maxFraction)
	}
	if len(intPart)+len(frac) <= 18 {
		// The common case, without decimal.NewFromString's big.Int parse:
		// the digits fit an int64, and the value is the same (coefficient
		// and exponent) as NewFromString's.
		var c int64
		for _, part := range [2]string{intPart, frac} {
			for i := 0; i < len(part); i++ {
				c = c*10 + int64(part[i]-'0')
			}
		}
		return decimal.New(c, -int32(len(frac))), nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // unreachable after the checks above
		return decimal.Decimal{}, fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	return d, nil
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FromDecimal returns the exact value d in currency, without rounding (an
// exact net amount may carry more digits than the currency's minor unit).
// Use Round for anything that is paid.
func FromDecimal(d decimal.Decimal, currency string) Amount {
	return Amount{value: d, currency: currency}
}

// Zero returns zero in currency.
func Zero(currency string) Amount { return Amount{currency: currency} }

// Round is the engine's one rounding rule. Earnings are computed exactly
// (decimal arithmetic, no intermediate rounding), then rounded once, to the
// minor unit of the currency they are paid in (MinorUnits), half away from
// zero ("commercial rounding"): 10% of 0.05 RUB is exactly 0.005 RUB and
// is paid as 0.01 RUB; 0.0049 RUB is paid as 0.00 RUB; 7.5% of 1001 JPY is
// exactly 75.075 JPY and is paid as 75 JPY. Nothing else in the engine
// rounds money.
func Round(exact decimal.Decimal, currency string) Amount {
	return Amount{value: exact.Round(int32(MinorUnits(currency))), currency: currency}
}

// PercentOf returns percent of amount, rounded by Round in the amount's
// currency: the earnings of a percent payout.
func PercentOf(amount Amount, percent Percent) Amount {
	if a, ok := percentOf64(amount, percent); ok {
		return a
	}
	// Shift(-2) divides by 100 exactly; the product is exact too.
	return Round(amount.value.Mul(percent.value).Shift(-2), amount.currency)
}

// percentOf64 is PercentOf for the common case, in integers instead of
// big.Int: a non-negative amount and percent whose coefficients fit an
// int64 and whose exact product fits a uint64. ok is false otherwise.
func percentOf64(amount Amount, percent Percent) (Amount, bool) {
	a, p := amount.value, percent.value
	if a.Sign() < 0 || p.Sign() < 0 || a.NumDigits() > 18 || p.NumDigits() > 18 {
		return Amount{}, false
	}
	hi, prod := bits.Mul64(uint64(a.CoefficientInt64()), uint64(p.CoefficientInt64()))
	if hi != 0 {
		return Amount{}, false
	}
	// The exact value is prod * 10^exp; the result has places digits
	// after the point.
	exp := a.Exponent() + p.Exponent() - 2
	places := int32(MinorUnits(amount.currency))
	var q uint64
	switch drop := -exp - places; {
	case drop <= 0: // exact: scale up
		q = prod
		for range -drop {
			hi, q = bits.Mul64(q, 10)
			if hi != 0 {
				return Amount{}, false
			}
		}
	case drop <= 19:
		pow := uint64(1)
		for range drop {
			pow *= 10
		}
		q = prod / pow
		// Half away from zero (the value is not negative): round up when
		// the remainder is at least half of pow.
		if r := prod % pow; r >= pow-r {
			q++
		}
	default:
		return Amount{}, false
	}
	if q > math.MaxInt64 {
		return Amount{}, false
	}
	return Amount{value: decimal.New(int64(q), -places), currency: amount.currency}, true
}

// Currency returns the amount's ISO 4217 code.
func (a Amount) Currency() string { return a.currency }

// Decimal returns the amount's exact value.
func (a Amount) Decimal() decimal.Decimal { return a.value }

// Sign returns -1, 0 or 1 as the amount is negative, zero or positive.
func (a Amount) Sign() int { return a.value.Sign() }

// IsZero reports whether the amount is zero.
func (a Amount) IsZero() bool { return a.value.IsZero() }

// Equal reports whether a and b are the same currency and value ("2.5" and
// "2.50" are equal).
func (a Amount) Equal(b Amount) bool {
	return a.currency == b.currency && a.value.Equal(b.value)
}

// Add returns a + b; both must be in the same currency.
func (a Amount) Add(b Amount) (Amount, error) {
	if a.currency != b.currency {
		return Amount{}, fmt.Errorf("add %s to %s: currencies differ", b.currency, a.currency)
	}
	return Amount{value: a.value.Add(b.value), currency: a.currency}, nil
}

// Sub returns a - b; both must be in the same currency. The result may be
// negative.
func (a Amount) Sub(b Amount) (Amount, error) {
	if a.currency != b.currency {
		return Amount{}, fmt.Errorf("subtract %s from %s: currencies differ", b.currency, a.currency)
	}
	return Amount{value: a.value.Sub(b.value), currency: a.currency}, nil
}

// String formats the amount with the currency's minor digits ("2500.00",
// "1500" for JPY, "1.250" for KWD), or with more digits if the exact value
// has them: String never rounds.
func (a Amount) String() string {
	places := int32(MinorUnits(a.currency))
	if s, ok := fixedInt64(a.value, places); ok {
		return s
	}
	if e := -a.value.Exponent(); e > places && !a.value.Equal(a.value.Round(places)) {
		places = e
		// Drop trailing zeros beyond the minor digits ("1.2500" -> "1.25").
		for places > int32(MinorUnits(a.currency)) && a.value.Equal(a.value.Truncate(places-1)) {
			places--
		}
	}
	return a.value.StringFixed(places)
}

// fixedInt64 is d.StringFixed(places) for the common case, without big.Int
// arithmetic: d has at most places digits after the point, and its
// coefficient scaled to places digits fits in 18 digits. ok is false
// otherwise.
func fixedInt64(d decimal.Decimal, places int32) (string, bool) {
	exp := d.Exponent()
	if exp > 0 || -exp > places || places > 18 {
		return "", false
	}
	scale := places + exp // the zeros to add to the coefficient
	if d.NumDigits()+int(scale) > 18 {
		return "", false
	}
	c := d.CoefficientInt64()
	for range scale {
		c *= 10
	}
	var buf [24]byte // sign, 18 digits, point, a leading zero
	i := len(buf)
	neg := c < 0
	u := uint64(c)
	if neg {
		u = -u
	}
	for n := int32(0); n < places; n++ {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if places > 0 {
		i--
		buf[i] = '.'
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:]), true
}

// MarshalJSON encodes the amount as a JSON string, as String formats it:
// money in JSON is always a decimal string.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// Percent is a non-negative percentage, e.g. 7.5 for 7.5%.
type Percent struct {
	value decimal.Decimal
}

// MaxPercentDigits is the most digits a percent may have after the point.
const MaxPercentDigits = 4

// ParsePercent reads a percent payout value: a decimal string with the
// syntax of Parse, at most MaxPercentDigits digits after the point, from 0
// to 100 ("10", "7.5"). Errors wrap ErrInvalid.
func ParsePercent(s string) (Percent, error) {
	d, err := ParseDecimal(s, MaxPercentDigits)
	if err != nil {
		return Percent{}, err
	}
	if d.GreaterThan(hundred) {
		return Percent{}, fmt.Errorf("%w: percent %q is more than 100", ErrInvalid, s)
	}
	return Percent{value: d}, nil
}

var hundred = decimal.NewFromInt(100)

// Decimal returns the percent's exact value (7.5 for 7.5%).
func (p Percent) Decimal() decimal.Decimal { return p.value }

// String formats the percent without trailing zeros ("7.5").
func (p Percent) String() string { return p.value.String() }
