// Package jsonscan reads JSON text (RFC 8259) piece by piece, without
// reflection: objects member by member, arrays element by element, strings,
// numbers, and any value skipped whole. It checks the syntax of everything
// it passes and says where a syntax error is, so that a caller can pick out
// the members it knows and report bad input precisely.
//
// The text is a string or a []byte (see Text); strings are returned as
// slices of it, without copying. The scanner does not check UTF-8: inside
// strings, bytes of 0x80 and above are passed as they are (StringFlags
// says a string has some), and a caller that needs valid UTF-8 checks it,
// on the whole text or per string.
package jsonscan

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Text is what a Scanner reads: JSON text in a string or a []byte.
type Text interface{ ~string | ~[]byte }

// Scanner reads the JSON text Src from the byte offset Pos. Each method
// reads one piece that starts at Pos (no white space before it unless the
// method says so) and leaves Pos after it. On a syntax error a method
// returns a *SyntaxError and leaves Pos at the byte where the error is
// (len(Src) when the text ends too early); Pos then is the offset to
// report. A Scanner is a value: the zero Pos reads Src from its start.
type Scanner[T Text] struct {
	Src T
	Pos int
}

// SyntaxError says what is wrong with a JSON text; the Scanner's Pos says
// where.
type SyntaxError struct{ msg string }

func (e *SyntaxError) Error() string { return e.msg }

var (
	errEnd          = &SyntaxError{"unexpected end of input"}
	errAfterValue   = &SyntaxError{"unexpected data after the JSON value"}
	errNotObject    = &SyntaxError{"expected an object"}
	errNotArray     = &SyntaxError{"expected an array"}
	errNotString    = &SyntaxError{"expected a string"}
	errName         = &SyntaxError{"expected a string as member name"}
	errColon        = &SyntaxError{"expected ':' after member name"}
	errAfterMember  = &SyntaxError{"expected ',' or '}' after object member"}
	errAfterElement = &SyntaxError{"expected ',' or ']' after array element"}
	errUnexpected   = &SyntaxError{"unexpected character"}
	errLiteral      = &SyntaxError{"invalid literal"}
	errNumber       = &SyntaxError{"invalid number"}
	errFraction     = &SyntaxError{"invalid number: no digit after '.'"}
	errExponent     = &SyntaxError{"invalid number: no digit in exponent"}
	errUEscape      = &SyntaxError{`invalid \u escape`}
	errEscape       = &SyntaxError{"invalid escape"}
	errControl      = &SyntaxError{"control character in string"}
)

// errTooDeep is the error of a value nested deeper than maxDepth.
func errTooDeep(maxDepth int) *SyntaxError {
	return &SyntaxError{"values nested more than " + strconv.Itoa(maxDepth) + " levels deep"}
}

// at leaves Pos at i and returns err (nil for none).
func (s *Scanner[T]) at(i int, err *SyntaxError) error {
	s.Pos = i
	if err != nil {
		return err
	}
	return nil
}

// SkipSpace moves Pos past white space.
func (s *Scanner[T]) SkipSpace() { s.Pos = space(s.Src, s.Pos) }

// End checks that nothing but white space is left after Pos.
func (s *Scanner[T]) End() error {
	s.SkipSpace()
	if s.Pos != len(s.Src) {
		return errAfterValue
	}
	return nil
}

// Object reads the object at Pos, calling member for each member with Pos
// at the member's value (after white space). name is the member's name as
// written between the quotes; escaped reports whether it holds escapes
// (Unescape decodes them; without any, name is its text). member must
// read the value (through this Scanner, leaving Src as it is) or return an
// error, which Object returns as it is.
func (s *Scanner[T]) Object(member func(name T, escaped bool) error) error {
	src, i := s.Src, s.Pos
	if i >= len(src) || src[i] != '{' {
		return s.at(i, errNotObject)
	}
	i = space(src, i+1)
	if i < len(src) && src[i] == '}' {
		s.Pos = i + 1
		return nil
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return s.at(i, expected(src, i, errName))
		}
		end, flags, err := scanString(src, i)
		if err != nil {
			return s.at(end, err)
		}
		if s.Pos = end + 1; !tight(src, end, ':') {
			if s.Pos, err = colon(src, end); err != nil {
				return err
			}
		}
		if err := member(src[i+1:end-1], flags&Escaped != 0); err != nil {
			return err
		}
		if i = s.Pos; tight(src, i, ',') {
			i++
			continue
		}
		var more bool
		if i, more, err = next(src, i, '}'); err != nil || !more {
			return s.at(i, err)
		}
	}
}

// Array reads the array at Pos, calling elem with Pos at each element
// (after white space). elem must read the element (through this Scanner,
// leaving Src as it is) or return an error, which Array returns as it is.
func (s *Scanner[T]) Array(elem func() error) error {
	src, i := s.Src, s.Pos
	if i >= len(src) || src[i] != '[' {
		return s.at(i, errNotArray)
	}
	i = space(src, i+1)
	if i < len(src) && src[i] == ']' {
		s.Pos = i + 1
		return nil
	}
	for {
		if i >= len(src) {
			return s.at(i, errEnd)
		}
		s.Pos = i
		if err := elem(); err != nil {
			return err
		}
		var more bool
		var err *SyntaxError
		if i, more, err = next(src, s.Pos, ']'); err != nil || !more {
			return s.at(i, err)
		}
	}
}

// StringFlags say what a string holds besides printable ASCII.
type StringFlags uint8

const (
	// Escaped: backslash escapes, which Unescape decodes.
	Escaped StringFlags = 1 << iota
	// NonASCII: bytes of 0x80 and above, whose UTF-8 is not checked.
	NonASCII
	// HTMLUnsafe: '<', '>', '&', U+2028 or U+2029, which json.Marshal
	// escapes.
	HTMLUnsafe
)

// Str reads the string at Pos and returns what is between its quotes,
// escapes not decoded (Unescape decodes them).
func (s *Scanner[T]) Str() (contents T, flags StringFlags, err error) {
	start := s.Pos
	end, flags, e := scanString(s.Src, start)
	if s.Pos = end; e != nil {
		return contents, 0, e
	}
	return s.Src[start+1 : end-1], flags, nil
}

// Number reads the number at Pos and returns its text:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner[T]) Number() (T, error) {
	start := s.Pos
	end, err := number(s.Src, start)
	s.Pos = end
	if err != nil {
		var zero T
		return zero, err
	}
	return s.Src[start:end], nil
}

// Skip passes the value of any type at Pos, checking its syntax, and
// refuses objects and arrays nested more than maxDepth deep within it.
// canonical reports whether json.Marshal would copy the value unchanged
// (as it does a json.RawMessage): no white space outside strings and no
// HTMLUnsafe string.
func (s *Scanner[T]) Skip(maxDepth int) (canonical bool, err error) {
	src, i := s.Src, s.Pos
	if i < len(src) && src[i] == '"' { // the most common value, read at once
		end, flags, e := scanString(src, i)
		s.Pos = end
		if e != nil {
			return false, e
		}
		return flags&HTMLUnsafe == 0, nil
	}
	// gaps is not 0 once white space is passed; seen holds the flags of
	// every string.
	var gaps int
	var seen StringFlags
	var open nesting
	name := false // the next string is a member's name
	for {
		if i >= len(src) {
			return false, s.at(i, errEnd)
		}
		c := src[i]
		if name && c != '"' {
			return false, s.at(i, errName)
		}
		var err *SyntaxError
		switch c {
		case '"':
			var flags StringFlags
			i, flags, err = scanString(src, i)
			seen |= flags
			if name && err == nil {
				name = false
				if tight(src, i, ':') {
					i++
					continue // to the member's value
				}
				end := i
				i, err = colon(src, end)
				gaps |= i - (end + 1)
				if err == nil {
					continue
				}
			}
		case '{', '[':
			if open.depth >= maxDepth {
				return false, s.at(i, errTooDeep(maxDepth))
			}
			j := space(src, i+1)
			gaps |= j - (i + 1)
			isObject := c == '{'
			if j < len(src) && src[j] == closer(isObject) {
				i = j + 1
				break // an empty one: a whole value
			}
			open.push(isObject)
			i, name = j, isObject
			continue
		case 't', 'f', 'n':
			i, err = literal(src, i)
		default:
			if c != '-' && (c < '0' || c > '9') {
				return false, s.at(i, errUnexpected)
			}
			i, err = number(src, i)
		}
		if err != nil {
			return false, s.at(i, err)
		}
		// A whole value ends at i: close the containers it ends, up to
		// the next member or element.
		for {
			if open.depth == 0 {
				s.Pos = i
				return gaps == 0 && seen&HTMLUnsafe == 0, nil
			}
			isObject := open.top()
			if tight(src, i, ',') {
				i, name = i+1, isObject
				break // to the next member or element
			}
			j, more, err := next(src, i, closer(isObject))
			if err != nil {
				return false, s.at(j, err)
			}
			gaps |= j - (i + 1)
			i = j
			if more {
				name = isObject
				break
			}
			open.pop()
		}
	}
}

// closer returns the byte that closes an object or an array.
func closer(isObject bool) byte {
	if isObject {
		return '}'
	}
	return ']'
}

// nesting is the stack of the objects and arrays open around a value: a
// bit each (1 for an object), the innermost in the low bit of top64.
type nesting struct {
	depth int
	top64 uint64   // the innermost 64 levels (fewer when not as deep)
	outer []uint64 // the levels around them, 64 a word
}

func (n *nesting) push(isObject bool) {
	if n.depth > 0 && n.depth%64 == 0 {
		n.outer = append(n.outer, n.top64)
		n.top64 = 0
	}
	n.top64 <<= 1
	if isObject {
		n.top64 |= 1
	}
	n.depth++
}

func (n *nesting) pop() {
	n.depth--
	n.top64 >>= 1
	if n.depth > 0 && n.depth%64 == 0 {
		n.top64 = n.outer[len(n.outer)-1]
		n.outer = n.outer[:len(n.outer)-1]
	}
}

// top reports whether the innermost container is an object.
func (n *nesting) top() bool { return n.top64&1 != 0 }

// space returns the offset of the first byte at or after i that is not
// white space.
func space[T Text](src T, i int) int {
	for i < len(src) && isSpace[src[i]] {
		i++
	}
	return i
}

// isSpace marks the bytes of white space.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// tight reports whether src[i] is c and something other than white space
// follows it: the compact form, which callers read without a call to
// colon or next.
func tight[T Text](src T, i int, c byte) bool {
	return i+1 < len(src) && src[i] == c && !isSpace[src[i+1]]
}

// expected returns err, or errEnd when the text ends at i.
func expected[T Text](src T, i int, err *SyntaxError) *SyntaxError {
	if i >= len(src) {
		return errEnd
	}
	return err
}

// colon reads what is between a member's name, ending at src[i], and its
// value: white space, the colon and white space. On an error, value is
// where it is.
func colon[T Text](src T, i int) (value int, err *SyntaxError) {
	i = space(src, i)
	if i >= len(src) || src[i] != ':' {
		return i, expected(src, i, errColon)
	}
	i = space(src, i+1)
	if i >= len(src) {
		return i, errEnd
	}
	return i, nil
}

// next reads what follows a member or element (ending at src[i]) of a
// container that closer ends: a comma and white space (more is true;
// after is the next member or element), or the closer (after is past it).
// On an error, after is where it is.
func next[T Text](src T, i int, closer byte) (after int, more bool, err *SyntaxError) {
	if tight(src, i, ',') {
		return i + 1, true, nil
	}
	i = space(src, i)
	if i >= len(src) {
		return i, false, errEnd
	}
	switch src[i] {
	case ',':
		return space(src, i+1), true, nil
	case closer:
		return i + 1, false, nil
	}
	if closer == '}' {
		return i, false, errAfterMember
	}
	return i, false, errAfterElement
}

// plainInString marks the bytes a string may hold that need no second
// look: printable ASCII but the quote, the backslash and HTMLUnsafe ones.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// scanString reads the string at src[i] and returns the offset after it.
// On an error, end is where it is.
func scanString[T Text](src T, i int) (end int, flags StringFlags, err *SyntaxError) {
	if uint(i) >= uint(len(src)) || src[i] != '"' {
		return i, 0, errNotString
	}
	for i++; i < len(src); i++ {
		for i < len(src) && plainInString[src[i]] {
			i++
		}
		if i >= len(src) {
			break
		}
		switch c := src[i]; {
		case c == '"':
			return i + 1, flags, nil
		case c == '\\':
			flags |= Escaped
			i++
			if i >= len(src) {
				return i, 0, errEnd
			}
			switch src[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(src) {
					return len(src), 0, errEnd
				}
				if _, ok := hex4(src, i+1); !ok {
					return i, 0, errUEscape
				}
				i += 4
			default:
				return i, 0, errEscape
			}
		case c < 0x20:
			return i, 0, errControl
		case c >= utf8.RuneSelf:
			flags |= NonASCII
			// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
			if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
				flags |= HTMLUnsafe
			}
		default: // '<', '>', '&'
			flags |= HTMLUnsafe
		}
	}
	return len(src), 0, errEnd
}

// hex4 decodes the four hex digits at src[i:i+4].
func hex4[T Text](src T, i int) (r rune, ok bool) {
	for _, c := range [4]byte{src[i], src[i+1], src[i+2], src[i+3]} {
		d := hexDigit[c]
		if d < 0 {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// hexDigit holds the value of each hex digit, and -1 for other bytes.
var hexDigit = func() (t [256]int8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = int8(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = int8(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = int8(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()

// number reads the number at src[i] and returns the offset after it. On
// an error, end is where it is.
func number[T Text](src T, i int) (end int, err *SyntaxError) {
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i >= len(src):
		return i, errEnd
	case src[i] == '0':
		i++
	case src[i] >= '1' && src[i] <= '9':
		i = digits(src, i)
	default:
		return i, errNumber
	}
	if i < len(src) && src[i] == '.' {
		j := digits(src, i+1)
		if j == i+1 {
			return j, errFraction
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := digits(src, i)
		if j == i {
			return j, errExponent
		}
		i = j
	}
	return i, nil
}

// digits returns the offset after the ASCII digits from src[i].
func digits[T Text](src T, i int) int {
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	return i
}

// literal reads true, false or null at src[i] and returns the offset after
// it. On an error, end is i.
func literal[T Text](src T, i int) (end int, err *SyntaxError) {
	var lit string
	switch src[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	default:
		lit = "null"
	}
	if len(src)-i < len(lit) {
		return i, errLiteral
	}
	for k := 1; k < len(lit); k++ {
		if src[i+k] != lit[k] {
			return i, errLiteral
		}
	}
	return i + len(lit), nil
}

// Unescape returns the text of a string's contents (what Str returns, or
// what is between the quotes of a string Skip passed): escapes decoded, or
// contents itself when it has none. ok is false when it escapes an
// unpaired UTF-16 surrogate, which has no text (encoding/json would turn
// it into U+FFFD; for an id that would merge distinct values).
func Unescape(contents string) (text string, ok bool) {
	s := contents
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
			r, _ := hex4(s, i+1)
			i += 4
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' {
					return "", false
				}
				r2, _ := hex4(s, i+3)
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
