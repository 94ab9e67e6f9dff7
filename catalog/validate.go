package catalog

import (
	"fmt"
	"math/big"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"

	"github.com/attrib-engine/attrib/schemas"
)

// Platforms are the platforms a creator may share a code on and an offer
// may accept, as the lowercase names the API and the events carry. It is
// the one list of them.
var Platforms = []string{"instagram", "tiktok", "youtube", "telegram", "vk"}

// Limits of command fields.
const (
	// MaxNameLen is the longest name (of a brand, creator, analyst or
	// offer), in characters.
	MaxNameLen = 200
	// MaxReasonLen is the longest rejection reason, in characters.
	MaxReasonLen = 1000
	// MaxHoldDays is the longest hold period of an offer.
	MaxHoldDays = 365
	// MaxPercentScale is the most decimal places of a percent payout.
	MaxPercentScale = 4
	// maxIDLen is the longest id the caller may make.
	maxIDLen = 128
	// maxDecimalLen bounds a decimal string before it is parsed.
	maxDecimalLen = 32
)

var (
	decimalRE  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// IsPlatform reports whether p is one of Platforms.
func IsPlatform(p string) bool { return slices.Contains(Platforms, p) }

func checkID(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "is required")
	case len(v) > maxIDLen:
		return invalid(field, "must be at most %d bytes", maxIDLen)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return invalid(field, "must not contain white space or control characters")
	}
	return nil
}

// checkName returns the name trimmed of surrounding white space, which must
// leave 1 to MaxNameLen characters and no control characters.
func checkName(field, v string) (string, error) {
	n := strings.TrimSpace(v)
	switch {
	case n == "":
		return "", invalid(field, "must not be empty")
	case !utf8.ValidString(n):
		return "", invalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(n) > MaxNameLen:
		return "", invalid(field, "must be at most %d characters", MaxNameLen)
	case strings.ContainsFunc(n, unicode.IsControl):
		return "", invalid(field, "must not contain control characters")
	}
	return n, nil
}

func checkSHA256(field, v string) error {
	if !sha256RE.MatchString(v) {
		return invalid(field, "must be a hex SHA-256 (64 lowercase hex digits)")
	}
	return nil
}

// checkEmail returns the address trimmed; it must be a bare address such as
// "anna@example.com", without a display name.
func checkEmail(field, v string) (string, error) {
	e := strings.TrimSpace(v)
	if e == "" {
		return "", invalid(field, "must not be empty")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e || len(e) > 254 {
		return "", invalid(field, "must be an e-mail address such as anna@example.com")
	}
	return e, nil
}

// checkPayout checks a payout without floating point: the value is a
// decimal string greater than zero; a percent is at most 100 with at most
// MaxPercentScale decimal places; a fixed amount has no more decimal places
// than its currency's minor unit (trailing zeros aside: "150.00" JPY is
// 150 yen, "150.5" JPY is refused). The currency is a known ISO 4217 code
// for both types (the event requires one; a percent pays in the order's
// currency).
func checkPayout(field string, p schemas.Payout) error {
	if p.Type != schemas.PayoutFixed && p.Type != schemas.PayoutPercent {
		return invalid(field+".type", "must be %q or %q", schemas.PayoutFixed, schemas.PayoutPercent)
	}
	if len(p.Value) > maxDecimalLen || !decimalRE.MatchString(p.Value) {
		return invalid(field+".value", `must be a decimal string such as "150.00"`)
	}
	v, ok := new(big.Rat).SetString(p.Value)
	if !ok || v.Sign() <= 0 {
		return invalid(field+".value", "must be greater than zero")
	}
	if p.Type == schemas.PayoutPercent {
		if v.Cmp(big.NewRat(100, 1)) > 0 {
			return invalid(field+".value", "a percent must be at most 100")
		}
		if !hasScale(v, MaxPercentScale) {
			return invalid(field+".value", "a percent must have at most %d decimal places", MaxPercentScale)
		}
	}
	if !currencyRE.MatchString(p.Currency) {
		return invalid(field+".currency", "must be an ISO 4217 currency code (3 upper-case letters)")
	}
	unit, err := currency.ParseISO(p.Currency)
	if err != nil {
		return invalid(field+".currency", "%q is not an ISO 4217 currency", p.Currency)
	}
	if p.Type == schemas.PayoutFixed {
		scale, _ := currency.Standard.Rounding(unit)
		if !hasScale(v, scale) {
			return invalid(field+".value", "a %s amount must have at most %d decimal places", p.Currency, scale)
		}
	}
	return nil
}

// hasScale reports whether v has at most scale decimal places.
func hasScale(v *big.Rat, scale int) bool {
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Rat).Mul(v, new(big.Rat).SetInt(pow)).IsInt()
}

// checkCountries requires a non-empty list of distinct ISO 3166-1 alpha-2
// country codes, written as ISO writes them ("GB", not "UK" or "gb").
func checkCountries(field string, cs []string) error {
	if len(cs) == 0 {
		return invalid(field, "must list at least one country")
	}
	for i, c := range cs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !countryRE.MatchString(c) {
			return invalid(f, "must be an ISO 3166-1 alpha-2 country code (2 upper-case letters)")
		}
		r, err := language.ParseRegion(c)
		if err != nil || !r.IsCountry() || r.Canonicalize().String() != c {
			return invalid(f, "%q is not an ISO 3166-1 alpha-2 country code", c)
		}
		if slices.Contains(cs[:i], c) {
			return invalid(f, "%q is listed twice", c)
		}
	}
	return nil
}

// checkPlatforms requires a non-empty list of distinct names from Platforms.
func checkPlatforms(field string, ps []string) error {
	if len(ps) == 0 {
		return invalid(field, "must list at least one platform")
	}
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkPlatform(f, p); err != nil {
			return err
		}
		if slices.Contains(ps[:i], p) {
			return invalid(f, "%q is listed twice", p)
		}
	}
	return nil
}

func checkPlatform(field, p string) error {
	if !IsPlatform(p) {
		return invalid(field, "must be one of %s", strings.Join(Platforms, ", "))
	}
	return nil
}

func checkHoldDays(field string, d int) error {
	if d < 0 || d > MaxHoldDays {
		return invalid(field, "must be from 0 to %d", MaxHoldDays)
	}
	return nil
}

func checkStatus(field, s string) error {
	if s != schemas.OfferActive && s != schemas.OfferPaused {
		return invalid(field, "must be %q or %q", schemas.OfferActive, schemas.OfferPaused)
	}
	return nil
}

// checkReason returns the reason trimmed, which must leave 1 to
// MaxReasonLen characters.
func checkReason(field, v string) (string, error) {
	r := strings.TrimSpace(v)
	switch {
	case r == "":
		return "", invalid(field, "must not be empty")
	case !utf8.ValidString(r):
		return "", invalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(r) > MaxReasonLen:
		return "", invalid(field, "must be at most %d characters", MaxReasonLen)
	}
	return r, nil
}
