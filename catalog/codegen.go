package catalog

import (
	"crypto/rand"
	"io"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// codeAlphabet is the alphabet of the random part of generated codes: upper
// case letters and digits without the look-alikes 0 O 1 I L, and without U
// (which readers confuse with V), 30 characters.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// Shape of a generated code.
const (
	// CodeRandomLen is the number of random characters of a generated code:
	// 7 from a 30-character alphabet is 30^7 ≈ 2.2e10 texts, 34.3 bits.
	CodeRandomLen = 7
	// minPrefixLen and maxPrefixLen bound the name prefix; a name with
	// fewer usable letters gives none.
	minPrefixLen = 3
	maxPrefixLen = 4
)

// NewCodeGenerator returns the CodeGenerator of production: a prefix of 3
// or 4 letters from name (the creator's name, transliterated to Latin, so
// "Анна" gives "ANNA"; none when the name has fewer than 3 letters) and
// CodeRandomLen characters drawn from crypto/rand over a 30-character
// alphabet with no 0, O, 1, I, L or U, so "ANNA7K3MPQX". The random part
// alone carries 34.3 bits: a guesser who knows the prefix needs about 10^10
// tries per code. Since no code holds the digits 0 or 1, the letters O, I
// and L a name prefix may hold cannot be mistaken for them. The texts are
// already in normal form (promocode.Normalize leaves them unchanged).
//
// It is not pure: every call draws fresh random characters, whatever the
// attempt number.
func NewCodeGenerator(name string) CodeGenerator {
	return newCodeGenerator(name, rand.Reader)
}

func newCodeGenerator(name string, random io.Reader) CodeGenerator {
	prefix := codePrefix(name)
	return func(int) string {
		var b strings.Builder
		b.Grow(len(prefix) + CodeRandomLen)
		b.WriteString(prefix)
		var buf [16]byte
		for n := 0; n < CodeRandomLen; {
			if _, err := io.ReadFull(random, buf[:]); err != nil {
				panic("catalog: reading random bytes: " + err.Error()) // crypto/rand never fails on supported systems
			}
			for _, x := range buf {
				// 240 is the largest multiple of 30 below 256: rejecting
				// bytes from it up keeps every character equally likely.
				if x >= 240 || n == CodeRandomLen {
					continue
				}
				b.WriteByte(codeAlphabet[int(x)%len(codeAlphabet)])
				n++
			}
		}
		return b.String()
	}
}

// cyrillicLatin transliterates Russian Cyrillic letters (upper case) to
// Latin for code prefixes.
var cyrillicLatin = map[rune]string{
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Д': "D", 'Е': "E", 'Ё': "E", 'Ж': "ZH",
	'З': "Z", 'И': "I", 'Й': "Y", 'К': "K", 'Л': "L", 'М': "M", 'Н': "N", 'О': "O",
	'П': "P", 'Р': "R", 'С': "S", 'Т': "T", 'У': "U", 'Ф': "F", 'Х': "KH", 'Ц': "TS",
	'Ч': "CH", 'Ш': "SH", 'Щ': "SHCH", 'Ъ': "", 'Ы': "Y", 'Ь': "", 'Э': "E", 'Ю': "YU",
	'Я': "YA",
}

// codePrefix returns the first 3 or 4 Latin letters of a name, upper case,
// after dropping accents and transliterating Cyrillic; "" when the name
// has fewer than 3.
func codePrefix(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if b.Len() >= maxPrefixLen {
			break
		}
		if l, ok := cyrillicLatin[r]; ok {
			b.WriteString(l)
			continue
		}
		// "É" decomposes to "E" and a combining accent, which is dropped.
		for _, d := range norm.NFKD.String(string(r)) {
			if d >= 'A' && d <= 'Z' {
				b.WriteRune(d)
			}
		}
	}
	p := b.String()
	if len(p) < minPrefixLen {
		return ""
	}
	return p[:min(len(p), maxPrefixLen)]
}
