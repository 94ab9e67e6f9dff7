// Package attribution is the pure core of the attribution worker: for each
// order it keeps the distinct order events seen (OrderState), folds them into
// a status, a net amount and earnings, decides which creator's code the order
// is attributed to, and says which attribution event to emit. It does no I/O
// and reads no clock: the worker adapter feeds it events from the log and
// lookups from the code and offer indexes, and writes what it returns.
//
// # Use
//
// Per order event read from attrib.orders:
//
//	changed, err := attribution.Apply(st, env, ev) // *PoisonError -> dead-letter topic
//	out, ok := attribution.Decide(st, codes, offers)
//	if ok { write out.Event; then attribution.Emitted(st, out.Event) }
//	if h, ok := attribution.HoldDue(st); ok { schedule h at h.HoldEndsAt }
//
// To rebuild an order after a restart, Apply its order events and pass the
// attribution events it already emitted (attrib.attributions, same key) to
// Emitted, in any interleaving; Decide then emits nothing that is already in
// the log.
//
// # Rules
//
// Codes. Every code on the order is normalised with promocode.Normalize and
// looked up at the order's brand; the index may hold several records per
// text over time (a text reused after a revocation). At the placed time P a
// record is active if ActiveFrom <= P and it is not revoked at or before P.
// Each code's outcome, in list order:
//   - won: the first code with an active record;
//   - passed_over: an active record, but an earlier code won (it earns nothing);
//   - code_revoked: no active record, and a record confirmed at or before P
//     was revoked at or before P (the latest revocation is reported);
//   - code_not_active: every record was confirmed after P (the earliest is
//     reported);
//   - unknown_code: no record with the text at the brand (also a blank code,
//     and one that cannot be an issued code: a control character inside,
//     too long; Apply accepts any code text, see package promocode).
//
// Several active records for one text (the index broke uniqueness) resolve
// to the earliest ActiveFrom, then the smallest request id, so the answer
// never depends on the index's order.
//
// Unattributed reason: no_code if the order carries no non-blank code,
// otherwise the outcome of its first non-blank code (as the schema of
// order.unattributed states): the code the shopper typed first is the one
// the analyst looks at.
//
// Terms. The terms of the winning code's offer in force at P
// (Offer.TermsAt). If the offer has no terms at P (P precedes the offer's
// first terms: clock skew between the catalog and the shop, since a code
// active at P implies its offer existed), the offer's first terms apply. If
// the offer is not in the offer index yet (index lag) or its terms do not
// parse, Decide waits (Outcome.Wait) and emits nothing. A paused offer still
// pays orders placed with a code that was active: pausing stops new code
// requests, revoking a code stops attribution.
//
// Status and earnings. The events other than the placement are folded in
// the order of (occurred_at, type precedence, event id), never in arrival
// order; the precedence at equal times is refunded, cancelled, confirmed,
// hold_expired, so that a cancellation at the very instant of an approval
// wins. Starting from pending with net = amount:
//   - refunded: net -= refund_amount; if still pending and net <= 0, the
//     order is rejected (full refund);
//   - cancelled: pending -> rejected;
//   - confirmed, hold_expired: pending -> approved, and the earnings basis is
//     frozen at the net of that moment;
//   - nothing moves an approved or rejected order again: the first of
//     approval and rejection by occurred_at is final. A refund or
//     cancellation that occurred after the approval is recorded (net_amount
//     shows every refund, floored at 0; the version grows) but changes
//     neither status nor earnings.
//
// Earnings: rejected -> 0; fixed payout -> the payout, once per order
// whatever the number of codes and refunds, in the payout's currency;
// percent payout -> percent of the basis (the net at approval, or the
// current net while pending), in the order's currency, rounded once by
// money.Round. Pending earnings are what the order earns if approved now.
//
// Hold expiry. HoldDue answers when the engine must emit order.hold_expired:
// for an attributed, placed, pending order whose terms have hold_days > 0,
// at placed_at + hold_days * 24h. hold_days 0 means no hold: only the
// brand's confirmation approves. The hold event is folded like any other at
// its hold_ends_at, so a cancellation that occurred before the hold end
// rejects the order even if it arrives after the engine emitted the hold
// expiry; one that occurred after it is recorded only.
//
// Out of order and twice. An event is a duplicate, ignored by Apply, if its
// envelope event id or its shop_event_id was seen on this order, or if it is
// a second placement with the same facts (codes, amount, currency, country,
// placed time) or a second hold expiry. Events that arrive before the
// placement are kept and folded once it arrives; until then Decide emits
// nothing (Outcome.Wait == WaitPlacement).
//
// Version. Every emitted row carries version = the number of distinct events
// applied to the order. Decide emits one full row each time the count grew
// since the last emission, so the last row of every arrival order has the
// same version and content, and a projection keeping the highest version
// ends with the same row whatever the arrival order.
//
// Emission. The first row of an attributed order is order.attributed, the
// later ones order.earnings_adjusted with the cause (the type of the newly
// applied event latest in fold order); every row of an unattributed order is
// order.unattributed. The decision (winner, candidates, terms, offer name) is
// taken once, when the first row is emitted, and kept (Emitted) so that
// later rows repeat it even if the indexes change. Decide must therefore
// first be called once the code index has caught up with the order's placed
// time (the adapter's duty: no attribution may be lost to index lag).
//
// Poison. Apply refuses, with a *PoisonError and without changing the state,
// an event that cannot be processed: not an order event, of another order,
// a zero occurred_at, a placement whose amount does not parse in its
// currency, a second placement with different facts, a shop_event_id reused
// for a different event, a refund_amount that is not a decimal with at most
// money.MaxMinorUnits fraction digits.
package attribution
