package catalog

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/promocode"
)

func TestCodePrefix(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Anna", "ANNA"},
		{"anna karenina", "ANNA"},
		{"Анна", "ANNA"},
		{"Щукин", "SHCH"},
		{"Юля", "YULY"},
		{"Ёж", "EZH"},
		{"Émile", "EMIL"},
		{"Bo", ""},
		{"Ян", "YAN"},
		{"J. R. R.", "JRR"},
		{"李小龙", ""},
		{"", ""},
		{"  x9 y ", ""},
	} {
		if got := codePrefix(tc.name); got != tc.want {
			t.Errorf("codePrefix(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCodeAlphabet(t *testing.T) {
	if len(codeAlphabet) != 30 {
		t.Fatalf("alphabet of %d characters, want 30", len(codeAlphabet))
	}
	for _, r := range "0O1IL" {
		if strings.ContainsRune(codeAlphabet, r) {
			t.Errorf("alphabet holds the look-alike %q", r)
		}
	}
	bits := CodeRandomLen * math.Log2(float64(len(codeAlphabet)))
	if bits < 34 {
		t.Errorf("random part carries %.1f bits, want at least 34", bits)
	}
}

func TestNewCodeGenerator(t *testing.T) {
	for _, name := range []string{"Анна", "Bo", "Émile Zola"} {
		gen := NewCodeGenerator(name)
		prefix := codePrefix(name)
		seen := map[string]bool{}
		for attempt := range 200 {
			code := gen(attempt)
			random, ok := strings.CutPrefix(code, prefix)
			if !ok || len(random) != CodeRandomLen {
				t.Fatalf("code %q: want %q and %d random characters", code, prefix, CodeRandomLen)
			}
			for _, r := range random {
				if !strings.ContainsRune(codeAlphabet, r) {
					t.Fatalf("code %q holds %q, outside the alphabet", code, r)
				}
			}
			n, err := promocode.Validate(code)
			if err != nil || n != code {
				t.Fatalf("code %q: Validate = %q, %v; want it valid and already normal", code, n, err)
			}
			if seen[code] {
				t.Fatalf("code %q generated twice in 200 draws", code)
			}
			seen[code] = true
		}
	}
}

// TestCodeGeneratorRejectsBiasedBytes: bytes from 240 up would favour the
// first 16 characters, so they are skipped.
func TestCodeGeneratorRejectsBiasedBytes(t *testing.T) {
	random := append(bytes.Repeat([]byte{255, 240}, 8), 0, 1, 29, 30, 59, 239, 100, 7, 7, 7, 7, 7, 7, 7, 7, 7)
	got := newCodeGenerator("Anna", bytes.NewReader(random))(0)
	want := "ANNA" + string([]byte{codeAlphabet[0], codeAlphabet[1], codeAlphabet[29], codeAlphabet[0], codeAlphabet[29], codeAlphabet[29], codeAlphabet[10]})
	if got != want {
		t.Fatalf("code %q, want %q", got, want)
	}
}
