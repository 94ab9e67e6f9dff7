package promocode

import (
	"errors"
	"math/rand/v2"
	"testing"
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

func FuzzNormalizeIdempotent(f *testing.F) {
	for _, s := range []string{"anna10", "АNNA10", "ＡＮＮＡ１０", "ﬁ", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Normalize(s)
		if twice := Normalize(once); twice != once {
			t.Fatalf("Normalize not idempotent on %q: %q then %q", s, once, twice)
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
