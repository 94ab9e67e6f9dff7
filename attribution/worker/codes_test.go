package worker_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// TestCodesAsShoppersTypeThem: through the broker, the real code index in
// Redis and the worker, a code with surrounding white space of any kind
// is attributed to its creator, and one with a control character inside,
// or cut by promocode.Stored, leaves the order unattributed (unknown_code)
// with its text as sent in the row's promo_codes and candidates.
func TestCodesAsShoppersTypeThem(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.clock.Set(at(placedAt + time.Hour))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	p := at(placedAt)
	long := promocode.Stored(strings.Repeat("ANNA10", 40))
	codes := map[string]string{
		"o-tab":     codeAnna + "\t",
		"o-pasted":  "\u00a0\u200b" + strings.ToLower(codeAnna) + "\r\n\ufeff",
		"o-control": "ANNA\x0110",
		"o-nul":     codeAnna + "\x00",
		"o-long":    long,
	}
	var evs []schemas.Envelope
	for id, code := range codes {
		evs = append(evs, placed(t, id, p, "1000.00", code))
	}
	r.append(schemas.TopicOrders, evs...)
	r.runWorker()
	rows := waitRows(t, r.store, map[string]want{
		"o-tab":     {typ: attributed, status: schemas.StatusPending, earnings: fixedPayout, version: 1, winner: codeAnna},
		"o-pasted":  {typ: attributed, status: schemas.StatusPending, earnings: fixedPayout, version: 1, winner: codeAnna},
		"o-control": {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"o-nul":     {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
		"o-long":    {typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1},
	}, 30*time.Second)

	for _, id := range []string{"o-tab", "o-pasted"} {
		var a schemas.OrderAttributed
		if err := json.Unmarshal([]byte(rows[id][0].payload), &a); err != nil {
			t.Fatal(err)
		}
		if a.CreatorID != anna || len(a.Decision.Candidates) != 1 || a.Decision.Candidates[0].Code != codes[id] {
			t.Errorf("%s: creator %q, candidates %+v; want %s's, with the code %+q as sent", id, a.CreatorID, a.Decision.Candidates, anna, codes[id])
		}
	}
	for _, id := range []string{"o-control", "o-nul", "o-long"} {
		var u schemas.OrderUnattributed
		if err := json.Unmarshal([]byte(rows[id][0].payload), &u); err != nil {
			t.Fatal(err)
		}
		c := u.Decision.Candidates
		if !slices.Equal(u.PromoCodes, []string{codes[id]}) || len(c) != 1 || c[0].Code != codes[id] || c[0].Outcome != schemas.OutcomeUnknownCode {
			t.Errorf("%s: promo_codes %+q, candidates %+v; want the text %+q as sent, unknown_code", id, u.PromoCodes, c, codes[id])
		}
		if u.Amount != "1000.00" {
			t.Errorf("%s: amount %q, want the order's 1000.00", id, u.Amount)
		}
	}
}
