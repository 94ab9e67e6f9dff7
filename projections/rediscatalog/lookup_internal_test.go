package rediscatalog

import (
	"fmt"
	"testing"
	"time"
)

// TestCodeMemo: a record decodes the same from the memo as from its JSON,
// other bytes are other records, bad JSON is an error every time, and the
// memo starts over once full.
func TestCodeMemo(t *testing.T) {
	var m codeMemo
	a := `{"creator_id":"c1","offer_id":"o1","platform":"instagram","code":"ANNA10","active_from":"2026-01-02T03:04:05Z"}`
	want := codeRecord{CreatorID: "c1", OfferID: "o1", Platform: "instagram", Code: "ANNA10", ActiveFrom: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := range 2 {
		got, err := m.decode(a)
		if err != nil || !got.ActiveFrom.Equal(want.ActiveFrom) || got.CreatorID != want.CreatorID || got.OfferID != want.OfferID ||
			got.Platform != want.Platform || got.Code != want.Code {
			t.Fatalf("decode %d: got %+v, %v; want %+v", i, got, err, want)
		}
	}
	b := `{"creator_id":"c2","offer_id":"o1","platform":"instagram","code":"ANNA10","active_from":"2026-01-02T03:04:05Z"}`
	if got, err := m.decode(b); err != nil || got.CreatorID != "c2" {
		t.Fatalf("other bytes: got %+v, %v; want creator c2", got, err)
	}
	for i := range 2 {
		if _, err := m.decode(`{"creator_id":`); err == nil {
			t.Fatalf("bad JSON, try %d: no error", i)
		}
	}
	for i := range maxCodeMemo + 1 {
		if _, err := m.decode(fmt.Sprintf(`{"creator_id":"c%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.m); n > maxCodeMemo {
		t.Fatalf("memo holds %d records, more than %d", n, maxCodeMemo)
	}
}
