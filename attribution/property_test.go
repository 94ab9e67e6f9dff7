package attribution

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// finalRow is the last emitted row without what may differ by arrival
// order: whether it is the first row (attributed) or a later one
// (adjusted, with the cause of that arrival).
func finalRow(ev schemas.Event) any {
	switch p := ev.(type) {
	case schemas.OrderAttributed:
		return p.Attribution
	case schemas.OrderEarningsAdjusted:
		return p.Attribution
	}
	return ev
}

// permutations calls f with every permutation of n indexes (Heap's algorithm).
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	c := make([]int, n)
	f(p)
	for i := 0; i < n; {
		if c[i] < i {
			if i%2 == 0 {
				p[0], p[i] = p[i], p[0]
			} else {
				p[c[i]], p[i] = p[i], p[c[i]]
			}
			f(p)
			c[i]++
			i = 0
		} else {
			c[i] = 0
			i++
		}
	}
}

// TestArrivalOrderDoesNotMatter feeds every permutation of each order's
// events (or 300 seeded random ones for long lists) and checks that the last
// emitted row is the same, with version = the number of distinct events.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	tests := []struct {
		name     string
		events   []input
		distinct uint64
		status   string
		earnings string
	}{
		{"refund, confirmation, then a refund and a cancellation after approval", []input{
			placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), confirmed("ok", at(15*day)),
			refunded("r2", at(16*day), "300.00"), cancelled("c", at(17*day))}, 5, "approved", "200.00"},
		{"cancellation before the hold end, hold expiry", []input{
			placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), cancelled("c", at(29*day)),
			holdExpired("h", "off-pct", 30)}, 4, "rejected", "0.00"},
		{"fixed payout, partial then full refund, late confirmation", []input{
			placed("p", t0, "2500.00", "BOB", "ANNA10"), refunded("r1", at(day), "1000.00"), refunded("r2", at(2*day), "1500.00"),
			confirmed("ok", at(3*day))}, 4, "rejected", "0.00"},
		{"confirmation and cancellation at one instant, delivered twice", []input{
			placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(5*day)), cancelled("c", at(5*day)),
			confirmed("ok", at(5*day)), withEventID(cancelled("c", at(5*day)), "ingest-retry")}, 3, "rejected", "0.00"},
		{"unattributed order with later events", []input{
			placed("p", t0, "2500.00", "SOON", "NOPE"), confirmed("ok", at(day)), refunded("r1", at(2*day), "10.00")}, 3, "", ""},
		{"three codes, three refunds, confirmation", []input{
			placed("p", t0, "10000.00", "NOPE", "PAST", "ANNA10"), refunded("r1", at(day), "1000.00"), refunded("r2", at(day), "2000.00"),
			refunded("r3", at(3*day), "0.01"), confirmed("ok", at(4*day)), cancelled("c", at(5*day))}, 6, "approved", "525.00"},
		{"placement re-sent, hold expiry, refund after it", []input{
			placed("p", t0, "999.99", "ANNA10"), placed("p-again", t0, "999.99", "ANNA10"), holdExpired("h", "off-pct", 30),
			refunded("r1", at(31*day), "999.99")}, 3, "approved", "100.00"},
		{"long history (random permutations)", []input{
			placed("p", t0, "5000.00", "АNNА10"), refunded("r1", at(day), "100.00"), refunded("r2", at(day), "200.00"),
			refunded("r1", at(day), "100.00"), refunded("r3", at(2*day), "300.00"), refunded("r4", at(20*day), "4400.00"),
			confirmed("ok", at(21*day)), holdExpired("h", "off-pct", 30)}, 7, "rejected", "0.00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want any
			var wantSummary summary
			runs := 0
			check := func(perm []int) {
				runs++
				ins := make([]input, len(perm))
				for i, j := range perm {
					ins[i] = tc.events[j]
				}
				w := newWorker()
				w.feed(t, false, ins...)
				last := w.last()
				if last.Event == nil {
					t.Fatalf("arrival %v emitted nothing", perm)
				}
				s := summarize(last.Event)
				if s.version != tc.distinct || w.st.Version() != tc.distinct {
					t.Fatalf("arrival %v: final version %d, state version %d, want %d", perm, s.version, w.st.Version(), tc.distinct)
				}
				if s.status != tc.status || s.earnings != tc.earnings {
					t.Fatalf("arrival %v: %s %s, want %s %s", perm, s.status, s.earnings, tc.status, tc.earnings)
				}
				row := finalRow(last.Event)
				if want == nil {
					want, wantSummary = row, s
					if _, err := last.Envelope(t0); err != nil {
						t.Fatalf("final row does not pass NewEnvelope: %v", err)
					}
					return
				}
				if !reflect.DeepEqual(row, want) {
					t.Fatalf("arrival %v:\n got  %+v\n want %+v (%+v)", perm, row, want, wantSummary)
				}
			}
			if len(tc.events) <= 6 {
				permutations(len(tc.events), check)
			} else {
				rng := rand.New(rand.NewPCG(1, 2))
				perm := make([]int, len(tc.events))
				for i := range perm {
					perm[i] = i
				}
				check(perm)
				for range 300 {
					rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
					check(perm)
				}
			}
			t.Logf("%d arrival orders, final %+v", runs, wantSummary)
		})
	}
}

// The engine's own hold expiry depends on when events arrive, yet a
// cancellation that occurred before the hold end wins either way.
func TestHoldExpiryRaceWithLateCancellation(t *testing.T) {
	for _, cancelFirst := range []bool{true, false} {
		w := newWorker()
		w.feed(t, true, placed("p", t0, "2500.00", "ANNA10"))
		cancel := cancelled("c", at(29*day))
		if cancelFirst {
			w.feed(t, true, cancel)
		}
		if h, ok := HoldDue(&w.st); ok {
			env, err := schemas.NewEnvelopeFor(h, h.HoldEndsAt, h.HoldEndsAt.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			w.feed(t, true, input{env: env, ev: &h})
		}
		if !cancelFirst {
			w.feed(t, true, cancel)
		}
		s := summarize(w.last().Event)
		if s.status != "rejected" || s.earnings != "0.00" {
			t.Fatalf("cancel first %v: %+v", cancelFirst, s)
		}
	}
}
