package promocode

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "ANNA10", "ANNA10"},
		{"lower case", "anna10", "ANNA10"},
		{"mixed case", "AnNa10", "ANNA10"},
		{"surrounding spaces", "  anna10\t\n", "ANNA10"},
		{"non-breaking and ideographic spaces", "\u00a0ANNA10\u3000", "ANNA10"},
		{"cyrillic A", "АNNA10", "ANNA10"},
		{"cyrillic lower a", "аnna10", "ANNA10"},
		{"every look-alike", "АВЕКМНОРСТХ", "ABEKMHOPCTX"},
		{"every lower look-alike", "авекмнорстх", "ABEKMHOPCTX"},
		{"full-width latin and digits (NFKC)", "ＡＮＮＡ１０", "ANNA10"},
		{"ligature (NFKC)", "ﬁt10", "FIT10"},
		{"other cyrillic kept", "ЖАРА", "ЖAPA"},
		{"inner space kept", "ANNA 10", "ANNA 10"},
		{"empty", "   ", ""},
		{"tab ended", "ANNA10\t", "ANNA10"},
		{"CR LF ended", "anna10\r\n", "ANNA10"},
		{"zero-width space ended", "ANNA10\u200b", "ANNA10"},
		{"byte-order mark first", "\ufeffANNA10", "ANNA10"},
		{"word joiner and zero-width joiners", "\u2060\u200cANNA10\u200d", "ANNA10"},
		{"line and paragraph separators", "\u2028ANNA10\u2029", "ANNA10"},
		{"narrow and math spaces", "\u202fANNA10\u205f", "ANNA10"},
		{"en quad to hair space", "\u2000\u2001\u2005\u200aANNA10", "ANNA10"},
		{"next line (U+0085)", "ANNA10\u0085", "ANNA10"},
		{"soft hyphen and directional marks", "\u00adANNA10\u200e\u200f", "ANNA10"},
		{"variation selector", "ANNA10\ufe0f", "ANNA10"},
		{"hangul filler", "\u3164ANNA10", "ANNA10"},
		{"only invisible characters", "\u200b\ufeff\u00a0", ""},
		{"inner zero-width space kept", "ANNA\u200b10", "ANNA\u200b10"},
		{"inner control kept", "AN\x01NA10\t", "AN\x01NA10"},
		{"trailing control kept", "ANNA10\x00", "ANNA10\x00"},
		{"inner tab kept", "ANNA\t10", "ANNA\t10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Normalize(tc.in); got != tc.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeIsIdempotent(t *testing.T) {
	for _, in := range []string{"аnna10", "ＡＮＮＡ１０", " ﬁt ", "ЖАРА", "straße"} {
		once := Normalize(in)
		if twice := Normalize(once); twice != once {
			t.Errorf("Normalize(Normalize(%q)) = %q, want %q", in, twice, once)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"ok", " anna10 ", "ANNA10", false},
		{"dash and underscore", "summer-sale_10", "SUMMER-SALE_10", false},
		{"cyrillic letters allowed", "ЖАРА", "ЖAPA", false},
		{"empty", "  ", "", true},
		{"inner space", "ANNA 10", "", true},
		{"punctuation", "ANNA!", "", true},
		{"too long", "A234567890123456789012345678901234567890123456789012345678901234X", "", true},
		{"surrounding invisible characters", "\ufeff\u00a0anna10\u200b\t", "ANNA10", false},
		{"control inside", "AN\x01NA10", "", true},
		{"zero-width space inside", "ANNA\u200b10", "", true},
		{"cut by Stored", strings.Repeat("A", MaxStoredLen-1) + truncated, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Validate(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Validate(%q) error %v, want ErrInvalid", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Validate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestTrimRemovesEveryInvisibleCharacter: every character Trim removes
// is removed at either end and kept inside, and Normalize agrees.
func TestTrimRemovesEveryInvisibleCharacter(t *testing.T) {
	count := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || !isSurrounding(r) {
			continue
		}
		count++
		c := string(r)
		if got := Trim(c + "a" + c + "b" + c); got != "a"+c+"b" {
			t.Errorf("Trim(%+q) = %+q, want %+q", c+"a"+c+"b"+c, got, "a"+c+"b")
		}
		if got := Normalize(c + "anna10" + c + c); got != "ANNA10" {
			t.Errorf("Normalize(%+q) = %+q, want ANNA10", c+"anna10"+c+c, got)
		}
	}
	// The characters the product promises to trim, at least.
	for _, r := range []rune{' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xa0, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
		0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x200c, 0x200d, 0x2028, 0x2029, 0x202f, 0x205f,
		0x2060, 0x3000, 0xfeff, 0x180e, 0x1680} {
		if !isSurrounding(r) {
			t.Errorf("%U is not trimmed", r)
		}
	}
	for _, r := range []rune{0, 0x1f, 0x7f, 0x9f, 'A', '-', '_', '.', 0xfffd} {
		if isSurrounding(r) {
			t.Errorf("%U is trimmed", r)
		}
	}
	t.Logf("%d characters trimmed", count)
}

func TestStored(t *testing.T) {
	long := strings.Repeat("Ж", MaxStoredLen+1)
	cases := []struct {
		name, in, want string
	}{
		{"short kept as sent", " anna10\t", " anna10\t"},
		{"control characters kept", "AN\x01NA\x00", "AN\x01NA\x00"},
		{"at the bound", strings.Repeat("Ж", MaxStoredLen), strings.Repeat("Ж", MaxStoredLen)},
		{"long only by its spaces", strings.Repeat(" ", 300) + "ANNA10\u200b", "ANNA10"},
		{"long", long, strings.Repeat("Ж", MaxStoredLen-1) + truncated},
		{"long with spaces", "\t" + long + "\u00a0", strings.Repeat("Ж", MaxStoredLen-1) + truncated},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Stored(tc.in)
			if got != tc.want {
				t.Fatalf("Stored(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
			if n := utf8.RuneCountInString(got); n > MaxStoredLen {
				t.Fatalf("Stored(%+q) has %d characters, over %d", tc.in, n, MaxStoredLen)
			}
		})
	}
}

// checkStored checks Stored's promises on s: at most MaxStoredLen
// characters, and the same normal form as s when s may be an issued code.
func checkStored(t *testing.T, s string) {
	t.Helper()
	st := Stored(s)
	if n := utf8.RuneCountInString(st); n > MaxStoredLen {
		t.Fatalf("Stored(%+q) has %d characters, over %d", s, n, MaxStoredLen)
	}
	if _, err := Validate(s); err == nil && Normalize(st) != Normalize(s) {
		t.Fatalf("Normalize(Stored(%+q)) = %+q, Normalize of it %+q", s, Normalize(st), Normalize(s))
	}
	if _, err := Validate(st); err == nil && Normalize(st) != Normalize(s) {
		t.Fatalf("Stored(%+q) = %+q is a code that %+q is not", s, st, s)
	}
}

func FuzzStored(f *testing.F) {
	f.Add(" anna10 ", 0, 0)
	f.Add("ANNA10", 300, 5)
	f.Add("ᾅ", 3, 120)
	f.Fuzz(func(t *testing.T, s string, pad, repeat int) {
		pad, repeat = pad&0x3ff, repeat&0xff
		s = strings.Repeat("\u200b", pad) + strings.Repeat(s, repeat) + strings.Repeat(" ", pad)
		checkStored(t, s)
	})
}

func FuzzNormalizeIdempotent(f *testing.F) {
	for _, s := range []string{"anna10", "АNNA10", "ＡＮＮＡ１０", "ﬁ", "ǅ", "\u00b4a", "\u3164\u200b\ufeffanna10\u2060", "\u0301\u00a0A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Normalize(s)
		if twice := Normalize(once); twice != once {
			t.Fatalf("Normalize not idempotent on %q: %q then %q", s, once, twice)
		}
		if trimmed := Normalize(Trim(s)); trimmed != once {
			t.Fatalf("Normalize(Trim(%q)) = %q, Normalize says %q", s, trimmed, once)
		}
	})
}

// TestNormalizeASCII: the ASCII path gives what the general one does, for
// every single byte below 0x80 and for random ASCII texts.
func TestNormalizeASCII(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := Normalize(s), normalize(s); got != want {
			t.Errorf("Normalize(%q) = %q, the general path says %q", s, got, want)
		}
	}
	for c := range 0x80 {
		check(string(rune(c)))
		check(" a" + string(rune(c)) + "b\t")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(0x80))
		}
		check(string(b))
	}
	// Random texts mixing ASCII with the characters Trim removes: the
	// ASCII path declines them, and the general path still trims them.
	extra := []string{"\u00a0", "\u200b", "\ufeff", "\u3000", "\u2028", "a", "B", " ", "\t"}
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(extra[rng.IntN(len(extra))])
		}
		s := b.String()
		if want := normalize(strings.TrimFunc(s, isSurrounding)); Normalize(s) != want {
			t.Errorf("Normalize(%+q) = %+q, want %+q", s, Normalize(s), want)
		}
	}
	if _, ok := normalizeASCII("АННА"); ok {
		t.Error("Cyrillic text taken by the ASCII path")
	}
}

// FuzzNormalizeASCII compares the ASCII path with the general one.
func FuzzNormalizeASCII(f *testing.F) {
	f.Add(" anna10 ")
	f.Add("BORIS\x00\x7f")
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := normalizeASCII(s); ok && got != normalize(s) {
			t.Errorf("normalizeASCII(%q) = %q, the general path says %q", s, got, normalize(s))
		}
	})
}

// BenchmarkNormalize measures the texts the attribution worker normalises
// for every placement: ASCII codes as shops send them, and the rarer ones
// that take the general path.
func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, code string }{
		{"ascii-upper", "ANNA10"},
		{"ascii-lower", "anna10"},
		{"ascii-tab-ended", "ANNA10\t"},
		{"no-break-space-ended", "ANNA10\u00a0"},
		{"zero-width-first", "\u200bANNA10"},
		{"cyrillic", "АННА10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Normalize(bc.code)
			}
		})
	}
}
