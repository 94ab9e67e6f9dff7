package attribution

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

func TestRules(t *testing.T) {
	const pct10 = "percent 10 RUB/30"
	const fixed150 = "fixed 150.00 RUB/14"
	tests := []struct {
		name     string
		events   []input
		want     summary
		outcomes []string // every candidate's outcome, in list order
	}{
		// Codes.
		{"unknown code", []input{placed("p", t0, "2500.00", "NOPE")},
			summary{kind: "unattributed", amount: "2500.00", reason: "unknown_code", version: 1}, []string{"unknown_code"}},
		{"code of another brand is unknown here", []input{placed("p", t0, "2500.00", "OTHER")},
			summary{kind: "unattributed", amount: "2500.00", reason: "unknown_code", version: 1}, []string{"unknown_code"}},
		{"code confirmed after placement is not active", []input{placed("p", t0, "2500.00", "SOON")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_not_active", version: 1}, []string{"code_not_active"}},
		{"code revoked before placement", []input{placed("p", t0, "2500.00", "OLD")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_revoked", version: 1}, []string{"code_revoked"}},
		{"code revoked at the placed instant", []input{placed("p", t0, "2500.00", "EDGE")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_revoked", version: 1}, []string{"code_revoked"}},
		{"code revoked after placement still wins", []input{placed("p", at(-time.Second), "2500.00", "EDGE")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-edge", promoCode: "EDGE", terms: pct10, version: 1}, []string{"won"}},
		{"code confirmed at the placed instant wins", []input{placed("p", t0, "2500.00", "NOW")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-now", promoCode: "NOW", terms: pct10, version: 1}, []string{"won"}},
		{"case and surrounding space are ignored", []input{placed("p", t0, "2500.00", "  anna10\t")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"pasted with invisible characters around", []input{placed("p", t0, "2500.00", "\u00a0\u200banna10\r\n\ufeff")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"control character inside: unknown, never poison", []input{placed("p", t0, "2500.00", "ANN\x01A10")},
			summary{kind: "unattributed", amount: "2500.00", reason: "unknown_code", version: 1}, []string{"unknown_code"}},
		{"longer than any code: unknown, never poison", []input{placed("p", t0, "2500.00", strings.Repeat("ANNA10", 33), "BOB")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "150.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 1}, []string{"unknown_code", "won"}},
		{"Cyrillic look-alike letters match", []input{placed("p", t0, "2500.00", "АNNА10")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"full-width letters match", []input{placed("p", t0, "2500.00", "ａｎｎａ１０")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"first active code wins, the others are passed over or explained",
			[]input{placed("p", t0, "2500.00", "NOPE", "SOON", "OLD", "ANNA10", "BOB", "anna10")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1},
			[]string{"unknown_code", "code_not_active", "code_revoked", "won", "passed_over", "passed_over"}},
		{"several failing codes: the first code's reason", []input{placed("p", t0, "2500.00", "SOON", "OLD", "NOPE")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_not_active", version: 1},
			[]string{"code_not_active", "code_revoked", "unknown_code"}},
		{"blank codes are skipped for the reason", []input{placed("p", t0, "2500.00", "", "  ", "OLD")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_revoked", version: 1},
			[]string{"unknown_code", "unknown_code", "code_revoked"}},
		{"no code", []input{placed("p", t0, "2500.00")},
			summary{kind: "unattributed", amount: "2500.00", reason: "no_code", version: 1}, []string{}},
		{"only blank codes is no code", []input{placed("p", t0, "2500.00", " ")},
			summary{kind: "unattributed", amount: "2500.00", reason: "no_code", version: 1}, []string{"unknown_code"}},
		{"text reused after revocation: the new code wins", []input{placed("p", t0, "2500.00", "leo")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "150.00", earningsCurrency: "RUB",
				winner: "c-leo2", promoCode: "LEO", terms: fixed150, version: 1}, []string{"won"}},
		{"text reused after revocation: between the two it is revoked", []input{placed("p", at(-3*day), "2500.00", "leo")},
			summary{kind: "unattributed", amount: "2500.00", reason: "code_revoked", version: 1}, []string{"code_revoked"}},
		{"text reused after revocation: during the old one, the old one wins", []input{placed("p", at(-6*day), "2500.00", "leo")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-leo1", promoCode: "LEO", terms: pct10, version: 1}, []string{"won"}},

		// Money.
		{"percent of the amount", []input{placed("p", t0, "1999.99", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "1999.99", net: "1999.99", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"percent rounds half away from zero once", []input{placed("p", t0, "0.05", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "0.05", net: "0.05", earnings: "0.01", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"percent in the order's currency", []input{placedOn(order, "p", t0, "1005", "JPY", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "1005", net: "1005", earnings: "101", earningsCurrency: "JPY",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"fixed payout is paid once with three codes", []input{placed("p", t0, "2500.00", "BOB", "bob", "BOBBY")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "150.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 1}, []string{"won", "passed_over", "passed_over"}},
		{"fixed payout in its own currency", []input{placedOn(order, "p", t0, "10.00", "EUR", "BOB")},
			summary{kind: "attributed", status: "pending", amount: "10.00", net: "10.00", earnings: "150.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 1}, []string{"won"}},
		{"partial refund lowers percent earnings", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00")},
			summary{kind: "adjusted", status: "pending", amount: "2500.00", net: "2000.00", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"two partial refunds", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), refunded("r2", at(2*day), "700.55")},
			summary{kind: "adjusted", status: "pending", amount: "2500.00", net: "1299.45", earnings: "129.95", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"partial refund does not lower a fixed payout", []input{placed("p", t0, "2500.00", "BOB"), refunded("r1", at(day), "2000.00")},
			summary{kind: "adjusted", status: "pending", amount: "2500.00", net: "500.00", earnings: "150.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 2}, []string{"won"}},
		{"full refund rejects with zero earnings", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "2500.00")},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "0.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"partial refunds adding up to the amount reject", []input{placed("p", t0, "2500.00", "BOB"), refunded("r1", at(day), "1000.00"), refunded("r2", at(2*day), "1500.01")},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "0.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 3}, []string{"won"}},
		{"cancellation rejects with zero earnings", []input{placed("p", t0, "2500.00", "BOB"), cancelled("c", at(day))},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "2500.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 2}, []string{"won"}},

		// Statuses.
		{"confirmation approves", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(15*day))},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"hold expiry approves", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "100.00"), holdExpired("h", "off-pct", 30)},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "2400.00", earnings: "240.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"cancellation after approval keeps earnings", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(15*day)), cancelled("c", at(20*day))},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"refund after approval is recorded, earnings stay", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(15*day)), refunded("r1", at(20*day), "2500.00")},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "0.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"refund before approval counts, one after it does not", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"),
			confirmed("ok", at(15*day)), refunded("r2", at(20*day), "1000.00")},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "1000.00", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 4}, []string{"won"}},
		{"cancellation that occurred before a confirmation wins though it arrives later", []input{placed("p", t0, "2500.00", "ANNA10"),
			confirmed("ok", at(15*day)), cancelled("c", at(10*day))},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "2500.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"cancellation at the instant of the confirmation wins", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(15*day)), cancelled("c", at(15*day))},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "2500.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"confirmation after a cancellation does not approve", []input{placed("p", t0, "2500.00", "ANNA10"), cancelled("c", at(day)), confirmed("ok", at(15*day))},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "2500.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"cancellation after the hold end keeps the approval", []input{placed("p", t0, "2500.00", "ANNA10"), cancelled("c", at(31*day)), holdExpired("h", "off-pct", 30)},
			summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},
		{"cancellation before the hold end rejects though it arrives after the hold expiry", []input{placed("p", t0, "2500.00", "ANNA10"),
			holdExpired("h", "off-pct", 30), cancelled("c", at(29*day))},
			summary{kind: "adjusted", status: "rejected", amount: "2500.00", net: "2500.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 3}, []string{"won"}},

		// Out of order and twice.
		{"duplicate event id is ignored", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), refunded("r1", at(day), "500.00")},
			summary{kind: "adjusted", status: "pending", amount: "2500.00", net: "2000.00", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"same shop event id under a new event id is ignored", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"),
			withEventID(refunded("r1", at(day), "500.00"), "ingest-retry")},
			summary{kind: "adjusted", status: "pending", amount: "2500.00", net: "2000.00", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"placement re-sent under a new shop event id is ignored", []input{placed("p", t0, "2500.00", "ANNA10"), placed("p-again", t0, "2500.00", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"confirmation before placement", []input{confirmed("ok", at(15*day)), placed("p", t0, "2500.00", "ANNA10")},
			summary{kind: "attributed", status: "approved", amount: "2500.00", net: "2500.00", earnings: "250.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 2}, []string{"won"}},
		{"refund and cancellation before placement", []input{refunded("r1", at(day), "500.00"), cancelled("c", at(2*day)), placed("p", t0, "2500.00", "BOB")},
			summary{kind: "attributed", status: "rejected", amount: "2500.00", net: "2000.00", earnings: "0.00", earningsCurrency: "RUB",
				winner: "c-bob", promoCode: "BOB", terms: fixed150, version: 3}, []string{"won"}},
		{"unattributed order updates carry the version", []input{placed("p", t0, "2500.00", "NOPE"), confirmed("ok", at(day))},
			summary{kind: "unattributed", amount: "2500.00", reason: "unknown_code", version: 2}, []string{"unknown_code"}},

		// Terms.
		{"terms changed after placement don't apply", []input{placed("p", t0, "1000.00", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "1000.00", net: "1000.00", earnings: "100.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: pct10, version: 1}, []string{"won"}},
		{"terms changed before placement apply", []input{placed("p", t0, "1000.00", "PAST")},
			summary{kind: "attributed", status: "pending", amount: "1000.00", net: "1000.00", earnings: "75.00", earningsCurrency: "RUB",
				winner: "c-past", promoCode: "PAST", terms: "percent 7.5 RUB/30", version: 1}, []string{"won"}},
		{"order placed after a later change gets the new terms", []input{placed("p", at(2*time.Hour), "1000.00", "ANNA10")},
			summary{kind: "attributed", status: "pending", amount: "1000.00", net: "1000.00", earnings: "200.00", earningsCurrency: "RUB",
				winner: "c-anna", promoCode: "ANNA10", terms: "percent 20 RUB/30", version: 1}, []string{"won"}},
		{"offer with no terms at placed time: its first terms", []input{placed("p", t0, "1000.00", "EARLY")},
			summary{kind: "attributed", status: "pending", amount: "1000.00", net: "1000.00", earnings: "99.99", earningsCurrency: "USD",
				winner: "c-early", promoCode: "EARLY", terms: "fixed 99.99 USD/7", version: 1}, []string{"won"}},
		{"paused offer still pays an active code", []input{placed("p", t0, "1000.00", "PAUSE")},
			summary{kind: "attributed", status: "pending", amount: "1000.00", net: "1000.00", earnings: "50.00", earningsCurrency: "RUB",
				winner: "c-pause", promoCode: "PAUSE", terms: "fixed 50.00 RUB/7", version: 1}, []string{"won"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorker()
			w.feed(t, true, tc.events...)
			last := w.last()
			got := summarize(last.Event)
			if got != tc.want {
				t.Fatalf("final row:\n got  %+v\n want %+v", got, tc.want)
			}
			var outcomes []string
			for _, c := range candidatesOf(last.Event) {
				outcomes = append(outcomes, c.Outcome)
			}
			if !slices.Equal(outcomes, tc.outcomes) && (len(outcomes) != 0 || len(tc.outcomes) != 0) {
				t.Fatalf("candidate outcomes = %v, want %v", outcomes, tc.outcomes)
			}
			if got.version != w.st.Version() {
				t.Fatalf("final version %d, distinct events %d", got.version, w.st.Version())
			}
			// Versions strictly grow, the first row of an attributed order is
			// order.attributed and the later ones are adjustments.
			for i, o := range w.emitted {
				s := summarize(o.Event)
				if i > 0 && s.version <= summarize(w.emitted[i-1].Event).version {
					t.Fatalf("row %d has version %d after %d", i, s.version, summarize(w.emitted[i-1].Event).version)
				}
				if s.kind == "attributed" && i > 0 || s.kind == "adjusted" && i == 0 {
					t.Fatalf("row %d is %s", i, s.kind)
				}
			}
		})
	}
}

func TestDecisionExplains(t *testing.T) {
	w := newWorker()
	w.feed(t, true, placed("p", t0, "2500.00", "SOON", "OLD", "АNNА10", "BOB"))
	a, ok := w.last().Event.(schemas.OrderAttributed)
	if !ok {
		t.Fatalf("got %T", w.last().Event)
	}
	want := []schemas.Candidate{
		{Code: "SOON", NormalizedCode: "SOON", Outcome: "code_not_active", CreatorID: "c-soon", OfferID: "off-pct", RequestID: "r-soon", ActiveFrom: ptr(at(time.Hour))},
		{Code: "OLD", NormalizedCode: "OLD", Outcome: "code_revoked", CreatorID: "c-old", OfferID: "off-pct", RequestID: "r-old", ActiveFrom: ptr(at(-10 * day)), RevokedAt: ptr(at(-day))},
		{Code: "АNNА10", NormalizedCode: "ANNA10", Outcome: "won", CreatorID: "c-anna", OfferID: "off-pct", RequestID: "r-anna", ActiveFrom: ptr(at(-10 * day))},
		{Code: "BOB", NormalizedCode: "BOB", Outcome: "passed_over", CreatorID: "c-bob", OfferID: "off-fixed", RequestID: "r-bob", ActiveFrom: ptr(at(-10 * day))},
	}
	got := a.Decision.Candidates
	if len(got) != len(want) {
		t.Fatalf("candidates = %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Code != w.Code || g.NormalizedCode != w.NormalizedCode || g.Outcome != w.Outcome || g.CreatorID != w.CreatorID ||
			g.OfferID != w.OfferID || g.RequestID != w.RequestID || !timeEq(g.ActiveFrom, w.ActiveFrom) || !timeEq(g.RevokedAt, w.RevokedAt) {
			t.Errorf("candidate %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
	if a.OfferName != "Winter sale" || a.RequestID != "r-anna" || a.Platform != "instagram" || a.Country != "RU" ||
		!a.PlacedAt.Equal(t0) || !a.LastEventAt.Equal(t0) {
		t.Fatalf("row = %+v", a.Attribution)
	}
	if !w.last().OccurredAt.Equal(t0) {
		t.Fatalf("envelope time = %s", w.last().OccurredAt)
	}
}

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestAdjustmentCauseAndTimes(t *testing.T) {
	w := newWorker()
	w.feed(t, true, placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), confirmed("ok", at(15*day)))
	causes := []string{}
	for _, o := range w.emitted[1:] {
		causes = append(causes, o.Event.(schemas.OrderEarningsAdjusted).Cause)
	}
	if !slices.Equal(causes, []string{"order.refunded", "order.confirmed"}) {
		t.Fatalf("causes = %v", causes)
	}
	row := w.last().Event.(schemas.OrderEarningsAdjusted)
	// A late event never re-dates the order.
	if !row.PlacedAt.Equal(t0) || !row.LastEventAt.Equal(at(15*day)) || !w.last().OccurredAt.Equal(at(15*day)) {
		t.Fatalf("placed %s, last event %s", row.PlacedAt, row.LastEventAt)
	}
}

func TestApplyDuplicates(t *testing.T) {
	var st OrderState
	p := placed("p", t0, "2500.00", "ANNA10")
	for i, want := range []bool{true, false} {
		changed, err := Apply(&st, p.env, p.ev)
		if err != nil || changed != want {
			t.Fatalf("apply %d: changed %v, err %v; want %v", i, changed, err, want)
		}
	}
	h := holdExpired("h1", "off-pct", 30)
	if changed, _ := Apply(&st, h.env, h.ev); !changed {
		t.Fatal("first hold expiry not applied")
	}
	// A second hold expiry (the engine re-emitted it after a crash) is a duplicate.
	h2 := holdExpired("h2", "off-pct", 30)
	if changed, err := Apply(&st, h2.env, h2.ev); changed || err != nil {
		t.Fatalf("second hold expiry: changed %v, err %v", changed, err)
	}
	if st.Version() != 2 {
		t.Fatalf("version = %d, want 2", st.Version())
	}
	// Values work as well as the pointers Decode returns.
	c := confirmed("ok", at(day))
	if changed, err := Apply(&st, c.env, *c.ev.(*schemas.OrderConfirmed)); !changed || err != nil {
		t.Fatalf("value payload: changed %v, err %v", changed, err)
	}
}

// TestApplyManyEvents applies more events than an order's small sets hold
// before they become maps: every duplicate is still recognised, by event id
// and by shop_event_id, and a reused shop_event_id is still refused.
func TestApplyManyEvents(t *testing.T) {
	var st OrderState
	var all []input
	all = append(all, placed("p", t0, "2500.00", "ANNA10"))
	for i := range 3 * smallMapMax {
		all = append(all, refunded(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i+1)*time.Minute), "1.00"))
	}
	for i, in := range all {
		if changed, err := Apply(&st, in.env, in.ev); !changed || err != nil {
			t.Fatalf("event %d: changed %v, err %v", i, changed, err)
		}
		// Every event seen so far is a duplicate now, by event id and by
		// shop event id.
		for j := range i + 1 {
			if changed, err := Apply(&st, all[j].env, all[j].ev); changed || err != nil {
				t.Fatalf("after event %d, event %d again: changed %v, err %v", i, j, changed, err)
			}
			again := withEventID(all[j], fmt.Sprintf("again-%d-%d", i, j))
			if changed, err := Apply(&st, again.env, again.ev); changed || err != nil {
				t.Fatalf("after event %d, event %d with a new event id: changed %v, err %v", i, j, changed, err)
			}
		}
	}
	if want := uint64(len(all)); st.Version() != want {
		t.Fatalf("version = %d, want %d", st.Version(), want)
	}
	reused := withEventID(refunded("r0", t0.Add(time.Hour), "2.00"), "reused")
	var pe *PoisonError
	if _, err := Apply(&st, reused.env, reused.ev); !errors.As(err, &pe) {
		t.Fatalf("a reused shop_event_id with other facts: err %v, want a PoisonError", err)
	}
}

func TestApplyPoison(t *testing.T) {
	good := placed("p", t0, "2500.00", "ANNA10")
	tests := []struct {
		name string
		in   func() input
	}{
		{"type mismatch", func() input { in := confirmed("c", t0); in.env.Type = schemas.TypeOrderCancelled; return in }},
		{"not an order event", func() input {
			ev := &schemas.BrandRegistered{BrandID: brand, Name: "x"}
			return input{env: schemas.Envelope{EventID: "x", Type: ev.EventType(), AggregateKey: brand, OccurredAt: t0}, ev: ev}
		}},
		{"nil payload", func() input { in := good; in.ev = (*schemas.OrderPlaced)(nil); return in }},
		{"nil row payload", func() input { in := good; in.ev = (*schemas.OrderAttributed)(nil); return in }},
		{"a row", func() input {
			in := good
			in.ev = &schemas.OrderAttributed{Attribution: schemas.Attribution{OrderID: order, BrandID: brand}}
			return in
		}},
		{"a placement as a value", func() input {
			in := placed("p2", t0, "2600.00", "ANNA10")
			in.ev = *in.ev.(*schemas.OrderPlaced)
			return in
		}},
		{"another order", func() input {
			return mk("o2", &schemas.OrderConfirmed{OrderID: "A-2", BrandID: brand, ShopEventID: "o2"}, t0)
		}},
		{"wrong aggregate key", func() input { in := confirmed("c", t0); in.env.AggregateKey = "b1/other"; return in }},
		{"zero occurred_at", func() input { in := confirmed("c", t0); in.env.OccurredAt = time.Time{}; return in }},
		{"amount with too many digits for the currency", func() input {
			in := placed("p2", t0, "2500.00", "ANNA10")
			in.ev.(*schemas.OrderPlaced).Amount = "2500.001"
			return in
		}},
		{"amount with an exponent", func() input {
			in := placed("p2", t0, "2500.00", "ANNA10")
			in.ev = &schemas.OrderPlaced{OrderID: order, BrandID: brand, ShopEventID: "p2", PromoCodes: []string{}, Amount: "1e3", Currency: "RUB", Country: "RU"}
			return in
		}},
		{"second placement with another amount", func() input { return placed("p2", t0, "2600.00", "ANNA10") }},
		{"second placement with other codes", func() input { return placed("p2", t0, "2500.00", "BOB") }},
		{"second placement spelling a code differently", func() input { return placed("p2", t0, "2500.00", "anna10") }},
		{"second placement at another time", func() input { return placed("p2", at(time.Minute), "2500.00", "ANNA10") }},
		{"shop event id reused for another event", func() input { return withEventID(cancelled("p", at(day)), "ev-new") }},
		{"refund with four fraction digits", func() input { return refunded("r", at(day), "1.0001") }},
		{"refund not a decimal", func() input {
			in := refunded("r", at(day), "1.00")
			in.ev.(*schemas.OrderRefunded).RefundAmount = "-1"
			return in
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st OrderState
			if _, err := Apply(&st, good.env, good.ev); err != nil {
				t.Fatal(err)
			}
			before := st.Version()
			in := tc.in()
			changed, err := Apply(&st, in.env, in.ev)
			var pe *PoisonError
			if !errors.As(err, &pe) || changed {
				t.Fatalf("Apply = %v, %v; want a *PoisonError", changed, err)
			}
			if pe.Reason == "" || st.Version() != before {
				t.Fatalf("poison %q, version %d -> %d", pe.Reason, before, st.Version())
			}
		})
	}
}

func TestDecideWaits(t *testing.T) {
	codes, offers := world()
	var st OrderState
	if out, ok := Decide(&st, codes, offers); ok || out.Wait != "" {
		t.Fatalf("empty order: %+v %v", out, ok)
	}
	c := confirmed("ok", at(day))
	mustApply(t, &st, c)
	if out, ok := Decide(&st, codes, offers); ok || out.Wait != WaitPlacement {
		t.Fatalf("before placement: %+v %v", out, ok)
	}
	var ghost OrderState
	mustApply(t, &ghost, placed("p", t0, "100.00", "GHOST"))
	if out, ok := Decide(&ghost, codes, offers); ok || out.Wait != WaitOffer {
		t.Fatalf("offer missing: %+v %v", out, ok)
	}
	// The offer index catches up: the order is decided.
	offers.Add(Offer{OfferID: "off-missing", BrandID: brand, Name: "Ghost", Changes: []TermsChange{
		{EffectiveFrom: at(-30 * day), Payout: payout("fixed", "10.00", "RUB"), HoldDays: 0, Status: "active"}}})
	out, ok := Decide(&ghost, codes, offers)
	if !ok || summarize(out.Event).earnings != "10.00" {
		t.Fatalf("after the offer arrived: %+v %v", out, ok)
	}
	// Decide is a query: asking again before Emitted gives the same answer.
	again, ok2 := Decide(&ghost, codes, offers)
	if !ok2 || summarize(again.Event) != summarize(out.Event) {
		t.Fatalf("second Decide = %+v", again)
	}
	if err := Emitted(&ghost, out.Event); err != nil {
		t.Fatal(err)
	}
	if _, ok := Decide(&ghost, codes, offers); ok {
		t.Fatal("Decide after Emitted with no new event emitted again")
	}
}

func mustApply(t *testing.T, st *OrderState, in input) {
	t.Helper()
	if _, err := Apply(st, in.env, in.ev); err != nil {
		t.Fatal(err)
	}
}

func TestHoldDue(t *testing.T) {
	tests := []struct {
		name   string
		events []input
		want   time.Time // zero: not due
	}{
		{"pending attributed order with a hold", []input{placed("p", t0, "2500.00", "ANNA10")}, at(30 * day)},
		{"partial refund keeps it pending", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r", at(day), "1.00")}, at(30 * day)},
		{"confirmed", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(day))}, time.Time{}},
		{"cancelled", []input{placed("p", t0, "2500.00", "ANNA10"), cancelled("c", at(day))}, time.Time{}},
		{"hold already expired", []input{placed("p", t0, "2500.00", "ANNA10"), holdExpired("h", "off-pct", 30)}, time.Time{}},
		{"no hold days", []input{placed("p", t0, "2500.00", "NOHOLD")}, time.Time{}},
		{"unattributed", []input{placed("p", t0, "2500.00", "NOPE")}, time.Time{}},
		{"not placed", []input{confirmed("ok", at(day))}, time.Time{}},
		{"fixed offer's own hold", []input{placed("p", t0, "2500.00", "BOB")}, at(14 * day)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorker()
			w.feed(t, false, tc.events...)
			h, ok := HoldDue(&w.st)
			if ok != !tc.want.IsZero() || (ok && !h.HoldEndsAt.Equal(tc.want)) {
				t.Fatalf("HoldDue = %+v, %v; want %s", h, ok, tc.want)
			}
			if !ok {
				return
			}
			// The event passes the schema and, fed back, approves the order.
			env, err := schemas.NewEnvelopeFor(h, h.HoldEndsAt, h.HoldEndsAt)
			if err != nil {
				t.Fatal(err)
			}
			w.feed(t, true, input{env: env, ev: h})
			if s := summarize(w.last().Event); s.status != "approved" {
				t.Fatalf("after the hold expiry: %+v", s)
			}
			if _, ok := HoldDue(&w.st); ok {
				t.Fatal("still due after the hold expiry")
			}
		})
	}
}

func TestHoldDueWaitsForTheEmittedDecision(t *testing.T) {
	codes, offers := world()
	var st OrderState
	mustApply(t, &st, placed("p", t0, "2500.00", "ANNA10"))
	if _, ok := HoldDue(&st); ok {
		t.Fatal("due before the attribution was emitted")
	}
	out, _ := Decide(&st, codes, offers)
	if err := Emitted(&st, out.Event); err != nil {
		t.Fatal(err)
	}
	if _, ok := HoldDue(&st); !ok {
		t.Fatal("not due after the attribution was emitted")
	}
}

// The decision is taken once: a rebuilt order repeats it from the emitted
// rows even when the indexes changed meanwhile, and emits nothing that is
// already in the log.
func TestRebuildFromTheLog(t *testing.T) {
	w := newWorker()
	orderEvents := []input{placed("p", t0, "2500.00", "ANNA10", "BOB"), refunded("r1", at(day), "500.00")}
	w.feed(t, true, orderEvents...)
	if len(w.emitted) != 2 {
		t.Fatalf("emitted %d rows", len(w.emitted))
	}

	var st OrderState
	// Attribution rows first, as a rebuild reading both topics may see them.
	for i := len(w.emitted) - 1; i >= 0; i-- {
		ev := w.emitted[i].Event
		if err := Emitted(&st, ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range orderEvents {
		mustApply(t, &st, in)
	}
	empty := CodeMap{}
	if out, ok := Decide(&st, empty, OfferMap{}); ok {
		t.Fatalf("rebuilt order emitted again: %+v", out)
	}
	mustApply(t, &st, confirmed("ok", at(15*day)))
	out, ok := Decide(&st, empty, OfferMap{})
	if !ok {
		t.Fatalf("no row after a new event: %+v", out)
	}
	got := summarize(out.Event)
	want := summary{kind: "adjusted", status: "approved", amount: "2500.00", net: "2000.00", earnings: "200.00", earningsCurrency: "RUB",
		winner: "c-anna", promoCode: "ANNA10", terms: "percent 10 RUB/30", version: 3}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if _, err := out.Envelope(t0); err != nil {
		t.Fatal(err)
	}
	if err := Emitted(&st, schemas.OrderConfirmed{OrderID: order, BrandID: brand}); err == nil {
		t.Fatal("Emitted accepted an order event")
	}
	other := out.Event.(schemas.OrderEarningsAdjusted)
	other.OrderID = "A-2"
	if err := Emitted(&st, other); err == nil {
		t.Fatal("Emitted accepted another order's row")
	}
}
