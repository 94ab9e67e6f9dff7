package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// TestCodesAsShoppersTypeThem: whatever text a code has, the batch is
// accepted and the log keeps the text as sent (bounded by
// promocode.Stored); matching it is the attribution worker's business.
func TestCodesAsShoppersTypeThem(t *testing.T) {
	r := newRig(t, rigOptions{})
	long := strings.Repeat("Ж", promocode.MaxStoredLen+50)
	tests := []struct {
		order, codes string
		want         []string
	}{
		{"A-1", `["anna10\t"]`, []string{"anna10\t"}},
		{"A-2", `["\r\n\u00a0ANNA10\u200b\ufeff"]`, []string{"\r\n\u00a0ANNA10\u200b\ufeff"}},
		{"A-3", `["AN\u0001NA10","ANNA10\u0000"]`, []string{"AN\x01NA10", "ANNA10\x00"}},
		{"A-4", `["` + long + `"]`, []string{promocode.Stored(long)}},
		{"A-5", `["\ud800"]`, []string{"\uFFFD"}},
	}
	events := make([]string, len(tests))
	for i, tc := range tests {
		events[i] = strings.Replace(placed(fmt.Sprintf("e%d", i), tc.order), `["anna10"]`, tc.codes, 1)
	}
	r.post(batch(events...)).expectAccepted(t, len(tests), 0)
	got := map[string][]string{}
	for _, env := range r.events() {
		ev, err := schemas.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		p := ev.(*schemas.OrderPlaced)
		got[p.OrderID] = p.PromoCodes
		if err := schemas.Validate(env.Type, env.SchemaVersion, env.Payload); err != nil {
			t.Errorf("order %s: the payload fails its schema: %v", p.OrderID, err)
		}
	}
	for _, tc := range tests {
		if !slices.Equal(got[tc.order], tc.want) {
			t.Errorf("order %s: codes %+q in the log, want %+q", tc.order, got[tc.order], tc.want)
		}
	}
}

// TestOversizedBodyIsAnswered: a client that writes a body over the limit
// whole before reading (a plain TCP client: net/http's stops writing on an
// early answer) reads a 413 in the API's error shape, with Connection:
// close, instead of a reset connection; nothing is recorded.
func TestOversizedBodyIsAnswered(t *testing.T) {
	r := newRig(t, rigOptions{})
	body := bytes.Repeat([]byte("x"), 6<<20)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			header := http.Header{}
			header.Set(ingest.HeaderBrandID, r.brand)
			header.Set(ingest.HeaderSignature, ingest.Sign(r.secret, time.Now(), body))
			resp, raw := testenv.RawPost(t, strings.TrimPrefix(r.srv.URL, "http://"), "/v1/webhooks/orders", header, body, chunked)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %q", resp.StatusCode, raw)
			}
			if !resp.Close || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Connection close %v, Content-Type %q; want close and application/json", resp.Close, resp.Header.Get("Content-Type"))
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code != "too_large" || !strings.Contains(e.Error.Message, "body larger than") {
				t.Errorf("answer %q (%v), want the error shape with code too_large", raw, err)
			}
		})
	}
	if got := r.events(); len(got) != 0 {
		t.Errorf("%d events in the log after oversized bodies, want none", len(got))
	}
}
