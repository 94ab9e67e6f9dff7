package rediskey_test

import (
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/internal/rediskey"
)

func TestSeg(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{"empty", "", ""},
		{"plain", "order-42_a.b", "order-42_a.b"},
		{"colon", "a:b", "a%3Ab"},
		{"braces make no hash tag", "{brand}", "%7Bbrand%7D"},
		{"percent", "100%", "100%25"},
		{"an escape as input", "%3A", "%253A"},
		{"every special", "%:{}", "%25%3A%7B%7D"},
		{"non-ASCII kept", "заказ:№1", "заказ%3A№1"},
		{"glob characters kept", "a*b?[c]\\", "a*b?[c]\\"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rediskey.Seg(tc.id)
			if got != tc.want {
				t.Fatalf("Seg(%q) = %q, want %q", tc.id, got, tc.want)
			}
			if strings.ContainsAny(got, ":{}") {
				t.Errorf("Seg(%q) = %q keeps a separator or a brace", tc.id, got)
			}
			if back := rediskey.Unseg(got); back != tc.id {
				t.Errorf("Unseg(%q) = %q, want %q", got, back, tc.id)
			}
		})
	}
}

func TestUnsegLeavesPlainText(t *testing.T) {
	tests := []struct {
		name, s, want string
	}{
		{"no escape", "a-b", "a-b"},
		{"unknown escape kept", "%41", "%41"},
		{"lone percent kept", "50%", "50%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rediskey.Unseg(tc.s); got != tc.want {
				t.Fatalf("Unseg(%q) = %q, want %q", tc.s, got, tc.want)
			}
		})
	}
}

// TestSegDoesNotAllocateForPlainIDs guards the fast path: the worker
// builds a key with Seg for every event.
func TestSegDoesNotAllocateForPlainIDs(t *testing.T) {
	id := strings.Repeat("order-1234567890", 4)
	var out string
	if n := testing.AllocsPerRun(100, func() { out = rediskey.Seg(id) }); n != 0 {
		t.Fatalf("Seg of an id with nothing to escape allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { out = rediskey.Unseg(id) }); n != 0 {
		t.Fatalf("Unseg of a string with no escape allocates %v times, want 0", n)
	}
	_ = out
}

func BenchmarkSeg(b *testing.B) {
	for _, id := range []string{"order-1234567890", "brand:{1}"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = rediskey.Seg(id)
			}
		})
	}
}
