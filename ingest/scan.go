package ingest

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a minimal JSON (RFC 8259) reader over a string: it checks the
// syntax of everything it passes and lets the caller pick out the members
// it knows. Strings without escapes are returned as substrings of the
// input, without copying. The input must be valid UTF-8 (parseBody checks).
type scanner struct {
	s string
	i int
}

// syntaxErr is a JSON syntax error; the scanner's position is where it was
// found.
type syntaxErr string

func (e syntaxErr) Error() string { return string(e) }

var (
	errEnd        = syntaxErr("unexpected end of input")
	errAfterValue = syntaxErr("unexpected data after the JSON value")
	errTooDeep    = syntaxErr("values nested more than 64 levels deep")
)

// syntaxError reports err at the scanner's position as bad input of field
// ("" for the body as a whole).
func (p *scanner) syntaxError(field string, err error) *fieldError {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe
	}
	where := field
	if where == "" {
		where = "body"
	}
	return &fieldError{field: field, message: where + ": invalid JSON at byte " + strconv.Itoa(p.i) + ": " + err.Error()}
}

// fail moves the position to at and returns err.
func (p *scanner) fail(at int, err syntaxErr) error {
	p.i = at
	return err
}

// ws skips white space.
func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object starting at '{', calling member for each member
// with the position at its value (after white space); member must consume
// the value. A member's error is returned as it is.
func (p *scanner) object(member func(key string) error) error {
	p.i++ // '{'
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		if p.i >= len(p.s) {
			return errEnd
		}
		if p.s[p.i] != '"' {
			return p.fail(p.i, "expected a string as member name")
		}
		key, err := p.key()
		if err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errEnd
		}
		if p.s[p.i] != ':' {
			return p.fail(p.i, "expected ':' after member name")
		}
		p.i++
		p.ws()
		if p.i >= len(p.s) {
			return errEnd
		}
		if err := member(key); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errEnd
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.ws()
		case '}':
			p.i++
			return nil
		default:
			return p.fail(p.i, "expected ',' or '}' after object member")
		}
	}
}

// array reads an array starting at '[', calling elem with the position at
// each element (after white space); elem must consume the element.
func (p *scanner) array(elem func() error) error {
	p.i++ // '['
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		if p.i >= len(p.s) {
			return errEnd
		}
		if err := elem(); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errEnd
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			return nil
		default:
			return p.fail(p.i, "expected ',' or ']' after array element")
		}
	}
}

// key reads a member name.
func (p *scanner) key() (string, error) {
	start := p.i
	escaped, err := p.skipString()
	if err != nil {
		return "", err
	}
	raw := p.s[start:p.i]
	if !escaped {
		return raw[1 : len(raw)-1], nil
	}
	// An unpaired surrogate in a name cannot match a known member.
	k, _ := unquote(raw)
	return k, nil
}

// skipValue passes one value of any type, checking its syntax; depth is the
// nesting of the value.
func (p *scanner) skipValue(depth int) error {
	if p.i >= len(p.s) {
		return errEnd
	}
	switch c := p.s[p.i]; c {
	case '{':
		if depth >= maxDepth {
			return errTooDeep
		}
		return p.object(func(string) error { return p.skipValue(depth + 1) })
	case '[':
		if depth >= maxDepth {
			return errTooDeep
		}
		return p.array(func() error { return p.skipValue(depth + 1) })
	case '"':
		_, err := p.skipString()
		return err
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.skipNumber()
		}
		return p.fail(p.i, "unexpected character")
	}
}

func (p *scanner) literal(lit string) error {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return p.fail(p.i, "invalid literal")
	}
	p.i += len(lit)
	return nil
}

// skipNumber passes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) skipNumber() error {
	s, i := p.s, p.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return p.fail(i, errEnd)
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return p.fail(i, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return p.fail(j, "invalid number: no digit after '.'")
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return p.fail(j, "invalid number: no digit in exponent")
		}
		i = j
	}
	p.i = i
	return nil
}

// digits returns the position after the ASCII digits starting at i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// skipString passes a string starting at '"', checking its escapes, and
// reports whether it has any.
func (p *scanner) skipString() (escaped bool, err error) {
	s := p.s
	for i := p.i + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			p.i = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(s) {
				return escaped, p.fail(i, errEnd)
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) {
					return escaped, p.fail(len(s), errEnd)
				}
				if _, ok := hex4(s[i+1 : i+5]); !ok {
					return escaped, p.fail(i, "invalid \\u escape")
				}
				i += 4
			default:
				return escaped, p.fail(i, "invalid escape")
			}
		case c < 0x20:
			return escaped, p.fail(i, "control character in string")
		}
	}
	return escaped, p.fail(len(s), errEnd)
}

// hex4 decodes four hex digits.
func hex4(s string) (rune, bool) {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unquote returns the text of a string literal whose syntax skipString
// checked. ok is false when it escapes an unpaired UTF-16 surrogate
// (encoding/json would silently turn it into U+FFFD; for ids that would
// merge distinct values, so they are refused instead).
func unquote(raw string) (string, bool) {
	s := raw[1 : len(raw)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, _ := hex4(s[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' {
					return "", false
				}
				r2, _ := hex4(s[i+3 : i+7])
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false
				}
				i += 6
			}
			b.WriteRune(r)
		}
	}
	return b.String(), true
}
