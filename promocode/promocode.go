// Package promocode holds the one rule by which promo-code texts are compared:
// matching orders to codes, uniqueness of codes at a brand, and report
// filters all go through Normalize, and nothing else compares code texts.
package promocode

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest normalised code, in characters.
const MaxLen = 64

// lookalikes maps the upper-case Cyrillic letters that look like Latin ones
// to those Latin letters, so "АNNA10" typed with a Cyrillic А is ANNA10.
var lookalikes = map[rune]rune{
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H',
	'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X',
}

// Normalize returns the canonical form of a code text: surrounding white
// space trimmed, Unicode NFKC applied (full-width and compatibility forms
// become plain ones), upper-cased, and Cyrillic look-alike letters folded to
// Latin. Two texts denote the same code exactly when their normal forms are
// equal.
//
// Invalid UTF-8 becomes U+FFFD. NFKC runs again after upper-casing and
// folding, since both can yield text that NFKC would still change (the
// upper case of "ǅ" is "Ǆ", whose NFKC form is "DŽ"); this makes Normalize
// idempotent, which a fuzz test checks.
func Normalize(code string) string {
	if n, ok := normalizeASCII(code); ok {
		return n
	}
	return normalize(code)
}

// normalize is Normalize for any text.
func normalize(code string) string {
	s := norm.NFKC.String(strings.ToValidUTF8(code, "\uFFFD"))
	s = strings.ToUpper(s)
	s = strings.Map(func(r rune) rune {
		if l, ok := lookalikes[r]; ok {
			return l
		}
		return r
	}, s)
	return strings.TrimSpace(norm.NFKC.String(s))
}

// normalizeASCII is Normalize for a text of ASCII only (ok false for any
// other): NFKC leaves ASCII as it is and the look-alikes are Cyrillic, so
// what remains is upper-casing and trimming, without an allocation for a
// text that is already upper case and trimmed (the codes shops send).
func normalizeASCII(code string) (string, bool) {
	lower := false
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c >= utf8.RuneSelf {
			return "", false
		}
		lower = lower || ('a' <= c && c <= 'z')
	}
	if lower {
		code = strings.ToUpper(code)
	}
	return strings.TrimSpace(code), true
}

// ErrInvalid is wrapped by the errors of Validate.
var ErrInvalid = errors.New("invalid promo code")

// Validate checks that a code text a brand chose can be issued: not empty
// once normalised, at most MaxLen characters, and made only of letters,
// digits, '-' and '_'. It returns the normalised text.
func Validate(code string) (string, error) {
	n := Normalize(code)
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	case utf8.RuneCountInString(n) > MaxLen:
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLen)
	}
	for _, r := range n {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return "", fmt.Errorf("%w: %q is not a letter, digit, '-' or '_'", ErrInvalid, r)
		}
	}
	return n, nil
}
