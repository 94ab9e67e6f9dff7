// Package promocode holds the one rule by which promo-code texts are compared:
// matching orders to codes, uniqueness of codes at a brand, and report
// filters all go through Normalize, and nothing else compares code texts.
//
// It also says what a code text may be, in one place:
//
//   - a code a brand issues passes Validate: 1 to MaxLen letters, digits,
//     '-' and '_' once normalised;
//   - a code a shop sends on an order is any text: the log keeps it as
//     sent, control characters and all (JSON escapes them), bounded by
//     Stored to MaxStoredLen characters. A text that cannot be an issued
//     code once normalised (a control character inside, longer than
//     MaxLen, punctuation) matches nothing, so its order is unattributed
//     with reason unknown_code and its text is kept for analysts; a shop's
//     code text never makes the webhook refuse an event.
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

// MaxStoredLen is the longest code text the log keeps for an order, in
// characters: room for any issued code with surrounding white space and
// look-alike forms, while bounding what one shopper's typing costs the log.
const MaxStoredLen = 200

// truncated ends a code text that Stored cut: "…" normalises to "...",
// which no issued code holds, so a cut text never matches a code.
const truncated = "…"

// lookalikes maps the upper-case Cyrillic letters that look like Latin ones
// to those Latin letters, so "АNNA10" typed with a Cyrillic А is ANNA10.
var lookalikes = map[rune]rune{
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H',
	'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X',
}

// Normalize returns the canonical form of a code text: surrounding white
// space and invisible characters trimmed (see Trim), Unicode NFKC applied (full-width and compatibility forms
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
	s := norm.NFKC.String(Trim(strings.ToValidUTF8(code, "\uFFFD")))
	s = strings.ToUpper(s)
	s = strings.Map(func(r rune) rune {
		if l, ok := lookalikes[r]; ok {
			return l
		}
		return r
	}, s)
	return Trim(norm.NFKC.String(s))
}

// Trim returns s without its surrounding white space and invisible
// characters: Unicode White_Space (space, tab, CR, LF, no-break spaces,
// U+2000-U+200A, U+2028/U+2029, U+3000, ...), format characters (category
// Cf: zero-width space and joiners, U+2060, the byte-order mark U+FEFF,
// directional marks, soft hyphen), variation selectors and the other
// default-ignorable code points (Hangul fillers, U+034F). Characters
// inside the text are kept.
func Trim(s string) string {
	// A text with ASCII ends that are not space is returned as it is
	// without decoding anything: the codes shops send.
	if n := len(s); n > 0 && s[0] < utf8.RuneSelf && !asciiSpace[s[0]] &&
		s[n-1] < utf8.RuneSelf && !asciiSpace[s[n-1]] {
		return s
	}
	return strings.TrimFunc(s, isSurrounding)
}

// asciiSpace marks the ASCII White_Space characters: \t \n \v \f \r and space.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// isSurrounding reports whether Trim removes r from the ends of a text.
func isSurrounding(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiSpace[r]
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// normalizeASCII is Normalize for a text of ASCII only (ok false for any
// other): NFKC leaves ASCII as it is and the look-alikes are Cyrillic, so
// what remains is upper-casing and trimming, without an allocation for a
// text that is already upper case and trimmed (the codes shops send). The
// ASCII characters Trim removes are those strings.TrimSpace does.
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

// Stored returns what the log keeps of a code text a shop sent: the text
// itself when it has at most MaxStoredLen characters (invalid UTF-8 counts
// a character per byte, as JSON's encoding replaces each with U+FFFD);
// otherwise Trim of it if that fits, and else its first MaxStoredLen-1
// characters and "…". Normalize(Stored(s)) equals Normalize(s) whenever
// Normalize(s) may be an issued code; a cut text matches no code.
func Stored(code string) string {
	if len(code) <= MaxStoredLen || utf8.RuneCountInString(code) <= MaxStoredLen {
		return code
	}
	code = Trim(code)
	if utf8.RuneCountInString(code) <= MaxStoredLen {
		return code
	}
	i, n := 0, 0
	for n < MaxStoredLen-1 {
		_, size := utf8.DecodeRuneInString(code[i:])
		i += size
		n++
	}
	return code[:i] + truncated
}
