package e2eload

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEarnings(t *testing.T) {
	fixed := Payout{Value: 15000, Currency: "RUB"}
	pct := Payout{Percent: true, Value: 10, Currency: "USD"}
	cases := []struct {
		name   string
		p      Payout
		net    int64
		status string
		want   int64
	}{
		{"fixed pending", fixed, 123456, StatusPending, 15000},
		{"fixed approved after a partial refund is still whole", fixed, 100, StatusApproved, 15000},
		{"fixed rejected", fixed, 123456, StatusRejected, 0},
		{"percent exact", pct, 100000, StatusApproved, 10000},
		{"percent rounds half up", pct, 123455, StatusPending, 12346},
		{"percent rounds down below half", pct, 123454, StatusPending, 12345},
		{"percent rejected", pct, 123456, StatusRejected, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Earnings(tc.p, tc.net, tc.status); got != tc.want {
				t.Errorf("Earnings(%+v, %d, %s) = %d, want %d", tc.p, tc.net, tc.status, got, tc.want)
			}
		})
	}
}

// wireEvent is an event as the webhook reads it.
type wireEvent struct {
	EventID      string   `json:"event_id"`
	Type         string   `json:"type"`
	OrderID      string   `json:"order_id"`
	OccurredAt   string   `json:"occurred_at"`
	PromoCodes   []string `json:"promo_codes"`
	Amount       string   `json:"amount"`
	Currency     string   `json:"currency"`
	RefundAmount string   `json:"refund_amount"`
}

// TestStreamOutcomes decodes the stream's events as the webhook would and
// recomputes every order's outcome from them with the rules, independently
// of how Next chose it.
func TestStreamOutcomes(t *testing.T) {
	brands := []Brand{
		{ID: "b0", Payout: Payout{Value: 15000, Currency: "RUB"}, Codes: []Code{{"AAA", 0}, {"BBB", 1}}},
		{ID: "b1", Payout: Payout{Percent: true, Value: 10, Currency: "USD"}, Codes: []Code{{"CCC", 1}, {"DDD", 2}}},
	}
	owner := map[string]int{"AAA": 0, "BBB": 1, "CCC": 1, "DDD": 2}
	s := NewStream("r1", brands, DefaultMix, 7)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	seen := map[string]int{}
	for i := 0; i < 5000; i++ {
		o := s.Next(now)
		var placed *wireEvent
		var follow []wireEvent
		all := append(append([]Event(nil), o.Now...), o.Later...)
		for _, e := range all {
			var w wireEvent
			if err := json.Unmarshal(e.JSON, &w); err != nil {
				t.Fatalf("order %s: event %s is not JSON: %v", o.ID, e.JSON, err)
			}
			if w.OrderID != o.ID || e.Brand != o.Brand {
				t.Fatalf("event %s: order %s brand %d, want %s %d", e.JSON, w.OrderID, e.Brand, o.ID, o.Brand)
			}
			if e.Dup {
				continue
			}
			seen[w.EventID]++
			if w.Type == "order.placed" {
				placed = &w
			} else {
				follow = append(follow, w)
			}
		}
		if placed == nil || len(follow) > 1 {
			t.Fatalf("order %s: placed %v, %d later events", o.ID, placed != nil, len(follow))
		}
		creator := -1
		for _, c := range placed.PromoCodes {
			if k, ok := owner[strings.ToUpper(strings.TrimSpace(c))]; ok {
				creator = k
				break
			}
		}
		amount, err := ParseMinor(placed.Amount)
		if err != nil {
			t.Fatal(err)
		}
		status, net := StatusPending, amount
		if len(follow) == 1 {
			switch f := follow[0]; f.Type {
			case "order.confirmed":
				status = StatusApproved
			case "order.cancelled":
				status = StatusRejected
			case "order.refunded":
				r, err := ParseMinor(f.RefundAmount)
				if err != nil {
					t.Fatal(err)
				}
				if net -= r; net == 0 {
					status = StatusRejected
				}
			}
		}
		want := Outcome{Creator: creator, Currency: brands[o.Brand].Payout.Currency}
		if creator >= 0 {
			want.Status = status
			want.Earnings = Earnings(brands[o.Brand].Payout, net, status)
		}
		if o.Outcome != want {
			t.Fatalf("order %s: outcome %+v, want %+v (events %s)", o.ID, o.Outcome, want, all[0].JSON)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event id %s generated %d times", id, n)
		}
	}
}

// TestStreamMix checks that every kind of order the stream promises occurs.
func TestStreamMix(t *testing.T) {
	brands := []Brand{{ID: "b0", Payout: Payout{Value: 100, Currency: "RUB"}, Codes: []Code{{"AAA", 0}, {"BBB", 1}}}}
	s := NewStream("r", brands, DefaultMix, 1)
	counts := map[string]int{}
	for i := 0; i < 20000; i++ {
		o := s.Next(time.Unix(0, 0))
		if len(o.Later) > 0 && o.Later[len(o.Later)-1].Dup {
			counts["duplicate"]++
		}
		if !o.Now[0].Placed {
			counts["out of order"]++
		}
		if o.Outcome.Creator < 0 {
			counts["unattributed"]++
		} else {
			counts[o.Outcome.Status]++
		}
		if strings.Contains(string(o.Now[0].JSON), `\t"`) {
			counts["typed"]++
		}
		for _, e := range append(o.Now, o.Later...) {
			var w wireEvent
			if err := json.Unmarshal(e.JSON, &w); err != nil {
				t.Fatal(err)
			}
			if !e.Dup && len(w.PromoCodes) > 1 {
				counts["several codes"]++
			}
		}
	}
	for _, k := range []string{"duplicate", "out of order", "unattributed", StatusPending, StatusApproved, StatusRejected, "typed", "several codes"} {
		if counts[k] < 100 {
			t.Errorf("%s: %d of 20000 orders, want at least 100 (counts %v)", k, counts[k], counts)
		}
	}
}

func TestParseMinor(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"150.00", 15000, true},
		{"0", 0, true},
		{"12.5", 1250, true},
		{"-3.07", -307, true},
		{"1.234", 0, false},
		{"", 0, false},
		{"1.x", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMinor(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseMinor(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	want := Totals{Orders: 3, ByStatus: map[string]int64{StatusPending: 2, StatusApproved: 1}, Earnings: map[string]int64{"RUB": 300}}
	cases := []struct {
		name  string
		got   Totals
		lines int
	}{
		{"equal, a zero currency counts as missing", Totals{Orders: 3, ByStatus: map[string]int64{StatusPending: 2, StatusApproved: 1, StatusRejected: 0}, Earnings: map[string]int64{"RUB": 300, "USD": 0}}, 0},
		{"an order lost", Totals{Orders: 2, ByStatus: map[string]int64{StatusPending: 1, StatusApproved: 1}, Earnings: map[string]int64{"RUB": 300}}, 2},
		{"a kopeck off", Totals{Orders: 3, ByStatus: map[string]int64{StatusPending: 2, StatusApproved: 1}, Earnings: map[string]int64{"RUB": 301}}, 1},
		{"another currency", Totals{Orders: 3, ByStatus: map[string]int64{StatusPending: 2, StatusApproved: 1}, Earnings: map[string]int64{"RUB": 300, "USD": 1}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(want, tc.got); len(got) != tc.lines {
				t.Errorf("Diff = %q, want %d lines", got, tc.lines)
			}
		})
	}
}
