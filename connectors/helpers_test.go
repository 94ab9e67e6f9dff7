package connectors_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/connectors"
)

// translateCase is one delivery and what it must translate to: events, a
// test notification, or a refusal naming a field.
type translateCase struct {
	name      string
	topic     string
	confirmOn string
	body      string
	want      []connectors.Event
	test      bool
	errField  string // the FieldError's field; "-" for the body as a whole
}

var received = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func runTranslate(t *testing.T, platform string, cases []translateCase) {
	t.Helper()
	p, ok := connectors.Lookup(platform)
	if !ok {
		t.Fatalf("platform %s is not registered", platform)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			confirmOn := tc.confirmOn
			if confirmOn == "" {
				confirmOn = p.ConfirmOn[0]
			}
			got, err := p.Translate(connectors.Delivery{Topic: tc.topic, Body: []byte(tc.body), ReceivedAt: received,
				ContentType: "application/json", ConfirmOn: confirmOn})
			if tc.errField != "" {
				var fe *connectors.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("got %+v, %v; want a FieldError naming %q", got, err, tc.errField)
				}
				want := tc.errField
				if want == "-" {
					want = ""
				}
				if fe.Field != want {
					t.Fatalf("FieldError %q names %q, want %q", fe.Error(), fe.Field, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got.Test != tc.test {
				t.Fatalf("Test = %v, want %v", got.Test, tc.test)
			}
			if !reflect.DeepEqual(got.Events, tc.want) && !(len(got.Events) == 0 && len(tc.want) == 0) {
				g, _ := json.MarshalIndent(got.Events, "", " ")
				w, _ := json.MarshalIndent(tc.want, "", " ")
				t.Fatalf("events\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// edit returns the JSON object body with members set (a JSON value each,
// or "" to delete the member).
func edit(t testing.TB, body string, members ...string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("edit: %v", err)
	}
	for i := 0; i+1 < len(members); i += 2 {
		if members[i+1] == "" {
			delete(m, members[i])
			continue
		}
		m[members[i]] = json.RawMessage(members[i+1])
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
