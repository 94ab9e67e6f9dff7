package chproj

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// TestDecisionJSON checks the direct writer against json.Marshal, with
// every field of a candidate set (so a field added to schemas.Candidate
// fails here until the writer has it), omitted, and with strings it must
// leave to json.Marshal.
func TestDecisionJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	moscow := at.In(time.FixedZone("MSK", 3*3600))
	full := schemas.Candidate{}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("v-" + v.Type().Field(i).Name)
		case reflect.Pointer:
			f.Set(reflect.ValueOf(&at))
		default:
			t.Fatalf("schemas.Candidate.%s is a %s: teach plainDecisionJSON about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	cases := []struct {
		name  string
		d     schemas.Decision
		plain bool
	}{
		{"nil candidates", schemas.Decision{}, true},
		{"every field", schemas.Decision{Candidates: []schemas.Candidate{full}}, true},
		{"omitted fields", schemas.Decision{Candidates: []schemas.Candidate{{Code: "anna10", NormalizedCode: "ANNA10", Outcome: schemas.OutcomeUnknownCode}}}, true},
		{"two, other zone", schemas.Decision{Candidates: []schemas.Candidate{full, {Code: "b", NormalizedCode: "B", Outcome: schemas.OutcomePassedOver,
			CreatorID: "crt_1", ActiveFrom: &moscow}}}, true},
		{"html", schemas.Decision{Candidates: []schemas.Candidate{{Code: "a<b>&c", NormalizedCode: "A", Outcome: "won"}}}, false},
		{"quote and backslash", schemas.Decision{Candidates: []schemas.Candidate{{Code: `a"b\c`, NormalizedCode: "A", Outcome: "won"}}}, false},
		{"unicode", schemas.Decision{Candidates: []schemas.Candidate{{Code: "анна10", NormalizedCode: "ANNA10", Outcome: "won"}}}, false},
		{"control", schemas.Decision{Candidates: []schemas.Candidate{{Code: "a\nb", NormalizedCode: "A", Outcome: "won"}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.d
			if want.Candidates == nil {
				want.Candidates = []schemas.Candidate{}
			}
			wb, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decisionJSON(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(wb) {
				t.Fatalf("got  %s\nwant %s", got, wb)
			}
			if _, plain := plainDecisionJSON(want); plain != tc.plain {
				t.Fatalf("written directly: %v, want %v", plain, tc.plain)
			}
		})
	}
}
